"""Content fingerprints of source audio: what a track's cached files were made from.

A track's cached files (its MP3 and HDF5 features, embedding and network log-mel files)
record the SHA-256 of the source file they were made from (HDF5 attribute
:data:`ATTR`), and the inventory records the fingerprint of each source as it is now
(``tracks.csv``, column ``sha256``). A file is current only when the two match:
modification times alone miss a source replaced by a copy that keeps its old mtime
(``cp -p``, ``rsync -t``, an unpacked archive, a restored backup).

The whole file is hashed, since a repair that rewrites a few frames in the middle of a
track keeps its size, header and tail; with the SHA instructions of current CPUs that is
a small share of the track's data-stage CPU (``benchmarks/bench_fingerprint.py``; its
figures are on the documentation's recovery page). A batch records the inventory's
fingerprint rather than hashing the source a second time.

The inventory hashes again only the files whose stat signature (:func:`stat_signature`:
size, mtime, ctime, inode) changed since its last run, as git's index does; no user
tool can set ctime back, so a replaced file whose mtime was restored is still seen.
:func:`state_digest` is the same signature over a whole folder: the workflow reruns the
inventory when it changes.
"""

from __future__ import annotations

import csv
import hashlib
import os

__all__ = [
    "ATTR",
    "file_sha256",
    "read_cache",
    "source_attrs",
    "state_digest",
    "stat_signature",
    "write_cache",
]

#: The HDF5 attribute of a per-track file that holds its source's SHA-256 (hex).
ATTR = "source_sha256"

#: Bytes read at a time.
_CHUNK = 1 << 20

_CACHE_COLUMNS = ("path", "size", "mtime_ns", "ctime_ns", "inode", "sha256")


def file_sha256(path) -> str:
    """SHA-256 of a file's bytes.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    str
        64 hex digits, as ``sha256sum`` prints them.
    """
    h = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def source_attrs(source, sha256: str | None = None) -> dict:
    """The provenance attributes of a per-track file made from ``source``: its path
    (``source_path``) and SHA-256 (:data:`ATTR`): ``sha256`` when the caller knows it
    (a batch has the inventory's), else hashed here, before the audio is decoded."""
    return {"source_path": str(source), ATTR: sha256 or file_sha256(source)}


def stat_signature(path) -> tuple[int, int, int, int]:
    """``(size, mtime_ns, ctime_ns, inode)`` of a file: when all four are unchanged,
    so is (for every practical purpose) its content.

    Raises
    ------
    OSError
        If the file cannot be read (FileNotFoundError when it is gone).
    """
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def state_digest(paths) -> str:
    """One short digest of the stat signatures of many files (missing ones included).

    Changes whenever a file is added, removed, renamed, rewritten or has its times or
    permissions changed; the workflow passes it to the inventory rule as a parameter,
    so that Snakemake reruns the inventory then, even where the mtime was kept.

    Parameters
    ----------
    paths : iterable of str
        In a fixed order.

    Returns
    -------
    str
        16 hex digits.
    """
    h = hashlib.sha256()
    for path in paths:
        try:
            sig = "\t".join(map(str, stat_signature(path)))
        except OSError:
            sig = "-"
        h.update(f"{path}\t{sig}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:16]


def read_cache(path) -> dict[str, tuple[tuple[int, int, int, int], str]]:
    """The fingerprints the inventory recorded last time (:func:`write_cache`).

    Returns
    -------
    dict
        Path -> (stat signature, sha256); empty when there is no cache or it cannot
        be read (everything is then hashed again).
    """
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        return {
            r["path"]: (
                (int(r["size"]), int(r["mtime_ns"]), int(r["ctime_ns"]), int(r["inode"])),
                r["sha256"],
            )
            for r in rows
        }
    except (OSError, KeyError, TypeError, ValueError, csv.Error):
        return {}


def write_cache(path, entries: dict[str, tuple[tuple[int, int, int, int], str]]) -> None:
    """Write the cache :func:`read_cache` reads (under a temporary name, then renamed)."""
    from divconq.shared.fileio import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(_CACHE_COLUMNS)
        for p, (sig, sha) in sorted(entries.items()):
            writer.writerow([p, *sig, sha])
