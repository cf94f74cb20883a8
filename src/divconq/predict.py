"""Classify any audio file with a trained model: ``divconq predict``.

A file is decoded (any format, rate and channel count :func:`divconq.audio.load`
reads), cut into ``snippet_s`` windows every ``window_hop_s`` over the whole
track (3-s windows with 2-s overlap by default), turned into log-mel features by
:func:`divconq.features.track_features` with the model's own stored
:class:`~divconq.features.FeatureParams` (nothing comes from the config or the
command line), scored by :mod:`divconq.inference`, and the window scores are
aggregated into one track prediction by a rule of
:func:`divconq.evaluation.rule_scores` (``sum``, the article's, by default).
These are the exact functions the workflow's feature and evaluation stages use,
so a track gets the same features and the same prediction here as there
(``tests/test_predict.py`` checks both).

A long file is a pipeline: it is decoded piece by piece (:func:`divconq.audio.stream`),
features are computed 64 windows at a time in worker threads as soon as their
audio is in (each window is framed and transformed on its own, so a chunk gives the
very same numbers as the whole track), and the model scores the previous batch
meanwhile. Memory stays bounded: only the (n_windows, n_classes) scores are kept.

``--model`` is either one model folder (``results/models/<experiment>/seed<N>``)
or an experiment folder: then every ``seed*/`` model in it is loaded and their
window scores are averaged before the track rule is applied (an ensemble).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import queue
import re
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from divconq.audio import find_audio_files, stream
from divconq.errors import AudioError
from divconq.features import FeatureParams, track_features, window_starts

__all__ = [
    "RULES",
    "FilePrediction",
    "ModelDirError",
    "Predictor",
    "collect_files",
    "model_dirs",
    "plot_paths",
    "plot_timeline",
    "predict_files",
    "run",
    "to_csv",
    "to_json",
    "to_table",
    "track_values",
]

#: Command-line rule name -> :mod:`divconq.evaluation` rule name.
RULES = {"sum": "sum", "mean-log": "mean_log", "vote": "vote"}
#: Windows whose features are computed at once (~17 MB of framed audio at 22050 Hz).
FEATURE_CHUNK = 64


class ModelDirError(Exception):
    """A ``--model`` path that is not a usable model or experiment folder."""


# ---------------------------------------------------------------------------
# Inputs


def model_dirs(path) -> list[Path]:
    """The model folders a ``--model`` path stands for.

    Parameters
    ----------
    path : str, Path or list of them
        A model folder (holds ``model.keras`` and/or ``preprocessing.json``) or an
        experiment folder holding ``seed<N>/`` model folders; a list is expanded
        item by item (the workflow passes the configured seeds' folders).

    Returns
    -------
    list of Path
        ``[path]`` for a model folder; the ``seed*`` subfolders sorted by seed
        number for an experiment folder.

    Raises
    ------
    ModelDirError
        If the path is missing, or is neither kind of folder.
    """
    if isinstance(path, (list, tuple)):
        if not path:
            raise ModelDirError("no model folder given")
        return [d for p in path for d in model_dirs(p)]
    path = Path(path)
    if not path.exists():
        raise ModelDirError(f"model folder {path} does not exist")
    if not path.is_dir():
        raise ModelDirError(f"--model must be a folder, {path} is a file")
    if (path / "model.keras").exists() or (path / "preprocessing.json").exists():
        return [path]
    seeds = [p for p in path.glob("seed*") if p.is_dir()]
    if not seeds:
        raise ModelDirError(
            f"{path} is not a model folder (no model.keras, no preprocessing.json) "
            "nor an experiment folder (no seed*/ model folders)"
        )

    def seed_key(p: Path):
        m = re.fullmatch(r"seed(\d+)", p.name)
        return (0, int(m.group(1)), p.name) if m else (1, 0, p.name)

    return sorted(seeds, key=seed_key)


def collect_files(paths) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files and folders into the audio files to classify.

    A file named on the command line is taken whatever its extension (decoding
    decides); a folder contributes its files with an audio extension
    (:data:`divconq.audio.AUDIO_EXTENSIONS`), recursively, sorted, hidden files
    skipped. The result keeps the command-line order and drops repeats.

    Returns
    -------
    files : list of Path
    missing : list of (path, reason)
        Paths that do not exist, or folders without audio.
    """
    files, missing, seen = [], [], set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = find_audio_files(p)
            if not found:
                missing.append((str(p), "folder holds no audio file"))
        elif p.exists():
            found = [p]
        else:
            missing.append((str(p), "no such file or folder"))
            found = []
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files, missing


# ---------------------------------------------------------------------------
# Features and scores


class WindowCutter:
    """Cut audio that arrives piece by piece into chunks of windows.

    A chunk is handed out as soon as all of its samples are in, so the features
    of the start of a long file can be computed while the rest is still being
    decoded; only the samples of the chunks not yet handed out are kept.

    Parameters
    ----------
    params : FeatureParams
    chunk : int
        Windows per chunk (the last chunk may have fewer).

    Attributes
    ----------
    n_samples : int
        Samples received so far (the track length once :meth:`finish` was called).
    """

    def __init__(self, params: FeatureParams, chunk: int = FEATURE_CHUNK):
        self.params, self.chunk = params, int(chunk)
        self.n_samples = 0
        self._pieces: deque = deque()  # arrays that hold samples from self._offset on
        self._offset = 0
        self._next = 0  # first window not handed out

    def _span(self, first: int, count: int) -> tuple[int, int]:
        hop, length = self.params.window_hop_samples, self.params.snippet_samples
        a = first * hop
        return a, a + (count - 1) * hop + length

    def _take(self, a: int, b: int) -> np.ndarray:
        """Samples ``a`` to ``b - 1`` (fewer at the end of the track)."""
        parts, pos = [], self._offset
        for piece in self._pieces:
            lo, hi = max(a, pos), min(b, pos + len(piece))
            if lo < hi:
                parts.append(piece[lo - pos : hi - pos])
            pos += len(piece)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def _drop_before(self, a: int) -> None:
        while self._pieces and self._offset + len(self._pieces[0]) <= a:
            self._offset += len(self._pieces.popleft())

    def feed(self, piece: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
        """Add the next samples; return the chunks now complete.

        Returns
        -------
        list of (first, count, segment)
            ``segment`` holds the samples of windows ``first`` to
            ``first + count - 1``, from the start of window ``first`` on.
        """
        piece = np.asarray(piece, dtype=np.float32)
        if len(piece):
            self._pieces.append(piece)
            self.n_samples += len(piece)
        ready = []
        while True:
            a, b = self._span(self._next, self.chunk)
            if b > self.n_samples:
                return ready
            ready.append((self._next, self.chunk, self._take(a, b)))
            self._next += self.chunk
            self._drop_before(self._span(self._next, 1)[0])

    def finish(self) -> list[tuple[int, int, np.ndarray]]:
        """The track is complete: return the remaining windows (as :meth:`feed`).

        A track shorter than one window gives one window at 0, whose segment is
        shorter than a window (the features pad it with silence).
        """
        n = len(window_starts(self.n_samples, self.params))
        ready = []
        while self._next < n:
            count = min(self.chunk, n - self._next)
            a, b = self._span(self._next, count)
            ready.append((self._next, count, self._take(a, min(b, self.n_samples))))
            self._next += count
        self._pieces.clear()
        return ready


def segment_features(params: FeatureParams, first: int, count: int, segment: np.ndarray):
    """Features of windows ``first`` to ``first + count - 1`` of a track.

    :func:`divconq.features.track_features` of the stretch of audio these windows
    cover (a chunk from :class:`WindowCutter`). Windows are framed and transformed
    one by one there, so any split of a track into chunks gives exactly
    ``track_features(y, params).mel_db``; a track shorter than one window gets one
    window padded with silence, as in training.

    Parameters
    ----------
    params : FeatureParams
    first, count : int
        The chunk's first window and its number of windows.
    segment : np.ndarray, float32
        The samples of those windows, from the start of window ``first`` on.

    Returns
    -------
    start_s : np.ndarray, float64, shape (count,)
        Window starts in the track, seconds.
    mel_db : np.ndarray, float32, shape (count, n_mels, n_frames)
    """
    feats = track_features(segment, params, clip=False)
    if len(feats.start_s) != count:  # pragma: no cover - window arithmetic guard
        raise RuntimeError(f"chunk at {first} gave {len(feats.start_s)} windows, not {count}")
    offset_s = first * params.window_hop_samples / params.sample_rate
    return feats.start_s + offset_s, feats.mel_db


def window_chunks(y: np.ndarray, params: FeatureParams, chunk: int = FEATURE_CHUNK):
    """Features of every window of a track, ``chunk`` windows at a time.

    Yields
    ------
    (start_s, mel_db) of consecutive chunks, see :func:`segment_features`; their
    concatenation equals ``track_features(y, params)``'s ``start_s`` and ``mel_db``.
    """
    cutter = WindowCutter(params, chunk)
    for job in cutter.feed(y) + cutter.finish():
        yield segment_features(params, *job)


@dataclass
class FilePrediction:
    """The prediction for one file.

    Attributes
    ----------
    file : str
        The file as named (relative paths stay relative).
    class_names : list of str
    rule : str
        Command-line rule name (``sum``, ``mean-log``, ``vote``; ``clip`` for a clip model).
    start_s : np.ndarray, float64, shape (n_windows,)
        Window starts, seconds (one row at 0 for a clip model).
    window_s : float
        Window length, seconds (``clip_s`` for a clip model).
    scores : np.ndarray, float64, shape (n_windows, n_classes)
        Softmax scores per window (averaged over the models of an ensemble).
    duration_s : float
        Decoded length, seconds.
    padded : bool
        The file was shorter than one window and was padded with silence.
    label : str
        Predicted class.
    values : np.ndarray, float64, shape (n_classes,)
        Track scores shown to the user, see :func:`track_values`.
    seconds : float
        Wall time spent on this file.
    """

    file: str
    class_names: list
    rule: str
    start_s: np.ndarray
    window_s: float
    scores: np.ndarray
    duration_s: float
    padded: bool
    label: str = ""
    values: np.ndarray = field(default=None, repr=False)
    seconds: float = 0.0

    @property
    def n_windows(self) -> int:
        return int(len(self.start_s))

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` best classes by the rule, with their shown scores."""
        order = self._order()[:k]
        return [(self.class_names[i], float(self.values[i])) for i in order]

    def _order(self):
        from divconq.evaluation import rule_scores

        rule = "sum" if self.rule == "clip" else RULES[self.rule]
        ranking = rule_scores(self.scores, rule)
        # Stable on ties: argsort of the negated ranking keeps class order.
        return np.argsort(-ranking, kind="stable")


def track_values(scores: np.ndarray, rule: str) -> tuple[int, np.ndarray]:
    """Track prediction and readable per-class track scores under a rule.

    The prediction is :func:`divconq.evaluation.predict_track` (the evaluation
    stage's own code). The shown scores rank the classes as the rule does but
    read as probabilities (they sum to 1): ``sum`` shows the mean window score,
    ``mean-log`` the normalized geometric mean of the window scores, ``vote``
    the fraction of windows voting for each class.

    Parameters
    ----------
    scores : np.ndarray, shape (n_windows, n_classes)
    rule : str
        ``sum``, ``mean-log``, ``vote`` (or ``clip``: a clip model's single score).

    Returns
    -------
    index : int
    values : np.ndarray, float64, shape (n_classes,)
    """
    from divconq.evaluation import predict_track, rule_scores

    scores = np.asarray(scores, dtype=np.float64)
    name = "sum" if rule == "clip" else RULES[rule]
    index = predict_track(scores, name)
    if name == "sum":
        values = scores.mean(axis=0)
    elif name == "mean_log":
        mean_log = rule_scores(scores, name)
        e = np.exp(mean_log - mean_log.max())
        values = e / e.sum()
    else:
        votes = np.bincount(scores.argmax(axis=1), minlength=scores.shape[1])
        values = votes / len(scores)
    return index, values


class Predictor:
    """One model, or the ensemble of an experiment's seed models, ready to classify files.

    Parameters
    ----------
    model : str, Path or list of them
        Model folder, experiment folder or list of model folders (see :func:`model_dirs`).
    batch_size : int
        Windows per model call. On CPU the time per window is the same from 16
        to 256 (measured with the ``article`` preset), but memory is not: the
        first conv block's activations alone take 3.3 MB per window, so 256
        windows peak near 3 GB and 32 under 1 GB. Features of a few dozen
        windows wait at a time (52 kB each).
    warmup : bool
        Run each model once on dummy windows, so that the first file does not
        pay for building the model's inference function.
    feature_threads : int, optional
        Threads computing features (default: the CPU count, at most 4). Numpy's
        FFT releases the GIL: two threads halve the feature time on two cores.

    Attributes
    ----------
    dirs : list of Path
    bundles : list of divconq.inference.Bundle
    params : FeatureParams
        The models' stored feature parameters (all models must agree).
    class_names : list of str
    input : str
        ``snippets`` or ``clip``.
    """

    def __init__(
        self, model, batch_size: int = 32, warmup: bool = True, feature_threads: int | None = None
    ):
        from divconq import inference

        self.dirs = model_dirs(model)
        self.bundles = []
        for d in self.dirs:
            try:
                self.bundles.append(inference.load_model_dir(d))
            except (FileNotFoundError, ValueError) as err:  # the message names the part
                raise ModelDirError(str(err)) from err
            except Exception as err:  # e.g. a truncated model.keras
                raise ModelDirError(f"cannot load model {d}: {type(err).__name__}: {err}") from err
        first = self.bundles[0]
        for d, b in zip(self.dirs[1:], self.bundles[1:], strict=True):
            same = (
                b.params == first.params
                and list(b.class_names) == list(first.class_names)
                and b.input == first.input
            )
            if not same:
                raise ModelDirError(
                    f"the models of {model} disagree: {d} has other feature parameters, "
                    f"classes or input than {self.dirs[0]}; an ensemble needs them equal"
                )
        self.params: FeatureParams = first.params
        self.class_names = [str(c) for c in first.class_names]
        self.input = first.input
        self.batch_size = max(1, int(batch_size))
        if feature_threads is None:
            feature_threads = min(4, os.cpu_count() or 1)
        self.feature_threads = max(1, int(feature_threads))
        if warmup:
            self.warmup()

    def warmup(self) -> None:
        """Score dummy inputs of two batch sizes: Keras then traces its inference
        function once with a free batch dimension and never again."""
        p = self.params
        frames = p.n_clip_frames if self.input == "clip" else p.n_frames
        for n in (1, 2):
            x = np.zeros((n, p.n_mels, frames), dtype=np.float32)
            if self.input == "clip":
                self.score_clip(x[0])
            else:
                self.score_windows(x)

    def score_windows(self, mel_db: np.ndarray) -> np.ndarray:
        """Softmax scores of windows, averaged over the models (float64, (n, n_classes))."""
        from divconq import inference

        total = None
        for b in self.bundles:
            s = np.asarray(inference.score_windows(b, mel_db, batch_size=self.batch_size))
            total = s.astype(np.float64) if total is None else total + s
        return total / len(self.bundles)

    def score_clip(self, clip_mel_db: np.ndarray) -> np.ndarray:
        """Softmax scores of a whole-clip input, averaged over the models (float64, (1, n))."""
        from divconq import inference

        total = 0.0
        for b in self.bundles:
            s = np.asarray(inference.score_clip(b, clip_mel_db), dtype=np.float64)
            total = total + s.reshape(1, -1)
        return total / len(self.bundles)

    def scores_of_stream(self, pieces) -> tuple[np.ndarray, np.ndarray, int]:
        """Window starts and scores of mono audio at ``params.sample_rate``, given piece by piece.

        Three things overlap: a reader thread pulls the pieces (decoding a file,
        see :func:`divconq.audio.stream`) and cuts them into chunks of windows
        (:class:`WindowCutter`); worker threads compute the chunks' features; this
        thread scores them in batches (numpy, libsndfile, soxr and TensorFlow all
        release the GIL). A few chunks at most wait, so memory stays bounded
        whatever the length. Chunks are independent, so the numbers do not
        depend on the threads.

        Parameters
        ----------
        pieces : iterable of np.ndarray, float32, shape (n,)
            Consecutive pieces of the track.

        Returns
        -------
        start_s : np.ndarray, float64, shape (n_windows,)
        scores : np.ndarray, float64, shape (n_windows, n_classes)
        n_samples : int
            Track length, samples.
        """
        p = self.params
        if self.input == "clip":
            y = np.concatenate([np.asarray(x, dtype=np.float32) for x in pieces])
            feats = track_features(y[: p.clip_samples], p, clip=True)
            return np.zeros(1), self.score_clip(feats.clip_mel_db), len(y)
        cutter = WindowCutter(p)
        workers = self.feature_threads
        waiting = queue.Queue(maxsize=max(2 * workers, -(-self.batch_size // FEATURE_CHUNK) + 1))
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    waiting.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    pass
            return False

        def read(pool):
            try:
                for piece in pieces:
                    if stop.is_set():
                        return
                    for job in cutter.feed(piece):
                        if not put(pool.submit(segment_features, p, *job)):
                            return
                for job in cutter.finish():
                    if not put(pool.submit(segment_features, p, *job)):
                        return
                put(None)
            except BaseException as err:  # handed to the scoring thread, which raises it
                put(err)

        starts, scores, mels, pending = [], [], [], 0
        with ThreadPoolExecutor(max_workers=workers) as pool:
            reader = threading.Thread(target=read, args=(pool,), daemon=True)
            reader.start()
            try:
                while True:
                    item = waiting.get()
                    if isinstance(item, BaseException):
                        raise item
                    if item is not None:
                        start_s, mel_db = item.result()
                        starts.append(start_s)
                        mels.append(mel_db)
                        pending += len(mel_db)
                    if mels and (pending >= self.batch_size or item is None):
                        scores.append(self.score_windows(np.concatenate(mels)))
                        mels, pending = [], 0
                    if item is None:
                        break
            finally:
                stop.set()
                reader.join()
        return np.concatenate(starts), np.concatenate(scores), cutter.n_samples

    def predict_audio(self, y: np.ndarray, name: str = "", rule: str = "sum") -> FilePrediction:
        """Classify mono audio at ``params.sample_rate``."""
        t0 = time.perf_counter()
        pred = self._prediction(name, rule, *self.scores_of_stream([y]))
        pred.seconds = time.perf_counter() - t0
        return pred

    def _prediction(self, name, rule, start_s, scores, n_samples) -> FilePrediction:
        kind = "clip" if self.input == "clip" else rule
        index, values = track_values(scores, kind)
        p = self.params
        return FilePrediction(
            file=name,
            class_names=self.class_names,
            rule=kind,
            start_s=start_s,
            window_s=p.clip_s if self.input == "clip" else p.snippet_s,
            scores=scores,
            duration_s=n_samples / p.sample_rate,
            padded=n_samples < p.snippet_samples,
            label=self.class_names[index],
            values=values,
        )

    def predict_file(self, path, rule: str = "sum") -> FilePrediction:
        """Decode and classify one file; raises :class:`~divconq.errors.AudioError`."""
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; known: {list(RULES)}")
        t0 = time.perf_counter()
        # Decoding goes on while the first windows are scored (see scores_of_stream).
        pieces = stream(path, sr=self.params.sample_rate)
        pred = self._prediction(str(path), rule, *self.scores_of_stream(pieces))
        pred.seconds = time.perf_counter() - t0
        return pred


# ---------------------------------------------------------------------------
# Output


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


def _num(v: float):
    v = float(v)
    return round(v, 6) if math.isfinite(v) else None


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


#: TensorFlow's start-up notices on stderr that say nothing to a ``predict`` user.
_TF_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} .*(oneDNN custom operations|cpu_feature_guard|TensorFlow binary is optimized)"
    r"|To enable the following instructions:.*rebuild TensorFlow)"
)


def _import_tensorflow_quietly() -> None:
    """Import Keras/TensorFlow with their C++ start-up notices filtered out of stderr.

    ``TF_CPP_MIN_LOG_LEVEL`` no longer silences them (TensorFlow 2.20+), so file
    descriptor 2 goes to a temporary file during the import; every other line is
    written back to stderr afterwards.
    """
    if "keras" in sys.modules:
        return
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            import keras  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode(errors="replace").splitlines():
                if line.strip() and not _TF_NOISE.match(line):
                    print(line, file=sys.stderr)


class _Progress:
    """A one-line progress bar on stderr (nothing when disabled)."""

    def __init__(self, total: int, enabled: bool, stream=None):
        self.total, self.enabled = total, enabled
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()

    def update(self, done: int, name: str = ""):
        if not self.enabled:
            return
        width = 30
        fill = int(width * done / max(self.total, 1))
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / done * (self.total - done) if done else 0.0
        label = name if len(name) <= 40 else "..." + name[-37:]
        self.stream.write(
            f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{self.total} "
            f"{elapsed:5.1f}s eta {eta:5.1f}s {label:<40}"
        )
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def predict_files(files, predictor: Predictor, rule: str = "sum", progress=None, on_error=None):
    """Classify files one after the other; a file that fails is reported and skipped.

    Parameters
    ----------
    files : list of path
    predictor : Predictor
    rule : str
    progress : _Progress, optional
    on_error : callable(path, message), optional
        Called for each failed file (default: nothing).

    Returns
    -------
    preds : list of FilePrediction
    errors : list of (file, message)
    """
    preds, errors = [], []
    for i, f in enumerate(files):
        if progress is not None:
            progress.update(i, str(f))
        try:
            preds.append(predictor.predict_file(f, rule=rule))
        except (AudioError, ValueError, RuntimeError, OSError, MemoryError) as err:
            msg = str(err) if isinstance(err, AudioError) else f"{f}: {err}"
            errors.append((str(f), msg))
            if on_error is not None:
                on_error(f, msg)
    if progress is not None:
        progress.update(len(files))
        progress.close()
    return preds, errors


def run(args) -> int:
    """``divconq predict``: 0 when every file was classified, 1 when some failed, 2 on a bad model.

    Parameters
    ----------
    args : argparse.Namespace
        As parsed by :func:`divconq.cli.build_parser` (``paths``, ``model``,
        ``rule``, ``format``, ``windows``, ``plot``, ``top``, ``batch_size``,
        ``output``, ``no_progress``).
    """

    def err(msg):
        print(f"divconq predict: {msg}", file=sys.stderr, flush=True)

    # TensorFlow's C++ start-up notices are not for this command's users.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    files, missing = collect_files(args.paths)
    _import_tensorflow_quietly()
    # Each model of an ensemble traces its inference function once (in the warm-up),
    # which TensorFlow's Python logger reports as "excessive retracing".
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    for f, reason in missing:
        err(f"{f}: {reason}")
    try:
        predictor = Predictor(args.model, batch_size=args.batch_size)
    except ModelDirError as e:
        err(str(e))
        return 2
    any_folder = any(Path(p).is_dir() for p in args.paths)
    show = any_folder and len(files) > 1 and not args.no_progress and sys.stderr.isatty()
    progress = _Progress(len(files), show)

    def report(f, msg):
        if show:
            sys.stderr.write("\r\033[K")
        err(msg)

    preds, errors = predict_files(files, predictor, args.rule, progress, on_error=report)
    errors = [(f, r) for f, r in missing] + errors

    if args.format == "json":
        text = to_json(preds, errors, top=args.top, windows=args.windows, model=args.model)
    elif args.format == "csv":
        text = to_csv(preds, windows=args.windows)
    else:
        text = to_table(preds, top=args.top, windows=args.windows)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()

    if args.plot and preds:
        for p, png in zip(preds, plot_paths(args.plot, [p.file for p in preds]), strict=True):
            try:
                plot_timeline(p, png)
            except Exception as e:  # a plot must not lose the predictions
                errors.append((p.file, f"plot {png}: {e}"))
                err(f"{p.file}: cannot draw {png}: {e}")
    return 1 if errors or not files else 0
