"""Log-mel features of snippets, windows and whole clips.

This module is the single code path that turns audio into model inputs, for
training, evaluation and prediction alike. It reproduces
``librosa.power_to_db(librosa.feature.melspectrogram(y=snippet, sr=sr,
n_fft=n_fft, hop_length=hop_length, n_mels=n_mels))`` applied to each 3-s
snippet separately, but in numpy alone (librosa pulls in scipy and numba, which
cost a per-track job more than the features themselves) and batched over all
windows of a track. ``tests/test_features.py`` checks the equality. The STFT, mel
filterbank and dB math are in :mod:`divconq.shared.melspec`; this module cuts the track into
windows, picks the training snippets and reads and writes the per-track HDF5 files.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, fields

import numpy as np

from divconq.shared.melspec import melspectrogram_db

#: Snakemake does not rerun the per-track jobs after the inventory checkpoint when
#: their parameters change, so spectrograms built while no clip experiment was enabled
#: stay without the clip until they are rebuilt.
CLIP_HINT = (
    "The spectrograms were built while no experiment had input: clip; rebuild them with "
    "`snakemake --cores all --forcerun spectrogram` (the MP3s are kept)."
)


@dataclass(frozen=True)
class FeatureParams:
    """Every parameter that shapes a model input; stored with each HDF5 file and model.

    Attributes
    ----------
    sample_rate : int
        Rate the audio is resampled to, Hz.
    n_fft, hop_length : int
        STFT size and hop, samples. Hann window, centered frames, zero padding.
    n_mels : int
        Mel bands (Slaney scale and normalization, as librosa's default).
    fmin, fmax : float or None
        Mel filterbank range, Hz; ``fmax=None`` means ``sample_rate / 2``.
    top_db : float or None
        Dynamic range kept per snippet below its maximum, dB.
    snippet_s : float
        Length of a snippet or window, seconds.
    snippet_hop_s : float
        Step between training snippets, seconds (3 s with 1 s overlap: 2 s).
    window_hop_s : float
        Step between evaluation windows, seconds (3 s with 2 s overlap: 1 s).
        ``snippet_hop_s`` must be a whole multiple of it, so that training
        snippets are a subset of the windows.
    max_snippets : int
        Most training snippets per track.
    snippet_selection : str
        ``"first"`` or ``"random"`` (seeded by ``selection_seed`` and the track id).
    selection_seed : int
        Seed for ``snippet_selection="random"``.
    clip_s : float
        Length of the whole-clip input (the 30-s baseline), seconds.
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 100
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float | None = 80.0
    snippet_s: float = 3.0
    snippet_hop_s: float = 2.0
    window_hop_s: float = 1.0
    max_snippets: int = 14
    snippet_selection: str = "first"
    selection_seed: int = 0
    clip_s: float = 30.0

    def __post_init__(self):
        ratio = self.snippet_hop_s / self.window_hop_s
        if self.window_hop_s <= 0 or abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise ValueError(
                f"snippet_hop_s ({self.snippet_hop_s}) must be a whole multiple of "
                f"window_hop_s ({self.window_hop_s})"
            )
        if self.snippet_selection not in ("first", "random"):
            raise ValueError(
                f"snippet_selection must be 'first' or 'random', not {self.snippet_selection!r}"
            )
        if self.snippet_samples < self.n_fft // 2 + 1:
            raise ValueError("snippet_s is shorter than half an FFT frame")

    @property
    def snippet_samples(self) -> int:
        """Samples per snippet (66150 for 3 s at 22050 Hz)."""
        return int(round(self.snippet_s * self.sample_rate))

    @property
    def window_hop_samples(self) -> int:
        """Samples between window starts (22050 for 1 s)."""
        return int(round(self.window_hop_s * self.sample_rate))

    @property
    def n_frames(self) -> int:
        """STFT frames per snippet with centered frames (130 for the defaults)."""
        return 1 + self.snippet_samples // self.hop_length

    @property
    def clip_samples(self) -> int:
        """Samples in the whole-clip input."""
        return int(round(self.clip_s * self.sample_rate))

    @property
    def n_clip_frames(self) -> int:
        """STFT frames of the whole-clip input (1292 for 30 s)."""
        return 1 + self.clip_samples // self.hop_length

    def to_dict(self) -> dict:
        """Plain dict, for JSON and HDF5 attributes."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FeatureParams:
        """Build from a dict (e.g. the config's ``features`` section).

        Raises
        ------
        divconq.shared.config.ConfigError
            For a key that is not a field (``n_mel`` for ``n_mels``), naming the
            closest field.
        """
        from divconq.shared.config import reject_unknown

        reject_unknown(d, [f.name for f in fields(cls)], "features")
        return cls(**d)


def window_starts(n_samples: int, params: FeatureParams) -> np.ndarray:
    """Start samples of every window over a track.

    Windows are ``snippet_s`` long every ``window_hop_s``, all inside the track;
    a track shorter than one window gets one window at 0 (padded with silence).

    Parameters
    ----------
    n_samples : int
        Track length in samples at ``params.sample_rate``.
    params : FeatureParams

    Returns
    -------
    np.ndarray, int64, shape (n_windows,)
        A 30-s track gives 28 windows (0, 1, ..., 27 s).
    """
    n = max(0, (n_samples - params.snippet_samples) // params.window_hop_samples) + 1
    return np.arange(n, dtype=np.int64) * params.window_hop_samples


def snippet_mask(n_windows: int, params: FeatureParams, track_id: str = "") -> np.ndarray:
    """Which windows are training snippets.

    Candidates are every ``snippet_hop_s / window_hop_s``-th window (every other
    one by default: 3-s snippets with 1 s overlap). At most ``max_snippets`` are
    kept: the first ones, or a random choice seeded by ``selection_seed`` and
    ``track_id`` (a stable CRC, not Python's salted ``hash``).

    Parameters
    ----------
    n_windows : int
        Windows of the track (see :func:`window_starts`).
    params : FeatureParams
    track_id : str
        Track id, used only for ``snippet_selection="random"``.

    Returns
    -------
    np.ndarray, bool, shape (n_windows,)
        A 30-s track gives 14 snippets at 0, 2, ..., 26 s.
    """
    step = int(round(params.snippet_hop_s / params.window_hop_s))
    candidates = np.arange(0, n_windows, step)
    if len(candidates) > params.max_snippets:
        if params.snippet_selection == "random":
            seed = [params.selection_seed, zlib.crc32(track_id.encode("utf-8"))]
            rng = np.random.default_rng(seed)
            candidates = np.sort(rng.choice(candidates, params.max_snippets, replace=False))
        else:
            candidates = candidates[: params.max_snippets]
    mask = np.zeros(n_windows, dtype=bool)
    mask[candidates] = True
    return mask


def frame_windows(y: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Cut equal-length windows out of a signal, zero-padding past its end.

    Parameters
    ----------
    y : np.ndarray, float32, shape (n_samples,)
    starts : np.ndarray, int, shape (n_windows,)
    length : int
        Window length, samples.

    Returns
    -------
    np.ndarray, float32, shape (n_windows, length)
        A read-only view into ``y`` when the starts are evenly spaced (as
        :func:`window_starts` gives them), else a copy.
    """
    y = np.asarray(y, dtype=np.float32)
    needed = int(starts.max()) + length if len(starts) else length
    if len(y) < needed:
        y = np.pad(y, (0, needed - len(y)))
    step = int(starts[1] - starts[0]) if len(starts) > 1 else 1
    even = step > 0 and np.array_equal(starts, starts[0] + step * np.arange(len(starts)))
    if len(starts) and even:
        # A view: the 28 windows of a 30-s track would otherwise be 7 MB of copies.
        return np.lib.stride_tricks.sliding_window_view(y, length)[starts[0] :: step][: len(starts)]
    return np.stack([y[s : s + length] for s in starts])


@dataclass
class TrackFeatures:
    """Features of one track.

    Attributes
    ----------
    mel_db : np.ndarray, float32, shape (n_windows, n_mels, n_frames)
        Every window (3 s, every ``window_hop_s``).
    start_s : np.ndarray, float64, shape (n_windows,)
        Window start times, seconds.
    is_snippet : np.ndarray, bool, shape (n_windows,)
        Training snippets among the windows.
    duration_s : float
        Track length at ``sample_rate``, seconds.
    padded : bool
        The track was shorter than one window and was padded with silence.
    clip_mel_db : np.ndarray or None, float32, shape (n_mels, n_clip_frames)
        The first ``clip_s`` seconds as one input (padded when shorter).
    """

    mel_db: np.ndarray
    start_s: np.ndarray
    is_snippet: np.ndarray
    duration_s: float
    padded: bool
    clip_mel_db: np.ndarray | None = None


def track_features(
    y: np.ndarray, params: FeatureParams, track_id: str = "", clip: bool = True
) -> TrackFeatures:
    """All features of one track: every window, the training-snippet mask and the clip.

    Parameters
    ----------
    y : np.ndarray, float32, shape (n_samples,)
        Mono audio at ``params.sample_rate`` (see :func:`divconq.data.audio.load`).
    params : FeatureParams
    track_id : str
        Seeds a random snippet selection.
    clip : bool
        Also compute the whole-clip input (skipped at prediction time for snippet models).

    Returns
    -------
    TrackFeatures
    """
    starts = window_starts(len(y), params)
    windows = frame_windows(y, starts, params.snippet_samples)
    mel_db = melspectrogram_db(windows, params)
    clip_mel = None
    if clip:
        clip_audio = frame_windows(y, np.array([0]), params.clip_samples)
        clip_mel = melspectrogram_db(clip_audio, params)[0]
    return TrackFeatures(
        mel_db=mel_db,
        start_s=starts / params.sample_rate,
        is_snippet=snippet_mask(len(starts), params, track_id),
        duration_s=len(y) / params.sample_rate,
        padded=len(y) < params.snippet_samples,
        clip_mel_db=clip_mel,
    )


def write_hdf5(path, features: TrackFeatures, params: FeatureParams, **attrs) -> None:
    """Write one track's features to a self-describing, checksummed HDF5 file.

    Layout: datasets ``mel_db`` (n_windows, n_mels, n_frames), ``start_s``,
    ``is_snippet`` and ``clip_mel_db`` (n_mels, n_clip_frames); attributes hold
    ``duration_s``, ``padded``, every :class:`FeatureParams` field, library
    versions and the caller's ``attrs`` (``track``, ``label``, ``source_path``, ``source_sha256``).
    Data and metadata carry checksums (:func:`divconq.shared.fileio.create_hdf5`), which
    :func:`read_hdf5` and :func:`summarize_hdf5` verify. The file is written
    under a temporary name and renamed, so a killed job or a full disk never
    leaves a truncated file that looks complete.

    Parameters
    ----------
    path : str or Path
        Output ``.h5`` file; parent folders are created.
    features : TrackFeatures
    params : FeatureParams
    **attrs
        Extra string or number attributes.
    """
    import h5py
    import soundfile

    from divconq import __version__
    from divconq.shared.fileio import add_dataset, atomic_path, create_hdf5, set_attrs

    # HDF5 has no None: "none" marks the library default (fmax = sr/2, no top_db).
    meta = {k: "none" if v is None else v for k, v in params.to_dict().items()}
    meta |= {
        "duration_s": features.duration_s,
        "padded": features.padded,
        "divconq_version": __version__,
        "numpy_version": np.__version__,
        "h5py_version": h5py.__version__,
        "libsndfile_version": soundfile.__libsndfile_version__,
        **attrs,
    }
    with atomic_path(path) as tmp, create_hdf5(tmp) as h5:
        add_dataset(h5, "mel_db", features.mel_db)
        add_dataset(h5, "start_s", features.start_s)
        add_dataset(h5, "is_snippet", features.is_snippet)
        if features.clip_mel_db is not None:
            add_dataset(h5, "clip_mel_db", features.clip_mel_db)
        set_attrs(h5, meta)


def write_track_file(
    audio, dst, params: FeatureParams, track: str, clip: bool, source, source_sha256=None, **attrs
):
    """Decode a track's audio (its MP3 in the workflow), compute its features and write
    its HDF5: what ``divconq features`` and a data batch (:mod:`divconq.data.batch`) do.

    Parameters
    ----------
    audio : str or Path
    dst : str or Path
        The ``.h5`` to write (:func:`write_hdf5`).
    params : FeatureParams
    track : str
        Track id ``label/stem``.
    clip : bool
        Also the whole-clip spectrogram.
    source : str or Path
        The original audio file, stored as provenance with its SHA-256
        (:func:`divconq.data.fingerprint.source_attrs`).
    source_sha256 : str, optional
        The source's SHA-256 when known (the inventory's); hashed here otherwise.
    **attrs
        More attributes (the MP3 settings).
    """
    from divconq.data.audio import load
    from divconq.data.fingerprint import source_attrs

    provenance = source_attrs(source, source_sha256)
    y = load(audio, sr=params.sample_rate)
    feats = track_features(y, params, track_id=track, clip=clip)
    label = track.split("/", 1)[0]
    write_hdf5(dst, feats, params, track=track, label=label, **provenance, **attrs)


def read_params(attrs) -> FeatureParams:
    """Rebuild the :class:`FeatureParams` stored in an HDF5 file's attributes."""
    from divconq.shared.fileio import read_attrs

    attrs = read_attrs(attrs)
    d = {}
    for f in fields(FeatureParams):
        if f.name in attrs:
            value = attrs[f.name]
            d[f.name] = None if value == "none" else value
    return FeatureParams(**d)


def read_hdf5(path, clip: bool = False) -> tuple[TrackFeatures, FeatureParams, dict]:
    """Read and verify a file written by :func:`write_hdf5`.

    Parameters
    ----------
    path : str or Path
    clip : bool
        Also read ``clip_mel_db``.

    Returns
    -------
    features : TrackFeatures
    params : FeatureParams
    attrs : dict
        All attributes as plain Python values.

    Raises
    ------
    divconq.shared.errors.DamagedFileError
        If the file is truncated, fails a checksum, lacks a dataset or holds NaN
        or infinite features; the message names the file and how to rebuild it.
    """
    from divconq.shared.fileio import check_finite, open_hdf5, read_attrs

    with open_hdf5(path) as h5:
        attrs = read_attrs(h5.attrs)
        features = TrackFeatures(
            mel_db=h5["mel_db"][()],
            start_s=h5["start_s"][()],
            is_snippet=h5["is_snippet"][()],
            duration_s=float(attrs["duration_s"]),
            padded=bool(attrs["padded"]),
            clip_mel_db=h5["clip_mel_db"][()] if clip and "clip_mel_db" in h5 else None,
        )
        params = read_params(attrs)
    for name in ("mel_db", "start_s", "clip_mel_db"):
        if getattr(features, name) is not None:
            check_finite(path, name, getattr(features, name))
    return features, params, attrs


def summarize_hdf5(path) -> dict:
    """Verify one track's HDF5 and count its windows and snippets.

    Every dataset is read, so every checksum is checked and every feature
    value checked finite (~2 MB per 30-s track): the split job calls this for
    each track, so a damaged file stops the run before training.

    Returns
    -------
    dict
        ``track``, ``n_windows``, ``n_snippets``, ``duration_s``.

    Raises
    ------
    divconq.shared.errors.DamagedFileError
        As :func:`read_hdf5`.
    """
    from divconq.shared.fileio import check_finite, open_hdf5, read_attrs

    with open_hdf5(path) as h5:
        attrs = read_attrs(h5.attrs)
        values = {name: h5[name][()] for name in h5}
        for name in ("mel_db", "start_s", "is_snippet"):
            if name not in values:
                raise KeyError(f"no dataset {name}")
        summary = {
            "track": str(attrs["track"]),
            "n_windows": int(values["mel_db"].shape[0]),
            "n_snippets": int(values["is_snippet"].sum()),
            "duration_s": float(attrs["duration_s"]),
        }
    for name, array in values.items():
        check_finite(path, name, array)
    return summary
