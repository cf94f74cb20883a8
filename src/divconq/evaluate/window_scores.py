"""Scores of every evaluated window of a model (:class:`WindowScores`) and their
checksummed HDF5 file: what :mod:`divconq.evaluate.scoring` produces and
:mod:`divconq.evaluate.evaluation` turns into tables."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from divconq.shared.inputs import INPUTS


@dataclass
class WindowScores:
    """Scores of every evaluated window (or clip) of a model.

    Attributes
    ----------
    track : np.ndarray of str, shape (n,)
        Track id of each row; rows of one track are contiguous.
    start_s : np.ndarray, float64, shape (n,)
        Window start, seconds (0 for a clip).
    is_snippet : np.ndarray, bool, shape (n,)
        Training-style snippet (False for a clip).
    scores : np.ndarray, float32, shape (n, n_classes)
        Softmax scores.
    class_names : list of str
    input : str
        ``snippets`` or ``embeddings`` (rows are windows: 3-s log-mel windows or
        embedded patches), ``clip`` or ``embedding_mean`` (one row per track).
    """

    track: np.ndarray
    start_s: np.ndarray
    is_snippet: np.ndarray
    scores: np.ndarray
    class_names: list
    input: str = "snippets"

    def __post_init__(self):
        self.track = np.asarray(self.track, dtype=object).astype(str)
        self.start_s = np.asarray(self.start_s, dtype=np.float64)
        self.is_snippet = np.asarray(self.is_snippet, dtype=bool)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(
            len(self.track), len(self.class_names)
        )
        self.class_names = [str(c) for c in self.class_names]
        if self.input not in INPUTS:
            raise ValueError(f"input must be one of {', '.join(INPUTS)}, not {self.input!r}")

    def groups(self):
        """Yield ``(track, row slice)`` per track, in order of first appearance."""
        tracks = self.track
        if len(tracks) == 0:
            return
        change = np.flatnonzero(tracks[1:] != tracks[:-1]) + 1
        bounds = np.concatenate([[0], change, [len(tracks)]])
        seen = set()
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            if tracks[a] in seen:
                raise ValueError(f"rows of track {tracks[a]!r} are not contiguous")
            seen.add(tracks[a])
            yield tracks[a], slice(int(a), int(b))


def write_window_scores(path, ws: WindowScores, **attrs) -> None:
    """Write window scores to a checksummed HDF5 (under a temporary name, then renamed).

    Layout: datasets ``track`` (UTF-8 strings, (n,)), ``start_s`` (float64, (n,)),
    ``is_snippet`` (bool, (n,)), ``scores`` (float32, (n, n_classes)); attributes
    ``class_names`` (JSON list), ``input`` and the caller's ``attrs`` (e.g.
    ``experiment``, ``seed``). Checksums as :func:`divconq.data.features.write_hdf5`'s.
    """
    from divconq.shared.fileio import add_dataset, atomic_path, create_hdf5, set_attrs

    with atomic_path(path) as tmp, create_hdf5(tmp) as h5:
        add_dataset(h5, "track", ws.track.astype(str))
        add_dataset(h5, "start_s", ws.start_s)
        add_dataset(h5, "is_snippet", ws.is_snippet)
        add_dataset(h5, "scores", ws.scores)
        set_attrs(h5, {"class_names": json.dumps(ws.class_names), "input": ws.input, **attrs})


def read_window_scores(path) -> tuple[WindowScores, dict]:
    """Read and verify a file written by :func:`write_window_scores`.

    Returns the scores and all attributes. Raises
    :class:`divconq.shared.errors.DamagedFileError` if the file is truncated, fails a
    checksum or holds NaN or infinite scores.
    """
    from divconq.shared.fileio import check_finite, open_hdf5, read_attrs

    with open_hdf5(path) as h5:
        attrs = read_attrs(h5.attrs)
        ws = WindowScores(
            track=h5["track"].asstr()[()],
            start_s=h5["start_s"][()],
            is_snippet=h5["is_snippet"][()],
            scores=h5["scores"][()],
            class_names=json.loads(attrs["class_names"]),
            input=str(attrs["input"]),
        )
    check_finite(path, "scores", ws.scores)
    check_finite(path, "start_s", ws.start_s)
    return ws, attrs
