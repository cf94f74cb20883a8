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
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = (
    "track",
    "label",
    "split",
    "path",
    "spectrogram",
    "n_snippets",
    "n_windows",
    "duration_s",
)
#: Extra manifest columns of a k-fold split (see :mod:`divconq.folds`), written when present.
FOLD_COLUMNS = ("fold", "group")
TRACK_COLUMNS = ("track", "label", "stem", "path")

# Extensions stripped from names in split files. Wider than the formats we decode on purpose:
# a published list may name the files in a format that we never see on disk (the GTZAN lists
# say ``.wav`` for the ``.au`` originals), and matching is by label + stem anyway.
_LISTED_EXTENSIONS = frozenset(
    {".wav", ".au", ".mp3", ".flac", ".ogg", ".opus", ".aif", ".aiff", ".m4a", ".snd"}
)


class SplitError(ValueError):
    """A split that cannot be made; the message names the offending tracks, labels or files."""


@dataclass
class SplitReport:
    """What a split could not match, and how many tracks went where.

    Attributes
    ----------
    method : str
        The split method that produced the report.
    missing_on_disk : list of str
        Track ids (``label/stem``) named in a split or groups file but not among the tracks.
        They are ignored.
    unassigned : list of str
        Track ids on disk that the split files put in no split (``lists`` and ``json``).
        They are excluded from the manifest.
    ungrouped : list of str
        Track ids absent from the groups file (``groups``); each became a group of its own.
    counts : dict
        ``{label: {split: n_tracks}}`` of the assigned tracks.
    """

    method: str
    missing_on_disk: list[str] = field(default_factory=list)
    unassigned: list[str] = field(default_factory=list)
    ungrouped: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """True when nothing was missing, unassigned or ungrouped."""
        return not (self.missing_on_disk or self.unassigned or self.ungrouped)

    @property
    def parts(self) -> list[str]:
        """Columns of :attr:`counts`: the splits (the folds in a k-fold report)."""
        return list(SPLITS)

    def to_text(self) -> str:
        """Render the report as plain, human-readable text (see :func:`write_report`)."""
        parts = self.parts
        totals = {s: sum(c[s] for c in self.counts.values()) for s in parts}
        lines = [
            "divconq split report",
            f"method: {self.method}",
            f"assigned: {sum(totals.values())} tracks "
            + "("
            + ", ".join(f"{s} {totals[s]}" for s in parts)
            + ")",
            "",
            f"tracks per label ({' / '.join(parts)}):",
        ]
        width = max((len(label) for label in self.counts), default=0)
        for label in sorted(self.counts):
            c = self.counts[label]
            lines.append(f"  {label:<{width}}  " + " ".join(f"{c[s]:5d}" for s in parts))
        sections = (
            (
                "missing on disk",
                "named in a split or groups file but not found among the tracks; ignored",
                self.missing_on_disk,
            ),
            (
                "unassigned",
                "tracks on disk that the split files put in no split; excluded from the manifest",
                self.unassigned,
            ),
            (
                "ungrouped",
                "tracks absent from the groups file; each is a group of its own",
                self.ungrouped,
            ),
        )
        for title, meaning, items in sections:
            lines += ["", f"{title} ({len(items)}): {meaning}"]
            lines += [f"  {item}" for item in items] or ["  (none)"]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def _check_tracks(tracks: pd.DataFrame) -> pd.DataFrame:
    """Validate the track table and return a copy sorted by track id.

    Sorting first makes every split independent of the order in which the filesystem (or the
    caller) listed the tracks.
    """
    missing = [c for c in TRACK_COLUMNS if c not in tracks.columns]
    if missing:
        raise SplitError(f"track table lacks column(s): {', '.join(missing)}")
    duplicated = sorted(tracks.loc[tracks["track"].duplicated(), "track"].unique())
    if duplicated:
        raise SplitError(f"duplicate track id(s): {', '.join(duplicated)}")
    return tracks.sort_values("track", kind="stable").reset_index(drop=True)


def check_fractions(fractions: dict) -> dict[str, float]:
    """Validate split fractions and return them as ``{split: float}`` in split order.

    Parameters
    ----------
    fractions : dict
        Keys among ``train``, ``val``, ``test`` (a missing key means 0); values in [0, 1] that
        sum to 1.

    Returns
    -------
    dict
        ``{"train": f, "val": f, "test": f}``.
    """
    unknown = sorted(set(fractions) - set(SPLITS))
    if unknown:
        raise SplitError(f"unknown split fraction key(s): {', '.join(unknown)}")
    out = {s: float(fractions.get(s) or 0.0) for s in SPLITS}
    if any(f < 0 or f > 1 for f in out.values()):
        raise SplitError(f"split fractions must lie in [0, 1]: {out}")
    if not np.isclose(sum(out.values()), 1.0, atol=1e-6):
        raise SplitError(f"split fractions must sum to 1, got {sum(out.values()):g}: {out}")
    if out["train"] == 0:
        raise SplitError("the train fraction must be > 0")
    return out


def allocate_counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Split ``n`` tracks of one label into per-split counts.

    Rule: largest-remainder rounding of ``n * fraction`` (ties go to the earlier split in
    train, val, test order), so the counts always sum to ``n``. Then, for a label with at least
    3 tracks, val and test each get at least one track when their fraction is > 0, taken from
    the split that has the most tracks (train, normally). Without this, small labels would get
    no val/test track at all at 80/10/10 and their evaluation would silently be empty.

    Parameters
    ----------
    n : int
        Number of tracks of the label.
    fractions : dict
        Validated fractions, see :func:`check_fractions`.

    Returns
    -------
    dict
        ``{split: count}`` summing to ``n``.
    """
    raw = {s: n * fractions[s] for s in SPLITS}
    counts = {s: int(np.floor(raw[s] + 1e-9)) for s in SPLITS}
    leftover = n - sum(counts.values())
    # sorted() is stable, so equal remainders keep the train, val, test order.
    by_remainder = sorted(SPLITS, key=lambda s: -(raw[s] - counts[s]))
    for s in by_remainder[:leftover]:
        counts[s] += 1
    if n >= 3:
        for s in ("val", "test"):
            if fractions[s] > 0 and counts[s] == 0:
                donor = max(SPLITS, key=lambda d: counts[d])
                counts[donor] -= 1
                counts[s] += 1
    return counts


def _label_rng(seed: int, label: str) -> np.random.Generator:
    """A generator seeded by the split seed and the label.

    Seeding per label keeps one label's shuffle unchanged when another label is added or
    removed; crc32 (not ``hash``) is stable across processes.
    """
    return np.random.default_rng([int(seed), zlib.crc32(label.encode("utf-8"))])


def _counts(split_df: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{label: {split: n}}`` of a split table."""
    out = {}
    for label, group in split_df.groupby("label", sort=True):
        per = group["split"].value_counts()
        out[str(label)] = {s: int(per.get(s, 0)) for s in SPLITS}
    return out


def _finish(split_df: pd.DataFrame, report: SplitReport) -> tuple[pd.DataFrame, SplitReport]:
    """Check that every label can be trained on, fill the counts and log what did not match."""
    split_df = split_df.sort_values("track", kind="stable").reset_index(drop=True)
    with_train = set(split_df.loc[split_df["split"] == "train", "label"])
    no_train = sorted(set(split_df["label"]) - with_train)
    if no_train:
        raise SplitError(
            f"label(s) without a training track after the split: {', '.join(no_train)}"
        )
    report.counts = _counts(split_df)
    for kind, items in (
        ("named in a split file but missing on disk", report.missing_on_disk),
        ("on disk but in no split (excluded)", report.unassigned),
        ("not in the groups file (own group each)", report.ungrouped),
    ):
        if items:
            shown = ", ".join(items[:5]) + (", ..." if len(items) > 5 else "")
            logger.warning("split (%s): %d track(s) %s: %s", report.method, len(items), kind, shown)
    return split_df, report


def _strip_extension(filename: str) -> str:
    """Drop a known audio extension; GTZAN stems (``blues.00012``) contain dots of their own."""
    root, ext = os.path.splitext(filename)
    return root if ext.lower() in _LISTED_EXTENSIONS else filename


def _parse_name(name: str, label: str | None = None, *, where: str = "") -> tuple[str, str]:
    """Split a ``label/filename`` name into ``(label, filename)``.

    Any leading directories before the label are ignored, and backslashes count as slashes.
    With ``label`` given (JSON entries), the name may also be a bare file name; a prefix, when
    present, must name that label.
    """
    parts = [p for p in name.strip().replace("\\", "/").split("/") if p]
    if not parts:
        raise SplitError(f"{where}empty track name")
    if len(parts) == 1:
        if label is None:
            raise SplitError(f"{where}'{name}' is not of the form label/filename")
        return label, parts[0]
    if label is not None and parts[-2] != label:
        raise SplitError(f"{where}'{name}' is listed under label '{label}'")
    return parts[-2], parts[-1]


def _index(tracks: pd.DataFrame) -> dict[tuple[str, str], str]:
    """``{(label, stem): track id}`` for matching names from split files."""
    return {
        (str(label), str(stem)): str(track)
        for track, label, stem in zip(tracks["track"], tracks["label"], tracks["stem"], strict=True)
    }


def _match(label: str, filename: str, index: dict) -> tuple[str | None, str]:
    """Match a listed file to a track by label + stem, whatever the extension.

    Returns
    -------
    tuple
        ``(track id or None, id to report)``. The name as written is tried first, so a stem that
        itself ends in something like ``.wav`` still matches.
    """
    stem = _strip_extension(filename)
    for candidate in (filename, stem):
        if (label, candidate) in index:
            return index[(label, candidate)], index[(label, candidate)]
    return None, f"{label}/{stem}"


def _assign_named(
    tracks: pd.DataFrame, named: dict[str, list[tuple[str, str]]], source: str
) -> tuple[dict[str, str], list[str]]:
    """Resolve ``{split: [(label, filename), ...]}`` to ``{track id: split}``.

    Returns the assignment and the sorted ids that are missing on disk. A track named in two
    splits is an error that names every such track.
    """
    index = _index(tracks)
    assigned: dict[str, str] = {}
    conflicts: dict[str, set[str]] = defaultdict(set)
    missing: set[str] = set()
    for split in SPLITS:
        for label, filename in named.get(split, []):
            track, shown = _match(label, filename, index)
            if track is None:
                missing.add(shown)
            elif assigned.setdefault(track, split) != split:
                conflicts[track] |= {assigned[track], split}
    if conflicts:
        described = "; ".join(
            f"{t} ({' and '.join(s for s in SPLITS if s in conflicts[t])})"
            for t in sorted(conflicts)
        )
        raise SplitError(f"{source}: track(s) named in more than one split: {described}")
    return assigned, sorted(missing)


def _with_split(tracks: pd.DataFrame, assigned: dict[str, str]) -> pd.DataFrame:
    """The rows of ``tracks`` that have a split, with a ``split`` column added."""
    out = tracks[tracks["track"].isin(assigned)].copy()
    out["split"] = out["track"].map(assigned)
    return out


def _strict_check(report: SplitReport, strict: bool) -> None:
    """With ``strict``, any mismatch between split files and tracks is an error."""
    if strict and (report.missing_on_disk or report.unassigned):
        raise SplitError(
            f"split files and tracks disagree (strict): "
            f"{len(report.missing_on_disk)} missing on disk "
            f"({', '.join(report.missing_on_disk[:10])}), "
            f"{len(report.unassigned)} unassigned ({', '.join(report.unassigned[:10])})"
        )


# ---------------------------------------------------------------------------------------------
# Split methods
# ---------------------------------------------------------------------------------------------


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


def read_list(path) -> list[tuple[str, str]]:
    """Read a list file of ``label/filename`` lines into ``(label, filename)`` pairs.

    Blank lines, lines starting with ``#`` and surrounding whitespace are ignored.
    """
    pairs = []
    text = Path(path).read_text(encoding="utf-8-sig")
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            pairs.append(_parse_name(line, where=f"{path}:{number}: "))
    return pairs


def split_from_lists(
    tracks: pd.DataFrame, train, val, test, *, strict: bool = False
) -> tuple[pd.DataFrame, SplitReport]:
    """Split by three list files of ``label/filename`` lines (the fault-filtered GTZAN format).

    Lines look like ``blues/blues.00012.wav``. A line matches a track by label and stem, so
    the extension may differ from the file on disk (``.wav`` listed, ``.au`` on disk).

    Policy: names that match no track are reported as ``missing_on_disk`` and ignored; tracks
    that no list names are reported as ``unassigned`` and left out of every split (they are not
    in the manifest). With ``strict=True`` either kind is an error instead. A track named in
    two lists is always an error.

    Parameters
    ----------
    tracks : pandas.DataFrame
        At least ``track``, ``label``, ``stem``, ``path``.
    train, val, test : path-like
        The three list files.
    strict : bool
        Raise on any mismatch between the lists and the tracks.

    Returns
    -------
    tuple
        (split table: the assigned rows of ``tracks`` plus ``split``, :class:`SplitReport`).
    """
    tracks = _check_tracks(tracks)
    named = {s: read_list(p) for s, p in zip(SPLITS, (train, val, test), strict=True)}
    assigned, missing = _assign_named(tracks, named, "split lists")
    unassigned = sorted(set(tracks["track"]) - set(assigned))
    report = SplitReport("lists", missing_on_disk=missing, unassigned=unassigned)
    _strict_check(report, strict)
    return _finish(_with_split(tracks, assigned), report)


def read_json_split(path) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """Read a SLAPP split JSON into ``{label: {split: [(label, filename), ...]}}``.

    The file is ``{label: {"val": [...], "test": [...]}}``; a ``train`` key is honoured too.
    Entries are file names or stems, with or without extension and label prefix.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    if not isinstance(data, dict):
        raise SplitError(f"{path}: expected a JSON object {{label: {{'val': [...], ...}}}}")
    out = {}
    for label, splits in data.items():
        if not isinstance(splits, dict):
            raise SplitError(f"{path}: label '{label}' must map to an object of split lists")
        unknown = sorted(set(splits) - set(SPLITS))
        if unknown:
            raise SplitError(f"{path}: label '{label}' has unknown split(s): {', '.join(unknown)}")
        out[str(label)] = {
            s: [_parse_name(str(e), str(label), where=f"{path}: ") for e in entries]
            for s, entries in splits.items()
        }
    return out


def split_from_json(
    tracks: pd.DataFrame, path, *, strict: bool = False
) -> tuple[pd.DataFrame, SplitReport]:
    """Split by a SLAPP JSON file ``{label: {"val": [...], "test": [...]}}``.

    Every track of a label in the file that is not named goes to train. Policy otherwise as in
    :func:`split_from_lists`: named entries that match no track are ``missing_on_disk``; the
    tracks of labels that the file does not mention at all are ``unassigned`` and left out
    (the file says nothing about them); ``strict=True`` makes either an error.

    Returns
    -------
    tuple
        (split table, :class:`SplitReport`).
    """
    tracks = _check_tracks(tracks)
    spec = read_json_split(path)
    named: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for per_label in spec.values():
        for split, pairs in per_label.items():
            named[split].extend(pairs)
    assigned, missing = _assign_named(tracks, named, str(path))
    covered = tracks["label"].astype(str).isin(spec)
    for track in tracks.loc[covered, "track"]:
        assigned.setdefault(track, "train")
    unassigned = sorted(tracks.loc[~covered, "track"])
    report = SplitReport("json", missing_on_disk=missing, unassigned=unassigned)
    _strict_check(report, strict)
    return _finish(_with_split(tracks, assigned), report)


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
        from divconq.folds import kfold_split

        folds = int(config_split.get("folds") or 10)
        return kfold_split(tracks, folds, seed, groups=config_split.get("groups"))
    raise SplitError(f"unknown split method '{method}' (stratified, lists, json, groups, kfold)")


# ---------------------------------------------------------------------------------------------
# Manifest and report
# ---------------------------------------------------------------------------------------------


def build_manifest(split_df: pd.DataFrame, counts_df: pd.DataFrame) -> pd.DataFrame:
    """Assemble the manifest from the split table and per-track counts.

    Parameters
    ----------
    split_df : pandas.DataFrame
        From :func:`make_split`: ``track``, ``label``, ``split``, ``path`` and maybe more.
    counts_df : pandas.DataFrame
        Per track: ``track`` plus ``spectrogram``, ``n_snippets``, ``n_windows``,
        ``duration_s`` (a column missing here is taken from ``split_df``). Rows of tracks
        without a split (unassigned ones) are ignored.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MANIFEST_COLUMNS`, sorted by ``split``, ``track`` (as strings, so test,
        train, val).
    """
    duplicated = sorted(counts_df.loc[counts_df["track"].duplicated(), "track"].unique())
    if duplicated:
        raise SplitError(f"counts table has duplicate track(s): {', '.join(duplicated)}")
    base = split_df[["track", "label", "split", "path"]]
    extra = [c for c in FOLD_COLUMNS if c in split_df.columns]
    # Counts win over columns of the same name in the split table: they come from the features.
    rest = [c for c in MANIFEST_COLUMNS[4:] if c not in counts_df.columns]
    absent = [c for c in rest if c not in split_df.columns]
    if absent:
        raise SplitError(f"no column(s) {', '.join(absent)} in the counts or split table")
    base = base.join(split_df[rest + extra])
    from_counts = [c for c in MANIFEST_COLUMNS[4:] if c in counts_df.columns]
    manifest = base.merge(
        counts_df[["track", *from_counts]], on="track", how="left", indicator=True
    )
    lacking = sorted(manifest.loc[manifest["_merge"] == "left_only", "track"])
    if lacking:
        raise SplitError(f"no counts for {len(lacking)} track(s): {', '.join(lacking[:20])}")
    manifest = manifest[[*MANIFEST_COLUMNS, *extra]].astype({"n_snippets": int, "n_windows": int})
    return manifest.sort_values(["split", "track"], kind="stable").reset_index(drop=True)


def write_manifest(df: pd.DataFrame, path) -> Path:
    """Write the manifest CSV (columns :data:`MANIFEST_COLUMNS`, then any of
    :data:`FOLD_COLUMNS` present), creating the folder."""
    absent = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if absent:
        raise SplitError(f"manifest lacks column(s): {', '.join(absent)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = [c for c in FOLD_COLUMNS if c in df.columns]
    df[[*MANIFEST_COLUMNS, *extra]].to_csv(path, index=False)
    return path


def read_manifest(manifest) -> pd.DataFrame:
    """The split manifest (a path or a DataFrame); ids, labels and splits stay strings."""
    if isinstance(manifest, pd.DataFrame):
        return manifest
    return pd.read_csv(manifest, dtype={"track": str, "label": str, "split": str, "group": str})


def spectrogram_path(path, base_dir=None) -> Path:
    """A manifest's ``spectrogram`` entry as a path to open.

    Relative entries are relative to the workflow's working directory; where one
    does not exist as given, ``base_dir / path`` is used if that exists.
    """
    p = Path(path)
    if base_dir is not None and not p.is_absolute() and not p.exists():
        if (Path(base_dir) / p).exists():
            return Path(base_dir) / p
    return p


def write_report(report: SplitReport, path) -> Path:
    """Write :meth:`SplitReport.to_text` to ``path`` (e.g. ``results/split/report.txt``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_text(), encoding="utf-8")
    return path
