"""k-fold cross-validation: which fold tests each track, and the train/val/test view of a fold.

``split.method: kfold`` (see :func:`divconq.split.make_split`) gives every track one test fold
(:func:`kfold_split`): stratified by label, track-wise, seeded, and with an optional groups file
(e.g. artists) whole groups stay in one fold, so no group is ever both trained and tested on.
Every track is tested exactly once over the ``K`` folds.

The full manifest (``results/split/manifest.csv``) then has two more columns, ``fold`` (the test
fold of the track, 0..K-1) and ``group`` (empty: the track is a group of its own), and ``split``
is :data:`KFOLD_SPLIT` for every row. :func:`fold_view` turns it into the ordinary
train/val/test manifest of fold ``k`` (``results/split/fold<k>/manifest.csv``), which training
and evaluation read as they read any manifest:

- test: the tracks of fold ``k``;
- val: a seeded, label-stratified (and group-respecting) ``val_fraction`` of the other tracks;
- train: the rest.

Why not "the next fold is validation"? Published GTZAN 10-fold results use each fold once as
the test set and train on the other nine; models with early stopping need a validation set
carved out of those nine. Taking a fraction of them (the same for every training seed of a
fold, seeded by the split seed and the fold) keeps the validation size independent of ``K``
and works for ``K = 2``, where "the next fold" would leave nothing to train on. With
``val_fraction: 0.1`` and ``K = 10`` a fold trains on 81 %, validates on 9 % and tests on 10 %
of the tracks, close to the 80/10/10 random protocol.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from divconq.split.core import (
    SplitError,
    SplitReport,
    _check_tracks,
    _finish,
    allocate_counts,
    check_fractions,
)
from divconq.split.groups import greedy_assign, group_members, members_of
from divconq.split.manifest import read_manifest

logger = logging.getLogger(__name__)

#: ``split`` of every row of a full k-fold manifest: the split depends on the fold.
KFOLD_SPLIT = "kfold"


@dataclass
class KFoldReport(SplitReport):
    """:class:`~divconq.split.SplitReport` whose counts are ``{label: {"fold<k>": n}}``."""

    folds: int = 0

    @property
    def parts(self) -> list[str]:
        return [f"fold{k}" for k in range(self.folds)]


def fold_targets(per_label: dict[str, int], folds: int) -> dict[str, dict[int, int]]:
    """Tracks of each label per fold: as equal as possible, and fold totals as equal too.

    A label with ``n`` tracks puts ``n // folds`` in every fold and one more in ``n % folds``
    folds; those extra tracks go round the folds label after label (labels sorted), so the
    fold sizes differ by at most one track overall.

    Parameters
    ----------
    per_label : dict
        ``{label: n_tracks}``.
    folds : int
        Number of folds ``K``.

    Returns
    -------
    dict
        ``{label: {fold: n_tracks}}``, folds ``0..K-1``.
    """
    target, start = {}, 0
    for label in sorted(per_label):
        n = per_label[label]
        extra = {(start + i) % folds for i in range(n % folds)}
        target[label] = {k: n // folds + (k in extra) for k in range(folds)}
        start = (start + n % folds) % folds
    return target


def kfold_split(
    tracks: pd.DataFrame, folds: int, seed: int = 0, groups=None
) -> tuple[pd.DataFrame, KFoldReport]:
    """Give every track a test fold: stratified, track-wise, seeded, groups kept whole.

    Groups (from ``groups``, else one per track) are assigned largest first, equal sizes in an
    order seeded by ``seed``, to the fold that brings the per-label counts closest to
    :func:`fold_targets` (:func:`divconq.split.greedy_assign`). Without groups this meets the
    targets exactly. The result depends on the set of tracks, the groups and the seed only, not
    on the row order of ``tracks``.

    Parameters
    ----------
    tracks : pandas.DataFrame
        At least ``track``, ``label``, ``stem``, ``path``; other columns are kept.
    folds : int
        Number of folds ``K`` >= 2.
    seed : int
        Seed of the assignment.
    groups : path-like, optional
        A groups file as :func:`divconq.split.read_groups` reads (track, group).

    Returns
    -------
    tuple
        (``tracks`` plus ``split`` (:data:`KFOLD_SPLIT`), ``fold`` (int) and ``group`` (str,
        empty for a track without group), sorted by track id; :class:`KFoldReport`).
    """
    folds = int(folds)
    tracks = _check_tracks(tracks)
    if folds < 2:
        raise SplitError(f"split.folds must be at least 2, got {folds}")
    if len(tracks) < folds:
        raise SplitError(f"{len(tracks)} track(s) cannot fill {folds} folds")
    group_of, missing, ungrouped = ({}, [], []) if groups is None else group_members(tracks, groups)
    labels = dict(zip(tracks["track"], tracks["label"].astype(str), strict=True))
    per_label = Counter(labels.values())
    small = sorted(label for label, n in per_label.items() if n < folds)
    if small:
        logger.warning(
            "kfold: label(s) with fewer tracks than folds (%d), some folds test none of them: %s",
            folds,
            ", ".join(small),
        )
    members = members_of(tracks["track"], group_of)
    fold_of = greedy_assign(
        members, labels, fold_targets(per_label, folds), range(folds), int(seed)
    )
    out = tracks.copy()
    out["split"] = KFOLD_SPLIT
    out["fold"] = out["track"].map(fold_of).astype(int)
    out["group"] = [group_of.get(t, "") for t in out["track"]]
    for k in range(folds):
        trained = set(out.loc[out["fold"] != k, "label"].astype(str))
        untrained = sorted(set(per_label) - trained)
        if untrained:
            raise SplitError(
                f"fold {k} holds every track of label(s) {', '.join(untrained)}: nothing to "
                "train them on (too few tracks or groups for the folds)"
            )
    report = KFoldReport("kfold", missing_on_disk=missing, ungrouped=ungrouped, folds=folds)
    report.counts = {
        str(label): {f"fold{k}": int((g["fold"] == k).sum()) for k in range(folds)}
        for label, g in out.groupby("label", sort=True)
    }
    if groups is not None and ungrouped:
        logger.warning("kfold: %d track(s) not in the groups file, own group each", len(ungrouped))
    return out, report


def fold_view(manifest, fold: int, val_fraction: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """The ordinary train/val/test manifest of one fold of a k-fold manifest.

    Parameters
    ----------
    manifest : path-like or pandas.DataFrame
        A full k-fold manifest: the manifest columns plus ``fold`` and ``group``.
    fold : int
        The test fold ``k``.
    val_fraction : float
        Fraction in [0, 1) of the other folds' tracks, per label (rounded as
        :func:`divconq.split.allocate_counts` rounds, at least one track of a label with 3 or
        more when the fraction is > 0), that validates instead of training; whole groups.
    seed : int
        Split seed; the validation part of fold ``k`` is seeded by ``(seed, k)``, so it is the
        same for every training seed.

    Returns
    -------
    pandas.DataFrame
        The manifest rows with ``split`` train/val/test and without ``fold``/``group``, sorted
        by ``split``, ``track`` (as :func:`divconq.split.build_manifest` sorts).
    """
    df = read_manifest(manifest)
    absent = [c for c in ("fold", "group") if c not in df.columns]
    if absent:
        raise SplitError(f"not a k-fold manifest (no column {', '.join(absent)})")
    folds = sorted(int(k) for k in df["fold"].unique())
    fold = int(fold)
    if fold not in folds:
        raise SplitError(f"fold {fold} is not among the manifest's folds {folds}")
    if not 0 <= float(val_fraction) < 1:
        raise SplitError(f"split.val_fraction must lie in [0, 1), got {val_fraction}")
    fractions = check_fractions({"train": 1 - val_fraction, "val": val_fraction, "test": 0.0})
    df = df.copy()
    df["group"] = df["group"].fillna("").astype(str)
    rest = df[df["fold"].astype(int) != fold]
    labels = dict(zip(rest["track"], rest["label"].astype(str), strict=True))
    target = {label: allocate_counts(n, fractions) for label, n in Counter(labels.values()).items()}
    group_of = dict(zip(rest["track"], rest["group"], strict=True))
    assigned = greedy_assign(
        members_of(rest["track"], group_of), labels, target, ("train", "val"), [int(seed), fold]
    )
    df["split"] = df["track"].map(assigned).fillna("test")
    if val_fraction > 0 and not (df["split"] == "val").any():
        logger.warning("kfold fold %d: no validation track (val_fraction %g)", fold, val_fraction)
    view, _ = _finish(df.drop(columns=["fold", "group"]), SplitReport(f"kfold fold {fold}"))
    return view.sort_values(["split", "track"], kind="stable").reset_index(drop=True)
