"""Training data in memory: the samples of a split, train-only normalization, labels.

No TensorFlow here. All of a split is loaded once into one float32 array
(time, mel, 1) per sample (GTZAN's fixed snippets: ~11k samples, 572 MB; every
window of a 600-track real-music set: ~30k windows, 1.6 GB), normalized in place
with the per-mel-band mean and standard deviation of the *training* samples
only: no second copy of the data set exists.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

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
) -> tuple[SplitData, FeatureParams | None]:
    """Load every training sample of one split into one float32 array.

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
    if input not in INPUTS:
        raise ValueError(f"input must be one of {', '.join(INPUTS)}, not {input!r}")
    if input in EMBEDDING_INPUTS and not layer:
        raise ValueError(f"input: {input} needs the embedding layer")
    if input == "musicnn_mel" and embedding is None:
        raise ValueError("input: musicnn_mel needs the embedding parameters (patch hops)")
    df = read_manifest(manifest)
    rows = df[df["split"] == split].sort_values("track")
    index = {name: i for i, name in enumerate(class_names)}
    paths = [spectrogram_path(p, base_dir) for p in rows["spectrogram"]]
    counts, params, shape = _scan_split(paths, split, input, all_windows, layer, embedding)
    if shape is None:
        return SplitData(np.zeros((0, 1, 1, 1), np.float32), np.zeros(0, np.int64), []), None
    n_mels, n_frames = shape
    # Pass 2: one preallocated array, filled track by track (one track in flight).
    x = np.empty((int(sum(counts)), n_frames, n_mels, 1), dtype=np.float32)
    y = np.empty(len(x), dtype=np.int64)
    sample_tracks = []
    i = 0
    for track, label, p, n in zip(rows["track"], rows["label"], paths, counts, strict=True):
        if str(label) not in index:
            raise ValueError(f"track {track}: label {label!r} is not a known class")
        if input == "musicnn_mel":
            from divconq.data.embeddings import read_mel_patches

            x[i : i + n, :, :, 0] = read_mel_patches(p, embedding, all_windows)[0]
        else:
            _read_track(p, input, all_windows, layer, x[i : i + n])
        # NaN or infinity would turn every weight into NaN at the first batch.
        check_finite(p, _dataset_name(input, layer), x[i : i + n])
        y[i : i + n] = index[str(label)]
        sample_tracks.extend([str(track)] * n)
        i += n
    return SplitData(x, y, sample_tracks), params


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


def prepare_data(manifest, cfg, input: str = "snippets", base_dir=None, layer=None, embedding=None):
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
    train_data, params = load_split(
        df, "train", class_names, input, base_dir, all_windows, layer=layer, embedding=embedding
    )
    val_data, val_params = load_split(
        df, "val", class_names, input, base_dir, layer=layer, embedding=embedding
    )
    if params is None or len(train_data.x) == 0:
        raise ValueError("the manifest has no training samples")
    if val_params is not None and val_params != params:
        raise ValueError("train and val spectrograms have different feature parameters")
    if input == "musicnn_mel":
        n_mels = train_data.x.shape[2]
        mean, std = np.zeros(n_mels), np.ones(n_mels)
    else:
        mean, std = band_statistics(train_data.x)
        normalize_inplace(train_data.x, mean, std)
        if len(val_data.x):
            normalize_inplace(val_data.x, mean, std)
    tracks = df[df["split"].isin(["train", "val"])].sort_values(["split", "track"])
    tracks = tracks[["track", "label", "split"]]
    load_s = time.perf_counter() - t0
    return TrainingData(class_names, params, train_data, val_data, mean, std, tracks, load_s)
