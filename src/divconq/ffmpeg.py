"""Locate an ffmpeg binary without needing a system package."""

from __future__ import annotations

import shutil


def ffmpeg_exe() -> str:
    """Path of an ffmpeg binary: the one on ``PATH``, else the ``imageio-ffmpeg`` one.

    ``imageio-ffmpeg`` ships a static ffmpeg inside its wheel, so MP3 encoding and
    the decoding fallback work from PyPI alone (no apt-get).

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
