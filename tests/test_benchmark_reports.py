"""benchmarks/training_report.py, realmusic_report.py, fuse_experiments.py and
compare_experiments.py on made-up runs."""

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


def _tracks(root: Path, experiment: str, seed: int, sums: dict, fold: str = ""):
    """tracks.csv of one evaluated seed: three test tracks of labels a, b, b."""
    d = root / "eval" / experiment / fold / f"seed{seed}"
    d.mkdir(parents=True)
    pd.DataFrame(
        {
            "track": ["a/1", "b/1", "b/2"],
            "label": ["a", "b", "b"],
            "split": ["test"] * 3,
            "sum_a": sums["a"],
            "sum_b": sums["b"],
        }
    ).to_csv(d / "tracks.csv", index=False)


def test_fuse_experiments(tmp_path, capsys):
    import pytest

    mod = _load("fuse_experiments")
    # x is right on a/1 only; y is right on b/1 and b/2 and unsure on a/1, where x's
    # confidence wins the fused sum: fused is right on all three.
    for seed in (0, 1):
        _tracks(tmp_path, "x", seed, {"a": [9.0, 6.0, 6.0], "b": [1.0, 4.0, 4.0]})
        _tracks(tmp_path, "y", seed, {"a": [4.0, 1.0, 1.0], "b": [6.0, 9.0, 9.0]})
    _tracks(tmp_path, "y", 2, {"a": [1.0] * 3, "b": [0.0] * 3})  # not in x: left out
    table = mod.fuse(tmp_path, ["x", "y"])
    assert table["seed"].tolist() == ["seed0", "seed1"]
    assert table["x"].round(3).tolist() == [0.333] * 2
    assert table["y"].round(3).tolist() == [0.667] * 2
    assert table["fused"].tolist() == [1.0, 1.0]
    mod.main([str(tmp_path), "x", "y"])
    out = capsys.readouterr().out
    assert "| test | 2 | 33.3 | 66.7 | 100.0 | +66.7" in out
    # k-fold folders: (fold, seed) pairs.
    _tracks(tmp_path / "k", "x", 0, {"a": [9.0, 6.0, 6.0], "b": [1.0, 4.0, 4.0]}, "fold0")
    _tracks(tmp_path / "k", "y", 0, {"a": [4.0, 1.0, 1.0], "b": [6.0, 9.0, 9.0]}, "fold0")
    assert mod.fuse(tmp_path / "k", ["x", "y"])["fold"].tolist() == ["fold0"]
    with pytest.raises(ValueError, match="at least two"):
        mod.fuse(tmp_path, ["x"])
    with pytest.raises(ValueError, match="no seed of x, z"):
        mod.fuse(tmp_path, ["x", "z"])


def test_learning_curve_subsets_and_summary():
    import pytest

    mod = _load("learning_curve")
    labels = {"a": 8, "b": 4, "c": 1}
    rows = [(f"{lab}/{i}", lab, "train") for lab, n in labels.items() for i in range(n)]
    rows += [("a/val", "a", "val"), ("b/test", "b", "test")]
    manifest = pd.DataFrame(rows, columns=["track", "label", "split"])
    subsets = {f: mod.subsample(manifest, f, seed=3) for f in (0.25, 0.5, 1.0)}
    for f, sub in subsets.items():
        # validation and test tracks stay; per label round(f * n), at least 2 (or all)
        assert {"a/val", "b/test"} <= set(sub["track"])
        per_label = sub[sub["split"] == "train"]["label"].value_counts().to_dict()
        assert per_label == {"a": max(2, round(f * 8)), "b": max(2, round(f * 4)), "c": 1}
    # nested subsets; another seed, other tracks
    assert set(subsets[0.25]["track"]) <= set(subsets[0.5]["track"]) <= set(subsets[1.0]["track"])
    assert subsets[1.0].equals(manifest)
    others = [set(mod.subsample(manifest, 0.5, seed=s)["track"]) for s in range(5)]
    assert len({frozenset(o) for o in others}) > 1
    with pytest.raises(ValueError, match="fraction"):
        mod.subsample(manifest, 0.0)
    # the summary: 2 folds x 2 seeds per fraction; test rises 0.1 per doubling
    runs = [
        {"fraction": f, "fold": k, "seed": s, "n_train_tracks": n, "val": 0.5, "test": t + 0.01 * s}
        for f, n, t in ((0.5, 50, 0.6), (1.0, 100, 0.7))
        for k in ("fold0", "fold1")
        for s in (0, 1)
    ]
    text = mod.summarize(pd.DataFrame(runs))
    assert "| 0.5 | 50 | 4 | 50.0 | 60.5 (0.6) | +10.0 (+10.0 to +10.0) |" in text
    assert "| 1 | 100 | 4 | 50.0 | 70.5 (0.6) |  |  |" in text
    assert "per doubling of the training tracks: +10.0 points" in text


def test_learning_curve_reports_a_failed_run_and_goes_on(tmp_path):
    """A run that cannot train is named with its reason; the others still run."""
    import subprocess
    import sys

    results = tmp_path / "results"
    for fold in ("fold0", "fold1"):
        (results / "split" / fold).mkdir(parents=True)
        pd.DataFrame({"track": ["a/1"], "label": ["a"], "split": ["train"]}).to_csv(
            results / "split" / fold / "manifest.csv", index=False
        )
    # fold1 already done: only fold0 runs, and it has no models to take settings from
    done = tmp_path / "out" / "f1" / "fold1" / "seed0"
    done.mkdir(parents=True)
    result = {"fraction": 1.0, "fold": "fold1", "seed": 0, "n_train_tracks": 1, "val": 1, "test": 1}
    (done / "result.json").write_text(json.dumps(result))
    cmd = [sys.executable, str(ROOT / "benchmarks" / "learning_curve.py"), str(results), "x"]
    cmd += ["--fractions", "1", "--seeds", "0", "--out", str(tmp_path / "out")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0
    assert "2 runs, 1 done, 1 to train" in proc.stdout
    assert "fraction 1 fold0 seed 0: FAILED: FileNotFoundError" in proc.stdout
    assert "training.json" in proc.stdout
    assert "| 1 | 1 | 1 | 100.0 |" in proc.stdout  # the finished run is still summarized
    assert "One training-set size" in proc.stdout and "Warning" not in proc.stderr
    assert "1 run(s) failed" in proc.stderr


def _runs(root: Path, experiment: str, preds: dict, windows=(4, 2)):
    """tracks.csv of seeds 0-2 on val and test: ``preds[seed]`` the predicted labels of
    the tracks a/1, b/1 (val) and a/2, b/2 (test); ``windows`` (of, correct) each."""
    for seed, pred in preds.items():
        d = root / "eval" / experiment / f"seed{seed}"
        d.mkdir(parents=True)
        table = pd.DataFrame(
            {
                "track": ["a/1", "b/1", "a/2", "b/2"],
                "label": ["a", "b", "a", "b"],
                "split": ["val", "val", "test", "test"],
                "n_windows": [windows[0]] * 4,
                "n_windows_correct": [windows[1]] * 4,
            }
        )
        table["pred_clip" if windows[0] == 0 else "pred_sum"] = pred
        table.to_csv(d / "tracks.csv", index=False)


def test_compare_experiments_pairs_runs_with_the_reference(tmp_path):
    """Per split: means, the paired difference with the reference, and track - window;
    experiments with one input per track (pred_clip, no windows) are compared too."""
    import subprocess
    import sys

    _runs(tmp_path, "ref", {s: ["a", "a", "a", "a"] for s in range(3)})  # half right
    _runs(tmp_path, "new", {s: ["a", "b", "a", "b"] for s in range(3)}, windows=(4, 3))
    _runs(tmp_path, "mean", {s: ["a", "b", "b", "b"] for s in range(3)}, windows=(0, 0))
    cmd = [sys.executable, str(ROOT / "benchmarks" / "compare_experiments.py"), str(tmp_path)]
    proc = subprocess.run([*cmd, "ref", "new", "mean"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "| new | test | 3 | 100.0 | +50.0 (+50.0 to +50.0) |" in out
    assert "| 75.0 | +25.0 (+25.0 to +25.0) (nan) | +25.0 (+25.0 to +25.0) (nan) |" in out
    assert "| mean | test | 3 | 50.0 | +0.0 (+0.0 to +0.0) |" in out
    assert "| mean | val | 3 | 100.0 |" in out and "| nan | - | - |" in out
    assert "| ref (reference) | test | 3 | 50.0 |" in out
    # per label, test, pooled over the seeds: ref always says a, mean always b
    assert "| a       | 100.0 | 100.0 |    0.0 |" in out
