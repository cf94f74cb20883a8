"""Evaluation of one trained model (one experiment, one seed) at snippet and track level.

Every val and test track is scored once, window by window (3-s windows every
``window_hop_s``), and the scores are saved; all the numbers below are computed
from those saved scores, so the track-level rules can be recomputed (or new
ones added) without the model.

Levels
------
``snippet``
    The article's snippet level: every training-style snippet (``is_snippet``:
    3 s, 2-s hop, at most ``max_snippets`` per track) of the split's tracks is
    one sample, pooled over tracks. Accuracy, per-class precision / recall / F1
    and the confusion matrix are computed over these pooled snippets.
``window_per_track``
    Accuracy over *all* windows of a track (1-s hop), averaged over tracks, so
    each track weighs the same whatever its length. (The pooled window accuracy
    ``window_pooled`` is reported too, for reference.)
``track``
    One prediction per track from all of its window scores, by each rule of
    :mod:`divconq.evaluate.rules` (``sum``, the article's rule, is the argmax of the class
    scores summed over windows).

For a model with one input per track (``input: clip``, the whole 30-s clip, or
``embedding_mean``, the track's mean embedding; :data:`divconq.shared.inputs.WHOLE_TRACK_INPUTS`)
a track has a single score: snippet and window levels are undefined (NaN), and the
track level is that one prediction, reported under the rule name ``clip``.

Files written by :func:`evaluate` into ``results/eval/<experiment>/seed<N>/``:
``window_scores.h5`` (see :func:`divconq.evaluate.window_scores.write_window_scores`),
``tracks.csv`` (see
:func:`track_table`) and ``metrics.json`` (see :func:`compute_metrics`).

The metrics themselves are in :mod:`divconq.evaluate.metrics`, the scoring of the
tracks' HDF5 with a model in :mod:`divconq.evaluate.scoring`. Nothing here imports
TensorFlow except :func:`evaluate`, through :mod:`divconq.evaluate.inference`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from divconq.evaluate import rules
from divconq.evaluate.metrics import (
    classification_metrics,
    keras_precision_recall,
    window_accuracy_per_track,
)
from divconq.evaluate.window_scores import WindowScores, read_window_scores, write_window_scores
from divconq.shared.inputs import WHOLE_TRACK_INPUTS
from divconq.split import read_manifest

#: Track-level rules for window-scoring (``input: snippets``) models, the article's first.
RULES = rules.names()
#: Rule name of the whole-clip model's track prediction.
CLIP_RULE = rules.CLIP.name
#: Splits evaluated by default.
SPLITS = ("val", "test")
#: Threads of one evaluation job (rule ``evaluate``): mostly one core (TensorFlow's
#: import, HDF5 reads; scoring < 0.5 CPU-s for the default run), so on a small
#: machine jobs run side by side.
THREADS = 1


def run_dirs(results, kind: str, experiment: str) -> list[Path]:
    """The per-run folders of one experiment under a results folder, sorted.

    ``<results>/<kind>/<experiment>/seed<N>``, or ``.../fold<K>/seed<N>`` under
    k-fold; ``kind`` is ``models`` or ``eval``.
    """
    return sorted((Path(results) / kind / experiment).glob("**/seed[0-9]*"))


# ---------------------------------------------------------------------------
# Track-level rules


def rule_scores(scores: np.ndarray, rule: str) -> np.ndarray:
    """Per-class track score of one track under a rule; the prediction is its argmax.

    Parameters
    ----------
    scores : np.ndarray, shape (n_windows, n_classes)
        Softmax scores of the track's windows.
    rule : str
        A rule of :data:`divconq.evaluate.rules.RULES` (or ``clip``, the one clip score).

    Returns
    -------
    np.ndarray, float64, shape (n_classes,)
        The rule's score function (see :mod:`divconq.evaluate.rules`).

    Raises
    ------
    divconq.evaluate.rules.UnknownRuleError
        For a rule not in the registry.
    """
    rule_ = rules.get(rule)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise ValueError(f"need scores of shape (n_windows >= 1, n_classes), got {scores.shape}")
    return rule_.score(scores)


def predict_track(scores: np.ndarray, rule: str) -> int:
    """Class index predicted for one track from its window scores under ``rule``."""
    return int(np.argmax(rule_scores(scores, rule)))


# ---------------------------------------------------------------------------
# Per-track table and metrics


def track_rules(input_kind: str) -> tuple[str, ...]:
    """Track-level rules reported for a model input kind."""
    return (CLIP_RULE,) if input_kind in WHOLE_TRACK_INPUTS else RULES


def track_table(ws: WindowScores, tracks: pd.DataFrame) -> pd.DataFrame:
    """One row per scored track: its label, split, predictions and window counts.

    Parameters
    ----------
    ws : WindowScores
    tracks : pd.DataFrame
        At least ``track``, ``label``, ``split`` (e.g. the split manifest); every
        track in ``ws`` must be in it.

    Returns
    -------
    pd.DataFrame
        Columns ``track``, ``label``, ``split``, ``n_windows``,
        ``n_windows_correct``, ``n_snippets``, ``n_snippets_correct`` (window
        counts are 0 for a clip model), ``pred_<rule>`` (a class name) for each
        rule of :func:`track_rules`, then ``sum_<class>``: the scores summed over
        the track's windows (the clip's scores for a clip model). Sorted by split
        and track.
    """
    info = tracks.set_index("track")[["label", "split"]]
    names = np.array(ws.class_names)
    index = {c: i for i, c in enumerate(ws.class_names)}
    rules = track_rules(ws.input)
    rows = []
    for track, rows_slice in ws.groups():
        if track not in info.index:
            raise KeyError(f"track {track!r} has scores but is not in the manifest")
        label, split = info.loc[track, "label"], info.loc[track, "split"]
        if label not in index:
            raise KeyError(f"label {label!r} of {track!r} is not a model class {ws.class_names}")
        scores = ws.scores[rows_slice].astype(np.float64)
        row = {"track": track, "label": label, "split": split}
        if ws.input in WHOLE_TRACK_INPUTS:
            row.update(n_windows=0, n_windows_correct=0, n_snippets=0, n_snippets_correct=0)
        else:
            correct = scores.argmax(axis=1) == index[label]
            snip = ws.is_snippet[rows_slice]
            row.update(
                n_windows=int(len(correct)),
                n_windows_correct=int(correct.sum()),
                n_snippets=int(snip.sum()),
                n_snippets_correct=int(correct[snip].sum()),
            )
        for rule in rules:
            row[f"pred_{rule}"] = names[predict_track(scores, rule)]
        for c, total in zip(ws.class_names, scores.sum(axis=0), strict=True):
            row[f"sum_{c}"] = float(total)
        rows.append(row)
    columns = ["track", "label", "split", "n_windows", "n_windows_correct", "n_snippets"]
    columns += ["n_snippets_correct"] + [f"pred_{r}" for r in rules]
    columns += [f"sum_{c}" for c in ws.class_names]
    df = pd.DataFrame(rows, columns=columns)
    return df.sort_values(["split", "track"], kind="stable").reset_index(drop=True)


def compute_metrics(ws: WindowScores, tracks: pd.DataFrame, splits=SPLITS) -> dict:
    """Every number of one model's evaluation, from its window scores.

    Parameters
    ----------
    ws : WindowScores
    tracks : pd.DataFrame
        ``track``, ``label``, ``split`` of (at least) the scored tracks.
    splits : sequence of str

    Returns
    -------
    dict
        ``{"input", "class_names", "rules", "splits": {split: {...}}}``; per split:
        ``n_tracks``, ``n_windows``, ``n_snippets``;
        ``snippet``: :func:`classification_metrics` of the pooled training-style
        snippets plus :func:`keras_precision_recall` (NaN for a clip model);
        ``window_per_track``: ``{"accuracy"}`` (window accuracy averaged per track);
        ``window_pooled``: ``{"accuracy"}`` (all windows pooled);
        ``track``: ``{rule: classification_metrics of the track predictions}``.
    """
    info = tracks.set_index("track")
    n_classes = len(ws.class_names)
    index = {c: i for i, c in enumerate(ws.class_names)}
    rows = pd.Series(ws.track, dtype=object)
    if not rows.isin(info.index).all():
        missing = sorted(set(rows[~rows.isin(info.index)]))[:5]
        raise KeyError(f"tracks with scores but not in the manifest: {missing}")
    labels = rows.map(info["label"])
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise KeyError(f"labels {unknown} are not model classes {ws.class_names}")
    y_window = labels.map(index).to_numpy(dtype=np.int64)
    split_of = rows.map(info["split"]).to_numpy(dtype=object)
    pred_window = ws.scores.argmax(axis=1) if len(ws.track) else np.zeros(0, np.int64)
    per_track = track_table(ws, tracks)
    rules = track_rules(ws.input)
    out = {"input": ws.input, "class_names": ws.class_names, "rules": list(rules), "splits": {}}
    for split in splits:
        in_split = split_of == split
        trk = per_track[per_track["split"] == split]
        y_track = np.array([index[lab] for lab in trk["label"]], dtype=np.int64)
        res = {"n_tracks": int(len(trk))}
        if ws.input in WHOLE_TRACK_INPUTS:
            nan_cls = classification_metrics([], [], n_classes)
            res.update(n_windows=0, n_snippets=0)
            res["snippet"] = {**nan_cls, "keras_precision": math.nan, "keras_recall": math.nan}
            res["window_per_track"] = {"accuracy": math.nan}
            res["window_pooled"] = {"accuracy": math.nan}
        else:
            snip = in_split & ws.is_snippet
            res.update(n_windows=int(in_split.sum()), n_snippets=int(snip.sum()))
            res["snippet"] = {
                **classification_metrics(y_window[snip], pred_window[snip], n_classes),
                **keras_precision_recall(ws.scores[snip], y_window[snip]),
            }
            res["window_per_track"] = {
                "accuracy": window_accuracy_per_track(
                    ws.track[in_split], y_window[in_split], pred_window[in_split]
                )
            }
            n_win = int(in_split.sum())
            res["window_pooled"] = {
                "accuracy": float(np.mean(y_window[in_split] == pred_window[in_split]))
                if n_win
                else math.nan
            }
        res["track"] = {}
        for rule in rules:
            y_pred = np.array([index[p] for p in trk[f"pred_{rule}"]], dtype=np.int64)
            res["track"][rule] = classification_metrics(y_track, y_pred, n_classes)
        out["splits"][split] = res
    return out


def write_outputs(out_dir, ws: WindowScores, tracks: pd.DataFrame, splits=SPLITS, **meta) -> dict:
    """Write ``window_scores.h5``, ``tracks.csv`` and ``metrics.json`` into ``out_dir``.

    ``meta`` (e.g. ``experiment``, ``seed``, ``model_dir``) goes into the HDF5
    attributes and the top of ``metrics.json``. NaN is written as JSON ``null``
    (:func:`divconq.shared.fileio.write_json`, atomically).
    Returns the metrics dict (with NaN, not None).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_window_scores(out_dir / "window_scores.h5", ws, **meta)
    track_table(ws, tracks).to_csv(out_dir / "tracks.csv", index=False)
    metrics = {**meta, **compute_metrics(ws, tracks, splits)}
    from divconq.shared.fileio import write_json

    write_json(out_dir / "metrics.json", metrics)
    return metrics


def recompute(eval_dir, manifest, splits=SPLITS) -> dict:
    """Metrics of an evaluation directory recomputed from its ``window_scores.h5`` alone.

    Parameters
    ----------
    eval_dir : str or Path
        ``results/eval/<experiment>/seed<N>``.
    manifest : str, Path or pd.DataFrame
        Split manifest (``track``, ``label``, ``split``).
    """
    ws, attrs = read_window_scores(Path(eval_dir) / "window_scores.h5")
    tracks = read_manifest(manifest)
    meta = {k: attrs[k] for k in ("experiment", "seed") if k in attrs}
    return {**meta, **compute_metrics(ws, tracks, splits)}


# ---------------------------------------------------------------------------
# The evaluation stage


def evaluate(
    model_dir,
    manifest,
    out_dir,
    splits=SPLITS,
    batch_size: int = 256,
    base_dir=None,
    threads: int | None = None,
    **meta,
) -> dict:
    """Score the ``splits`` tracks with a model directory and write the evaluation files.

    Parameters
    ----------
    model_dir : str or Path
        ``results/models/<experiment>/seed<N>`` (see ``docs/architecture.md``).
    manifest : str, Path or pd.DataFrame
        ``results/split/manifest.csv``.
    out_dir : str or Path
        ``results/eval/<experiment>/seed<N>``.
    splits : sequence of str
        Splits to score (only these tracks go through the model).
    batch_size : int
    base_dir : str or Path, optional
        See :func:`divconq.evaluate.scoring.score_tracks`.
    threads : int, optional
        TensorFlow threads (:func:`divconq.evaluate.inference.set_threads`); default: all cores.
    **meta
        Stored with the outputs; ``experiment`` and ``seed`` default to the
        model's ``preprocessing.json``.

    Returns
    -------
    dict
        The metrics (as in ``metrics.json``).
    """
    from divconq.evaluate import inference
    from divconq.evaluate.scoring import score_tracks

    if threads:
        inference.set_threads(threads)
    bundle = inference.load_model_dir(model_dir)
    pre = Path(model_dir) / "preprocessing.json"
    info = json.loads(pre.read_text()) if pre.exists() else {}
    for key in ("experiment", "seed"):
        if key not in meta and key in info:
            meta[key] = info[key]
    meta.setdefault("model_dir", str(model_dir))
    tracks = read_manifest(manifest)
    todo = tracks[tracks["split"].isin(list(splits))].sort_values(["split", "track"])
    ws = score_tracks(bundle, todo, batch_size=batch_size, base_dir=base_dir)
    return write_outputs(out_dir, ws, tracks, splits, **meta)
