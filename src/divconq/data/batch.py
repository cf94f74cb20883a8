"""The per-track data work in batches: one process makes the MP3 and the HDF5 of many
tracks.

A job of its own per track and file starts Python and imports numpy, soundfile and
h5py (~0.1 CPU-s, as much as the work on a 30-s track), and Snakemake plans one job per
file: at 100,000 tracks that took 8 minutes and 3.6 GB before the first job. A batch
job does the same work, by the same functions (:func:`divconq.data.mp3.to_mp3`,
:func:`divconq.data.features.write_track_file`), for a slice of the inventory, so a
collection of N tracks makes about N / ``tracks_per_job`` jobs.

Where the features come from is ``features_from``: ``"mp3"`` (the article's method)
encodes each source to MP3 and computes the features from the MP3's decoded audio;
``"source"`` makes no MP3 and computes them from the source itself, decoded as
``divconq predict`` decodes a user's file. For WAV sources the MP3 encoding is most of
the stage's CPU (LAME, ~0.1 CPU-s per 30-s track of ~0.2).

Each track's MP3 and HDF5 are still files of their own, each written under a temporary
name and renamed, and a track whose files are current (:func:`track_is_current`: made
from the source content the inventory fingerprinted, with the same settings) is
skipped: a killed batch keeps its finished tracks and its rerun does only the rest, and
a batch rerun because one of its sources changed remakes that track alone.
The batch's own output, written last, lists its tracks (:func:`write_listing`).
A single track stays a target of its own through the per-track rules ``mp3`` and
``spectrogram``, which run the same functions.

The pretrained-network stages are batched the same way (:func:`run_embedding_batch`,
:func:`run_mel_batch`): one TensorFlow start (~9 CPU-s) per batch of embeddings instead of
one per track, and the per-track rules ``embedding`` and ``musicnn_mel`` for single targets.
"""

from __future__ import annotations

import csv
import logging
import math
import os

from divconq.data import fingerprint
from divconq.data.features import FeatureParams
from divconq.shared.sysinfo import cpu_s

log = logging.getLogger("divconq.batch")

#: ``tracks_per_job: auto``: a small collection in about MIN_JOBS jobs (at least one
#: track each), a larger one in jobs of BATCH tracks, and from BATCH x MAX_JOBS tracks
#: (32,000) on in MAX_JOBS jobs. A batch's Python start and imports cost ~0.35 CPU-s,
#: ~0.005 CPU-s per track in a batch of 64.
MIN_JOBS = 32
BATCH = 64
MAX_JOBS = 500

#: ``embedding.tracks_per_job: auto``: an embedding job starts TensorFlow and the network
#: (~9 CPU-s), so its batches are larger: about EMBED_MIN_JOBS jobs for a small
#: collection, EMBED_BATCH tracks per job for a larger one, at most MAX_JOBS.
EMBED_MIN_JOBS = 8
EMBED_BATCH = 256
#: ``(min_jobs, batch)`` of :func:`auto_tracks_per_job` per config section.
AUTO = {"data": (MIN_JOBS, BATCH), "embedding": (EMBED_MIN_JOBS, EMBED_BATCH)}

#: Where a track's features come from (``data.features_from``).
FEATURES_FROM = ("mp3", "source")

#: Columns of a batch's listing.
LISTING_COLUMNS = ("track", "source", "mp3", "spectrogram", "made", "cpu_s")
#: Columns of an embedding or network log-mel batch's listing.
FILE_LISTING_COLUMNS = ("track", "source", "file", "made", "cpu_s")


def auto_tracks_per_job(n_tracks: int, min_jobs: int = MIN_JOBS, batch: int = BATCH) -> int:
    """Tracks per job for a collection of ``n_tracks`` (``tracks_per_job: auto``).

    Small collections get small batches, so that their jobs spread over the cores
    (1,000 tracks: 31 per job, 33 jobs); from ``batch`` x :data:`MAX_JOBS` tracks on,
    the number of jobs stays at :data:`MAX_JOBS`, which Snakemake plans in seconds.

    Parameters
    ----------
    n_tracks : int
    min_jobs : int
        Jobs of a small collection (:data:`EMBED_MIN_JOBS` for the embedding stage).
    batch : int
        Tracks per job of a larger one (:data:`EMBED_BATCH` for the embedding stage).

    Returns
    -------
    int
        At least 1.
    """
    return max(1, min(batch, n_tracks // min_jobs), math.ceil(n_tracks / MAX_JOBS))


def batch_names(n_tracks: int, tracks_per_job: int) -> list[str]:
    """Names of the batches of a collection: ``00000``, ``00001``, ..."""
    return [f"{k:05d}" for k in range(math.ceil(n_tracks / tracks_per_job))]


def batch_rows(rows: list, batch: str, tracks_per_job: int) -> list:
    """The rows (inventory order, sorted by track id) of one batch."""
    k = int(batch)
    return rows[k * tracks_per_job : (k + 1) * tracks_per_job]


def _newer(path, than) -> bool:
    try:
        return os.stat(path).st_mtime_ns >= os.stat(than).st_mtime_ns
    except FileNotFoundError:
        return False


def _hdf5_record(path):
    """``(attributes, dataset names)`` of an HDF5 file (its data are not read), or None
    for a file that is damaged or not HDF5."""
    import h5py

    from divconq.shared.fileio import read_attrs

    try:
        with h5py.File(path, "r") as f:
            return read_attrs(f.attrs), set(f)
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _holds(attrs: dict, record: dict) -> bool:
    return all(attrs.get(k) == v for k, v in record.items())


def recorded_settings(features_from: str = "mp3", bitrate="192k", quality: int = 7) -> dict:
    """What a track's HDF5 records of how its audio was read.

    ``{"mp3_bitrate": ..., "mp3_quality": ...}`` when the features come from the MP3
    (as files made before ``features_from`` existed record it), ``{"features_from":
    "source"}`` when from the source. A file whose record differs is made again.

    Parameters
    ----------
    features_from : {"mp3", "source"}
    bitrate, quality
        The MP3 settings (:func:`divconq.data.mp3.to_mp3`); ignored for ``"source"``.

    Returns
    -------
    dict
    """
    if features_from not in FEATURES_FROM:
        raise ValueError(f"features_from must be 'mp3' or 'source', not {features_from!r}")
    if features_from == "source":
        return {"features_from": "source"}
    return {"mp3_bitrate": str(bitrate), "mp3_quality": int(quality)}


def track_is_current(
    source_sha256: str, mp3, h5, params: FeatureParams, settings: dict, clip: bool
):
    """Whether a track's MP3 (if any) and HDF5 need no work.

    They need none when the HDF5 was made from the source content ``source_sha256``
    (its :data:`divconq.data.fingerprint.ATTR`), with ``params`` and ``settings``, holds
    a clip spectrogram exactly when ``clip``, and is newer than the MP3 it was computed
    from. The source's mtime plays no part: a touched source is current, a source
    replaced by other audio with its old mtime kept is not. Only the HDF5's attributes
    are read; its data are verified where they are read (the split job reads every
    byte).

    Parameters
    ----------
    source_sha256 : str
        The source's fingerprint now (the inventory's ``sha256``).
    mp3 : str or Path or None
        None when the features come from the source.
    h5 : str or Path
    params : FeatureParams
    settings : dict
        :func:`recorded_settings`.
    clip : bool

    Returns
    -------
    bool
    """
    from divconq.data.features import read_params

    if mp3 is not None and not _newer(h5, mp3):
        return False
    found = _hdf5_record(h5)
    if found is None:
        return False
    attrs, names = found
    try:
        made_with = read_params(attrs)
    except (KeyError, TypeError, ValueError):
        return False  # foreign: made again
    # The two records of `settings` share no key: a file made the other way differs.
    return (
        ("clip_mel_db" in names) == clip
        and made_with == params
        and _holds(attrs, {**settings, fingerprint.ATTR: source_sha256})
    )


def make_track(
    track: str, source, mp3, h5, params: FeatureParams, clip: bool, settings: dict, sha256=None
):
    """The MP3 of a track's source, then the features of the MP3, as the per-track
    rules ``mp3`` and ``spectrogram`` make them; with ``mp3=None`` the features of the
    source, as the rule ``spectrogram`` makes them when ``features_from: source``.

    ``settings`` is :func:`recorded_settings`' dict; ``sha256`` the source's
    fingerprint when known (hashed otherwise).
    """
    from divconq.data.features import write_track_file

    if mp3 is not None:
        from divconq.data.mp3 import to_mp3

        to_mp3(source, mp3, bitrate=settings["mp3_bitrate"], quality=settings["mp3_quality"])
    audio = source if mp3 is None else mp3
    write_track_file(audio, h5, params, track, clip, source, sha256, **settings)


def run_batch(
    rows, results, params: FeatureParams, clip: bool, bitrate, quality, features_from="mp3"
):
    """Make the MP3 (if any) and HDF5 of every track of a batch that needs them.

    Parameters
    ----------
    rows : list of dict
        Inventory rows (``track``, ``path``) of the batch.
    results : str or Path
        The workflow's results folder: ``<results>/mp3/<track>.mp3`` and
        ``<results>/spectrograms/<track>.h5``.
    params : FeatureParams
    clip : bool
        Also compute the whole-clip spectrogram.
    bitrate, quality
        The MP3 settings (:func:`divconq.data.mp3.to_mp3`).
    features_from : {"mp3", "source"}
        Features of the MP3 (made first), or of the source with no MP3 made.

    Returns
    -------
    listing : list of dict
        One row per track (:data:`LISTING_COLUMNS`): its files (``mp3`` empty when
        none is made), whether this job made them and its CPU seconds.
    failed : list of (track, source, reason)
        Tracks whose audio could not be converted; the others are done all the same.
    """
    settings = recorded_settings(features_from, bitrate, quality)

    def files_of(track):
        # Spelled as the workflow spells them: the manifest keeps these strings.
        mp3 = f"{results}/mp3/{track}.mp3" if features_from == "mp3" else None
        return {"mp3": mp3, "spectrogram": f"{results}/spectrograms/{track}.h5"}

    def is_current(sha256, files):
        h5 = files["spectrogram"]
        return track_is_current(sha256, files["mp3"], h5, params, settings, clip)

    def make(track, source, files, sha256):
        mp3, h5 = files["mp3"], files["spectrogram"]
        make_track(track, source, mp3, h5, params, clip, settings, sha256)

    return _run_tracks(rows, files_of, is_current, make)


def _file_is_current(path, record: dict) -> bool:
    """Whether a per-track file's attributes hold ``record`` (only they are read)."""
    found = _hdf5_record(path)
    return found is not None and _holds(found[0], record)


def _run_tracks(rows, files_of, is_current, make):
    """The loop of every batch: for each track, ``make(track, source, files, sha256)`` unless
    ``is_current(sha256, files)``, where ``files = files_of(track)`` names the track's
    files by listing column (None: no such file) and ``sha256`` is the source's
    fingerprint (the inventory row's, or computed here for a row without one).

    Returns
    -------
    listing : list of dict
        ``track``, ``source``, the files, ``made`` and the track's CPU seconds.
    failed : list of (track, source, reason)
        Tracks whose audio could not be read or converted; the others are done all
        the same.
    """
    from divconq.shared.errors import AudioError

    listing, failed = [], []
    for row in rows:
        track, source = row["track"], row["path"]
        files = files_of(track)
        start = cpu_s()
        try:
            sha256 = row.get("sha256") or fingerprint.file_sha256(source)
            made = not is_current(sha256, files)
            if made:
                make(track, source, files, sha256)
        except (AudioError, OSError, ValueError) as err:
            log.error("%s (%s): %s", track, source, err)
            failed.append((track, source, str(err)))
            continue
        named = {column: "" if f is None else str(f) for column, f in files.items()}
        cpu = round(cpu_s() - start, 4)
        listing.append({"track": track, "source": source, **named, "made": made, "cpu_s": cpu})
    return listing, failed


def run_embedding_batch(rows, results, params):
    """Make the embedding file of every track of a batch that needs one.

    The network is loaded once per process, at the first track to embed; a file is
    current when it was embedded from the source content the inventory fingerprinted,
    with ``params``' model and hops (:meth:`divconq.data.embeddings.EmbeddingParams.file_dict`).

    Parameters
    ----------
    rows : list of dict
        Inventory rows (``track``, ``path``) of the batch.
    results : str or Path
        The workflow's results folder: ``<results>/embeddings/<model>/<track>.h5``.
    params : divconq.data.embeddings.EmbeddingParams

    Returns
    -------
    listing : list of dict
        One row per track (:data:`FILE_LISTING_COLUMNS`).
    failed : list of (track, source, reason)
        Tracks whose audio could not be decoded; the others are done all the same.
    """
    from divconq.data.embeddings import write_track_file

    def files_of(track):
        return {"file": f"{results}/embeddings/{params.model}/{track}.h5"}

    def is_current(sha256, files):
        return _file_is_current(files["file"], {**params.file_dict(), fingerprint.ATTR: sha256})

    def make(track, source, files, sha256):
        write_track_file(source, files["file"], params, track, source_sha256=sha256)

    return _run_tracks(rows, files_of, is_current, make)


def run_mel_batch(rows, results):
    """Make the network log-mel file (fine-tuning's input) of every track of a batch
    that needs one; the arguments and returns are :func:`run_embedding_batch`'s
    (``<results>/musicnn_mels/<track>.h5``), without TensorFlow."""
    from divconq.data.embeddings import MEL_ATTRS, write_track_mel_file

    def files_of(track):
        return {"file": f"{results}/musicnn_mels/{track}.h5"}

    def is_current(sha256, files):
        return _file_is_current(files["file"], {**MEL_ATTRS, fingerprint.ATTR: sha256})

    def make(track, source, files, sha256):
        write_track_mel_file(source, files["file"], track, sha256)

    return _run_tracks(rows, files_of, is_current, make)


def write_listing(path, listing, columns=LISTING_COLUMNS) -> None:
    """Write a batch's listing CSV (``columns``) under a temporary name, then rename it."""
    from divconq.shared.fileio import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(listing)


def read_listing(path) -> list[dict]:
    """Rows of a batch's listing (:func:`write_listing`), as strings."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
