"""Small file helpers shared by every writer and reader of the workflow's files.

- :func:`atomic_path`: write under a temporary name, rename into place on success,
  so that a killed job or a full disk never leaves a half-written file that looks
  complete (:func:`write_text` and :func:`write_json` use it);
- :func:`plain` and :func:`number`: numpy scalars, NaN and infinity to and from JSON;
- :func:`create_hdf5`, :func:`add_dataset`, :func:`set_attrs`, :func:`open_hdf5` and
  :func:`read_attrs`: HDF5 files whose every byte of data and metadata is
  checksummed, and readers that turn any damage into one :class:`DamagedFileError`
  naming the file and how to rebuild it.

Import-light: numpy and h5py are imported by the functions that need them, so the
per-track MP3 job (see :mod:`divconq.data.mp3`) still imports neither.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from divconq.shared.errors import DamagedFileError

__all__ = [
    "DamagedFileError",
    "add_dataset",
    "atomic_path",
    "check_finite",
    "create_hdf5",
    "number",
    "open_hdf5",
    "plain",
    "read_attrs",
    "set_attrs",
    "temp_path",
    "write_json",
    "write_text",
]

#: Largest HDF5 chunk, bytes: each chunk carries its own Fletcher-32 checksum.
CHUNK_BYTES = 1 << 20


# ---------------------------------------------------------------------------
# Atomic writes


def temp_path(path) -> Path:
    """The temporary name :func:`atomic_path` writes ``path`` under.

    A hidden name in the same folder (so the rename stays on one filesystem),
    ending in the same suffix (Keras saves only to names ending in ``.keras``):
    ``results/a/b.h5`` -> ``results/a/.b.part.h5``.
    """
    path = Path(path)
    return path.with_name(f".{path.stem}.part{path.suffix}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(path, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; rename it over ``path`` if the block succeeds.

    If the block raises (a full disk: ``OSError(ENOSPC)``, a bug, Ctrl-C), the
    temporary file is removed and ``path`` is left as it was: absent, or the
    previous complete version. A ``kill -9`` can leave the temporary file, never a
    truncated ``path``; the next write replaces it.

    Parameters
    ----------
    path : str or Path
        Final name; parent folders are created.
    fsync : bool
        Flush the file to disk before the rename (for state that must survive a
        power cut, not only a killed process; costs a disk sync).

    Yields
    ------
    Path
        The temporary name (see :func:`temp_path`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def write_text(path, text: str, fsync: bool = False) -> None:
    """Write a text file (UTF-8) atomically (see :func:`atomic_path`)."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj, fsync: bool = False, indent: int = 1, keep_inf: bool = False) -> None:
    """Write ``plain(obj, keep_inf=keep_inf)`` as JSON atomically (NaN becomes ``null``)."""
    text = json.dumps(plain(obj, keep_inf=keep_inf), indent=indent) + "\n"
    write_text(path, text, fsync=fsync)


# ---------------------------------------------------------------------------
# JSON values


def plain(obj, digits: int | None = None, keep_inf: bool = False):
    """A JSON-ready copy: numpy values to Python, NaN (and infinity) to None.

    Parameters
    ----------
    obj : scalar, numpy scalar or array, dict, list or tuple (nested)
    digits : int, optional
        Round floats to this many decimals.
    keep_inf : bool
        Keep +-infinity as floats (Python's ``json`` writes ``Infinity``) instead
        of None; NaN is None either way.

    Returns
    -------
    The same structure of dicts, lists, str, int, float, bool and None.
    """
    import numpy as np

    if isinstance(obj, dict):
        return {k: plain(v, digits, keep_inf) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v, digits, keep_inf) for v in obj]
    if isinstance(obj, (np.generic, np.ndarray)):
        obj = obj.tolist()
        if isinstance(obj, list):
            return plain(obj, digits, keep_inf)
    if isinstance(obj, float):
        if math.isnan(obj) or (math.isinf(obj) and not keep_inf):
            return None
        return round(obj, digits) if digits is not None and math.isfinite(obj) else obj
    return obj


def number(x) -> float:
    """A JSON number back as a float: None (written for NaN) is NaN."""
    return math.nan if x is None else float(x)


# ---------------------------------------------------------------------------
# Checksummed HDF5


def create_hdf5(path):
    """Open ``path`` for writing as a checksummed HDF5 file.

    The file format of HDF5 1.8 and later (``libver="v108"``) checksums every
    piece of metadata (superblock, object headers, attributes, B-trees); pair it
    with :func:`add_dataset` (Fletcher-32 on the data) and :func:`set_attrs`
    (strings kept inside the checksummed headers). Use inside
    :func:`atomic_path`: ``with atomic_path(p) as tmp, create_hdf5(tmp) as h5``.

    No timestamps are stored, so the same content always gives the same bytes
    (a rebuilt file can be compared byte for byte).

    Returns
    -------
    h5py.File
    """
    import h5py

    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_V18, h5py.h5f.LIBVER_LATEST)
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)  # the root group's; h5py's datasets keep none already
    return h5py.File(h5py.h5f.create(os.fsencode(path), h5py.h5f.ACC_TRUNC, fapl=fapl, fcpl=fcpl))


def add_dataset(h5, name: str, data) -> None:
    """Add a dataset with a Fletcher-32 checksum on each chunk of at most :data:`CHUNK_BYTES`.

    Strings are stored as fixed-length UTF-8 so their bytes are checksummed too
    (variable-length strings live in an unchecked heap).

    Parameters
    ----------
    h5 : h5py.File or h5py.Group
    name : str
    data : array-like
        Numbers, bools or str; at least one element along the first axis.
    """
    import h5py
    import numpy as np

    data = np.asarray(data)
    if data.dtype.kind in "UO":
        encoded = np.char.encode(data.astype(str), "utf-8")
        data = encoded.astype(h5py.string_dtype("utf-8", max(1, encoded.dtype.itemsize)))
    if data.ndim == 0 or data.size == 0:
        h5.create_dataset(name, data=data)
        return
    # Rows per chunk: equal chunks of at most CHUNK_BYTES (no chunk mostly padding).
    row_bytes = max(1, data[0].nbytes)
    n_chunks = math.ceil(len(data) * row_bytes / CHUNK_BYTES)
    rows = math.ceil(len(data) / n_chunks)
    h5.create_dataset(name, data=data, chunks=(rows, *data.shape[1:]), fletcher32=True)


def set_attrs(h5, attrs: dict) -> None:
    """Set attributes; strings fixed-length UTF-8 (inside the checksummed object header)."""
    import h5py

    for key, value in attrs.items():
        if isinstance(value, str):
            raw = value.encode("utf-8")
            h5.attrs.create(key, data=raw, dtype=h5py.string_dtype("utf-8", max(1, len(raw))))
        else:
            h5.attrs[key] = value


def read_attrs(attrs) -> dict:
    """HDF5 attributes as plain Python values: numpy scalars unwrapped, bytes decoded.

    Parameters
    ----------
    attrs : h5py.AttributeManager or mapping
    """
    import numpy as np

    out = {}
    for key, value in attrs.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        out[key] = value
    return out


def rebuild_hint(path) -> str:
    """How to rebuild a workflow file: delete it and rerun the workflow."""
    import shlex

    return (
        "delete it and rerun the workflow to rebuild it: "
        f"rm -- {shlex.quote(str(path))} && snakemake --cores all"
    )


@contextlib.contextmanager
def open_hdf5(path, hint: str | None = None):
    """Open an HDF5 file for reading; any sign of damage becomes a :class:`DamagedFileError`.

    Errors raised by h5py inside the block count too: a failed Fletcher-32 or
    metadata checksum, a truncated file, a missing dataset or attribute (what a
    reader expects and the file lacks: a damaged or foreign file).

    Parameters
    ----------
    path : str or Path
    hint : str, optional
        How to rebuild the file (default: :func:`rebuild_hint`).

    Yields
    ------
    h5py.File
    """
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            yield h5
    except FileNotFoundError:
        raise  # missing, not damaged: h5py's message names the file
    except (OSError, KeyError, RuntimeError) as err:
        reason = str(err).strip("'\"") or type(err).__name__
        raise DamagedFileError(path, reason, hint or rebuild_hint(path)) from err


def check_finite(path, name: str, values, hint: str | None = None) -> None:
    """Raise :class:`DamagedFileError` if ``values`` (read from ``path``) hold NaN or infinity."""
    import numpy as np

    if values.dtype.kind == "f" and not np.isfinite(values).all():
        bad = int(values.size - np.isfinite(values).sum())
        raise DamagedFileError(
            path, f"{bad} NaN or infinite values in {name}", hint or rebuild_hint(path)
        )
