"""Output of ``divconq predict``: a table, JSON or CSV of :class:`FilePrediction` s, and
a timeline plot of per-window class probabilities per file."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np

from divconq.predict.predictor import FilePrediction
from divconq.shared.fileio import plain

__all__ = ["plot_paths", "plot_timeline", "to_csv", "to_json", "to_table"]


def _fmt(v: float) -> str:
    return f"{v:.3f}"


def to_table(preds, top: int = 3, windows: bool = False) -> str:
    """A readable table: file, prediction, the ``top`` classes with their scores."""
    if not preds:
        return ""
    rule = preds[0].rule
    head = ("file", "prediction", f"top-{top} ({rule})")
    rows = []
    for p in preds:
        tops = "  ".join(f"{c} {_fmt(v)}" for c, v in p.top(top))
        note = " (padded)" if p.padded else ""
        rows.append((p.file + note, p.label, tops))
    w0 = max(len(head[0]), *(len(r[0]) for r in rows))
    w1 = max(len(head[1]), *(len(r[1]) for r in rows))
    lines = [f"{head[0]:<{w0}}  {head[1]:<{w1}}  {head[2]}"]
    for p, r in zip(preds, rows, strict=True):
        lines.append(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}")
        if windows:
            for s, sc in zip(p.start_s, p.scores, strict=True):
                order = np.argsort(-sc, kind="stable")[:top]
                span = f"{s:7.1f}-{s + p.window_s:.1f} s"
                tops = "  ".join(f"{p.class_names[i]} {_fmt(sc[i])}" for i in order)
                lines.append(f"  {span:<16} {p.class_names[order[0]]:<{w1}}  {tops}")
    return "\n".join(lines) + "\n"


def _num(v) -> float | None:
    """A JSON number: 6 decimals, None for NaN or infinity."""
    return plain(float(v), digits=6)


def to_json(preds, errors=(), top: int = 3, windows: bool = False, model=None) -> str:
    """JSON: ``{"model", "rule", "class_names", "files": [...], "errors": [...]}``.

    Each file has ``file``, ``prediction``, ``scores`` (every class, see
    :func:`track_values`), ``top``, ``duration_s``, ``n_windows``, ``padded`` and,
    with ``windows``, ``windows``: ``[{"start_s", "end_s", "prediction", "scores"}]``.
    """
    files = []
    for p in preds:
        item = {
            "file": p.file,
            "prediction": p.label,
            "scores": {c: _num(v) for c, v in zip(p.class_names, p.values, strict=True)},
            "top": [[c, _num(v)] for c, v in p.top(top)],
            "duration_s": _num(p.duration_s),
            "n_windows": p.n_windows,
            "padded": bool(p.padded),
        }
        if windows:
            item["windows"] = [
                {
                    "start_s": _num(s),
                    "end_s": _num(s + p.window_s),
                    "prediction": p.class_names[int(np.argmax(sc))],
                    "scores": {c: _num(v) for c, v in zip(p.class_names, sc, strict=True)},
                }
                for s, sc in zip(p.start_s, p.scores, strict=True)
            ]
        files.append(item)
    doc = {
        "model": None if model is None else str(model),
        "rule": preds[0].rule if preds else None,
        "class_names": preds[0].class_names if preds else [],
        "files": files,
        "errors": [{"file": f, "error": e} for f, e in errors],
    }
    return json.dumps(doc, indent=1) + "\n"


def to_csv(preds, windows: bool = False) -> str:
    """CSV: one ``track`` row per file, and with ``windows`` one ``window`` row per window.

    Columns: ``file``, ``level`` (``track`` or ``window``), ``start_s``, ``end_s``,
    ``n_windows``, ``prediction``, ``rule``, then one column per class (the
    track's shown scores, see :func:`track_values`, or the window's softmax scores).
    """
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    names = preds[0].class_names if preds else []
    w.writerow(["file", "level", "start_s", "end_s", "n_windows", "prediction", "rule", *names])
    for p in preds:
        w.writerow(
            [p.file, "track", 0.0, f"{p.duration_s:.6g}", p.n_windows, p.label, p.rule]
            + [f"{v:.6g}" for v in p.values]
        )
        if windows:
            for s, sc in zip(p.start_s, p.scores, strict=True):
                w.writerow(
                    [p.file, "window", f"{s:.6g}", f"{s + p.window_s:.6g}", 1]
                    + [p.class_names[int(np.argmax(sc))], ""]
                    + [f"{v:.6g}" for v in sc]
                )
    return out.getvalue()


def plot_paths(out, files) -> list[Path]:
    """PNG names for ``--plot out``: ``out`` itself for one file, else one per file.

    With several files, ``dir/out.png`` becomes ``dir/out-<file stem>.png`` (a
    ``-2``, ``-3``... suffix separates files with the same stem).
    """
    out = Path(out)
    if out.suffix.lower() != ".png":
        out = out.with_name(out.name + ".png")
    if len(files) <= 1:
        return [out]
    paths, used = [], set()
    for f in files:
        stem = re.sub(r"[^\w.-]+", "_", Path(f).stem) or "file"
        name, k = f"{out.stem}-{stem}", 2
        while name in used:
            name, k = f"{out.stem}-{stem}-{k}", k + 1
        used.add(name)
        paths.append(out.with_name(name + ".png"))
    return paths


def plot_timeline(pred: FilePrediction, path) -> Path:
    """Draw per-window class probabilities over time (stacked, window centers) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_classes = len(pred.class_names)
    if pred.n_windows == 1:
        t = np.array([pred.start_s[0], pred.start_s[0] + pred.window_s])
        scores = np.repeat(pred.scores, 2, axis=0)
    else:
        t = pred.start_s + pred.window_s / 2
        scores = pred.scores
    cmap = plt.get_cmap("tab10" if n_classes <= 10 else "tab20")
    colors = [cmap(i % cmap.N) for i in range(n_classes)]
    fig, ax = plt.subplots(figsize=(10, 3.6), layout="constrained")
    ax.stackplot(t, scores.T, labels=pred.class_names, colors=colors, alpha=0.9)
    ax.set_xlim(t[0], t[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s, window centre)")
    ax.set_ylabel("class probability")
    tops = ", ".join(f"{c} {v:.2f}" for c, v in pred.top(3))
    ax.set_title(f"{Path(pred.file).name}: {pred.label} ({pred.rule}: {tops})", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()  # listed top to bottom, as stacked
    ax.legend(
        handles[::-1],
        labels[::-1],
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        fontsize=8,
        frameon=False,
    )
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
