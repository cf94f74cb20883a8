"""Locate an ffmpeg binary without needing a system package."""

from __future__ import annotations

import os
import shutil


def ffmpeg_exe() -> str:
    """Path of an ffmpeg binary.

    In order: ``IMAGEIO_FFMPEG_EXE`` (``workflow/rules/data.smk`` sets it once per
    run for all jobs, which spares each per-track job imageio-ffmpeg's ``ffmpeg
    -version`` check, ~13 ms of CPU), the
    ``ffmpeg`` on ``PATH``, else the one inside the ``imageio-ffmpeg`` wheel, so MP3
    encoding and the decoding fallback work from PyPI alone (no apt-get).

    Returns
    -------
    str
        Executable path.
    """
    explicit = os.environ.get("IMAGEIO_FFMPEG_EXE")
    if explicit:
        return explicit
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
