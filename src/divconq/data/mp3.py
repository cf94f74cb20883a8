"""MP3 encoding with pydub.

Kept apart from :mod:`divconq.data.audio` so the per-track MP3 job of a WAV input
imports neither numpy nor soundfile: pydub reads PCM WAV itself and hands the
encoding to ffmpeg.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from divconq.data.ffmpeg import ffmpeg_exe
from divconq.shared.fileio import atomic_path


def _audio_segment_class():
    # pydub warns at import time when ffmpeg is not on PATH; we point it at
    # imageio-ffmpeg's binary right after, so the warning would only mislead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        from pydub import AudioSegment
    AudioSegment.converter = ffmpeg_exe()
    return AudioSegment


def _read_segment(src: Path):
    AudioSegment = _audio_segment_class()
    if src.suffix.lower() == ".wav":
        try:
            # pydub may try ffprobe (absent from imageio-ffmpeg) on WAVs it can't read itself.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return AudioSegment.from_wav(str(src))
        except Exception:
            pass  # e.g. float or 24-bit WAV that pydub's reader refuses: decode below
    import numpy as np

    from divconq.data.audio import decode

    data, sr = decode(src)
    pcm = (np.clip(data, -1.0, 1.0) * 32767.0).astype("<i2")
    return AudioSegment(pcm.tobytes(), sample_width=2, frame_rate=sr, channels=data.shape[1])


def to_mp3(src, dst, bitrate: str = "192k", quality: int = 7) -> None:
    """Convert an audio file to MP3; an MP3 input is copied, not re-encoded.

    The sample rate and channels of the input are kept; the feature stage
    resamples and mixes down.

    Parameters
    ----------
    src : str or Path
        Input audio file (any format :func:`divconq.data.audio.decode` reads).
    dst : str or Path
        Output ``.mp3`` path; parent folders are created. Written under a
        temporary name and renamed, so an interrupted job leaves no truncated MP3.
    bitrate : str
        LAME bitrate, e.g. ``"192k"``.
    quality : int
        LAME algorithm quality, 0 (best, slowest) to 9 (fastest). It trades
        encoder search effort, not bitrate: 7 halves ffmpeg's CPU time against
        the default 3 at 192 kbit/s.

    Raises
    ------
    divconq.data.audio.AudioError
        If the input cannot be decoded.
    """
    src = Path(src)
    segment = None if src.suffix.lower() == ".mp3" else _read_segment(src)
    with atomic_path(dst) as tmp:
        if segment is None:
            shutil.copyfile(src, tmp)
        else:
            segment.export(
                str(tmp),
                format="mp3",
                bitrate=bitrate,
                parameters=["-compression_level", str(quality)],
            )
