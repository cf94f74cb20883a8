"""Log-mel features of snippets, windows and whole clips.

This module is the single code path that turns audio into model inputs, for
training, evaluation and prediction alike. It reproduces
``librosa.power_to_db(librosa.feature.melspectrogram(y=snippet, sr=sr,
n_fft=n_fft, hop_length=hop_length, n_mels=n_mels))`` applied to each 3-s
snippet separately, but in numpy alone (librosa pulls in scipy and numba, which
cost a per-track job more than the features themselves) and batched over all
windows of a track. ``tests/test_features.py`` checks the equality.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import asdict, dataclass, fields

import numpy as np

# librosa's power_to_db defaults: ref=1.0, amin=1e-10.
_AMIN = 1e-10
# STFT frames transformed at once: ~1 MB of float64 frames, small enough for the cache.
_BLOCK = 65
# Groups of consecutive mel bands multiplied with only the FFT bins they cover.
_BAND_GROUPS = 8


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
        divconq.configcheck.ConfigError
            For a key that is not a field (``n_mel`` for ``n_mels``), naming the
            closest field.
        """
        from divconq.configcheck import reject_unknown

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


def _hz_to_mel(freq):
    # Slaney's auditory-toolbox scale, librosa's default (htk=False).
    freq = np.asanyarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = freq / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(
        freq >= min_log_hz,
        min_log_mel + np.log(np.maximum(freq, min_log_hz) / min_log_hz) / logstep,
        mels,
    )


def _mel_to_hz(mels):
    mels = np.asanyarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), freqs)


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax=None) -> np.ndarray:
    """Slaney-normalized triangular mel filters, as ``librosa.filters.mel``'s defaults.

    Parameters
    ----------
    sr : int
        Sample rate, Hz.
    n_fft : int
        FFT size, samples.
    n_mels : int
        Number of bands.
    fmin, fmax : float
        Lowest and highest edge, Hz (``fmax=None``: ``sr / 2``).

    Returns
    -------
    np.ndarray, float32, shape (n_mels, 1 + n_fft // 2)
    """
    if fmax is None:
        fmax = sr / 2.0
    fftfreqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, None]
    return weights.astype(np.float32)


def _hann(n_fft: int) -> np.ndarray:
    # Periodic Hann, as scipy.signal.get_window("hann", n_fft, fftbins=True); float64
    # so that the windowed frames go to the faster float64 FFT.
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)


def _power_to_db(mel_power: np.ndarray, top_db) -> np.ndarray:
    """dB re 1.0 with the floor ``top_db`` below each item's own maximum.

    ``mel_power`` has shape (n_items, n_mels, n_frames); the floor is taken per item,
    as calling ``librosa.power_to_db`` on each snippet separately would.
    """
    log_spec = 10.0 * np.log10(np.maximum(_AMIN, mel_power))
    if top_db is not None:
        floor = log_spec.max(axis=(1, 2), keepdims=True) - top_db
        log_spec = np.maximum(log_spec, floor)
    return log_spec.astype(np.float32, copy=False)


@functools.lru_cache(maxsize=8)
def _mel_bands(sr: int, n_fft: int, n_mels: int, fmin: float, fmax) -> tuple:
    """The mel filterbank cut into :data:`_BAND_GROUPS` groups of consecutive bands.

    A band weighs a few FFT bins only (each bin falls in at most two triangles),
    so each group is multiplied with just the bins its bands cover: ~13 % of the
    dense product's work at the default parameters, the same sums (the bins left
    out have weight 0) up to float32 rounding.

    Returns
    -------
    tuple of (first_band, end_band, first_bin, end_bin, weights)
        ``weights``: float32, shape (end_bin - first_bin, end_band - first_band).
    """
    fb = mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    edges = np.linspace(0, n_mels, min(_BAND_GROUPS, n_mels) + 1).round().astype(int)
    groups = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        bins = np.flatnonzero((fb[a:b] > 0).any(axis=0))
        lo, hi = (int(bins[0]), int(bins[-1]) + 1) if len(bins) else (0, 0)
        groups.append((int(a), int(b), lo, hi, np.ascontiguousarray(fb[a:b, lo:hi].T)))
    return tuple(groups)


def melspectrogram_db(segments: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Log-mel spectrograms of equal-length segments, each framed on its own.

    Parameters
    ----------
    segments : np.ndarray, float32, shape (n_items, n_samples)
        Audio at ``params.sample_rate``.
    params : FeatureParams

    Returns
    -------
    np.ndarray, float32, shape (n_items, n_mels, 1 + n_samples // hop_length)
        Power mel spectrogram in dB (re 1.0, floored at ``top_db`` below each item's max).
    """
    segments = np.asarray(segments, dtype=np.float32)
    n_fft, hop = params.n_fft, params.hop_length
    bands = _mel_bands(params.sample_rate, n_fft, params.n_mels, params.fmin, params.fmax)
    window = _hann(n_fft)
    n_frames = 1 + segments.shape[1] // hop
    mel = np.empty((segments.shape[0], n_frames, params.n_mels), dtype=np.float32)
    # Work buffers reused for every block: windowed frames and their power spectrum.
    windowed = np.empty((min(_BLOCK, n_frames), n_fft))
    power = np.empty((min(_BLOCK, n_frames), n_fft // 2 + 1), dtype=np.float32)
    # Centered frames with zero padding (librosa's center=True, pad_mode="constant"):
    # each segment is copied between n_fft // 2 zeros on either side.
    padded = np.zeros(segments.shape[1] + 2 * (n_fft // 2), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    for i, segment in enumerate(segments):
        padded[n_fft // 2 : n_fft // 2 + len(segment)] = segment
        # Blocks of frames keep the FFT's working set in cache and memory bounded.
        for b in range(0, n_frames, _BLOCK):
            m = min(_BLOCK, n_frames - b)
            # numpy's float64 FFT is ~3x faster than its float32 one (and at
            # least as exact), so the frames are transformed in float64.
            np.multiply(frames[b : b + m], window, out=windowed[:m])
            spectrum = np.fft.rfft(windowed[:m], axis=-1).view(np.float64)
            # |X|^2 = re^2 + im^2 in float64, rounded once to float32.
            np.multiply(spectrum, spectrum, out=spectrum)
            np.add(spectrum[:, 0::2], spectrum[:, 1::2], out=power[:m], casting="same_kind")
            out = mel[i, b : b + m]
            for first_band, end_band, first_bin, end_bin, weights in bands:
                np.matmul(power[:m, first_bin:end_bin], weights, out=out[:, first_band:end_band])
    return _power_to_db(mel.transpose(0, 2, 1), params.top_db)


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
        Mono audio at ``params.sample_rate`` (see :func:`divconq.audio.load`).
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
    versions and the caller's ``attrs`` (``track``, ``label``, ``source_path``).
    Data and metadata carry checksums (:func:`divconq.fileio.create_hdf5`), which
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
    from divconq.fileio import add_dataset, atomic_path, create_hdf5, set_attrs

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


def read_params(attrs) -> FeatureParams:
    """Rebuild the :class:`FeatureParams` stored in an HDF5 file's attributes."""
    from divconq.fileio import read_attrs

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
    divconq.errors.DamagedFileError
        If the file is truncated, fails a checksum, lacks a dataset or holds NaN
        or infinite features; the message names the file and how to rebuild it.
    """
    from divconq.fileio import check_finite, open_hdf5, read_attrs

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
    divconq.errors.DamagedFileError
        As :func:`read_hdf5`.
    """
    from divconq.fileio import check_finite, open_hdf5, read_attrs

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
