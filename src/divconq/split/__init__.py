"""Track-wise train/val/test split and the manifest that records it.

Four ways to split, chosen by the ``split.method`` key of the configuration:

``stratified``
    Seeded, label-stratified fractions (80/10/10 by default); see :func:`stratified_split`.
``lists``
    Three list files of ``label/filename`` lines, the format of the artist-filtered
    ("fault-filtered") GTZAN split of Kereliuk, Sturm & Larsen (2015); see
    :func:`split_from_lists`.
``json``
    ``{label: {"val": [...], "test": [...]}}`` as the earlier SLAPP tool wrote; everything of a
    listed label that is not named goes to train; see :func:`split_from_json`.
``groups``
    Stratified, but whole groups (e.g. artists) go to one split; see :func:`split_from_groups`.

Every method is track-wise: a track is in at most one split. Mismatches between a split file
and the tracks on disk are never resolved silently: they end up in a :class:`SplitReport`, are
logged as warnings, and :func:`write_report` writes them next to the manifest.

This runs as one job over the whole track table, so pandas is fine here.

This module is the entry point and re-exports the public names of its parts:
:mod:`divconq.split.core` (error, report, per-label counts), :mod:`divconq.split.named`
(``lists`` and ``json``), :mod:`divconq.split.groups` (``groups``) and :mod:`divconq.split.manifest`
(the manifest and report files).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from divconq.split.core import (
    SPLITS,
    TRACK_COLUMNS,
    SplitError,
    SplitReport,
    _check_tracks,
    _counts,
    _finish,
    _label_rng,
    _with_split,
    allocate_counts,
    check_fractions,
)
from divconq.split.groups import (
    greedy_assign,
    group_members,
    members_of,
    read_groups,
    split_from_groups,
)
from divconq.split.manifest import (
    FOLD_COLUMNS,
    MANIFEST_COLUMNS,
    build_manifest,
    read_manifest,
    spectrogram_path,
    write_manifest,
    write_report,
)
from divconq.split.named import read_json_split, read_list, split_from_json, split_from_lists

__all__ = [
    "FOLD_COLUMNS",
    "MANIFEST_COLUMNS",
    "SPLITS",
    "TRACK_COLUMNS",
    "SplitError",
    "SplitReport",
    "allocate_counts",
    "build_manifest",
    "check_fractions",
    "greedy_assign",
    "group_members",
    "make_split",
    "members_of",
    "read_groups",
    "read_json_split",
    "read_list",
    "read_manifest",
    "spectrogram_path",
    "split_from_groups",
    "split_from_json",
    "split_from_lists",
    "stratified_split",
    "write_manifest",
    "write_report",
]


def stratified_split(tracks: pd.DataFrame, fractions: dict, seed: int = 0) -> pd.DataFrame:
    """Seeded, label-stratified, track-wise split.

    Within each label, the tracks are sorted by id, shuffled by a generator seeded from
    ``seed`` and the label, and cut into train, val and test with the counts of
    :func:`allocate_counts`. The result depends on the set of tracks and the seed only, not on
    the row order of ``tracks``.

    Parameters
    ----------
    tracks : pandas.DataFrame
        At least ``track``, ``label``, ``stem``, ``path``; other columns are kept.
    fractions : dict
        ``{"train": .8, "val": .1, "test": .1}``-like, summing to 1.
    seed : int
        Shuffle seed.

    Returns
    -------
    pandas.DataFrame
        ``tracks`` with a ``split`` column, sorted by track id.
    """
    fractions = check_fractions(fractions)
    tracks = _check_tracks(tracks)
    assigned: dict[str, str] = {}
    for label, group in tracks.groupby("label", sort=True):
        ids = group["track"].to_numpy()  # already sorted by id
        ids = ids[_label_rng(seed, str(label)).permutation(len(ids))]
        counts = allocate_counts(len(ids), fractions)
        cuts = np.cumsum([counts[s] for s in SPLITS])[:-1]
        for split, part in zip(SPLITS, np.split(ids, cuts), strict=True):
            assigned.update(dict.fromkeys(part, split))
    split_df, _ = _finish(_with_split(tracks, assigned), SplitReport("stratified"))
    return split_df


def make_split(tracks: pd.DataFrame, config_split: dict) -> tuple[pd.DataFrame, SplitReport]:
    """Split as the ``split`` section of the configuration says.

    Parameters
    ----------
    tracks : pandas.DataFrame
        At least ``track``, ``label``, ``stem``, ``path``.
    config_split : dict
        Keys ``method`` (stratified, lists, json, groups, kfold), ``fractions``, ``seed``,
        ``lists`` (``{train, val, test}`` paths), ``json``, ``groups``, ``folds`` (kfold), and
        optionally ``strict`` (bool, lists and json only).

    Returns
    -------
    tuple
        (split table: the assigned rows of ``tracks`` plus ``split``, :class:`SplitReport`).
    """
    method = config_split.get("method", "stratified")
    fractions = config_split.get("fractions") or {"train": 0.8, "val": 0.1, "test": 0.1}
    seed = int(config_split.get("seed") or 0)
    strict = bool(config_split.get("strict", False))
    if method == "stratified":
        split_df = stratified_split(tracks, fractions, seed)
        return split_df, SplitReport("stratified", counts=_counts(split_df))
    if method == "lists":
        lists = config_split.get("lists") or {}
        absent = [s for s in SPLITS if not lists.get(s)]
        if absent:
            raise SplitError(f"split method 'lists' needs split.lists.{{{','.join(absent)}}}")
        return split_from_lists(tracks, *(lists[s] for s in SPLITS), strict=strict)
    if method == "json":
        if not config_split.get("json"):
            raise SplitError("split method 'json' needs split.json")
        return split_from_json(tracks, config_split["json"], strict=strict)
    if method == "groups":
        if not config_split.get("groups"):
            raise SplitError("split method 'groups' needs split.groups")
        return split_from_groups(tracks, config_split["groups"], fractions, seed)
    if method == "kfold":
        from divconq.split.folds import kfold_split

        folds = int(config_split.get("folds") or 10)
        return kfold_split(tracks, folds, seed, groups=config_split.get("groups"))
    raise SplitError(f"unknown split method '{method}' (stratified, lists, json, groups, kfold)")


# ---------------------------------------------------------------------------------------------
