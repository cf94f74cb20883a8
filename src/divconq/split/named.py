"""Splits named by files: three ``label/filename`` lists, or a SLAPP split JSON.

See :func:`split_from_lists` and :func:`split_from_json`; :func:`divconq.split.make_split`
chooses between the methods.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pandas as pd

from divconq.split.core import (
    SPLITS,
    SplitError,
    SplitReport,
    _check_tracks,
    _finish,
    _strict_check,
    _with_split,
)

# Extensions stripped from names in split files. Wider than the formats we decode on purpose:
# a published list may name the files in a format that we never see on disk (the GTZAN lists
# say ``.wav`` for the ``.au`` originals), and matching is by label + stem anyway.
_LISTED_EXTENSIONS = frozenset(
    {".wav", ".au", ".mp3", ".flac", ".ogg", ".opus", ".aif", ".aiff", ".m4a", ".snd"}
)


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
