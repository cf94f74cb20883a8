"""Stratified split in which whole groups (e.g. artists) go to one split.

See :func:`split_from_groups`; :func:`greedy_assign` is shared with the k-fold split
(:mod:`divconq.split.folds`).
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd

from divconq.split.core import (
    SPLITS,
    SplitError,
    SplitReport,
    _check_tracks,
    _finish,
    _with_split,
    allocate_counts,
    check_fractions,
)
from divconq.split.named import _index, _match, _parse_name


def read_groups(path) -> list[tuple[str, str, str]]:
    """Read a groups file into ``(label, filename, group)`` triples.

    A CSV with a header that has ``track`` and ``group`` columns, or a two-column file
    without header (track, group). Tracks are ``label/filename`` or ``label/stem``.
    """
    table = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, skipinitialspace=True)
    first = [str(v).strip().lower() for v in table.iloc[0]] if len(table) else []
    if "track" in first and "group" in first:
        table = table.iloc[1:].rename(columns=dict(zip(table.columns, first, strict=True)))
        table = table[["track", "group"]]
    elif table.shape[1] == 2:
        table.columns = ["track", "group"]
    else:
        raise SplitError(f"{path}: expected columns track,group (or two columns without header)")
    triples = []
    for track, group in zip(table["track"], table["group"], strict=True):
        if not str(track).strip():
            continue
        label, filename = _parse_name(str(track), where=f"{path}: ")
        triples.append((label, filename, str(group).strip()))
    return triples


def _greedy_groups(
    members: dict[str, list[str]], labels: dict[str, str], fractions: dict, seed
) -> dict[str, str]:
    """Assign whole groups to train/val/test so that per-label counts approach their targets.

    Targets are :func:`allocate_counts` per label; see :func:`greedy_assign` for the rule.
    """
    per_label = Counter(labels.values())
    target = {lab: allocate_counts(n, fractions) for lab, n in per_label.items()}
    return greedy_assign(members, labels, target, SPLITS, seed)


def greedy_assign(
    members: dict[str, list[str]],
    labels: dict[str, str],
    target: dict[str, dict],
    parts,
    seed,
) -> dict:
    """Assign whole groups to parts (splits or folds) towards per-label target counts.

    Groups go largest first (ties in a seeded random order); each goes to the part where it
    reduces the summed per-label distance to the targets the most (ties: the earlier part). A
    group may hold tracks of several labels, which is why this works on all labels at once
    rather than label by label. With one track per group it meets the targets exactly.

    Parameters
    ----------
    members : dict
        ``{group: [track id, ...]}``; the group names are sorted before the seeded shuffle.
    labels : dict
        ``{track id: label}``.
    target : dict
        ``{label: {part: n_tracks}}``.
    parts : sequence
        The parts, in tie-breaking order.
    seed : int or sequence of int
        Seed of ``numpy.random.default_rng`` for the order of equal-sized groups.

    Returns
    -------
    dict
        ``{track id: part}``.
    """
    filled = {lab: dict.fromkeys(parts, 0) for lab in target}
    names = sorted(members)
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    order.sort(key=lambda g: -len(members[g]))  # stable sort keeps the seeded order for ties

    def cost(content: Counter, part) -> int:
        return sum(
            abs(filled[lab][part] + k - target[lab][part])
            - abs(filled[lab][part] - target[lab][part])
            for lab, k in content.items()
        )

    assigned = {}
    for group in order:
        content = Counter(labels[t] for t in members[group])
        part = min(parts, key=lambda s: cost(content, s))  # min() keeps the first on ties
        for lab, k in content.items():
            filled[lab][part] += k
        assigned.update(dict.fromkeys(members[group], part))
    return assigned


def group_members(tracks: pd.DataFrame, groups_path) -> tuple[dict[str, str], list[str], list[str]]:
    """The group of every track named in a groups file.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Checked track table (see :func:`_check_tracks`).
    groups_path : path-like
        See :func:`read_groups`.

    Returns
    -------
    tuple
        (``{track id: group}`` of the matched tracks, sorted ids named in the file but missing
        on disk, sorted ids of tracks absent from the file).
    """
    index = _index(tracks)
    group_of: dict[str, str] = {}
    clashes, missing = set(), set()
    for label, filename, group in read_groups(groups_path):
        track, shown = _match(label, filename, index)
        if track is None:
            missing.add(shown)
        elif group_of.setdefault(track, group) != group:
            clashes.add(track)
    if clashes:
        raise SplitError(
            f"{groups_path}: track(s) in more than one group: {', '.join(sorted(clashes))}"
        )
    ungrouped = sorted(set(tracks["track"]) - set(group_of))
    return group_of, sorted(missing), ungrouped


def members_of(track_ids, group_of: dict[str, str]) -> dict[str, list[str]]:
    """``{group: [track id, ...]}``; a track without a group is a group of its own."""
    members: dict[str, list[str]] = defaultdict(list)
    for track in sorted(track_ids):
        # The NUL prefix keeps a lone track's own group apart from any named group.
        members[group_of.get(track) or "\0" + track].append(track)
    return members


def split_from_groups(
    tracks: pd.DataFrame, groups_path, fractions: dict, seed: int = 0
) -> tuple[pd.DataFrame, SplitReport]:
    """Stratified split in which no group (e.g. artist) straddles two splits.

    Whole groups are assigned greedily towards the per-label targets of
    :func:`allocate_counts` (see :func:`_greedy_groups`), so the fractions hold as well as the
    group sizes allow; the small-label val/test guarantee of the stratified split cannot always
    hold here. Tracks absent from the groups file are each a group of their own and reported
    as ``ungrouped``; groups-file entries that match no track are reported as
    ``missing_on_disk``. Every track gets a split.

    Returns
    -------
    tuple
        (split table, :class:`SplitReport`).
    """
    fractions = check_fractions(fractions)
    tracks = _check_tracks(tracks)
    group_of, missing, ungrouped = group_members(tracks, groups_path)
    members = members_of(tracks["track"], group_of)
    labels = dict(zip(tracks["track"], tracks["label"].astype(str), strict=True))
    assigned = _greedy_groups(members, labels, fractions, int(seed))
    report = SplitReport("groups", missing_on_disk=missing, ungrouped=ungrouped)
    return _finish(_with_split(tracks, assigned), report)
