"""Shared fixtures: real audio files written by the tests themselves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
#: The tiny test configuration: 3 genres x 5 synthetic 8-s tracks, 2 epochs of the small model.
TINY_CONFIGS = [str(REPO / "tests" / "configs" / f) for f in ("tiny.yaml", "tiny_training.yaml")]


def run_snakemake(results, *args, configfiles=TINY_CONFIGS):
    """Run ``snakemake <args> --cores 2`` in the repository with ``configfiles`` and
    ``results=<results>``; assert that it succeeded (the output's tails are the message).

    Returns
    -------
    subprocess.CompletedProcess
        With ``stdout`` and ``stderr`` as text.
    """
    cmd = [
        sys.executable, "-m", "snakemake", *args, "--cores", "2",
        "--configfile", *map(str, configfiles),
        "--config", f"results={results}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


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


class Interrupt(Exception):
    """Raised by :func:`interrupt_after`: a training killed after an epoch."""


def interrupt_after(n_epoch):
    """A Keras callback that raises :class:`Interrupt` at the end of epoch ``n_epoch``
    (the resume state of that epoch is written by then)."""
    import keras

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == n_epoch:
                raise Interrupt(f"killed after epoch {epoch}")

    return Stop()


def model_weights(model_dir) -> list:
    """The weights of a model folder's ``model.keras``, as numpy arrays."""
    import keras

    model = keras.saving.load_model(Path(model_dir) / "model.keras", compile=False)
    return [np.asarray(w) for w in model.get_weights()]


def assert_same_training(a, b) -> None:
    """Two model folders hold the same history (every metric of every epoch and the
    learning rate, not the times) and the same weights, exactly."""
    import pandas as pd

    pd.testing.assert_frame_equal(
        pd.read_csv(Path(a) / "history.csv").drop(columns="time_s"),
        pd.read_csv(Path(b) / "history.csv").drop(columns="time_s"),
        check_exact=True,
    )
    for x, y in zip(model_weights(a), model_weights(b), strict=True):
        np.testing.assert_array_equal(x, y)
