"""From a folder of audio files to a chosen model: nested selection under k-fold, the
champion model and its card, ``divconq predict`` without ``--model``, and a planted
mislabeled track among the first suspects.

A folder of synthetic tracks of three genres (far apart: difficulty 0), one classical
track planted in the blues folder; two candidates trained from scratch (``band_stats``
and the ``small`` CRNN), 3-fold cross-validation, one seed each.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO, run_snakemake, write_tone

pytestmark = pytest.mark.slow

GENRES = ("blues", "classical", "country")
#: A classical track filed under blues.
PLANTED = "blues/planted"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from divconq.data.synth import write_track

    root = tmp_path_factory.mktemp("selection")
    data = root / "data"
    for label in GENRES:
        for i in range(6):
            write_track(data / label / f"{label}{i}.wav", label, i, n_genres=3,
                        duration_s=8.0, difficulty=0.0)  # fmt: skip
    planted = data / "blues" / "planted.wav"
    write_track(planted, "classical", 6, n_genres=3, duration_s=8.0, difficulty=0.0)
    config = root / "selection.yaml"
    config.write_text(
        f"dataset: {{source: folder, path: {data}}}\n"
        "split: {method: kfold, folds: 3, val_fraction: 0.25, seed: 0}\n"
        "training: {seeds: [0], epochs: 15, patience: 15, threads: 1, mem_mb: 2000,"
        " learning_rate: 0.003}\n"
        "experiments:\n"
        "  snippets_3s: {enabled: false}\n"
        "  band_stats: {input: snippets, model: band_stats,\n"
        "               training: {sampling: snippets, monitor: val_loss}}\n"
        "  small: {input: snippets, model: small, training: {epochs: 2}}\n"
    )
    results = root / "results"
    run_snakemake(results, configfiles=[config])
    return root, results


def test_selection_is_nested_and_reported(run):
    _, results = run
    selection = json.loads((results / "selection.json").read_text())
    assert selection["kfold"] and selection["criterion"] == "track_log_loss"
    assert [f["fold"] for f in selection["folds"]] == [0, 1, 2]
    for f in selection["folds"]:
        assert set(f["validation"]) == {"band_stats", "small"}
        assert f["chosen"] in f["validation"]
    test = selection["test"]
    # The procedure's figure: each fold's test tracks scored by that fold's own choice.
    accuracy = pd.read_csv(results / "tables" / "accuracy_per_seed.csv")
    per_fold = accuracy[(accuracy["level"] == "track_sum") & (accuracy["split"] == "test")]
    want = [
        per_fold[(per_fold["fold"] == f["fold"]) & (per_fold["experiment"] == f["chosen"])][
            "accuracy"
        ].mean()
        for f in selection["folds"]
    ]
    assert test["procedure_track_accuracy"] == pytest.approx(sum(want) / 3)
    assert test["n_tracks"] == 19
    assert "selection procedure" in (results / "tables" / "selection.md").read_text()


def test_champion_holds_the_chosen_models_and_card(run):
    _, results = run
    selection = json.loads((results / "selection.json").read_text())
    best = results / "models" / "best"
    card = json.loads((best / "card.json").read_text())
    assert card["experiment"] == selection["chosen"]
    assert card["models"] == ["fold0/seed0", "fold1/seed0", "fold2/seed0"]
    assert all((best / m / "model.keras").exists() for m in card["models"])
    assert card["labels"] == {"blues": 7, "classical": 6, "country": 6}
    assert card["settings"]["model"] in ("band_stats", "small")
    assert "keras" in card["versions"] and (best / "README.md").exists()


def test_planted_mislabeled_track_is_a_first_suspect(run):
    _, results = run
    suspects = pd.read_csv(results / "tables" / "suspects.csv")
    assert PLANTED in list(suspects["track"][:3]), suspects.head()
    row = suspects[suspects["track"] == PLANTED].iloc[0]
    assert row["label"] == "blues" and row["predicted"] == "classical" and row["margin"] > 0


def test_summary_page_tells_what_was_run_and_found(run):
    _, results = run
    selection = json.loads((results / "selection.json").read_text())
    page = (results / "tables" / "summary.html").read_text()
    assert "19 tracks" in page and "3 labels" in page and "3-fold cross-validation" in page
    assert f"Chosen: {selection['chosen']}" in page
    assert "selection procedure" in page and PLANTED in page


def test_predict_without_model_uses_the_champion(run, tmp_path):
    root, results = run
    song = write_tone(tmp_path / "song.wav", duration_s=6.0)
    proc = subprocess.run(
        [sys.executable, "-m", "divconq.cli", "predict", str(song), "--format", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "using results/models/best" in proc.stderr
    out = json.loads(proc.stdout)
    assert out["model"] == "results/models/best"

    elsewhere = subprocess.run(
        [sys.executable, "-m", "divconq.cli", "predict", str(song)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert elsewhere.returncode == 2
    assert "presets/collection.yaml" in elsewhere.stderr
