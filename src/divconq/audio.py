"""Audio I/O: probing, decoding to float arrays, and MP3 encoding.

Decoding goes through libsndfile (``soundfile``), which reads WAV, AU, FLAC, Ogg
Vorbis/Opus and MP3; ffmpeg (from the ``imageio-ffmpeg`` wheel when none is on
``PATH``) is the fallback for files libsndfile refuses. Nothing here imports
scipy, librosa or numba: per-track jobs import this module, and those imports
cost more than the work itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AUDIO_EXTENSIONS = (".wav", ".mp3", ".au", ".flac", ".ogg", ".opus")


class AudioError(Exception):
    """A file that cannot be used as audio; the message names the file and the reason."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


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


def ffmpeg_exe() -> str:
    """Path of an ffmpeg binary: the one on ``PATH``, else the ``imageio-ffmpeg`` one.

    Returns
    -------
    str
        Executable path.
    """
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


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


def _import_pydub():
    # pydub warns at import time when ffmpeg is not on PATH; we point it at
    # imageio-ffmpeg's binary right after, so the warning would only mislead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        from pydub import AudioSegment
    AudioSegment.converter = ffmpeg_exe()
    return AudioSegment


def to_mp3(src, dst, bitrate: str = "192k", quality: int = 7) -> None:
    """Convert an audio file to MP3 with pydub; an MP3 input is copied, not re-encoded.

    Parameters
    ----------
    src : str or Path
        Input audio file (any format :func:`decode` reads).
    dst : str or Path
        Output ``.mp3`` path; parent folders are created. Written to a temporary
        name first, so an interrupted job leaves no truncated MP3 behind.
    bitrate : str
        LAME bitrate, e.g. ``"192k"``.
    quality : int
        LAME algorithm quality, 0 (best) to 9 (fastest).

    Raises
    ------
    AudioError
        If the input cannot be decoded.
    """
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.part")
    if src.suffix.lower() == ".mp3":
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        return
    AudioSegment = _import_pydub()
    if src.suffix.lower() == ".wav":
        try:
            # pydub reads PCM WAV itself; that skips numpy and a decode pass.
            segment = AudioSegment.from_wav(str(src))
        except Exception:
            segment = None
    else:
        segment = None
    if segment is None:
        data, sr = decode(src)
        pcm = (np.clip(data, -1.0, 1.0) * 32767.0).astype("<i2")
        segment = AudioSegment(pcm.tobytes(), sample_width=2, frame_rate=sr, channels=data.shape[1])
    segment.export(
        str(tmp),
        format="mp3",
        bitrate=bitrate,
        parameters=["-compression_level", str(quality)],
    )
    os.replace(tmp, dst)
