"""Fine-tuning the pretrained network (``trainable: all``): the network's log-mel file,
the model of network and head, and a run through divconq's own training, resume,
evaluation and prediction code on real (synthesized) audio."""

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
from conftest import Interrupt, assert_same_training, interrupt_after, write_tone

from divconq import configcheck
from divconq.data.embeddings import (
    EmbeddingParams,
    mel_path,
    n_mel_patches,
    network_log_mel,
    patch_log_mels,
    read_mel_patches,
    write_mel_hdf5,
)
from divconq.models import musicnn
from divconq.shared.errors import DamagedFileError
from divconq.split.manifest import mel_manifest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("musicnn") is None,
    reason="musicnn wheel not installed: pip install --no-deps musicnn==0.1.0",
)

# One training step through all ~790k weights of msd_musicnn takes ~0.5 s a patch on
# two cores: a handful of patches, two epochs.
CONFIG = {"epochs": 2, "batch_size": 4, "threads": 2, "verbose": 0}
PARAMS = EmbeddingParams(model="msd_musicnn", layer="pool")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Two labels of tones (low and high) of 5-6 s, 3/1/1 tracks per label in
    train/val/test, and their network log-mel files written by ``divconq musicnn-mel``."""
    from divconq.cli import main

    root = tmp_path_factory.mktemp("finetune")
    rows = []
    for label, freq in (("low", 220.0), ("high", 1760.0)):
        for i in range(5):
            track = f"{label}/{label}.{i}"
            wav = root / "audio" / f"{track}.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            duration = 5.0 + 0.25 * i
            write_tone(wav, duration_s=duration, freq=freq * (1 + 0.04 * i))
            dst = mel_path(root, track)
            assert main(["musicnn-mel", str(wav), str(dst), "--track", track]) == 0
            split = "train" if i < 3 else ("val" if i == 3 else "test")
            rows.append(
                {
                    "track": track,
                    "label": label,
                    "split": split,
                    "path": str(wav),
                    "spectrogram": f"{root}/spectrograms/{track}.h5",
                    "n_snippets": 1,
                    "n_windows": 3,
                    "duration_s": duration,
                }
            )
    return root, mel_manifest(pd.DataFrame(rows), root)


def test_mel_file_holds_the_networks_log_mel(dataset):
    """The file's patches are those the network's front end cuts from the audio itself
    (the embedding stage's and ``divconq predict``'s code), at the model's hops."""
    from divconq.data.audio import load

    root, manifest = dataset
    row = manifest.iloc[4]
    y = load(row["path"], sr=musicnn.SAMPLE_RATE)
    patches, starts, is_snippet, padded = patch_log_mels(y, PARAMS)
    got, start_s, got_snippet = read_mel_patches(row["spectrogram"], PARAMS)
    np.testing.assert_array_equal(got, patches)
    np.testing.assert_allclose(start_s, starts / 62.5)
    assert got_snippet.tolist() == is_snippet.tolist() == [True, False, False, True]
    assert not padded and got.shape == (4, 187, 96)
    mel, _ = network_log_mel(y)
    assert n_mel_patches(len(mel), PARAMS) == 4 and n_mel_patches(len(mel), PARAMS, False) == 2
    train_only, _, _ = read_mel_patches(row["spectrogram"], PARAMS, all_windows=False)
    np.testing.assert_array_equal(train_only, patches[is_snippet])
    # Other hops need no new file: every patch at 0.5 s.
    half = EmbeddingParams(hop_s=0.5, train_hop_s=3.0)
    assert len(read_mel_patches(row["spectrogram"], half)[0]) == 7  # 6 s: 0..3 s


def test_damaged_and_foreign_mel_files_are_named(dataset, tmp_path):
    root, manifest = dataset
    good = manifest["spectrogram"].iloc[0]
    data = open(good, "rb").read()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DamagedFileError, match="cut.h5"):
        read_mel_patches(cut, PARAMS)
    other = tmp_path / "other.h5"
    write_mel_hdf5(other, np.zeros((200, 96), np.float32), 3.2, False, track="x")
    import h5py

    with h5py.File(other, "r+") as h5:
        h5.attrs["n_fft"] = 1024
    with pytest.raises(ValueError, match="other.h5: not a log-mel of the musicnn front end"):
        read_mel_patches(other, PARAMS)


def test_finetune_model_starts_from_the_checkpoint():
    """Network and head: the network's output is the pretrained one, every weight
    trains, and its batch norms keep their trained statistics while training."""
    import keras

    from divconq.models.presets import build_finetune_model
    from divconq.train.keras_loop import compile_model

    model = build_finetune_model("emb_linear", 3, "msd_musicnn", "pool")
    network = model.get_layer("msd_musicnn")
    frozen = musicnn.load("msd_musicnn", layers=("pool",))
    x = np.random.default_rng(0).uniform(0, 3, (2, 187, 96)).astype(np.float32)
    np.testing.assert_allclose(
        network.predict_on_batch(x)["pool"], frozen.predict_on_batch(x)["pool"], atol=1e-5
    )
    n_network = sum(int(np.prod(w.shape)) for w in network.trainable_weights)
    assert n_network > 460_000  # every convolution up to the pool layer
    compile_model(model, 1e-3)
    before = {w.path: np.array(w) for w in network.weights}
    y = keras.utils.to_categorical([0, 2], 3)
    model.train_on_batch(x[..., None], y)
    after = {w.path: np.array(w) for w in network.weights}
    changed = {p for p in before if not np.array_equal(before[p], after[p])}
    assert any(p.endswith("conv2d/kernel") for p in changed)
    assert not any("moving_" in p for p in changed)
    with pytest.raises(ValueError, match="no head on embeddings"):
        build_finetune_model("small", 3, "msd_musicnn", "pool")


@pytest.fixture(scope="module")
def finetuned(dataset):
    from divconq.train.run import train

    root, manifest = dataset
    out = root / "models" / "ft" / "seed0"
    info = train(
        manifest,
        out,
        experiment="ft",
        seed=0,
        preset="emb_linear",
        input="musicnn_mel",
        embedding=PARAMS,
        config=CONFIG,
    )
    return out, info


def test_model_folder_holds_the_fine_tuned_network(finetuned):
    from divconq.evaluate.inference import load_model_dir

    out, info = finetuned
    assert info["n_train"] == 2 * 3  # labels x training tracks x 1 training patch (5-5.5 s)
    assert info["n_params"] > 470_000 and info["epochs_run"] == 2
    prep = json.loads((out / "preprocessing.json").read_text())
    assert prep["input"] == "musicnn_mel"
    assert prep["features"] == PARAMS.to_dict()
    assert prep["pretrained"]["trainable"] == "all"
    assert prep["pretrained"]["checkpoint"] == "MSD_musicnn"
    # No normalization in front: the network standardizes its input itself.
    assert prep["normalization"] == {"mean": [0.0] * 96, "std": [1.0] * 96}
    bundle = load_model_dir(out)
    assert bundle.window_shape == (96, 187)
    # The whole network is in the folder (~2 MB), and it was trained: it differs from
    # the checkpoint.
    assert (out / "model.keras").stat().st_size > 1_500_000
    tuned = bundle.model.get_layer("msd_musicnn").get_layer("conv2d").get_weights()[0]
    original = musicnn.load("msd_musicnn", layers=("pool",)).get_layer("conv2d").get_weights()[0]
    assert tuned.shape == original.shape and not np.array_equal(tuned, original)


def test_evaluation_and_predict_agree(dataset, finetuned, tmp_path):
    """Evaluation scores every 1-s patch from the files; ``divconq predict`` computes the
    patches from the audio: the same scores (one code path, no wheel needed)."""
    from divconq.evaluate.evaluation import evaluate, read_window_scores
    from divconq.predict.predictor import Predictor

    root, manifest = dataset
    out, _ = finetuned
    metrics = evaluate(out, manifest, tmp_path / "eval", threads=1)
    assert metrics["input"] == "musicnn_mel"
    test = manifest[manifest["split"] == "test"]
    assert metrics["splits"]["test"]["n_windows"] == 2 * 4
    ws, _ = read_window_scores(tmp_path / "eval" / "window_scores.h5")
    row = test.iloc[0]
    pred = Predictor(out).predict_file(row["path"])
    expected = ws.scores[ws.track == row["track"]]
    np.testing.assert_allclose(pred.start_s, ws.start_s[ws.track == row["track"]], atol=1e-9)
    np.testing.assert_allclose(pred.scores, expected, atol=1e-5)


def test_a_killed_fine_tuning_resumes_to_the_same_model(dataset, finetuned, tmp_path):
    from divconq.train.run import train

    root, manifest = dataset
    out, _ = finetuned
    run = tmp_path / "ft" / "seed0"
    kw = dict(experiment="ft", seed=0, preset="emb_linear", input="musicnn_mel",
              embedding=PARAMS, config=CONFIG)  # fmt: skip
    with pytest.raises(Interrupt):
        train(manifest, run, callbacks=[interrupt_after(0)], **kw)
    info = train(manifest, run, **kw)
    assert info["resumes"] == 1
    assert_same_training(out, run)


def _config(**experiment):
    return {
        "embedding": {"model": "msd_musicnn", "layer": "pool", "hop_s": 1.0, "train_hop_s": 3.0},
        "training": {"time_masks": 0, "freq_masks": 0, "gain_db": 0.0, "seeds": [0]},
        "experiments": {"e": {"enabled": True, **experiment}},
    }


def test_config_checks_of_fine_tuning():
    errors = configcheck._embedding_errors(_config(input="snippets", trainable="all"))
    assert [p for p, _ in errors] == [("experiments", "e", "trainable")]
    assert "trainable: all is for input: embeddings" in errors[0][1]
    errors = configcheck._embedding_errors(_config(input="embedding_mean", trainable="all"))
    assert [p for p, _ in errors] == [("experiments", "e", "trainable")]
    # Masks act on the network's log-mel patches; a gain in dB does not.
    ok = _config(input="embeddings", trainable="all", training={"time_masks": 2})
    assert configcheck._embedding_errors(ok) == []
    errors = configcheck._embedding_errors(
        _config(input="embeddings", trainable="all", training={"gain_db": 6.0})
    )
    assert [p for p, _ in errors] == [("experiments", "e", "training", "gain_db")]
    assert "no dB scale" in errors[0][1]


def test_fine_tuning_has_its_own_training_defaults():
    from divconq.train.config import experiment_training

    section = {"batch_size": 32, "learning_rate": 1e-4, "epochs": 30, "patience": 10}
    head = experiment_training(section, "emb_mlp")
    assert head["learning_rate"] == 1e-3 and head["batch_size"] == 128
    tuned = experiment_training(section, "emb_mlp", {"epochs": 3}, trainable="all")
    assert tuned["learning_rate"] == 1e-4 and tuned["batch_size"] == 32
    assert tuned["epochs"] == 3 and tuned["patience"] == 5


@pytest.fixture(scope="module")
def frozen_head(dataset):
    """A linear head trained on the frozen network's embedding files of the same tracks
    (written by ``divconq embed``): what ``head_from`` starts a fine-tuning from."""
    from divconq.cli import main
    from divconq.data.embeddings import embedding_path
    from divconq.split.manifest import feature_manifest
    from divconq.train.run import train

    root, manifest = dataset
    for track, wav in zip(manifest["track"], manifest["path"], strict=True):
        dst = embedding_path(root, "msd_musicnn", track)
        assert main(["embed", wav, str(dst), "--track", track, "--threads", "2"]) == 0
    emb_manifest = feature_manifest(manifest, root, "msd_musicnn")
    out = root / "models" / "head" / "seed0"
    config = {"epochs": 5, "batch_size": 4, "learning_rate": 1e-2, "threads": 2, "verbose": 0}
    train(emb_manifest, out, experiment="head", seed=0, preset="emb_linear",
          input="embeddings", layer="pool", config=config)  # fmt: skip
    return out, emb_manifest


def test_fine_tuning_from_a_trained_head_starts_where_it_ends(dataset, frozen_head, tmp_path):
    """head_from (linear probing, then fine-tuning): before its first step the model of
    network and head scores every patch as the frozen head scores its embedding."""
    from divconq.evaluate.evaluation import evaluate, read_window_scores
    from divconq.models.presets import build_finetune_model
    from divconq.train.run import read_head, train

    root, manifest = dataset
    head_dir, emb_manifest = frozen_head
    head, standardization, record = read_head(head_dir, PARAMS, ["high", "low"])
    assert record["experiment"] == "head" and len(record["sha256"]) == 64
    model = build_finetune_model(
        "emb_linear", 2, "msd_musicnn", "pool", standardization=standardization, head=head
    )
    evaluate(head_dir, emb_manifest, tmp_path / "eval_head", threads=1)
    ws, _ = read_window_scores(tmp_path / "eval_head" / "window_scores.h5")
    scored = manifest[manifest["split"] != "train"]  # what evaluate scores
    for track, path in zip(scored["track"], scored["spectrogram"], strict=True):
        patches, _, _ = read_mel_patches(path, PARAMS)
        np.testing.assert_allclose(
            model.predict_on_batch(patches[..., None]), ws.scores[ws.track == track], atol=1e-4
        )
    out = tmp_path / "ft" / "seed0"
    info = train(manifest, out, experiment="ft", seed=0, preset="emb_linear",
                 input="musicnn_mel", embedding=PARAMS, head_from=head_dir,
                 config={**CONFIG, "epochs": 1})  # fmt: skip
    assert info["epochs_run"] == 1
    prep = json.loads((out / "preprocessing.json").read_text())
    assert prep["pretrained"]["head_from"] == record
    # A head on another layer cannot start it.
    with pytest.raises(ValueError, match="cannot start a fine-tuning"):
        read_head(head_dir, EmbeddingParams(layer="tags"), ["high", "low"])


def test_config_checks_of_head_from():
    def errors(**experiments):
        config = _config(input="embeddings", trainable="all", model="emb_mlp")
        config["experiments"].update(experiments)
        return [(p[-1], m) for p, m in configcheck._embedding_errors(config)]

    head = {"enabled": True, "input": "embeddings", "model": "emb_mlp"}
    config = _config(input="embeddings", trainable="all", model="emb_mlp", head_from="mlp")
    config["experiments"]["mlp"] = head
    assert configcheck._embedding_errors(config) == []
    config["experiments"]["e"]["head_from"] = "mpl"
    (path, message), *_ = configcheck._embedding_errors(config)
    assert path[-1] == "head_from" and "did you mean 'mlp'" in message
    config["experiments"]["e"]["head_from"] = "mlp"
    config["experiments"]["mlp"] = {**head, "model": "emb_linear", "seeds": [1]}
    (path, message), *_ = configcheck._embedding_errors(config)
    assert "same model preset" in message and "seeds [0]" in message
    config["experiments"]["mlp"] = head
    config["experiments"]["e"]["trainable"] = "head"
    assert any("for trainable: all only" in m for _, m in configcheck._embedding_errors(config))
    assert errors() == []
