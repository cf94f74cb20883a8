"""Training data: the samples of a split, train-only normalization, labels.

No TensorFlow here. A split is loaded once into one float32 array (time, mel, 1) per
sample (GTZAN's fixed snippets: ~11k samples, 572 MB; every window of a 600-track
real-music set: ~30k windows, 1.6 GB), normalized in place with the per-mel-band mean
and standard deviation of the *training* samples only: no second copy of the data
set exists.

When the train and val samples together are larger than ``training.in_memory_mb``
(FMA-medium's ~280,000 training snippets are ~15 GB), they are written once, in the
same layout, to a raw float32 file per split (:class:`DiskSamples`) and read back batch
by batch, normalized as they are read with the same float32 arithmetic. The batches,
their order and their values are those of the in-memory array, so a run gives the
same history either way; memory holds a batch, not the split.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from divconq.data.features import CLIP_HINT, FeatureParams, read_params
from divconq.models.musicnn import PATCH_FRAMES
from divconq.shared.fileio import check_finite, open_hdf5
from divconq.shared.inputs import EMBEDDING_INPUTS, INPUTS, WHOLE_TRACK_INPUTS
from divconq.split import read_manifest, spectrogram_path

#: Snippets per chunk when computing statistics and normalizing (bounds temporaries).
CHUNK = 512
#: A mel band whose training std is below this is left unscaled (std stored as 1).
MIN_STD = 1e-6
#: Bytes of a float32 sample value.
FLOAT32 = 4


class DiskSamples:
    """The samples of a split in a raw float32 file, read as they are asked for.

    Stands in for the ``(n, time, mel, 1)`` array of :class:`SplitData` where the code
    reads it: ``len``, ``shape``, ``dtype``, rows by an index array (a batch), by a
    slice or by an integer, with further indices after the rows (``x[a:b, :, :, 0]``).
    Rows are read with ``preadv`` into the returned array (no memory map: the file's
    pages never count as the process's memory), consecutive rows in one call.

    Parameters
    ----------
    path : str or Path
        The file: ``shape[0]`` rows of ``prod(shape[1:])`` float32 values, C order.
    shape : tuple of int
    """

    _fd = None

    def __init__(self, path, shape):
        self.path = Path(path)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(np.float32)
        self._row_bytes = int(np.prod(self.shape[1:])) * FLOAT32
        expected = self.shape[0] * self._row_bytes
        if self.path.stat().st_size != expected:
            raise ValueError(f"{self.path}: {self.path.stat().st_size} bytes, not {expected}")
        self._fd = os.open(self.path, os.O_RDONLY)
        self._mean = self._std = None

    def __len__(self) -> int:
        return self.shape[0]

    def set_normalization(self, mean, std) -> None:
        """Rows are returned as ``(x - mean) / std`` per mel band from now on, in
        float32 (:func:`normalize_inplace`'s arithmetic)."""
        self._mean = np.asarray(mean, dtype=np.float32)[None, None, :, None]
        self._std = np.asarray(std, dtype=np.float32)[None, None, :, None]

    def _read(self, out: np.ndarray, first: int) -> None:
        view = memoryview(out).cast("B")
        done = 0
        while done < len(view):
            n = os.preadv(self._fd, [view[done:]], first * self._row_bytes + done)
            if n == 0:
                raise OSError(f"{self.path}: ends before row {first + len(out)}")
            done += n

    def __getitem__(self, key):
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        scalar = False
        if isinstance(rows, slice):
            start, stop, step = rows.indices(len(self))
            if step != 1:
                raise IndexError("DiskSamples: slices must have step 1")
            out = np.empty((max(0, stop - start), *self.shape[1:]), np.float32)
            self._read(out, start)
        else:
            idx = np.asarray(rows, dtype=np.int64)
            scalar = idx.ndim == 0
            idx = np.atleast_1d(idx)
            if len(idx) and (idx.min() < -len(self) or idx.max() >= len(self)):
                raise IndexError(f"row index out of range for {len(self)} samples")
            idx = np.where(idx < 0, idx + len(self), idx)
            out = np.empty((len(idx), *self.shape[1:]), np.float32)
            # Runs of consecutive rows (a sorted batch has many) in one read each.
            breaks = np.flatnonzero(np.diff(idx) != 1) + 1
            for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(idx)], strict=True):
                self._read(out[a:b], int(idx[a]))
        if self._mean is not None:
            out -= self._mean
            out /= self._std
        if scalar:
            out = out[0]
        return out[(slice(None), *rest) if not scalar else rest] if rest else out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        self.close()


@dataclass
class SplitData:
    """The samples of one split, in memory.

    Attributes
    ----------
    x : np.ndarray, float32, shape (n, time, mel, 1)
    y : np.ndarray, int64, shape (n,)
        Class index of each sample.
    tracks : list of str
        Track id of each sample (the samples of a track are contiguous).
    """

    x: np.ndarray
    y: np.ndarray
    tracks: list


def class_names_of(manifest: pd.DataFrame) -> list[str]:
    """Sorted labels of the manifest; every one must have training tracks."""
    names = sorted(manifest["label"].astype(str).unique())
    train_labels = set(manifest.loc[manifest["split"] == "train", "label"].astype(str))
    missing = [n for n in names if n not in train_labels]
    if missing:
        raise ValueError(f"classes without training tracks: {', '.join(missing)}")
    return names


def _track_shape(
    h5, path, input: str, all_windows: bool, layer=None, embedding=None
) -> tuple[int, tuple]:
    """(samples of this track, (mel, time) of one sample) from the HDF5 metadata.

    An embedding file's sample is one vector of its ``layer``: (width, 1); with
    ``input: embedding_mean`` one per track. A network log-mel file's sample is a
    patch, (96, 187), cut at the hops of ``embedding``.
    """
    if input == "musicnn_mel":
        from divconq.data.embeddings import n_mel_patches

        if "log_mel" not in h5:
            raise ValueError(f"{path} is no network log-mel file (it has no log_mel)")
        n_frames, n_mels = h5["log_mel"].shape
        return n_mel_patches(n_frames, embedding, all_windows), (n_mels, PATCH_FRAMES)
    if input in EMBEDDING_INPUTS:
        if layer not in h5:
            raise ValueError(f"{path} has no embedding layer {layer!r}")
        if input == "embedding_mean":
            n = 1
        else:
            n = int(h5[layer].shape[0]) if all_windows else int(h5["is_snippet"][()].sum())
        return n, (int(h5[layer].shape[1]), 1)
    if input == "clip":
        if "clip_mel_db" not in h5:
            raise ValueError(f"{path} has no clip_mel_db (needed by input: clip). {CLIP_HINT}")
        return 1, tuple(h5["clip_mel_db"].shape)
    shape = tuple(h5["mel_db"].shape[1:])
    if all_windows:
        return int(h5["mel_db"].shape[0]), shape
    return int(h5["is_snippet"][()].sum()), shape


def _file_params(h5, input: str, layer, embedding=None):
    """The parameters a file's samples were made with: FeatureParams, or
    EmbeddingParams for an embedding file (with the layer read from it), or
    ``embedding`` itself for a network log-mel file (cut at its hops)."""
    if input == "musicnn_mel":
        return embedding
    if input not in EMBEDDING_INPUTS:
        return read_params(h5.attrs)
    from divconq.data.embeddings import EmbeddingParams
    from divconq.shared.fileio import read_attrs

    attrs = read_attrs(h5.attrs)
    keys = ("model", "hop_s", "train_hop_s")
    return EmbeddingParams(layer=layer, **{k: attrs[k] for k in keys})


def _scan_split(paths, split: str, input: str, all_windows: bool, layer=None, embedding=None):
    """Pass 1: per-track sample counts, the common feature parameters and sample shape."""
    counts, params, shape = [], None, None
    for p in paths:
        with open_hdf5(p) as h5:
            file_params = _file_params(h5, input, layer, embedding)
            n, s = _track_shape(h5, p, input, all_windows, layer, embedding)
        if params is None:
            params, shape = file_params, s
        elif file_params != params or s != shape:
            raise ValueError(
                f"{p} has other feature parameters or shapes than the first file of the "
                f"{split} split; rebuild the spectrograms"
            )
        counts.append(n)
    return counts, params, shape


def load_split(
    manifest,
    split: str,
    class_names: list[str],
    input: str = "snippets",
    base_dir=None,
    all_windows: bool = False,
    layer: str | None = None,
    embedding=None,
    to_file=None,
) -> tuple[SplitData, FeatureParams | None]:
    """Load every training sample of one split into one float32 array (or file).

    Parameters
    ----------
    manifest : str, Path or pd.DataFrame
        ``results/split/manifest.csv``.
    split : str
        ``train``, ``val`` or ``test``.
    class_names : list of str
        Label order (the class index of a sample is its label's position).
    input : str
        ``snippets``: ``mel_db[is_snippet]`` of each track; ``clip``: ``clip_mel_db``;
        ``embeddings``: the ``layer`` of each training patch of the embedding files
        (the manifest's ``spectrogram`` column then names them,
        :func:`divconq.split.manifest.feature_manifest`); ``embedding_mean``: the mean
        of that layer over every patch of the track (one sample per track);
        ``musicnn_mel``: the network's log-mel patches of each track (the manifest's
        ``spectrogram`` column names the files, :func:`divconq.split.manifest.mel_manifest`),
        cut at the hops of ``embedding``.
    base_dir : str or Path, optional
        Folder relative ``spectrogram`` paths are tried against if they do not exist
        as given (they are relative to the workflow's working directory).
    all_windows : bool
        ``input: snippets`` or ``embeddings``: every window (one per window hop),
        not only the fixed snippets.
    layer : str, optional
        Embedding inputs: the layer (``pool``, ``penultimate``, ``tags``).
    embedding : divconq.data.embeddings.EmbeddingParams, optional
        ``input: musicnn_mel``: the patch hops (and what the returned parameters are).
    to_file : str or Path, optional
        Write the samples to this file and return them as :class:`DiskSamples`.

    Returns
    -------
    SplitData
        ``x`` has shape (n, n_frames, n_mels, 1): the HDF5's (mel, time) transposed.
    FeatureParams or None
        The feature parameters of the files (None for an empty split).

    Raises
    ------
    ValueError
        If files disagree on their feature parameters or shapes.
    divconq.shared.errors.DamagedFileError
        If a file fails its checksums or holds NaN or infinity (naming the file and
        how to rebuild it).
    """
    plan = plan_split(manifest, split, input, base_dir, all_windows, layer, embedding)
    return fill_split(plan, class_names, to_file=to_file), plan.params


@dataclass
class SplitPlan:
    """What :func:`fill_split` reads: the tracks of a split, their files and sample
    counts (pass 1, metadata only), and the common parameters and sample shape."""

    tracks: list
    labels: list
    paths: list
    counts: list
    params: object
    shape: tuple | None  # (mel, time) of one sample; None for an empty split
    input: str
    all_windows: bool
    layer: str | None
    embedding: object

    @property
    def n_bytes(self) -> int:
        """Size of the split's float32 samples."""
        if self.shape is None:
            return 0
        return int(sum(self.counts)) * int(np.prod(self.shape)) * FLOAT32


def plan_split(
    manifest, split, input="snippets", base_dir=None, all_windows=False, layer=None, embedding=None
) -> SplitPlan:
    """Pass 1 of :func:`load_split`: the split's files, sample counts and shape."""
    if input not in INPUTS:
        raise ValueError(f"input must be one of {', '.join(INPUTS)}, not {input!r}")
    if input in EMBEDDING_INPUTS and not layer:
        raise ValueError(f"input: {input} needs the embedding layer")
    if input == "musicnn_mel" and embedding is None:
        raise ValueError("input: musicnn_mel needs the embedding parameters (patch hops)")
    df = read_manifest(manifest)
    rows = df[df["split"] == split].sort_values("track")
    paths = [spectrogram_path(p, base_dir) for p in rows["spectrogram"]]
    counts, params, shape = _scan_split(paths, split, input, all_windows, layer, embedding)
    return SplitPlan(
        list(rows["track"]), list(rows["label"]), paths, counts, params, shape,
        input, all_windows, layer, embedding,
    )  # fmt: skip


def fill_split(plan: SplitPlan, class_names: list[str], to_file=None) -> SplitData:
    """Pass 2 of :func:`load_split`: every sample, track by track (one track in flight),
    into one preallocated array, or appended to the float32 file ``to_file``."""
    if plan.shape is None:
        return SplitData(np.zeros((0, 1, 1, 1), np.float32), np.zeros(0, np.int64), [])
    index = {name: i for i, name in enumerate(class_names)}
    n_mels, n_frames = plan.shape
    shape = (int(sum(plan.counts)), n_frames, n_mels, 1)
    x = None if to_file else np.empty(shape, dtype=np.float32)
    y = np.empty(shape[0], dtype=np.int64)
    sample_tracks = []
    i = 0
    with open(to_file, "wb") if to_file else contextlib.nullcontext() as f:
        for track, label, p, n in zip(
            plan.tracks, plan.labels, plan.paths, plan.counts, strict=True
        ):
            if str(label) not in index:
                raise ValueError(f"track {track}: label {label!r} is not a known class")
            out = x[i : i + n] if x is not None else np.empty((n, *shape[1:]), np.float32)
            if plan.input == "musicnn_mel":
                from divconq.data.embeddings import read_mel_patches

                out[:, :, :, 0] = read_mel_patches(p, plan.embedding, plan.all_windows)[0]
            else:
                _read_track(p, plan.input, plan.all_windows, plan.layer, out)
            # NaN or infinity would turn every weight into NaN at the first batch.
            check_finite(p, _dataset_name(plan.input, plan.layer), out)
            if f is not None:
                out.tofile(f)
            y[i : i + n] = index[str(label)]
            sample_tracks.extend([str(track)] * n)
            i += n
    if to_file:
        x = DiskSamples(to_file, shape)
    return SplitData(x, y, sample_tracks)


def _dataset_name(input: str, layer) -> str:
    """The HDF5 dataset an input kind's samples come from (for error messages)."""
    if input in EMBEDDING_INPUTS:
        return layer
    return {"clip": "clip_mel_db", "musicnn_mel": "log_mel"}.get(input, "mel_db")


def _read_track(path, input: str, all_windows: bool, layer, out: np.ndarray) -> None:
    """Fill ``out``, shape (n, time, mel, 1), with one track's samples of a feature
    or embedding file (``n`` from :func:`_track_shape`)."""
    with open_hdf5(path) as h5:
        if input == "embedding_mean":
            out[0, 0, :, 0] = h5[layer][()].mean(axis=0, dtype=np.float64)
        elif input == "embeddings":
            values = h5[layer][()]
            out[:, 0, :, 0] = values if all_windows else values[h5["is_snippet"][()]]
        elif input == "clip":
            out[0, :, :, 0] = h5["clip_mel_db"][()].T
        elif all_windows:
            out[:, :, :, 0] = h5["mel_db"][()].transpose(0, 2, 1)
        else:
            mask = h5["is_snippet"][()]
            out[:, :, :, 0] = h5["mel_db"][()][mask].transpose(0, 2, 1)


def band_statistics(x: np.ndarray, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Per-mel-band mean and standard deviation over all samples and frames.

    Two passes over chunks (float64 accumulators), so no full-size temporary is made.

    Parameters
    ----------
    x : np.ndarray, float32, shape (n, time, mel, 1)

    Returns
    -------
    mean, std : np.ndarray, float64, shape (mel,)
        ``std`` below :data:`MIN_STD` (a constant band) is replaced by 1.
    """
    n, t, m = x.shape[0], x.shape[1], x.shape[2]
    if n == 0:
        raise ValueError("no training samples to compute the normalization from")
    total = np.zeros(m, dtype=np.float64)
    for s in range(0, n, chunk):
        total += x[s : s + chunk, :, :, 0].sum(axis=(0, 1), dtype=np.float64)
    mean = total / (n * t)
    sq = np.zeros(m, dtype=np.float64)
    for s in range(0, n, chunk):
        d = x[s : s + chunk, :, :, 0].astype(np.float64) - mean
        sq += np.einsum("ntm,ntm->m", d, d)
    std = np.sqrt(sq / (n * t))
    std[std < MIN_STD] = 1.0
    return mean, std


def normalize_inplace(x: np.ndarray, mean, std, chunk: int = CHUNK) -> np.ndarray:
    """``x = (x - mean) / std`` per mel band, in place, float32.

    The same float32 arithmetic as :func:`divconq.evaluate.inference.prepare`.

    Parameters
    ----------
    x : np.ndarray, float32, shape (n, time, mel, 1)
    mean, std : array-like, shape (mel,)
    """
    m32 = np.asarray(mean, dtype=np.float32)[None, None, :, None]
    s32 = np.asarray(std, dtype=np.float32)[None, None, :, None]
    for s in range(0, len(x), chunk):
        block = x[s : s + chunk]
        block -= m32
        block /= s32
    return x


def normalize(x, mean, std):
    """:func:`normalize_inplace` for an array; for :class:`DiskSamples`, the same
    arithmetic as the rows are read."""
    if isinstance(x, DiskSamples):
        x.set_normalization(mean, std)
        return x
    return normalize_inplace(x, mean, std)


def one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    """float32 one-hot labels."""
    out = np.zeros((len(y), n_classes), dtype=np.float32)
    out[np.arange(len(y)), y] = 1.0
    return out


def track_runs(tracks: list) -> tuple[np.ndarray, np.ndarray]:
    """First sample and sample count of each track (samples of a track are contiguous).

    Returns
    -------
    starts, counts : np.ndarray, int64, shape (n_tracks,)
    """
    if not tracks:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    arr = np.asarray(tracks, dtype=object)
    change = np.flatnonzero(arr[1:] != arr[:-1]) + 1
    starts = np.concatenate([[0], change]).astype(np.int64)
    counts = np.diff(np.concatenate([starts, [len(arr)]])).astype(np.int64)
    if len(set(arr[starts])) != len(starts):
        raise ValueError("the samples of a track must be contiguous")
    return starts, counts


@dataclass
class TrainingData:
    """The normalized training and validation samples of one run.

    Attributes
    ----------
    class_names : list of str
    params : FeatureParams
        Of the HDF5 files.
    train, val : SplitData
        ``train`` holds every window of the training tracks under ``sampling:
        epoch``, else their fixed snippets; ``val`` the fixed snippets.
    mean, std : np.ndarray, float64, shape (mel,)
        The normalization (of ``train``).
    tracks : pd.DataFrame
        ``track``, ``label``, ``split`` of the train and val tracks (fingerprint).
    load_s : float
    """

    class_names: list
    params: FeatureParams
    train: SplitData
    val: SplitData
    mean: np.ndarray
    std: np.ndarray
    tracks: pd.DataFrame
    load_s: float


def prepare_data(
    manifest,
    cfg,
    input: str = "snippets",
    base_dir=None,
    layer=None,
    embedding=None,
    samples_dir=None,
):
    """Step 1: load the train and val samples and normalize both with train statistics.

    No TensorFlow: bad inputs fail before it starts.

    Parameters
    ----------
    manifest : str, Path or pd.DataFrame
    cfg : divconq.train.config.TrainConfig
        Its ``sampling`` decides what the training samples are.
    input : str
        A kind of :data:`divconq.shared.inputs.INPUTS`.
    base_dir : str or Path, optional
        See :func:`load_split`.
    layer : str, optional
        Embedding inputs: the embedding layer.
    embedding : divconq.data.embeddings.EmbeddingParams, optional
        ``input: musicnn_mel``: the network and patch hops.
    samples_dir : str or Path, optional
        Where the samples go when train and val together are larger than
        ``cfg.in_memory_mb`` (:class:`DiskSamples`; the caller removes the folder). None:
        always in memory.

    Returns
    -------
    TrainingData
        For ``musicnn_mel`` the normalization is none (mean 0, std 1): the
        pretrained network standardizes its input itself, with the statistics it
        was trained with.
    """
    if input in WHOLE_TRACK_INPUTS and cfg.sampling == "epoch":
        raise ValueError(
            f"training.sampling: epoch needs windows (input: {input} has one sample per track)"
        )
    t0 = time.perf_counter()
    df = read_manifest(manifest)
    class_names = class_names_of(df)
    all_windows = cfg.sampling == "epoch"
    train_plan = plan_split(df, "train", input, base_dir, all_windows, layer, embedding)
    val_plan = plan_split(df, "val", input, base_dir, False, layer, embedding)
    params, val_params = train_plan.params, val_plan.params
    if params is None or not sum(train_plan.counts):
        raise ValueError("the manifest has no training samples")
    if val_params is not None and val_params != params:
        raise ValueError("train and val spectrograms have different feature parameters")
    on_disk = samples_dir is not None and (
        train_plan.n_bytes + val_plan.n_bytes > cfg.in_memory_mb * 2**20
    )
    if on_disk:
        Path(samples_dir).mkdir(parents=True, exist_ok=True)
    train_data, val_data = (
        fill_split(plan, class_names, Path(samples_dir) / f"{plan_name}.f32" if on_disk else None)
        for plan_name, plan in (("train", train_plan), ("val", val_plan))
    )
    if input == "musicnn_mel":
        n_mels = train_data.x.shape[2]
        mean, std = np.zeros(n_mels), np.ones(n_mels)
    else:
        mean, std = band_statistics(train_data.x)
        for split_data in (train_data, val_data):
            if len(split_data.x):
                normalize(split_data.x, mean, std)
    tracks = df[df["split"].isin(["train", "val"])].sort_values(["split", "track"])
    tracks = tracks[["track", "label", "split"]]
    load_s = time.perf_counter() - t0
    return TrainingData(class_names, params, train_data, val_data, mean, std, tracks, load_s)
