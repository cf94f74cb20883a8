"""benchmarks/calibrate.py: run shapes from the real configs and the wall-time arithmetic."""

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def calibrate():
    spec = importlib.util.spec_from_file_location("calibrate", ROOT / "benchmarks" / "calibrate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_and_gtzan_run_shapes(calibrate):
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    shape = calibrate.run_shape(base)
    n_tracks = (
        base["dataset"]["synthetic"]["genres"] * base["dataset"]["synthetic"]["tracks_per_genre"]
    )
    assert shape["n_tracks"] == n_tracks
    assert shape["n_train"] == round(n_tracks * 0.8) * base["features"]["max_snippets"]
    assert shape["seeds"] == len(base["training"]["seeds"])
    # 30-s tracks, 3-s windows every second: 28 windows per val/test track.
    assert shape["n_eval_windows"] == round(n_tracks * 0.2) * 28
    gtzan = calibrate._merge(base, yaml.safe_load((ROOT / "presets" / "gtzan.yaml").read_text()))
    g = calibrate.run_shape(gtzan)
    assert (g["n_tracks"], g["n_train"], g["threads"]) == (1000, 800 * 14, 2)
    assert g["experiments"]["snippets_3s"] == ("article", "snippets")


def test_expected_minutes(calibrate):
    shape = {
        "seeds": 10,
        "epochs": 10,
        "threads": 1,
        "n_train": 2000,
        "n_val": 200,
        "n_eval_windows": 1000,
    }
    # 2 cores, 1 thread a job: 5 waves of 10 epochs of (2000/100 + 200/1000) s, plus 5 s starts.
    train, evaluation = calibrate.expected_minutes(shape, 100.0, 1000.0, cores=2, startup_s=5.0)
    assert train == pytest.approx(5 * (5 + 10 * 20.2) / 60)
    # Evaluation jobs ask for the rule's threads (divconq.evaluate.evaluation.THREADS, 1):
    # on 2 cores two side by side, 5 waves.
    from divconq.evaluate.evaluation import THREADS

    assert THREADS == 1
    assert evaluation == pytest.approx(5 * (5 + 1.0) / 60)


def test_worker_measures_the_package_model():
    """One tiny measurement in a worker process, through the real imports (a function
    that moved between modules once broke every calibration)."""
    import json
    import subprocess
    import sys

    cmd = [sys.executable, str(ROOT / "benchmarks" / "calibrate.py"), "--worker", "small", "1"]
    args = ["--snippets", "64", "--steps", "2", "--warmup", "1"]
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    assert r["train_snippets_per_s"] > 0 and r["score_windows_per_s"] > 0
