"""Pretrained embeddings of a track's 3-s patches: the embedding stage of the workflow.

Divide & conquer over a pretrained music network: each track is cut into 3-s patches
of the network's own log-mel front end (:func:`divconq.models.musicnn.log_mel`: 16 kHz, 96
bands, 187 frames a patch), every patch goes through the frozen network once, and
what a classifier then learns from is one vector per patch (an embedding). A small
head (:mod:`divconq.models.presets`, ``input: embeddings``) is trained on the patch vectors
and a track is classified by the track rules of :mod:`divconq.evaluate.rules` over its
patches, exactly as the snippet models are.

Patches start every ``hop_s`` seconds (1 s: the article's scoring windows, 2 s
overlap), and every ``train_hop_s / hop_s``-th of them is a training patch
(``is_snippet``; 3 s: non-overlapping, as musicnn was trained). A track shorter than
one patch is repeated up to its length (musicnn's ``repeat-pad``).

Per-track HDF5 (``results/embeddings/<model>/<label>/<track>.h5``), written like the
spectrogram files (checksummed, atomic; :mod:`divconq.shared.fileio`):

========================  =========================================================
``start_s``               float64, (n_patches,): start of each patch, seconds
``is_snippet``            bool, (n_patches,): the training patches
``<layer>``               float32, (n_patches, width): one dataset per layer the
                          network offers (``pool``, ``penultimate``, ``tags``)
========================  =========================================================

Attributes: ``track``, ``label``, ``source_path``, ``source_sha256`` (the content it
was made from, :mod:`divconq.data.fingerprint`), ``duration_s``, ``padded``, the
:class:`EmbeddingParams` the file depends on (``model``, ``hop_s``, ``train_hop_s``)
and the versions of divconq, numpy and the weights' package. Every layer is stored,
so that changing ``embedding.layer`` needs no new pass over the audio.

For fine-tuning the whole network (``trainable: all``, input kind ``musicnn_mel``) a
second per-track file holds the network's own log-mel of the whole track, from which
the same patches are cut when it is read (:func:`read_mel_patches`), so that the
hops can change without a new pass over the audio
(``results/musicnn_mels/<label>/<track>.h5``, no TensorFlow needed to write it):

========================  =========================================================
``log_mel``               float32, (n_frames, 96): :func:`network_log_mel` (time,
                          mel), repeated up to 187 frames for a short track
========================  =========================================================

Attributes: ``track``, ``label``, ``source_path``, ``source_sha256``, ``duration_s``,
``padded``, the front end's settings (:data:`MEL_ATTRS`) and the versions of divconq and numpy.

In memory a patch's embedding is shaped like a one-frame spectrogram, ``(width, 1)``
(bands x frames) in files' order and ``(1, width, 1)`` as model input, so that the
training, normalization (per dimension, from the training split), evaluation and
prediction code of the spectrogram models serves the embeddings unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from divconq.models import musicnn

__all__ = [
    "EmbeddingParams",
    "TrackEmbeddings",
    "embedding_path",
    "mel_patches",
    "mel_path",
    "network_log_mel",
    "patch_log_mels",
    "read_mel_patches",
    "read_hdf5",
    "track_embeddings",
    "window_frames",
    "write_hdf5",
    "write_mel_hdf5",
]

#: Frames of the network's log-mel per second (16000 / 256 = 62.5).
FRAME_RATE = musicnn.SAMPLE_RATE / musicnn.HOP
#: Patches per call of the network: ~7 MB of log-mels, a few hundred MB of activations.
BATCH = 32
#: The front-end settings a network log-mel file records (and a reader checks).
MEL_ATTRS = {
    "frontend": "musicnn",
    "sample_rate": musicnn.SAMPLE_RATE,
    "n_fft": musicnn.N_FFT,
    "hop_length": musicnn.HOP,
    "n_mels": musicnn.N_MELS,
}


@dataclass(frozen=True)
class EmbeddingParams:
    """Parameters of the embedding stage (config section ``embedding``).

    Attributes
    ----------
    model : str
        A checkpoint of :data:`divconq.models.musicnn.CHECKPOINTS`: ``msd_musicnn``,
        ``mtt_musicnn``, ``msd_vgg`` or ``mtt_vgg``.
    layer : str
        The layer a head is trained on: ``pool`` (max and mean over time of the
        mid-end features), ``penultimate`` (the 200-unit dense layer, musicnn only)
        or ``tags`` (the 50 tag probabilities). Files hold every layer.
    hop_s : float
        Patch hop, seconds: every patch is scored at evaluation and prediction.
    train_hop_s : float
        Hop of the training patches, seconds; a multiple of ``hop_s``.
    """

    model: str = "msd_musicnn"
    layer: str = "pool"
    hop_s: float = 1.0
    train_hop_s: float = 3.0

    def __post_init__(self):
        if self.model not in musicnn.CHECKPOINTS:
            raise ValueError(
                f"unknown embedding model {self.model!r}; "
                f"choose one of {sorted(musicnn.CHECKPOINTS)}"
            )
        offered = list(musicnn.CHECKPOINTS[self.model].layers)
        if self.layer not in offered:
            raise ValueError(
                f"embedding model {self.model} has no {self.layer} layer; it offers "
                f"{', '.join(offered)}"
            )
        if not self.hop_s > 0:
            raise ValueError(f"embedding hop_s must be positive, not {self.hop_s}")
        step = self.train_hop_s / self.hop_s
        if self.train_hop_s <= 0 or abs(step - round(step)) > 1e-9:
            raise ValueError(
                f"embedding train_hop_s ({self.train_hop_s}) must be a positive multiple "
                f"of hop_s ({self.hop_s})"
            )

    # The attributes the predictor and the outputs read from any model's parameters.
    @property
    def sample_rate(self) -> int:
        """Audio rate of the network's front end, Hz."""
        return musicnn.SAMPLE_RATE

    @property
    def snippet_samples(self) -> int:
        """Samples of one patch (187 frames of 256)."""
        return musicnn.PATCH_FRAMES * musicnn.HOP

    @property
    def snippet_s(self) -> float:
        """Length of one patch, seconds (2.992)."""
        return self.snippet_samples / self.sample_rate

    @property
    def width(self) -> int:
        """Numbers per patch of :attr:`layer`."""
        return int(musicnn.CHECKPOINTS[self.model].layers[self.layer])

    @property
    def train_step(self) -> int:
        """Every how many patches a training patch starts."""
        return int(round(self.train_hop_s / self.hop_s))

    def to_dict(self) -> dict:
        return asdict(self)

    def file_dict(self) -> dict:
        """The parameters a file depends on (not ``layer``: files hold every layer)."""
        return {"model": self.model, "hop_s": self.hop_s, "train_hop_s": self.train_hop_s}

    @classmethod
    def from_dict(cls, d: dict | None) -> EmbeddingParams:
        """From a dict; unknown keys are an error naming them."""
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown embedding parameters: {', '.join(unknown)}")
        return cls(**d)


def window_frames(n_frames: int, hop_s: float) -> np.ndarray:
    """First frame of each patch: every ``hop_s`` seconds while a whole patch fits.

    Parameters
    ----------
    n_frames : int
        Frames of the track's log-mel (at least :data:`divconq.models.musicnn.PATCH_FRAMES`).
    hop_s : float
        Seconds between patch starts; rounded to the nearest frame each time, so
        that starts stay on the second (a frame is 16 ms).

    Returns
    -------
    np.ndarray, int64, shape (n_patches,)
    """
    last = n_frames - musicnn.PATCH_FRAMES
    if last < 0:
        return np.zeros(0, dtype=np.int64)
    n = int(np.floor(last / (hop_s * FRAME_RATE) + 1e-9)) + 1
    starts = np.round(np.arange(n) * hop_s * FRAME_RATE).astype(np.int64)
    return starts[starts <= last]


@dataclass
class TrackEmbeddings:
    """The embeddings of one track's patches.

    Attributes
    ----------
    layers : dict of str to np.ndarray, float32, shape (n_patches, width)
    start_s : np.ndarray, float64, shape (n_patches,)
    is_snippet : np.ndarray, bool, shape (n_patches,)
    duration_s : float
    padded : bool
        Shorter than one patch: the audio was repeated to fill it.
    """

    layers: dict
    start_s: np.ndarray
    is_snippet: np.ndarray
    duration_s: float
    padded: bool


def network_log_mel(y: np.ndarray) -> tuple[np.ndarray, bool]:
    """The network's log-mel of a whole track, repeated up to one patch if shorter.

    Parameters
    ----------
    y : np.ndarray, float32, shape (n_samples,)
        Mono audio at 16 kHz.

    Returns
    -------
    mel : np.ndarray, float32, shape (max(n_frames, 187), 96)
        (time, mel): :func:`divconq.models.musicnn.log_mel`, 62.5 frames per second.
    padded : bool
        Shorter than one patch (repeated, musicnn's ``repeat-pad``).
    """
    mel = musicnn.log_mel(np.asarray(y, dtype=np.float32))
    padded = len(mel) < musicnn.PATCH_FRAMES
    return musicnn.repeat_pad(mel), padded


def mel_patches(
    mel: np.ndarray, params: EmbeddingParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut a track's network log-mel into the patches of the embedding stage.

    Parameters
    ----------
    mel : np.ndarray, float32, shape (n_frames, 96)
        :func:`network_log_mel` of a track (at least 187 frames).
    params : EmbeddingParams
        ``hop_s`` (every patch) and ``train_hop_s`` (the training patches).

    Returns
    -------
    patches : np.ndarray, float32, shape (n_patches, 187, 96)
        (time, mel), the network's input.
    start_frames : np.ndarray, int64, shape (n_patches,)
    is_snippet : np.ndarray, bool, shape (n_patches,)
        The training patches: every ``train_hop_s / hop_s``-th.
    """
    starts = window_frames(len(mel), params.hop_s)
    idx = starts[:, None] + np.arange(musicnn.PATCH_FRAMES)[None, :]
    is_snippet = np.arange(len(starts)) % params.train_step == 0
    return mel[idx], starts, is_snippet


def patch_log_mels(
    y: np.ndarray, params: EmbeddingParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """The network's log-mel patches of a track: :func:`network_log_mel`, then
    :func:`mel_patches`.

    Parameters
    ----------
    y : np.ndarray, float32, shape (n_samples,)
        Mono audio at 16 kHz.
    params : EmbeddingParams

    Returns
    -------
    patches : np.ndarray, float32, shape (n_patches, 187, 96)
    start_frames : np.ndarray, int64, shape (n_patches,)
    is_snippet : np.ndarray, bool, shape (n_patches,)
    padded : bool
    """
    mel, padded = network_log_mel(y)
    return (*mel_patches(mel, params), padded)


def track_embeddings(
    y: np.ndarray, params: EmbeddingParams, network=None, batch_size: int = BATCH
) -> TrackEmbeddings:
    """Embed every patch of a track with the frozen network: the one code path of the
    embedding stage, evaluation files and ``divconq predict`` alike.

    Parameters
    ----------
    y : np.ndarray, float32, shape (n_samples,)
        Mono audio at 16 kHz (:func:`divconq.data.audio.load` with ``sr=16000``).
    params : EmbeddingParams
    network : keras.Model, optional
        :func:`divconq.models.musicnn.load` of ``params.model`` with every layer (loaded
        here, once per process, if not given).
    batch_size : int
        Patches per network call (bounds memory whatever the track length).

    Returns
    -------
    TrackEmbeddings
        Every layer the network offers.
    """
    if network is None:
        network = load_network(params.model)
    patches, starts, is_snippet, padded = patch_log_mels(y, params)
    layers = musicnn.embed(patches, network, batch_size=batch_size)
    return TrackEmbeddings(
        layers=layers,
        start_s=starts.astype(np.float64) / FRAME_RATE,
        is_snippet=is_snippet,
        duration_s=len(y) / musicnn.SAMPLE_RATE,
        padded=bool(padded),
    )


def load_network(model: str):
    """The frozen network of a checkpoint with every layer it offers (cached per process)."""
    return musicnn.load(model, layers=tuple(musicnn.CHECKPOINTS[model].layers))


def embedding_path(results, model: str, track: str) -> Path:
    """``<results>/embeddings/<model>/<label>/<track>.h5`` of a track id ``label/track``."""
    return Path(results) / "embeddings" / model / f"{track}.h5"


def write_hdf5(path, emb: TrackEmbeddings, params: EmbeddingParams, **attrs) -> None:
    """Write one track's embeddings to a checksummed HDF5 file (layout: module docstring).

    Parameters
    ----------
    path : str or Path
        Output ``.h5``; written under a temporary name and renamed.
    emb : TrackEmbeddings
    params : EmbeddingParams
    **attrs
        ``track``, ``label``, ``source_path``, ``source_sha256``.
    """
    import h5py

    from divconq import __version__
    from divconq.shared.fileio import add_dataset, atomic_path, create_hdf5, set_attrs

    weights = musicnn.weights_info(params.model)
    meta = {
        **params.file_dict(),
        "duration_s": float(emb.duration_s),
        "padded": bool(emb.padded),
        "divconq_version": __version__,
        "numpy_version": np.__version__,
        "h5py_version": h5py.__version__,
        "weights": f"{weights['package']}=={weights['version']} ({weights['license']})",
        **attrs,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, create_hdf5(tmp) as h5:
        for name, values in emb.layers.items():
            add_dataset(h5, name, values)
        add_dataset(h5, "start_s", emb.start_s)
        add_dataset(h5, "is_snippet", emb.is_snippet)
        set_attrs(h5, meta)


def write_track_file(
    audio, dst, params: EmbeddingParams, track: str, network=None, source_sha256=None
) -> int:
    """Decode a track's source audio, embed its patches and write its HDF5: what
    ``divconq embed`` and an embedding batch (:mod:`divconq.data.batch`) do.

    Parameters
    ----------
    audio : str or Path
        The track's source audio (decoded at 16 kHz, mono).
    dst : str or Path
        The ``.h5`` to write (:func:`write_hdf5`).
    params : EmbeddingParams
    track : str
        Track id ``label/stem``.
    network : keras.Model, optional
        As :func:`track_embeddings` (loaded once per process if not given).
    source_sha256 : str, optional
        The audio file's SHA-256 when known (the inventory's); hashed here otherwise.

    Returns
    -------
    int
        Patches embedded.

    Raises
    ------
    divconq.shared.errors.AudioError
        If the audio cannot be decoded (before the network is loaded).
    """
    from divconq.data.audio import load
    from divconq.data.fingerprint import source_attrs

    provenance = source_attrs(audio, source_sha256)
    y = load(audio, sr=params.sample_rate)
    emb = track_embeddings(y, params, network=network)
    label = track.split("/", 1)[0]
    write_hdf5(dst, emb, params, track=track, label=label, **provenance)
    return len(emb.start_s)


def read_hdf5(path, layer: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Read and verify one layer of a file written by :func:`write_hdf5`.

    Parameters
    ----------
    path : str or Path
    layer : str

    Returns
    -------
    values : np.ndarray, float32, shape (n_patches, width)
    start_s : np.ndarray, float64, shape (n_patches,)
    is_snippet : np.ndarray, bool, shape (n_patches,)
    attrs : dict
        Every attribute, plain Python values (``model``, ``hop_s``, ...).

    Raises
    ------
    divconq.shared.errors.DamagedFileError
        If the file is truncated, fails a checksum, lacks the layer or holds NaN or
        infinity; the message names the file and how to rebuild it.
    """
    from divconq.shared.fileio import check_finite, open_hdf5, read_attrs

    with open_hdf5(path) as h5:
        attrs = read_attrs(h5.attrs)
        values = h5[layer][()]
        start_s = h5["start_s"][()]
        is_snippet = h5["is_snippet"][()]
    check_finite(path, layer, values)
    return values, start_s, is_snippet, attrs


def check_file_params(params: EmbeddingParams, attrs: dict, path) -> None:
    """Raise ``ValueError`` if a file was not embedded as ``params`` say (model, hops)."""
    want = params.file_dict()
    diff = [k for k, v in want.items() if attrs.get(k) != v]
    if diff:
        detail = ", ".join(f"{k}: expected {want[k]!r}, file {attrs.get(k)!r}" for k in diff)
        raise ValueError(f"{path}: embeddings differ from the model's ({detail})")


# --- the network's log-mel, for fine-tuning ---------------------------------------


def mel_path(results, track: str) -> Path:
    """``<results>/musicnn_mels/<label>/<track>.h5`` of a track id ``label/track``."""
    return Path(results) / "musicnn_mels" / f"{track}.h5"


def write_mel_hdf5(path, mel: np.ndarray, duration_s: float, padded: bool, **attrs) -> None:
    """Write a track's network log-mel to a checksummed HDF5 file (layout: module docstring).

    Parameters
    ----------
    path : str or Path
        Output ``.h5``; written under a temporary name and renamed.
    mel : np.ndarray, float32, shape (n_frames, 96)
        :func:`network_log_mel` of the track.
    duration_s : float
        Length of the audio, seconds.
    padded : bool
    **attrs
        ``track``, ``label``, ``source_path``, ``source_sha256``.
    """
    import h5py

    from divconq import __version__
    from divconq.shared.fileio import add_dataset, atomic_path, create_hdf5, set_attrs

    meta = {
        **MEL_ATTRS,
        "duration_s": float(duration_s),
        "padded": bool(padded),
        "divconq_version": __version__,
        "numpy_version": np.__version__,
        "h5py_version": h5py.__version__,
        **attrs,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, create_hdf5(tmp) as h5:
        add_dataset(h5, "log_mel", np.asarray(mel, dtype=np.float32))
        set_attrs(h5, meta)


def write_track_mel_file(audio, dst, track: str, source_sha256=None) -> None:
    """Decode a track's source audio and write its network log-mel HDF5: what ``divconq
    musicnn-mel`` and a log-mel batch (:mod:`divconq.data.batch`) do.

    Parameters
    ----------
    audio : str or Path
        The track's source audio (decoded at 16 kHz, mono).
    dst : str or Path
        The ``.h5`` to write (:func:`write_mel_hdf5`).
    track : str
        Track id ``label/stem``.
    source_sha256 : str, optional
        The audio file's SHA-256 when known (the inventory's); hashed here otherwise.
    """
    from divconq.data.audio import load
    from divconq.data.fingerprint import source_attrs

    provenance = source_attrs(audio, source_sha256)
    y = load(audio, sr=musicnn.SAMPLE_RATE)
    mel, padded = network_log_mel(y)
    label = track.split("/", 1)[0]
    write_mel_hdf5(
        dst,
        mel,
        duration_s=len(y) / musicnn.SAMPLE_RATE,
        padded=padded,
        track=track,
        label=label,
        **provenance,
    )


def read_mel_patches(path, params: EmbeddingParams, all_windows: bool = True):
    """Read and verify a file of :func:`write_mel_hdf5` and cut it into patches.

    Parameters
    ----------
    path : str or Path
    params : EmbeddingParams
        The patch hops (:func:`mel_patches`).
    all_windows : bool
        False: only the training patches (``is_snippet``).

    Returns
    -------
    patches : np.ndarray, float32, shape (n_patches, 187, 96)
    start_s : np.ndarray, float64, shape (n_patches,)
    is_snippet : np.ndarray, bool, shape (n_patches,)

    Raises
    ------
    divconq.shared.errors.DamagedFileError
        If the file is truncated, fails a checksum or holds NaN or infinity.
    ValueError
        If it is no log-mel of the musicnn front end (another front end's settings).
    """
    from divconq.shared.fileio import check_finite, open_hdf5, read_attrs

    with open_hdf5(path) as h5:
        attrs = read_attrs(h5.attrs)
        mel = h5["log_mel"][()]
    diff = [k for k, v in MEL_ATTRS.items() if attrs.get(k) != v]
    if diff or mel.ndim != 2 or mel.shape[1] != musicnn.N_MELS:
        raise ValueError(
            f"{path}: not a log-mel of the musicnn front end ({MEL_ATTRS}); rebuild it"
        )
    check_finite(path, "log_mel", mel)
    patches, starts, is_snippet = mel_patches(mel, params)
    if not all_windows:
        keep = is_snippet
        patches, starts, is_snippet = patches[keep], starts[keep], is_snippet[keep]
    return patches, starts.astype(np.float64) / FRAME_RATE, is_snippet


def n_mel_patches(n_frames: int, params: EmbeddingParams, all_windows: bool = True) -> int:
    """How many patches (or training patches) :func:`read_mel_patches` cuts from
    ``n_frames`` frames."""
    n = len(window_frames(n_frames, params.hop_s))
    return n if all_windows else -(-n // params.train_step)
