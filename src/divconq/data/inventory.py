"""Discover a labeled audio folder and probe every file.

A dataset folder is ``<root>/<label>/<file>``. Discovery is sorted, so the same
folder always yields the same track list whatever order the filesystem returns.
Unusable files (corrupt, empty, not audio, duplicate names) are reported with a
reason and left out; they never stop the run. Each usable file's size, mtime and
content fingerprint are recorded (:mod:`divconq.data.fingerprint`): a track's cached
files are current only while they match.
"""

from __future__ import annotations

import csv
import logging
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from divconq.data import fingerprint
from divconq.data.audio import AUDIO_EXTENSIONS, AudioError, decoder_chatter_to_log, probe
from divconq.shared.errors import DatasetError

log = logging.getLogger(__name__)

TRACK_COLUMNS = [
    "track",
    "label",
    "stem",
    "path",
    "format",
    "duration_s",
    "sample_rate",
    "channels",
    "size_bytes",
    "sha256",
]
REJECTED_COLUMNS = ["path", "reason"]


@dataclass(frozen=True)
class Candidate:
    """A file found under a label folder, before probing."""

    label: str
    stem: str
    path: Path

    @property
    def track(self) -> str:
        """Track id ``label/stem``."""
        return f"{self.label}/{self.stem}"


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def discover(root) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """List the audio files of a ``<root>/<label>/<file>`` folder.

    Parameters
    ----------
    root : str or Path
        Dataset folder.

    Returns
    -------
    candidates : list of Candidate
        Files with an audio extension, sorted by label then file name. When two
        files of a label share a stem (``a.wav`` and ``a.mp3``), the first in
        sorted order is kept.
    rejected : list of (path, reason)
        Files left out before probing: other extensions, files outside a label
        folder, duplicate stems. Hidden files (``.DS_Store``) are skipped silently.

    Raises
    ------
    DatasetError
        If ``root`` is missing, not a folder, or holds no audio file.
    """
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"dataset path {root} is not a folder")
    candidates, rejected, seen = [], [], {}
    for entry in sorted(filter(_visible, root.iterdir())):
        if not entry.is_dir():
            rejected.append((str(entry), "not inside a label folder"))
            continue
        # NFC so that the same label typed on macOS and Linux is one label.
        label = unicodedata.normalize("NFC", entry.name)
        for path in sorted(filter(_visible, entry.iterdir())):
            if path.is_dir():
                rejected.append((str(path), "nested folder (expected <root>/<label>/<file>)"))
            elif path.suffix.lower() not in AUDIO_EXTENSIONS:
                rejected.append((str(path), f"unsupported extension {path.suffix!r}"))
            else:
                c = Candidate(label, unicodedata.normalize("NFC", path.stem), path)
                if c.track in seen:
                    rejected.append((str(path), f"duplicate track name (kept {seen[c.track]})"))
                else:
                    seen[c.track] = path
                    candidates.append(c)
    if not candidates:
        raise DatasetError(
            f"dataset folder {root} holds no audio files "
            f"(expected <root>/<label>/<file> with one of {', '.join(AUDIO_EXTENSIONS)})"
        )
    return candidates, rejected


def probe_all(
    candidates: list[Candidate],
    min_duration_s: float = 0.0,
    threads: int = 1,
    cache: dict | None = None,
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Probe and fingerprint every candidate, splitting them into usable tracks and
    rejects.

    Parameters
    ----------
    candidates : list of Candidate
    min_duration_s : float
        Shorter files are rejected (0 keeps everything that has a sample; short
        tracks are padded later, not dropped).
    threads : int
        Files probed at once (decoding and hashing release the GIL).
    cache : dict, optional
        :func:`divconq.data.fingerprint.read_cache`'s fingerprints: a file whose stat
        signature is unchanged is not hashed again. Updated in place with the usable
        tracks' fingerprints.

    Returns
    -------
    tracks : list of dict
        One row per usable track, keys :data:`TRACK_COLUMNS`, in candidate order.
    rejected : list of (path, reason)
    """
    cache = {} if cache is None else cache
    hashed = []

    def sha256(path: Path) -> tuple:
        # The signature before hashing: a file rewritten meanwhile is hashed next time.
        sig = fingerprint.stat_signature(path)
        known = cache.get(str(path))
        if known is not None and known[0] == sig:
            return sig, known[1]
        hashed.append(path)
        return sig, fingerprint.file_sha256(path)

    def one(c: Candidate):
        try:
            info = probe(c.path)
            return c, (info, *sha256(c.path)), None
        except AudioError as err:
            if err.detail:  # the decoders' own words: for the log, not rejected.csv
                log.info("%s: %s", c.path, err.detail)
            return c, None, err.reason
        except OSError as err:
            return c, None, f"cannot be read ({err.strerror or err})"

    with decoder_chatter_to_log(), ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = list(pool.map(one, candidates))
    log.info("fingerprints: %d files hashed, the others unchanged", len(hashed))
    tracks, rejected = [], []
    for c, found, reason in results:
        info, sig, sha = found or (None, None, None)
        if info is not None and info.duration_s < min_duration_s:
            reason = f"too short ({info.duration_s:.2f} s < {min_duration_s} s)"
        if reason is not None:
            rejected.append((str(c.path), reason))
            continue
        tracks.append(
            {
                "track": c.track,
                "label": c.label,
                "stem": c.stem,
                "path": str(c.path),
                "format": info.format,
                "duration_s": round(info.duration_s, 6),
                "sample_rate": info.sample_rate,
                "channels": info.channels,
                "size_bytes": sig[0],
                "sha256": sha,
            }
        )
        cache[str(c.path)] = (sig, sha)
    return tracks, rejected


def check_labels(candidates: list[Candidate], tracks: list[dict]) -> None:
    """Fail when a label folder is left with no usable track.

    Raises
    ------
    DatasetError
        Naming every such label and its folder.
    """
    usable = {t["label"] for t in tracks}
    empty = sorted({(c.label, str(c.path.parent)) for c in candidates if c.label not in usable})
    if empty:
        names = "; ".join(f"{label!r} ({folder})" for label, folder in empty)
        raise DatasetError(f"no usable track left for label(s) {names}: see rejected.csv")


def write_csv(path, rows, columns) -> None:
    """Write rows (dicts or tuples) as CSV with a header, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row[c] for c in columns] if isinstance(row, dict) else row)


def read_tracks(path) -> list[dict]:
    """Read ``tracks.csv`` written by :func:`inventory`."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def inventory(
    candidates: list[Candidate],
    tracks_csv,
    rejected_csv,
    pre_rejected=(),
    min_duration_s: float = 0.0,
    threads: int = 1,
    cache_path=None,
) -> list[dict]:
    """Probe candidates, write ``tracks.csv`` and ``rejected.csv``, warn about rejects.

    Parameters
    ----------
    candidates : list of Candidate
    tracks_csv, rejected_csv : str or Path
        Outputs.
    pre_rejected : iterable of (path, reason)
        Rejects found by :func:`discover`, reported alongside.
    min_duration_s : float
        See :func:`probe_all`.
    threads : int
        See :func:`probe_all`.
    cache_path : str or Path, optional
        The fingerprints of the last run (:func:`divconq.data.fingerprint.read_cache`),
        rewritten with this run's: only new or changed files are hashed.

    Returns
    -------
    list of dict
        The usable tracks.

    Raises
    ------
    DatasetError
        If a label has no usable track (both CSVs are written first, so the
        reasons can be read).
    """
    cache = fingerprint.read_cache(cache_path) if cache_path else {}
    tracks, rejected = probe_all(candidates, min_duration_s, threads, cache)
    if cache_path:
        kept = {t["path"] for t in tracks}
        fingerprint.write_cache(cache_path, {p: v for p, v in cache.items() if p in kept})
    rejected = list(pre_rejected) + rejected
    tracks.sort(key=lambda t: t["track"])
    write_csv(tracks_csv, tracks, TRACK_COLUMNS)
    write_csv(rejected_csv, sorted(rejected), REJECTED_COLUMNS)
    for path, reason in rejected:
        log.warning("left out %s: %s", path, reason)
    log.info("%d usable tracks, %d rejected", len(tracks), len(rejected))
    check_labels(candidates, tracks)
    return tracks
