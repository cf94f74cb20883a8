"""benchmarks/training_report.py and realmusic_report.py on a results folder made here."""

import importlib.util
import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_run(root: Path, gpu: bool):
    """Two seeds of one experiment: training.json, history.csv, tracks.csv, eval benchmark."""
    for seed, times in ((0, [9.0, 2.0, 2.2, 2.4]), (1, [8.0, 2.0, 2.0])):
        d = root / "models" / "exp" / f"seed{seed}"
        d.mkdir(parents=True)
        info = {
            "n_train": 1000,
            "devices": ["/physical_device:GPU:0"] if gpu else ["CPU"],
            "precision": "mixed_float16" if gpu else "float32",
            "cpu": "CPU: test",
            "best_epoch": 1,
            "gpu_peak_mb": {"GPU:0": 500.0 + seed} if gpu else {},
        }
        (d / "training.json").write_text(json.dumps(info))
        n = len(times)
        pd.DataFrame(
            {
                "epoch": range(n),
                "time_s": times,
                "accuracy": [0.5] * n,
                "val_accuracy": [0.4] * n,
                "loss": [1.0] * n,
                "val_loss": [1.2] * n,
            }
        ).to_csv(d / "history.csv", index=False)
        e = root / "eval" / "exp" / f"seed{seed}"
        e.mkdir(parents=True)
        pd.DataFrame(
            {
                "track": ["a/1", "b/1"],
                "label": ["a", "b"],
                "split": ["test", "test"],
                "pred_sum": ["a", "a"],
                "sum_a": [2.0, 1.5],
                "sum_b": [1.0, 1.0],
            }
        ).to_csv(e / "tracks.csv", index=False)
        b = root / "benchmarks" / "evaluate" / "exp"
        b.mkdir(parents=True, exist_ok=True)
        (b / f"seed{seed}.tsv").write_text(f"s\th:m:s\n{4.0 + 2 * seed}\t0:00:04\n")


def test_training_report(tmp_path):
    report = _load("training_report")
    _fake_run(tmp_path, gpu=True)
    row = report.summary(tmp_path).loc["exp"]
    assert row["models"] == 2 and row["precision"] == "mixed_float16"
    # Median epoch time without the first epoch: seed 0 2.2 s, seed 1 2.0 s.
    assert row["epoch s"] == 2.1 and row["snippets/s"] == round((1000 / 2.2 + 1000 / 2.0) / 2)
    assert row["first epoch s"] == 8.5 and row["peak GPU MiB"] == 501.0
    assert row["eval job s"] == 5.0
    cpu = tmp_path / "cpu"
    _fake_run(cpu, gpu=False)
    assert report.summary(cpu).loc["exp", "peak GPU MiB"] == "-"


def test_realmusic_report(tmp_path):
    report = _load("realmusic_report")
    _fake_run(tmp_path, gpu=False)
    curves = report.curve_table(tmp_path, "exp")
    assert "kept as best" in curves and "|       4 |       1 |" in curves
    conf = report.confusion_table(tmp_path, "exp", "test")
    assert "4 track predictions, accuracy 50.0 %" in conf
