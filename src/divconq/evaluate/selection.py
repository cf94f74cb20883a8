"""Choosing the experiment on validation data, and what the choice scores on test.

Input: the per-track evaluation table (``tracks.csv``,
:func:`divconq.evaluate.evaluation.track_table`) of every (experiment, fold, seed) run and
each run's ``training.json``. Only validation
tracks decide; the test tracks are read once the choice is made, to report what it scores.

Criteria (``selection.criterion``), each computed on a run's validation tracks from the
track's summed window scores (the ``sum`` rule's evidence; one score for whole-track
inputs):

``track_log_loss`` (default)
    Mean over tracks of ``-log p``, where ``p`` is the share of the track's summed
    scores that went to its label. Continuous: a track that moves from 0.45 to 0.55
    moves it a little, where track accuracy jumps by one track (3-5 points on a fold's
    20-30 validation tracks); lower is better.
``track_accuracy``
    Share of tracks whose summed scores peak at their label (the tables' ``track_sum``).
``window_accuracy``
    Share of all validation windows classified right (thousands of windows; whole-track
    inputs count one window per track).

Per fold, the criterion is averaged over the experiment's seeds; with ``one_se`` the
cheapest experiment (shortest training, ``training.json``'s ``epoch_s_total``) whose mean
lies within one standard error (over seeds) of the best is chosen, else the best, ties
going to the cheaper. Under k-fold cross-validation the choice is made per outer fold from
that fold's own validation part (nested selection), so the figure over the folds' test
parts estimates the whole procedure, selection included.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "CRITERIA",
    "choose",
    "load_runs",
    "run_criteria",
    "selection_markdown",
    "selection_report",
    "suspects",
    "wilson_interval",
    "track_probabilities",
]

#: Criterion name -> True when higher is better.
CRITERIA = {"track_log_loss": False, "track_accuracy": True, "window_accuracy": True}
#: Smallest probability a log-loss takes the log of.
_EPS = 1e-7


def track_probabilities(tracks: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Each track's summed scores as a probability over the classes.

    Parameters
    ----------
    tracks : pandas.DataFrame
        A ``tracks.csv`` of one run: ``sum_<class>`` columns.

    Returns
    -------
    probabilities : np.ndarray, float64, shape (n_tracks, n_classes)
        Rows sum to 1 (the mean of the windows' softmax scores).
    classes : list of str
    """
    columns = [c for c in tracks.columns if c.startswith("sum_")]
    sums = tracks[columns].to_numpy(dtype=np.float64)
    total = sums.sum(axis=1, keepdims=True)
    return sums / np.where(total > 0, total, 1.0), [c[4:] for c in columns]


def run_criteria(tracks: pd.DataFrame, split: str = "val") -> dict:
    """Every criterion of one run on the tracks of ``split``.

    Returns
    -------
    dict
        ``{criterion: value}`` for :data:`CRITERIA`, and ``n_tracks``.
    """
    part = tracks[tracks["split"] == split].reset_index(drop=True)
    if part.empty:
        return {**{c: math.nan for c in CRITERIA}, "n_tracks": 0}
    p, classes = track_probabilities(part)
    label = np.array([classes.index(x) for x in part["label"]])
    p_true = p[np.arange(len(part)), label]
    windows = part["n_windows"].to_numpy()
    if windows.sum() > 0:
        window_accuracy = part["n_windows_correct"].sum() / windows.sum()
    else:  # one score per track
        window_accuracy = float(np.mean(p.argmax(axis=1) == label))
    return {
        "track_log_loss": float(np.mean(-np.log(np.maximum(p_true, _EPS)))),
        "track_accuracy": float(np.mean(p.argmax(axis=1) == label)),
        "window_accuracy": float(window_accuracy),
        "n_tracks": len(part),
    }


def load_runs(track_files, model_dirs, experiments, folds, seeds) -> pd.DataFrame:
    """One row per run: ``experiment``, ``fold`` (-1 without folds), ``seed``, every
    validation criterion (``val_<criterion>``), the test track accuracy
    (``test_track_accuracy``) and the training time (``cost_s``).

    Parameters
    ----------
    track_files, model_dirs : list of str or Path
        ``eval/<experiment>/[fold<k>/]seed<N>/tracks.csv`` and the matching model folders.
    experiments, folds, seeds : list
        Of each run, in the same order (fold None without folds).
    """
    rows = []
    for ev, md, e, k, s in zip(track_files, model_dirs, experiments, folds, seeds, strict=True):
        tracks = pd.read_csv(ev, dtype={"track": str, "label": str})
        training = json.loads((Path(md) / "training.json").read_text())
        val, test = run_criteria(tracks, "val"), run_criteria(tracks, "test")
        rows.append(
            {
                "experiment": e,
                "fold": -1 if k is None else int(k),
                "seed": int(s),
                **{f"val_{c}": val[c] for c in CRITERIA},
                "n_val": val["n_tracks"],
                "test_track_accuracy": test["track_accuracy"],
                "n_test": test["n_tracks"],
                "cost_s": float(training.get("epoch_s_total", math.nan)),
            }
        )
    return pd.DataFrame(rows)


def choose(runs: pd.DataFrame, criterion: str, one_se: bool = True) -> pd.DataFrame:
    """The experiment chosen per fold by a validation criterion.

    Parameters
    ----------
    runs : pandas.DataFrame
        :func:`load_runs`.
    criterion : str
        A key of :data:`CRITERIA`.
    one_se : bool
        Choose the cheapest experiment within one standard error (over seeds) of the
        best mean, rather than the best.

    Returns
    -------
    pandas.DataFrame
        One row per fold and experiment: ``fold``, ``experiment``, ``mean``, ``se``,
        ``cost_s``, ``chosen`` (bool, one per fold).
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}: one of {', '.join(CRITERIA)}")
    higher = CRITERIA[criterion]
    column = f"val_{criterion}"
    order = {e: i for i, e in enumerate(dict.fromkeys(runs["experiment"]))}
    grouped = runs.groupby(["fold", "experiment"], sort=False)
    table = grouped.agg(
        mean=(column, "mean"), sd=(column, "std"), n=(column, "size"), cost_s=("cost_s", "mean")
    ).reset_index()
    table["se"] = (table["sd"] / np.sqrt(table["n"])).fillna(0.0)
    table["chosen"] = False
    for _, part in table.groupby("fold", sort=True):
        sign = -1.0 if higher else 1.0
        score = sign * part["mean"]  # lower is better from here on
        best = score.idxmin()
        margin = part.loc[best, "se"] if one_se else 0.0
        near = part[score <= score[best] + margin + 1e-12]
        # The cheapest of those, then the best score, then config order.
        key = near.assign(
            _cost=near["cost_s"].fillna(math.inf),
            _score=score[near.index],
            _order=near["experiment"].map(order),
        ).sort_values(["_cost", "_score", "_order"])
        table.loc[key.index[0], "chosen"] = True
    return table.drop(columns=["sd"])


def _per_track_test(track_files, experiments, folds, chosen: dict) -> pd.DataFrame:
    """Test tracks of each fold's chosen experiment: correctness and probabilities
    averaged over its seeds (the seed ensemble's evidence)."""
    parts = []
    for ev, e, k in zip(track_files, experiments, folds, strict=True):
        fold = -1 if k is None else int(k)
        if chosen.get(fold) != e:
            continue
        tracks = pd.read_csv(ev, dtype={"track": str, "label": str})
        p, classes = track_probabilities(tracks)
        frame = tracks[["track", "label", "split"]].copy()
        frame[[f"p_{c}" for c in classes]] = p
        frame["fold"] = fold
        parts.append(frame)
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts).groupby(["fold", "track", "label", "split"], as_index=False).mean()


def suspects(track_files, experiments, folds, chosen: dict, splits=("test",)) -> pd.DataFrame:
    """Tracks whose ensemble prediction disagrees with their label, most confident first.

    Under k-fold, each track's out-of-fold prediction: the test part of the fold it was
    held out in, scored by that fold's chosen experiment, its seeds' probabilities
    averaged. Under one split, the tracks of ``splits``.

    Returns
    -------
    pandas.DataFrame
        ``track``, ``label``, ``predicted``, ``p_predicted``, ``p_label``, ``margin``
        (``p_predicted - p_label``), ``split``, ``fold``; sorted by margin, largest first.
    """
    per_track = _per_track_test(track_files, experiments, folds, chosen)
    columns = ["track", "label", "predicted", "p_predicted", "p_label", "margin", "split", "fold"]
    if per_track.empty:
        return pd.DataFrame(columns=columns)
    per_track = per_track[per_track["split"].isin(splits)].reset_index(drop=True)
    classes = [c[2:] for c in per_track.columns if c.startswith("p_")]
    p = per_track[[f"p_{c}" for c in classes]].to_numpy()
    predicted = p.argmax(axis=1)
    label = np.array([classes.index(x) for x in per_track["label"]])
    rows = np.arange(len(per_track))
    out = per_track[["track", "label", "split", "fold"]].assign(
        predicted=[classes[i] for i in predicted],
        p_predicted=p[rows, predicted],
        p_label=p[rows, label],
    )
    out["margin"] = out["p_predicted"] - out["p_label"]
    out = out[out["predicted"] != out["label"]]
    return out.sort_values(["margin", "track"], ascending=[False, True])[columns]


def selection_report(runs: pd.DataFrame, table: pd.DataFrame, criterion: str, one_se: bool):
    """The choice and its test figures, as the dict of ``selection.json``.

    ``folds``: per fold the chosen experiment and every experiment's validation mean;
    ``chosen``: the experiment chosen in most folds (ties to the cheaper); ``test``: the
    procedure's test track accuracy (nested under k-fold: each fold scored by its own
    choice; mean over folds, each fold the mean of its seeds) beside every experiment's.
    """
    folds = []
    for fold, part in table.groupby("fold", sort=True):
        pick = part.loc[part["chosen"], "experiment"].iloc[0]
        test = runs[(runs["fold"] == fold) & (runs["experiment"] == pick)]
        folds.append(
            {
                "fold": None if fold == -1 else int(fold),
                "chosen": pick,
                "validation": {
                    r.experiment: {"mean": float(r.mean), "se": float(r.se)}
                    for r in part.itertuples()
                },
                "test_track_accuracy": float(test["test_track_accuracy"].mean()),
            }
        )
    counts = pd.Series([f["chosen"] for f in folds]).value_counts()
    cost = table.groupby("experiment")["cost_s"].mean()
    order = list(dict.fromkeys(table["experiment"]))  # config order
    tied = [e for e in counts.index if counts[e] == counts.max()]
    chosen = min(tied, key=lambda e: (cost.get(e, math.inf), order.index(e)))
    per_experiment = (
        runs.groupby(["experiment", "fold"])["test_track_accuracy"].mean().groupby("experiment")
    )
    procedure = float(np.mean([f["test_track_accuracy"] for f in folds]))
    # Test tracks behind the figure: each fold's once (its seeds share them).
    n_test = int(runs.groupby("fold")["n_test"].max().sum())
    return {
        "criterion": criterion,
        "one_se": bool(one_se),
        "kfold": folds[0]["fold"] is not None,
        "chosen": chosen,
        "folds": folds,
        "test": {
            "procedure_track_accuracy": procedure,
            "n_tracks": n_test,
            "interval_95": list(wilson_interval(procedure, n_test)),
            "per_experiment_track_accuracy": {e: float(v.mean()) for e, v in per_experiment},
        },
    }


def wilson_interval(accuracy: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of an accuracy over ``n`` tracks (which tracks were
    tested, not which seed: the seeds' spread is in the tables)."""
    if n <= 0 or not math.isfinite(accuracy):
        return (math.nan, math.nan)
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def selection_markdown(report: dict) -> str:
    """``tables/selection.md``: the validation criterion of every experiment per fold,
    the choice marked, and the test track accuracy of the procedure beside each
    experiment's."""
    lower = not CRITERIA[report["criterion"]]
    rule = "the cheapest within one standard error of the best" if report["one_se"] else "the best"
    lines = [
        f"# Selection on validation: {report['criterion']}",
        "",
        f"Chosen: **{report['chosen']}** ({rule}; {'lower' if lower else 'higher'} is better; "
        "mean +- standard error over seeds).",
        "",
        "| fold | experiment | validation | chosen | test track accuracy |",
        "|---|---|---|---|---|",
    ]
    for f in report["folds"]:
        fold = "-" if f["fold"] is None else str(f["fold"])
        for e, v in f["validation"].items():
            mark = "**yes**" if e == f["chosen"] else ""
            test = f"{100 * f['test_track_accuracy']:.1f} %" if e == f["chosen"] else ""
            lines.append(f"| {fold} | {e} | {v['mean']:.4f} +- {v['se']:.4f} | {mark} | {test} |")
    t = report["test"]
    low, high = t["interval_95"]
    what = "nested: each fold scored by its own choice" if report["kfold"] else "one split"
    procedure = 100 * t["procedure_track_accuracy"]
    lines += [
        "",
        "| test track accuracy | mean |",
        "|---|---|",
        f"| **selection procedure** ({what}; 95 % interval over the {t['n_tracks']} test "
        f"tracks {100 * low:.1f}-{100 * high:.1f} %) | **{procedure:.1f} %** |",
    ]
    for e, v in t["per_experiment_track_accuracy"].items():
        lines.append(f"| {e} | {100 * v:.1f} % |")
    return "\n".join(lines) + "\n"
