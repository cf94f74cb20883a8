"""End to end: k-fold cross-validation (2 folds x 2 seeds, artist groups) on the tiny config."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_CONFIGS, run_snakemake

pytestmark = pytest.mark.slow

FOLDS, SEEDS = (0, 1), (0, 1)
RUNS = [(k, s) for k in FOLDS for s in SEEDS]


def artist(track):
    """Two consecutive tracks of a label per 'artist': blues/blues.00003 -> blues_artist1."""
    return f"{track.split('/')[0]}_artist{int(track[-5:]) // 2}"


def snakemake(results, *args):
    groups = results.parent / "groups.csv"
    tracks = [f"{g}/{g}.{i:05d}" for g in ("blues", "classical", "country") for i in range(5)]
    groups.write_text("track,group\n" + "".join(f"{t},{artist(t)}\n" for t in tracks))
    kfold = results.parent / "kfold.yaml"
    kfold.write_text(
        f"split:\n  method: kfold\n  folds: 2\n  val_fraction: 0.25\n  groups: {groups}\n"
    )
    return run_snakemake(results, *args, configfiles=[*TINY_CONFIGS, kfold])


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    results = tmp_path_factory.mktemp("kfold") / "results"
    snakemake(results)
    return results


def test_every_track_tested_once_and_no_artist_straddles(results):
    full = pd.read_csv(results / "split" / "manifest.csv")
    assert len(full) == 15 and set(full["fold"]) == set(FOLDS)
    assert (full.groupby("group")["fold"].nunique() == 1).all()
    assert (full["group"] == full["track"].map(artist)).all()
    tested = []
    for k in FOLDS:
        view = pd.read_csv(results / "split" / f"fold{k}" / "manifest.csv")
        assert "fold" not in view.columns and len(view) == 15
        assert set(view["split"]) == {"train", "val", "test"}
        assert set(view.loc[view["split"] == "test", "track"]) == set(
            full.loc[full["fold"] == k, "track"]
        )
        # no artist in two splits of a fold either
        assert (view.groupby(view["track"].map(artist))["split"].nunique() == 1).all()
        tested += list(view.loc[view["split"] == "test", "track"])
        for s in SEEDS:
            tracks = pd.read_csv(
                results / "eval" / "snippets_3s" / f"fold{k}" / f"seed{s}" / "tracks.csv"
            )
            assert set(tracks.loc[tracks["split"] == "test", "track"]) == set(
                view.loc[view["split"] == "test", "track"]
            )
    assert sorted(tested) == sorted(full["track"])


def test_table_per_fold_and_pooled(results):
    table = pd.read_csv(results / "tables" / "accuracy.csv", dtype={"fold": str})
    assert set(table["fold"]) == {"pooled", "0", "1"}
    track = table[(table["level"] == "track_sum") & (table["split"] == "test")].set_index("fold")
    assert track.loc["pooled", "n_seeds"] == 4 and track.loc["0", "n_seeds"] == 2
    per_run = {}
    for k, s in RUNS:
        tracks = pd.read_csv(
            results / "eval" / "snippets_3s" / f"fold{k}" / f"seed{s}" / "tracks.csv"
        )
        tracks = tracks[tracks["split"] == "test"]
        per_run[k, s] = (tracks["pred_sum"] == tracks["label"]).mean()
    assert track.loc["pooled", "mean"] == pytest.approx(np.mean(list(per_run.values())))
    assert track.loc["pooled", "sd"] == pytest.approx(np.std(list(per_run.values()), ddof=1))
    for k in FOLDS:
        assert track.loc[str(k), "mean"] == pytest.approx(np.mean([per_run[k, s] for s in SEEDS]))
    # the paired difference pooled over the 4 runs, from each run's metrics.json
    diffs = []
    for k, s in RUNS:
        metrics = json.loads(
            (
                results / "eval" / "snippets_3s" / f"fold{k}" / f"seed{s}" / "metrics.json"
            ).read_text()
        )
        test = metrics["splits"]["test"]
        diffs.append(test["track"]["sum"]["accuracy"] - test["snippet"]["accuracy"])
    diff = table[(table["level"] == "track_sum-snippet") & (table["split"] == "test")]
    pooled = diff.set_index("fold").loc["pooled"]
    assert pooled["n_seeds"] == 4 and pooled["mean"] == pytest.approx(np.mean(diffs))
    assert set(diff["fold"]) == {"pooled", "0", "1"}
    per_seed = pd.read_csv(results / "tables" / "accuracy_per_seed.csv")
    assert set(zip(per_seed["fold"], per_seed["seed"], strict=True)) == set(RUNS)
    md = (results / "tables" / "accuracy.md").read_text()
    assert "snippets_3s, pooled over folds" in md and "snippets_3s, fold 1" in md
    for name in ("accuracy.png", "training_snippets_3s.png", "confusion_snippets_3s.png"):
        assert (results / "figures" / name).stat().st_size > 0


def test_models_per_fold_and_seed(results):
    for k, s in RUNS:
        model_dir = results / "models" / "snippets_3s" / f"fold{k}" / f"seed{s}"
        prep = json.loads((model_dir / "preprocessing.json").read_text())
        assert prep["seed"] == s and len(pd.read_csv(model_dir / "history.csv")) >= 1
        assert (results / "logs" / "train" / "snippets_3s" / f"fold{k}" / f"seed{s}.log").exists()
    assert not list((results / "models" / "snippets_3s").glob("*/*.resume"))
    assert not (results / "models" / "snippets_3s" / "seed0").exists()


def test_rerun_is_a_no_op_and_one_lost_run_is_redone_alone(results, tmp_path):
    proc = snakemake(results, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    lost = results / "models" / "snippets_3s" / "fold1" / "seed0"
    shutil.move(lost, tmp_path / "kept")
    try:
        proc = snakemake(results, "-n", "--quiet", "rules")
    finally:
        shutil.move(tmp_path / "kept", lost)
    plan = proc.stdout + proc.stderr
    jobs = dict(
        line.split()[:2] for line in plan.splitlines() if line[:1].isalpha() and " " in line
    )
    assert jobs.get("train") == "1" and jobs.get("evaluate") == "1", plan
    assert "fold_manifest" not in jobs and "split" not in jobs, plan
