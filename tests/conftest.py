"""Shared fixtures: real audio files written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]


def write_tone(path, duration_s=3.0, sr=22050, channels=1, freq=440.0, subtype="PCM_16", fmt=None):
    """Write a tone with some noise; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash((path.name, sr, channels))) % 2**32)
    t = np.arange(int(round(duration_s * sr))) / sr
    y = 0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(len(t))
    data = np.stack([y * (0.5 + 0.5 * c) for c in range(channels)], axis=1)
    sf.write(str(path), data.astype(np.float32), sr, subtype=subtype, format=fmt)
    return path


@pytest.fixture
def tone(tmp_path):
    """Factory: ``tone(name, **kwargs)`` writes a tone under ``tmp_path``."""

    def make(name, **kwargs):
        return write_tone(tmp_path / name, **kwargs)

    return make
