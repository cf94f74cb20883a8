"""Audio I/O: probing and decoding to float arrays.

Decoding goes through libsndfile (``soundfile``), which reads WAV, AU, FLAC, Ogg
Vorbis/Opus and MP3; ffmpeg (from the ``imageio-ffmpeg`` wheel when none is on
``PATH``) is the fallback for files libsndfile refuses. MP3 encoding lives in
:mod:`divconq.data.mp3`. Nothing here imports
scipy, librosa or numba: per-track jobs import this module, and those imports
cost more than the work itself.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from divconq.data.ffmpeg import ffmpeg_exe
from divconq.shared.errors import AudioError

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioError",
    "AudioInfo",
    "decode",
    "decoder_chatter_to_log",
    "find_audio_files",
    "load",
    "probe",
    "read_blocks",
    "stream",
]

log = logging.getLogger(__name__)

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


def undecodable(path) -> str:
    """The reason given for a file no decoder can read, in the user's terms.

    ``"not a decodable MP3 (truncated, corrupt or not audio)"``; the decoders'
    own words (libsndfile's "File does not exist or is not a regular file
    (possibly a pipe?)" for a garbled MP3) go to the log, as ``AudioError.detail``.
    """
    kind = Path(path).suffix.lstrip(".").upper() or "audio"
    return f"not a decodable {kind} file (truncated, corrupt or not audio)"


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
    """Decode with ffmpeg at the native rate and channel count.

    ffmpeg writes the first audio stream as a float WAV to a pipe; soundfile reads
    the rate and channel count from that WAV's header (5.1 audio stays 6 channels).

    Raises
    ------
    ValueError
        With ffmpeg's last error line, if ffmpeg cannot decode the file.
    """
    import io

    import soundfile as sf

    out = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0"]
        + ["-f", "wav", "-c:a", "pcm_f32le", "-"],
        capture_output=True,
    )
    if out.returncode != 0 or not out.stdout:
        lines = out.stderr.decode(errors="replace").strip().splitlines() or ["no audio stream"]
        raise ValueError(f"ffmpeg: {lines[-1]}")
    data, sr = sf.read(io.BytesIO(out.stdout), dtype="float32", always_2d=True)
    return data, int(sr)


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
        log.debug("%s: %s", path, err)
        raise AudioError(path, undecodable(path), str(err)) from None


#: Lines libmpg123 (inside libsndfile) prints straight to file descriptor 2 while
#: it resyncs over a damaged MP3 frame: noise to a user, kept for the debug log.
_DECODER_CHATTER = re.compile(r"(Note: |Warning: |\[src/libmpg123/|\[.*mpg123.*\] )")


def _writes_fd2(stream) -> bool:
    """Whether ``stream`` writes to file descriptor 2."""
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return False


@contextlib.contextmanager
def decoder_chatter_to_log():
    """Keep the MP3 decoder's own messages off stderr while the block runs.

    libmpg123 writes "Note: Illegal Audio-MPEG-Header ... Trying to resync" to file
    descriptor 2 itself, below Python. Here fd 2 becomes a pipe whose lines go
    back to the real stderr, except the decoder's, which are logged at DEBUG.
    ``sys.stderr`` writes straight to the real stderr meanwhile. For a whole
    command (``divconq predict``, the inventory), not per file: it is process-wide.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    real = os.fdopen(os.dup(saved), "w", buffering=1, errors="replace")
    old_stderr = sys.stderr
    if _writes_fd2(sys.stderr):  # not when stderr is captured (tests, a caller's buffer)
        sys.stderr = real

    def pump():
        with os.fdopen(read_fd, "rb") as pipe:
            for raw in pipe:
                line = raw.decode(errors="replace")
                if _DECODER_CHATTER.match(line):
                    log.debug("decoder: %s", line.rstrip())
                else:
                    real.write(line)
                    real.flush()

    thread = threading.Thread(target=pump, name="decoder-chatter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr = old_stderr
        os.dup2(saved, 2)  # closes the pipe's last writer: the pump reads to the end
        os.close(saved)
        thread.join(timeout=5)
        real.close()


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
        except Exception as ff_error:
            detail = f"libsndfile: {sf_error}; {ff_error}"
            log.debug("%s: %s", path, detail)
            raise AudioError(path, undecodable(path), detail) from None
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
