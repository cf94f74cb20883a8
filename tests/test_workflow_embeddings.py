"""End to end on pretrained embeddings: the tiny config with a linear head on the musicnn
pool embeddings (2 seeds), the mean-embedding head and a fine-tuning of the whole network
from the linear head's seed 0 (1 epoch), from the embedding and log-mel stages to the
table, then ``divconq predict`` on their models, which must give the evaluation's window
scores for the same track."""

import json
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, TINY_CONFIGS, run_snakemake

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        __import__("importlib.util").util.find_spec("musicnn") is None,
        reason="musicnn wheel not installed: pip install --no-deps musicnn==0.1.0",
    ),
]

EXPERIMENT = "emb_linear"
MEAN = "emb_mean"
FINETUNE = "emb_finetune"


def snakemake(results, *args):
    extra = results.parent / "embeddings.yaml"
    extra.write_text(
        "experiments:\n"
        "  snippets_3s: {enabled: false}\n"
        f"  {EXPERIMENT}:\n"
        "    {input: embeddings, model: emb_linear, training: {epochs: 3, batch_size: 16}}\n"
        f"  {MEAN}:\n"
        "    {input: embedding_mean, model: emb_linear_mean, seeds: 1,\n"
        "     training: {epochs: 3, batch_size: 4}}\n"
        f"  {FINETUNE}:\n"
        f"    {{input: embeddings, model: emb_linear, trainable: all, head_from: {EXPERIMENT},\n"
        "     seeds: 1,\n"
        "     training: {epochs: 1, batch_size: 6}}\n"
    )
    return run_snakemake(results, *args, configfiles=[*TINY_CONFIGS, extra])


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    results = tmp_path_factory.mktemp("emb") / "results"
    snakemake(results)
    return results


def test_embedding_files_per_track(results):
    from divconq.data.embeddings import read_hdf5

    tracks = pd.read_csv(results / "inventory" / "tracks.csv")
    files = sorted((results / "embeddings" / "msd_musicnn").glob("*/*.h5"))
    assert len(files) == len(tracks) == 15
    values, start_s, is_snippet, attrs = read_hdf5(files[0], "pool")
    # 8-s tracks: patches at 0..5 s (a 3-s patch must fit), every third for training.
    np.testing.assert_allclose(start_s, np.round(np.arange(6) * 62.5) / 62.5)
    assert values.shape == (6, 1506) and values.dtype == np.float32
    assert is_snippet.tolist() == [True, False, False, True, False, False]
    assert attrs["model"] == "msd_musicnn" and attrs["hop_s"] == 1.0
    tags, _, _, _ = read_hdf5(files[0], "tags")
    assert tags.shape == (6, 50) and (tags >= 0).all() and (tags <= 1).all()


def test_table_and_models(results):
    table = pd.read_csv(results / "tables" / "accuracy.csv")
    rows = table[table["experiment"] == EXPERIMENT]
    assert {"snippet", "window_per_track", "track_sum"} <= set(rows["level"])
    assert set(rows[rows["level"] == "track_sum"]["n_seeds"]) == {2}
    for seed in (0, 1):
        model_dir = results / "models" / EXPERIMENT / f"seed{seed}"
        prep = json.loads((model_dir / "preprocessing.json").read_text())
        assert prep["input"] == "embeddings"
        assert prep["features"] == {
            "model": "msd_musicnn",
            "layer": "pool",
            "hop_s": 1.0,
            "train_hop_s": 3.0,
        }
        assert len(prep["normalization"]["mean"]) == 1506
        assert prep["pretrained"] == {
            "package": "musicnn",
            "version": "0.1.0",
            "checkpoint": "MSD_musicnn",
            "license": "ISC",
            "trainable": "head",
        }
        # The head alone: the network's weights stay in the installed wheel.
        assert (model_dir / "model.keras").stat().st_size < 200_000
        info = json.loads((model_dir / "training.json").read_text())
        # 9 training tracks (the tiny split is 9/3/3) x 2 training patches of an 8-s track.
        assert info["n_train"] == 18


def predict_and_evaluation(results, experiment, test_row, capsys):
    """``divconq predict --windows`` on a test track with seed 0 of an experiment, and
    that seed's evaluation scores of the same track: (JSON of the file, scores rows,
    class names)."""
    from divconq.cli import main
    from divconq.evaluate.evaluation import read_window_scores

    manifest = pd.read_csv(results / "split" / "manifest.csv")
    row = manifest[manifest["split"] == "test"].iloc[test_row]
    model = results / "models" / experiment / "seed0"
    code = main(["predict", row["path"], "--model", str(model), "--format", "json",
                 "--windows", "--no-progress"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    ws, _ = read_window_scores(results / "eval" / experiment / "seed0" / "window_scores.h5")
    return json.loads(out)["files"][0], ws.scores[ws.track == row["track"]], ws.class_names


def test_predict_gives_the_evaluation_scores(results, capsys):
    """``divconq predict`` embeds the source audio itself (the embedding stage's code)
    and scores it with the seed models: the evaluation's window scores of that track."""
    got, expected, classes = predict_and_evaluation(results, EXPERIMENT, 0, capsys)
    assert len(got["windows"]) == len(expected)
    scores = np.array([[w["scores"][c] for c in classes] for w in got["windows"]])
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    tracks = pd.read_csv(results / "eval" / EXPERIMENT / "seed0" / "tracks.csv")
    track = tracks[tracks["split"] == "test"].sort_values("track").iloc[0]
    assert got["prediction"] == track["pred_sum"]


def test_mean_embedding_experiment_and_its_predict(results, capsys):
    """The one-vector-per-track baseline shares the embedding files: one score per
    track (level track_clip), and ``divconq predict`` gives that score."""
    table = pd.read_csv(results / "tables" / "accuracy.csv")
    levels = set(table[table["experiment"] == MEAN]["level"])
    assert "track_clip" in levels and "snippet" not in levels
    got, expected, classes = predict_and_evaluation(results, MEAN, 1, capsys)
    assert len(expected) == 1 and len(got["windows"]) == 1
    scores = [got["windows"][0]["scores"][c] for c in classes]
    np.testing.assert_allclose(scores, expected[0], atol=1e-5)


def test_single_track_target_and_missing_file_rebuilt(results):
    """One embedding file is a target of its own; a deleted one is rebuilt, alone."""
    target = sorted((results / "embeddings" / "msd_musicnn").glob("*/*.h5"))[3]
    before = target.read_bytes()
    target.unlink()
    rel = target.relative_to(results)
    proc = snakemake(results, str(results / rel))
    assert target.read_bytes() == before
    assert "embedding" in proc.stdout + proc.stderr


def test_embed_command_names_a_bad_file(tmp_path):
    import subprocess

    bad = tmp_path / "rock" / "broken.wav"
    bad.parent.mkdir()
    bad.write_bytes(b"RIFF not really a wave file")
    cmd = [sys.executable, "-m", "divconq.cli", "embed", str(bad), str(tmp_path / "o.h5"),
           "--track", "rock/broken"]  # fmt: skip
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert str(bad) in proc.stderr
    assert not (tmp_path / "o.h5").exists()


def test_fine_tuning_experiment_and_its_predict(results, capsys):
    """``trainable: all`` from the trained head of the linear-probe experiment (same
    seed): per-track log-mel files of the network's front end, a model folder holding
    the whole fine-tuned network, the snippet/window/track table, and ``divconq
    predict`` giving its scores."""
    from divconq.data.audio import load
    from divconq.data.embeddings import network_log_mel

    mels = sorted((results / "musicnn_mels").glob("*/*.h5"))
    assert len(mels) == 15
    table = pd.read_csv(results / "tables" / "accuracy.csv")
    levels = set(table[table["experiment"] == FINETUNE]["level"])
    assert {"snippet", "window_per_track", "track_sum"} <= levels
    model_dir = results / "models" / FINETUNE / "seed0"
    prep = json.loads((model_dir / "preprocessing.json").read_text())
    assert prep["input"] == "musicnn_mel" and prep["pretrained"]["trainable"] == "all"
    assert prep["pretrained"]["head_from"]["experiment"] == EXPERIMENT
    assert prep["pretrained"]["head_from"]["seed"] == 0
    info = json.loads((model_dir / "training.json").read_text())
    # FINETUNE_TRAINING, then the experiment's own training: keys.
    assert info["training"]["learning_rate"] == 1e-4 and info["training"]["batch_size"] == 6
    assert info["n_train"] == 18 and (model_dir / "model.keras").stat().st_size > 1_500_000
    got, expected, classes = predict_and_evaluation(results, FINETUNE, 2, capsys)
    assert len(got["windows"]) == len(expected) == 6
    scores = np.array([[w["scores"][c] for c in classes] for w in got["windows"]])
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    # The file holds the front end's log-mel of the source audio.
    import h5py

    manifest = pd.read_csv(results / "split" / "manifest.csv")
    row = manifest.iloc[0]
    with h5py.File(results / "musicnn_mels" / f"{row['track']}.h5") as h5:
        stored = h5["log_mel"][()]
    np.testing.assert_array_equal(stored, network_log_mel(load(row["path"], sr=16000))[0])
