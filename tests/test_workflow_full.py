"""End to end: the tiny config through training and evaluation to the final table and report."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_CONFIGS, run_snakemake

pytestmark = pytest.mark.slow


def snakemake(results, *args):
    # The 30-s baseline and band_stats too, one seed each, so all land in one table;
    # band_stats with 2 epochs of its own (its preset brings batch size and learning rate).
    both = results.parent / "both_experiments.yaml"
    both.write_text(
        "experiments:\n"
        "  full_30s: {enabled: true, seeds: [0]}\n"
        "  band_stats:\n"
        "    {input: snippets, model: band_stats, seeds: [0], training: {epochs: 2}}\n"
    )
    return run_snakemake(results, *args, configfiles=[*TINY_CONFIGS, both])


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    results = tmp_path_factory.mktemp("full") / "results"
    snakemake(results)
    return results


def test_table_has_both_experiments_and_all_levels(results):
    table = pd.read_csv(results / "tables" / "accuracy.csv")
    snip = table[table["experiment"] == "snippets_3s"]
    assert {"snippet", "window_per_track", "track_sum", "track_mean_log", "track_vote"} <= set(
        snip["level"]
    )
    assert set(snip[snip["level"] == "track_sum"]["n_seeds"]) == {2}
    clip = table[table["experiment"] == "full_30s"]
    assert set(clip["level"]) == {"track_clip"}
    stats = table[(table["experiment"] == "band_stats") & (table["level"] == "track_sum")]
    assert set(stats["n_seeds"]) == {1}
    for name in ("accuracy.md", "accuracy.html", "accuracy_per_seed.csv"):
        assert (results / "tables" / name).stat().st_size > 0
    for name in ("accuracy.png", "training_snippets_3s.png", "confusion_snippets_3s.png"):
        assert (results / "figures" / name).stat().st_size > 0


def test_table_recomputed_from_per_track_csvs(results):
    """Track accuracy (sum rule) per seed from tracks.csv; mean and SD must match the table."""
    table = pd.read_csv(results / "tables" / "accuracy.csv")
    for split in ("val", "test"):
        per_seed = []
        for seed in (0, 1):
            tracks = pd.read_csv(results / "eval" / "snippets_3s" / f"seed{seed}" / "tracks.csv")
            tracks = tracks[tracks["split"] == split]
            per_seed.append((tracks["pred_sum"] == tracks["label"]).mean())
            # snippet accuracy from the same file: snippets right / snippets
            snippet = tracks["n_snippets_correct"].sum() / tracks["n_snippets"].sum()
            metrics = json.loads(
                (results / "eval" / "snippets_3s" / f"seed{seed}" / "metrics.json").read_text()
            )
            assert metrics["splits"][split]["snippet"]["accuracy"] == pytest.approx(snippet)
        row = table[
            (table["experiment"] == "snippets_3s")
            & (table["level"] == "track_sum")
            & (table["split"] == split)
        ].iloc[0]
        assert row["mean"] == pytest.approx(np.mean(per_seed))
        assert row["sd"] == pytest.approx(np.std(per_seed, ddof=1), nan_ok=True)


def test_models_are_self_describing(results):
    for seed in (0, 1):
        model_dir = results / "models" / "snippets_3s" / f"seed{seed}"
        prep = json.loads((model_dir / "preprocessing.json").read_text())
        assert prep["features"]["n_fft"] == 2048 and len(prep["normalization"]["mean"]) == 100
        assert len(pd.read_csv(model_dir / "history.csv")) >= 1
    assert not list((results / "models" / "snippets_3s").glob("*.resume"))


def test_training_settings_layer_section_preset_experiment(results):
    """training.json of each model: config section < model preset < experiment's own."""
    small = json.loads((results / "models/snippets_3s/seed0/training.json").read_text())
    stats = json.loads((results / "models/band_stats/seed0/training.json").read_text())
    assert small["training"]["batch_size"] == 32 and small["training"]["learning_rate"] == 2e-3
    # band_stats' preset replaces batch size and learning rate; its experiment, epochs
    assert stats["training"]["batch_size"] == 200 and stats["training"]["learning_rate"] == 1e-3
    assert stats["training"]["epochs"] == 2 and stats["epochs_run"] <= 2
    # the section's other keys still reach it
    assert stats["training"]["patience"] == small["training"]["patience"] == 2


def test_rerun_is_a_no_op_and_report_builds(results, tmp_path):
    proc = snakemake(results, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    report = tmp_path / "report.html"
    snakemake(results, "--report", str(report))
    assert report.stat().st_size > 10_000
