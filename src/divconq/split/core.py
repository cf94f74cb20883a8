"""Shared parts of the track-wise split: the error, the report and the per-label counts.

:mod:`divconq.split` is the entry point (:func:`~divconq.split.make_split`); the split methods in
:mod:`divconq.split.named`, :mod:`divconq.split.groups` and :mod:`divconq.split.folds` build on the
helpers here.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# One logger name for the split's warnings, whichever module of the split emits them.
logger = logging.getLogger("divconq.split")

SPLITS = ("train", "val", "test")
TRACK_COLUMNS = ("track", "label", "stem", "path")


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
