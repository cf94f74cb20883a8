"""Figures of the evaluation: training curves, accuracy bars, track-level confusion matrices.

All functions write one PNG with matplotlib's Agg backend (no display needed)
and return the path. Inputs are the files of the earlier stages:
``history.csv`` of each model directory, ``accuracy.csv`` of
:mod:`divconq.evaluate.aggregate` and ``tracks.csv`` of :mod:`divconq.evaluate.evaluation`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: history.csv metrics drawn by :func:`training_curves` (train and ``val_`` columns).
CURVE_METRICS = ("loss", "accuracy", "precision", "recall")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def training_curves(histories: dict, out_png, title: str = "") -> Path:
    """Loss, accuracy, precision and recall per epoch, train vs val, every seed.

    Parameters
    ----------
    histories : dict
        ``{seed: path or DataFrame}`` of ``history.csv`` (columns ``epoch``,
        ``loss``, ``accuracy``, ..., ``val_loss``, ``val_accuracy``, ...).
        Missing columns leave their panel's line out.
    out_png : str or Path
    title : str
        Figure title (e.g. the experiment).
    """
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (seed, hist) in enumerate(sorted(histories.items(), key=lambda kv: str(kv[0]))):
        df = hist if isinstance(hist, pd.DataFrame) else pd.read_csv(hist)
        x = df["epoch"] + 1 if "epoch" in df else np.arange(1, len(df) + 1)
        color = colors[i % len(colors)]
        for ax, metric in zip(axes.flat, CURVE_METRICS, strict=True):
            if metric in df:
                ax.plot(x, df[metric], color=color, ls="-", label=f"seed {seed} train")
            if f"val_{metric}" in df:
                ax.plot(x, df[f"val_{metric}"], color=color, ls="--", label=f"seed {seed} val")
    for ax, metric in zip(axes.flat, CURVE_METRICS, strict=True):
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        if metric != "loss":
            ax.set_ylim(-0.02, 1.02)
    from matplotlib.ticker import MaxNLocator

    for ax in axes[1]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center right", fontsize="small", frameon=False)
        fig.subplots_adjust(right=0.8)
    fig.suptitle(f"{title}: training (solid) vs validation (dashed)" if title else "")
    return _save(fig, out_png)


#: Bars of :func:`accuracy_bars`: (level in accuracy.csv, split, legend label, hatch).
BARS = (
    ("snippet", "val", "snippet, val", ""),
    ("snippet", "test", "snippet, test", ""),
    ("track_sum", "val", "track (sum), val", "//"),
    ("track_sum", "test", "track (sum), test", "//"),
    ("track_clip", "val", "30-s clip, val", ".."),
    ("track_clip", "test", "30-s clip, test", ".."),
)


def accuracy_bars(table, out_png, experiments=None) -> Path:
    """Mean accuracy over seeds with SD error bars: snippet vs track x val vs test.

    Parameters
    ----------
    table : str, Path or pd.DataFrame
        ``accuracy.csv`` of :func:`divconq.evaluate.aggregate.aggregate`.
    out_png : str or Path
    experiments : list of str, optional
        Order (and subset) of the experiments; default: the table's order.
        Whole-clip experiments get their ``track_clip`` bars only.
    """
    plt = _plt()
    df = table if isinstance(table, pd.DataFrame) else pd.read_csv(table)
    if "fold" in df.columns:  # k-fold table (divconq.evaluate.aggregate_folds): the pooled rows
        df = df[df["fold"].astype(str) == "pooled"]
    if experiments is None:
        experiments = list(dict.fromkeys(df["experiment"]))
    stats = df.set_index(["experiment", "level", "split"])
    per_exp = {e: [b for b in BARS if (e, b[0], b[1]) in stats.index] for e in experiments}
    width = 0.8 / max([len(v) for v in per_exp.values()] + [1])
    colors = {"val": "#8fb3d9", "test": "#2f6fa8"}
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(experiments) + 2), 4.5))
    labelled = set()
    for i, exp in enumerate(experiments):
        bars_here = per_exp[exp]
        for j, (level, split, label, hatch) in enumerate(bars_here):
            row = stats.loc[(exp, level, split)]
            x = i + width * (j - (len(bars_here) - 1) / 2)
            sd = 0.0 if pd.isna(row["sd"]) else 100 * row["sd"]
            bar = ax.bar(
                x,
                100 * row["mean"],
                width,
                yerr=sd,
                capsize=3,
                label=None if label in labelled else label,
                color=colors.get(split, "grey"),
                hatch=hatch,
                edgecolor="black",
                linewidth=0.5,
            )
            labelled.add(label)
            ax.bar_label(bar, fmt="%.1f", fontsize=7, padding=2)
    ax.set_xticks(range(len(experiments)), experiments)
    ax.set_ylabel("accuracy (%), mean ± SD over seeds")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    return _save(fig, out_png)


def confusion_from_tracks(track_files, class_names=None, split="test", rule=None):
    """Track-level confusion matrix summed over seeds.

    Parameters
    ----------
    track_files : list of str or Path
        ``tracks.csv`` of each seed of one experiment.
    class_names : list of str, optional
        Class order; default: the model's (the ``sum_<class>`` columns).
    split : str
    rule : str, optional
        Prediction column ``pred_<rule>``; default ``sum``, or ``clip`` for a clip model.

    Returns
    -------
    (np.ndarray of int, shape (n_classes, n_classes), list of str, str)
        Counts (rows: true, columns: predicted), class names, the rule used.
    """
    frames = [pd.read_csv(f) for f in track_files]
    df = pd.concat(frames, ignore_index=True)
    if rule is None:
        rule = "sum" if "pred_sum" in df else "clip"
    df = df[df["split"] == split]
    if class_names is None:
        # The model's class order, from the summed-score columns, then any stray label.
        class_names = [c[len("sum_") :] for c in df.columns if c.startswith("sum_")]
        extra = set(df["label"]) | set(df[f"pred_{rule}"])
        class_names += sorted(extra - set(class_names))
    index = {c: i for i, c in enumerate(class_names)}
    cm = np.zeros((len(class_names), len(class_names)), dtype=np.int64)
    for t, p in zip(df["label"], df[f"pred_{rule}"], strict=True):
        cm[index[t], index[p]] += 1
    return cm, list(class_names), rule


def confusion_matrix_plot(cm, class_names, out_png, title: str = "") -> Path:
    """Confusion matrix: counts in the cells, colour = row-normalized fraction (recall)."""
    plt = _plt()
    cm = np.asarray(cm)
    n = len(class_names)
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    size = max(4.5, 0.55 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                color = "white" if frac[i, j] > 0.6 else "black"
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=color, fontsize=8)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = int(cm.sum())
    acc = np.trace(cm) / total if total else float("nan")
    ax.set_title(f"{title}\n{total} track predictions, accuracy {100 * acc:.1f} %", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    return _save(fig, out_png)


def confusion_figure(track_files, out_png, experiment: str = "", split="test", class_names=None):
    """Track-level ``split`` confusion matrix of one experiment, summed over its seeds."""
    cm, names, rule = confusion_from_tracks(track_files, class_names, split)
    what = "one input per track" if rule == "clip" else f"rule '{rule}'"
    title = f"{experiment}: track level, {split}, {what}, summed over {len(track_files)} seed(s)"
    return confusion_matrix_plot(cm, names, out_png, title)
