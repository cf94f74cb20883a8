"""Audio I/O: probing and decoding to float arrays.

Decoding goes through libsndfile (``soundfile``), which reads WAV, AU, FLAC, Ogg
Vorbis/Opus and MP3; ffmpeg (from the ``imageio-ffmpeg`` wheel when none is on
``PATH``) is the fallback for files libsndfile refuses. MP3 encoding lives in
:mod:`divconq.mp3`. Nothing here imports
scipy, librosa or numba: per-track jobs import this module, and those imports
cost more than the work itself.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from divconq.errors import AudioError
from divconq.ffmpeg import ffmpeg_exe

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioError",
    "AudioInfo",
    "decode",
    "find_audio_files",
    "load",
    "probe",
    "resample",
]

AUDIO_EXTENSIONS = (".wav", ".mp3", ".au", ".flac", ".ogg", ".opus")


@dataclass(frozen=True)
class AudioInfo:
    """What a probe learned about a decodable audio file.

    Attributes
    ----------
    duration_s : float
        Decoded length in seconds.
    sample_rate : int
        Native sample rate in Hz.
    channels : int
        Number of channels.
    format : str
        Lower-case file extension without the dot.
    """

    duration_s: float
    sample_rate: int
    channels: int
    format: str


def find_audio_files(folder) -> list[Path]:
    """Every audio file under a folder, recursively, sorted; hidden files and folders skipped.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    list of Path
        Files with one of :data:`AUDIO_EXTENSIONS` (any case).
    """
    folder = Path(folder)
    return sorted(
        f
        for f in folder.rglob("*")
        if f.is_file()
        and f.suffix.lower() in AUDIO_EXTENSIONS
        and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    )


def _decode_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    # always_2d keeps mono and stereo on one code path: (n_samples, n_channels)
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data, int(sr)


def _decode_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    """Decode with ffmpeg at the native rate and channel count."""
    exe = ffmpeg_exe()
    # A first call learns rate and channels from ffmpeg's own stream report.
    probe = subprocess.run(
        [exe, "-nostdin", "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
    )
    sr, channels = None, None
    for line in probe.stderr.splitlines():
        if "Audio:" in line:
            parts = [p.strip() for p in line.split("Audio:", 1)[1].split(",")]
            for p in parts:
                if p.endswith(" Hz"):
                    sr = int(p.split()[0])
            layout = " ".join(parts)
            channels = 1 if "mono" in layout else 2
            break
    if sr is None:
        raise ValueError("ffmpeg found no audio stream")
    out = subprocess.run(
        [exe, "-nostdin", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", str(channels), "-"],
        capture_output=True,
    )
    if out.returncode != 0:
        raise ValueError(out.stderr.decode(errors="replace").strip().splitlines()[-1])
    data = np.frombuffer(out.stdout, dtype="<f4").reshape(-1, channels)
    return data, sr


def decode(path) -> tuple[np.ndarray, int]:
    """Decode a file at its native rate and channel count.

    Parameters
    ----------
    path : str or Path
        Audio file.

    Returns
    -------
    data : np.ndarray, float32, shape (n_samples, n_channels)
        Samples in [-1, 1].
    sample_rate : int
        Native rate in Hz.

    Raises
    ------
    AudioError
        If neither libsndfile nor ffmpeg can decode it, or it holds no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "no such file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        data, sr = _decode_soundfile(path)
    except Exception as sf_error:  # libsndfile's errors are plain RuntimeErrors
        try:
            data, sr = _decode_ffmpeg(path)
        except Exception:
            raise AudioError(path, f"cannot decode: {sf_error}") from None
    if data.shape[0] == 0:
        raise AudioError(path, "no audio samples (0 frames)")
    if not np.all(np.isfinite(data)):
        raise AudioError(path, "decoded samples contain NaN or infinity")
    return data, sr


def probe(path) -> AudioInfo:
    """Decode a file completely and describe it.

    A header-only check would accept truncated or garbled files (a common GTZAN
    copy ships such a ``jazz.00054.wav``), so the whole file is decoded.

    Parameters
    ----------
    path : str or Path
        Audio file.

    Returns
    -------
    AudioInfo

    Raises
    ------
    AudioError
        If the file is unusable; ``reason`` says why.
    """
    data, sr = decode(path)
    return AudioInfo(
        duration_s=data.shape[0] / sr,
        sample_rate=sr,
        channels=data.shape[1],
        format=Path(path).suffix.lower().lstrip("."),
    )


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample with soxr's high-quality filter (librosa's default ``soxr_hq``).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,) or (n_samples, n_channels)
    orig_sr, target_sr : int
        Rates in Hz.

    Returns
    -------
    np.ndarray, float32
    """
    if orig_sr == target_sr:
        return y
    import soxr

    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def load(path, sr: int = 22050, mono: bool = True) -> np.ndarray:
    """Load audio as float32 at a given rate, mixed down to mono.

    Parameters
    ----------
    path : str or Path
        Audio file in any format :func:`decode` reads.
    sr : int
        Target sample rate in Hz.
    mono : bool
        Average the channels (as ``librosa.to_mono`` does).

    Returns
    -------
    np.ndarray, float32, shape (n_samples,) if mono else (n_samples, n_channels)
    """
    data, native_sr = decode(path)
    if mono:
        data = data.mean(axis=1, dtype=np.float32)
    return resample(data, native_sr, sr)
