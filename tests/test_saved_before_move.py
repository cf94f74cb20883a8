"""Model folders and training checkpoints saved before the package was laid out by
stage (``tests/fixtures/premove``, written by the old modules ``divconq.training`` and
``divconq.band_stats``; see its ``make.py``) still load, score and resume.

They hold divconq's own Keras layers by their registered names
(``divconq>BandStatistics`` in the model, ``divconq>FusedBatchNormalization`` in the
training checkpoint) and the old module paths in their configs.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "premove"

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _make_module():
    spec = importlib.util.spec_from_file_location("premove_make", FIXTURE / "make.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    make = _make_module()
    make.make_data(tmp_path)
    for name in ("model", "interrupted"):
        shutil.copytree(FIXTURE / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return make


def _configs(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read("config.json").decode()


def test_fixture_was_saved_by_the_old_modules():
    model = _configs(FIXTURE / "model" / "seed0" / "model.keras")
    assert '"registered_name": "divconq>BandStatistics"' in model
    assert '"module": "divconq.band_stats"' in model
    checkpoint = _configs(FIXTURE / "interrupted" / "seed0.resume" / "checkpoint-0000.keras")
    assert '"registered_name": "divconq>FusedBatchNormalization"' in checkpoint
    assert '"module": "divconq.batchnorm"' in checkpoint


def test_model_folder_saved_before_the_move_loads_and_scores(workdir):
    from divconq.data.features import read_hdf5
    from divconq.evaluate.inference import load_model_dir, score_windows

    bundle = load_model_dir(Path("model") / "seed0")
    feats, _, _ = read_hdf5(Path("data") / "spectrograms" / "g0" / "test0.h5")
    expected = np.load(Path("model") / "scores.npy")
    # Written on another CPU, maybe: oneDNN's kernels differ in rounding between
    # SIMD levels, not in anything a saved model or the code decides.
    np.testing.assert_allclose(score_windows(bundle, feats.mel_db), expected, rtol=1e-5, atol=1e-6)


def test_training_interrupted_before_the_move_resumes_after_it(workdir):
    from divconq.train.run import train

    manifest = Path("data") / "manifest.csv"
    info = train(manifest, Path("interrupted") / "seed0", **workdir.RUN)
    assert info["resumes"] == 1 and info["epochs_run"] == 2
    before = json.loads((Path("model") / "seed0" / "training.json").read_text())
    assert info["fingerprint"] == before["fingerprint"]
    resumed = pd.read_csv(Path("interrupted") / "seed0" / "history.csv")
    whole = pd.read_csv(Path("model") / "seed0" / "history.csv")
    assert list(resumed.columns) == list(whole.columns) and len(resumed) == len(whole)
    # The same run, uninterrupted, by the code before the move: equal up to the CPU's
    # rounding (exactly equal on the machine that wrote the fixture).
    cols = [c for c in whole.columns if c not in ("time_s",)]
    np.testing.assert_allclose(
        resumed[cols].to_numpy(float), whole[cols].to_numpy(float), atol=1e-4
    )
