"""Log-mel spectrograms in numpy alone: the STFT, the mel filterbank and the dB scale.

Reproduces ``librosa.power_to_db(librosa.feature.melspectrogram(y=segment, sr=sr,
n_fft=n_fft, hop_length=hop_length, n_mels=n_mels))`` applied to each segment separately,
batched over all segments. librosa pulls in scipy and numba, which cost a per-track job more
than the features themselves; ``tests/test_features.py`` checks the equality.
:mod:`divconq.data.features` cuts a track into segments and calls :func:`melspectrogram_db`;
:func:`melspectrogram_power` is the mel power of a whole signal (the front end of the
pretrained networks of :mod:`divconq.models.musicnn`). Both share one blocked STFT.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from divconq.data.features import FeatureParams

# librosa's power_to_db defaults: ref=1.0, amin=1e-10.
_AMIN = 1e-10
# STFT frames transformed at once: ~1 MB of float64 frames, small enough for the cache.
_BLOCK = 65
# Groups of consecutive mel bands multiplied with only the FFT bins they cover.
_BAND_GROUPS = 8


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


def _mel_power_into(padded: np.ndarray, n_fft: int, hop: int, bands: tuple, out: np.ndarray):
    """Mel power of the frames of one padded signal, written into ``out``.

    Parameters
    ----------
    padded : np.ndarray, float32, shape (n_samples + 2 * (n_fft // 2),)
        The signal between ``n_fft // 2`` zeros on either side (centered frames).
    n_fft, hop : int
        STFT size and hop, samples.
    bands : tuple
        :func:`_mel_bands` of the filterbank.
    out : np.ndarray, float32, shape (n_frames, n_mels)
        Receives the mel power; ``n_frames = 1 + (len(padded) - n_fft) // hop``.
    """
    n_frames = out.shape[0]
    window = _hann(n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    # Work buffers reused for every block: windowed frames and their power spectrum.
    windowed = np.empty((min(_BLOCK, n_frames), n_fft))
    power = np.empty((min(_BLOCK, n_frames), n_fft // 2 + 1), dtype=np.float32)
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
        block = out[b : b + m]
        for first_band, end_band, first_bin, end_bin, weights in bands:
            np.matmul(power[:m, first_bin:end_bin], weights, out=block[:, first_band:end_band])


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
    n_frames = 1 + segments.shape[1] // hop
    mel = np.empty((segments.shape[0], n_frames, params.n_mels), dtype=np.float32)
    # Centered frames with zero padding (librosa's center=True, pad_mode="constant"):
    # each segment is copied between n_fft // 2 zeros on either side.
    padded = np.zeros(segments.shape[1] + 2 * (n_fft // 2), dtype=np.float32)
    for i, segment in enumerate(segments):
        padded[n_fft // 2 : n_fft // 2 + len(segment)] = segment
        _mel_power_into(padded, n_fft, hop, bands, mel[i])
    return _power_to_db(mel.transpose(0, 2, 1), params.top_db)


def melspectrogram_power(
    y: np.ndarray, sr: int, n_fft: int, hop_length: int, n_mels: int
) -> np.ndarray:
    """Power mel spectrogram of a whole signal, as ``librosa.feature.melspectrogram``.

    librosa's defaults otherwise: periodic Hann window, centered frames with zero
    padding (``pad_mode="constant"``, librosa >= 0.10), power 2, Slaney mel filters
    from 0 Hz to ``sr / 2``.

    Parameters
    ----------
    y : np.ndarray, float32, shape (n_samples,)
        Mono audio at ``sr``.
    sr : int
        Sample rate, Hz.
    n_fft, hop_length : int
        STFT size and hop, samples.
    n_mels : int
        Number of mel bands.

    Returns
    -------
    np.ndarray, float32, shape (n_mels, 1 + n_samples // hop_length)
        Mel power (squared magnitude, no dB).
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"melspectrogram_power needs a mono signal, not shape {y.shape}")
    bands = _mel_bands(sr, n_fft, n_mels, 0.0, None)
    padded = np.zeros(len(y) + 2 * (n_fft // 2), dtype=np.float32)
    padded[n_fft // 2 : n_fft // 2 + len(y)] = y
    mel = np.empty((1 + len(y) // hop_length, n_mels), dtype=np.float32)
    _mel_power_into(padded, n_fft, hop_length, bands, mel)
    return mel.T
