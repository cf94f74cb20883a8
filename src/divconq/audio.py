"""Audio I/O: probing and decoding to float arrays.

Decoding goes through libsndfile (``soundfile``), which reads WAV, AU, FLAC, Ogg
Vorbis/Opus and MP3; ffmpeg (from the ``imageio-ffmpeg`` wheel when none is on
``PATH``) is the fallback for files libsndfile refuses. MP3 encoding lives in
:mod:`divconq.mp3`. Nothing here imports
scipy, librosa or numba: per-track jobs import this module, and those imports
cost more than the work itself.
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator
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
    "read_blocks",
    "stream",
]

AUDIO_EXTENSIONS = (".wav", ".mp3", ".au", ".flac", ".ogg", ".opus")
#: Frames per read (2**18: ~6 s at 44.1 kHz). Fixed: see :func:`read_blocks`.
BLOCK_FRAMES = 1 << 18


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


def _blocks_soundfile(path: Path):
    import soundfile as sf

    f = sf.SoundFile(str(path))

    def blocks():
        with f:
            while True:
                # always_2d keeps mono and stereo on one code path: (n, channels)
                block = f.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
                if not len(block):
                    return
                yield block

    return int(f.samplerate), int(f.channels), blocks()


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


def _blocks_ffmpeg(path: Path):
    data, sr = _decode_ffmpeg(path)
    blocks = (data[i : i + BLOCK_FRAMES] for i in range(0, len(data), BLOCK_FRAMES))
    return sr, data.shape[1], blocks


def _checked(path: Path, blocks):
    try:
        for block in blocks:
            if not np.all(np.isfinite(block)):
                raise AudioError(path, "decoded samples contain NaN or infinity")
            yield block
    except AudioError:
        raise
    except Exception as err:  # a file that goes bad after its first block
        raise AudioError(path, f"cannot decode: {err}") from None


def read_blocks(path) -> tuple[int, int, Iterator[np.ndarray]]:
    """Open a file for decoding, block by block, at its native rate.

    Every decode in divconq goes through here, in reads of :data:`BLOCK_FRAMES`
    frames: libsndfile's MP3 decoder rounds some samples differently depending on
    the size of each read, so one fixed read size is what makes a streamed decode
    (``divconq predict``) and a whole-file load (the feature jobs) give the very
    same samples.

    Parameters
    ----------
    path : str or Path
        Audio file.

    Returns
    -------
    sample_rate : int
        Native rate in Hz.
    channels : int
    blocks : iterator of np.ndarray, float32, shape (n, channels)
        Samples in [-1, 1]; the first block is not empty. Iterating raises
        :class:`AudioError` if the file goes bad further on.

    Raises
    ------
    AudioError
        If neither libsndfile nor ffmpeg can decode the file, or it holds no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "no such file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        sr, channels, blocks = _blocks_soundfile(path)
        first = next(blocks, None)
    except Exception as sf_error:  # libsndfile's errors are plain RuntimeErrors
        try:
            sr, channels, blocks = _blocks_ffmpeg(path)
            first = next(blocks, None)
        except Exception:
            raise AudioError(path, f"cannot decode: {sf_error}") from None
    if first is None:
        raise AudioError(path, "no audio samples (0 frames)")
    return sr, channels, _checked(path, itertools.chain([first], blocks))


def decode(path) -> tuple[np.ndarray, int]:
    """Decode a whole file at its native rate: :func:`read_blocks`' blocks put together.

    Returns
    -------
    data : np.ndarray, float32, shape (n_samples, n_channels)
        Samples in [-1, 1].
    sample_rate : int
        Native rate in Hz.
    """
    sr, _, blocks = read_blocks(path)
    return np.concatenate(list(blocks)), sr


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
    sr, channels, blocks = read_blocks(path)
    n_samples = sum(len(block) for block in blocks)
    return AudioInfo(
        duration_s=n_samples / sr,
        sample_rate=sr,
        channels=channels,
        format=Path(path).suffix.lower().lstrip("."),
    )


def stream(path, sr: int = 22050, mono: bool = True) -> Iterator[np.ndarray]:
    """Decode, mix down and resample a file piece by piece.

    The pieces put together are exactly :func:`load`'s array (soxr's streaming
    resampler gives the same samples as its one-shot call), so a consumer can
    start on the beginning of a long file while the rest is being decoded.

    Parameters
    ----------
    path : str or Path
        Audio file in any format :func:`decode` reads.
    sr : int
        Target sample rate in Hz.
    mono : bool
        Average the channels (as ``librosa.to_mono`` does).

    Yields
    ------
    np.ndarray, float32, shape (n,) if mono else (n, n_channels)
        Consecutive pieces, about :data:`BLOCK_FRAMES` native frames each; some
        may be empty.

    Raises
    ------
    AudioError
        If the file cannot be decoded (at the first piece, or later for a file
        that goes bad part way).
    """
    native_sr, channels, blocks = read_blocks(path)
    resampler = None
    if native_sr != sr:
        import soxr

        # quality "HQ": soxr.resample's, librosa's default ``soxr_hq``.
        resampler = soxr.ResampleStream(
            native_sr, sr, 1 if mono else channels, dtype="float32", quality="HQ"
        )
    for block in blocks:
        if mono:
            # One channel is taken as it is: the mean of one value is that value.
            block = block[:, 0] if channels == 1 else block.mean(axis=1, dtype=np.float32)
        if resampler is not None:
            block = resampler.resample_chunk(np.ascontiguousarray(block))
        yield block
    if resampler is not None:
        empty = np.zeros((0,) if mono else (0, channels), dtype=np.float32)
        yield resampler.resample_chunk(empty, last=True)


def load(path, sr: int = 22050, mono: bool = True) -> np.ndarray:
    """Load audio as float32 at a given rate, mixed down to mono: :func:`stream`'s
    pieces put together (same parameters).

    Returns
    -------
    np.ndarray, float32, shape (n_samples,) if mono else (n_samples, n_channels)
    """
    return np.concatenate(list(stream(path, sr=sr, mono=mono)))
