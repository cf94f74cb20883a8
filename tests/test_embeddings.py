"""The embedding stage's pieces: patch positions, parameters, the HDF5 file, the config
checks, and a head trained on embedding files through divconq's own training code."""

import importlib.util

import numpy as np
import pandas as pd
import pytest

from divconq import configcheck
from divconq.data.embeddings import (
    EmbeddingParams,
    TrackEmbeddings,
    embedding_path,
    read_hdf5,
    window_frames,
    write_hdf5,
)
from divconq.models import musicnn
from divconq.shared.errors import DamagedFileError
from divconq.split.manifest import feature_manifest

HAVE_WHEEL = importlib.util.find_spec("musicnn") is not None
needs_wheel = pytest.mark.skipif(
    not HAVE_WHEEL, reason="musicnn wheel not installed: pip install --no-deps musicnn==0.1.0"
)


def test_window_frames_on_the_second():
    # 62.5 frames per second: starts alternate 62 and 63 frames apart, on the second.
    starts = window_frames(187 + 5 * 62 + 3, 1.0)
    assert starts.tolist() == [0, 62, 125, 188, 250, 312]
    assert window_frames(186, 1.0).size == 0
    assert window_frames(187, 1.0).tolist() == [0]
    # Non-overlapping 3-s patches.
    assert window_frames(187 * 3, 3.0).tolist() == [0, 188]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model": "msd_musicnnn"}, "unknown embedding model"),
        ({"model": "msd_vgg", "layer": "penultimate"}, "offers pool, tags"),
        ({"hop_s": 1.0, "train_hop_s": 2.5}, "multiple of hop_s"),
        ({"hop_s": 0.0}, "positive"),
    ],
)
def test_bad_params_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EmbeddingParams(**kwargs)


def test_params_round_trip_and_file_keys():
    p = EmbeddingParams(model="mtt_musicnn", layer="tags", hop_s=0.5, train_hop_s=1.5)
    assert EmbeddingParams.from_dict(p.to_dict()) == p
    assert p.file_dict() == {"model": "mtt_musicnn", "hop_s": 0.5, "train_hop_s": 1.5}
    assert p.train_step == 3 and p.width == 50 and p.sample_rate == 16000
    with pytest.raises(ValueError, match="unknown embedding parameters: hop"):
        EmbeddingParams.from_dict({"hop": 1})


def _fake(n=5, seed=0):
    rng = np.random.default_rng(seed)
    layers = {
        name: rng.random((n, width), dtype=np.float32)
        for name, width in musicnn.CHECKPOINTS["msd_musicnn"].layers.items()
    }
    return TrackEmbeddings(
        layers=layers,
        start_s=np.arange(n, dtype=np.float64),
        is_snippet=np.arange(n) % 3 == 0,
        duration_s=n + 2.0,
        padded=False,
    )


@needs_wheel
def test_hdf5_round_trip_and_damage(tmp_path):
    emb = _fake()
    path = tmp_path / "a" / "x.h5"
    write_hdf5(path, emb, EmbeddingParams(), track="a/x", label="a", source_path="/src/x.wav")
    values, start_s, is_snippet, attrs = read_hdf5(path, "pool")
    np.testing.assert_array_equal(values, emb.layers["pool"])
    np.testing.assert_array_equal(is_snippet, emb.is_snippet)
    assert attrs["track"] == "a/x" and attrs["model"] == "msd_musicnn"
    # Bit rot in the data: a checksum error naming the file and how to rebuild it.
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DamagedFileError, match=str(path)):
        read_hdf5(path, "pool")


def test_feature_manifest_points_at_embedding_files():
    manifest = pd.DataFrame(
        {
            "track": ["a/x", "b/y"],
            "label": ["a", "b"],
            "split": ["train", "val"],
            "path": ["/d/a/x.wav", "/d/b/y.wav"],
            "spectrogram": ["r/spectrograms/a/x.h5", "r/spectrograms/b/y.h5"],
            "n_snippets": [1, 1],
            "n_windows": [1, 1],
            "duration_s": [3.0, 3.0],
        }
    )
    out = feature_manifest(manifest, "r", "msd_vgg")
    assert out["spectrogram"].tolist() == [
        str(embedding_path("r", "msd_vgg", "a/x")),
        "r/embeddings/msd_vgg/b/y.h5",
    ]
    assert manifest["spectrogram"][0] == "r/spectrograms/a/x.h5"  # a copy


def _config(**experiment):
    return {
        "embedding": {"model": "msd_musicnn", "layer": "pool", "hop_s": 1.0, "train_hop_s": 3.0},
        "training": {"time_masks": 0, "freq_masks": 0, "gain_db": 0.0},
        "experiments": {"e": {"enabled": True, **experiment}},
    }


def test_config_checks_of_embedding_experiments():
    errors = configcheck._embedding_errors(
        _config(input="embeddings", embedding={"model": "mtt_vgg", "layer": "penultimate"})
    )
    assert any("mtt_vgg has no penultimate" in m for _, m in errors)
    errors = configcheck._embedding_errors(_config(input="embeddings", training={"time_masks": 2}))
    assert [p for p, _ in errors] == [("experiments", "e", "training", "time_masks")]
    errors = configcheck._embedding_errors(_config(input="snippets", embedding={"layer": "tags"}))
    assert "input: embeddings or embedding_mean only" in errors[0][1]
    errors = configcheck._embedding_errors(
        _config(input="embedding_mean", training={"sampling": "epoch"})
    )
    assert [p for p, _ in errors] == [("experiments", "e", "training", "sampling")]
    assert "one sample per track" in errors[0][1]
    assert configcheck._embedding_errors(_config(input="embeddings")) == []
    cfg = _config(input="embeddings", embedding={"layer": "tags"})
    assert configcheck.experiment_embedding(cfg, "e") == {"model": "msd_musicnn", "layer": "tags"}


def _write_set(root, n_per_label=4, width_seed=0):
    """Embedding files of two labels whose pool vectors differ in their mean."""
    rng = np.random.default_rng(width_seed)
    rows = []
    for label, shift in (("calm", 0.0), ("loud", 0.6)):
        for i in range(n_per_label):
            emb = _fake(n=6, seed=int(rng.integers(1 << 30)))
            emb.layers["pool"] += shift
            track = f"{label}/{label}.{i}"
            path = embedding_path(root, "msd_musicnn", track)
            write_hdf5(path, emb, EmbeddingParams(), track=track, label=label, source_path="-")
            split = "train" if i < n_per_label - 2 else ("val" if i == n_per_label - 2 else "test")
            rows.append(
                {
                    "track": track,
                    "label": label,
                    "split": split,
                    "path": "-",
                    "spectrogram": f"{root}/spectrograms/{track}.h5",
                    "n_snippets": 2,
                    "n_windows": 6,
                    "duration_s": 8.0,
                }
            )
    return pd.DataFrame(rows)


@needs_wheel
def test_a_head_trains_and_scores_through_the_common_code(tmp_path):
    """Training, the model folder and evaluation of an embedding head use the code of
    the spectrogram models: samples are (1, width, 1), normalized per dimension."""
    from divconq.evaluate.evaluation import evaluate
    from divconq.evaluate.inference import load_model_dir
    from divconq.train.run import train

    manifest = feature_manifest(_write_set(tmp_path), tmp_path, "msd_musicnn")
    out = tmp_path / "models" / "emb" / "seed0"
    info = train(
        manifest,
        out,
        experiment="emb",
        seed=0,
        preset="emb_linear",
        input="embeddings",
        layer="pool",
        config={"epochs": 3, "batch_size": 4, "threads": 1, "verbose": 0},
    )
    assert info["n_train"] == 2 * 2 * 2  # 2 labels x 2 tracks x 2 training patches
    bundle = load_model_dir(out)
    assert bundle.input == "embeddings" and bundle.window_shape == (1506, 1)
    assert bundle.params == EmbeddingParams()
    metrics = evaluate(out, manifest, tmp_path / "eval", threads=1)
    assert metrics["input"] == "embeddings"
    assert metrics["splits"]["test"]["n_windows"] == 2 * 6
    # A file embedded with another checkpoint is refused, naming it.
    other = manifest.copy()
    other.loc[other["split"] == "test", "spectrogram"] = str(tmp_path / "vgg.h5")
    emb = _fake()
    emb.layers = {"pool": emb.layers["pool"], "tags": emb.layers["tags"]}
    write_hdf5(tmp_path / "vgg.h5", emb, EmbeddingParams(model="msd_vgg"), track="x")
    with pytest.raises(ValueError, match="vgg.h5: embeddings differ from the model's"):
        evaluate(out, other, tmp_path / "eval2", threads=1)


@needs_wheel
def test_epoch_sampling_draws_from_every_patch(tmp_path):
    """training.sampling: epoch on embeddings loads every patch (1-s hop) of the training
    tracks and draws a fresh set each epoch, as for spectrogram windows."""
    from divconq.train.run import train

    manifest = feature_manifest(_write_set(tmp_path), tmp_path, "msd_musicnn")
    config = {"epochs": 2, "batch_size": 4, "threads": 1, "verbose": 0}
    config |= {"sampling": "epoch", "windows_per_track": 3}
    info = train(
        manifest, tmp_path / "m", preset="emb_mlp", input="embeddings", layer="pool", config=config
    )
    assert info["n_train_windows"] == 2 * 2 * 6  # every patch of the 4 training tracks
    assert info["n_train"] == 2 * 2 * 3  # windows_per_track of each, drawn per epoch


@needs_wheel
def test_predict_without_the_weights_names_the_package(tmp_path, monkeypatch, capsys):
    """No wheel (offline, or not installed): ``divconq predict`` with an embedding model
    stops before any file with exit code 3 and the install command."""
    from importlib import metadata

    from divconq.cli import main
    from divconq.train.run import train

    manifest = feature_manifest(_write_set(tmp_path), tmp_path, "msd_musicnn")
    out = tmp_path / "model"
    config = {"epochs": 1, "batch_size": 4, "threads": 1, "verbose": 0}
    train(manifest, out, preset="emb_linear", input="embeddings", layer="pool", config=config)

    def not_found(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(musicnn.metadata, "distribution", not_found)
    song = tmp_path / "song.wav"
    song.write_bytes(b"never decoded")
    code = main(["predict", str(song), "--model", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3
    assert "`pip install --no-deps musicnn==0.1.0`" in err and "song.wav" not in err


@needs_wheel
def test_mean_embedding_head_has_one_input_per_track(tmp_path):
    """input: embedding_mean trains on one vector per track, the mean of its patches,
    and scores a track once with the same vector (no window level)."""
    from divconq.evaluate.evaluation import evaluate, read_window_scores
    from divconq.evaluate.inference import load_model_dir
    from divconq.train.run import train

    manifest = feature_manifest(_write_set(tmp_path), tmp_path, "msd_musicnn")
    out = tmp_path / "models" / "mean" / "seed0"
    info = train(
        manifest,
        out,
        experiment="mean",
        seed=0,
        preset="emb_linear_mean",
        input="embedding_mean",
        layer="pool",
        config={"epochs": 3, "batch_size": 2, "threads": 1, "verbose": 0},
    )
    assert info["n_train"] == 2 * 2  # one sample per training track
    metrics = evaluate(out, manifest, tmp_path / "eval", threads=1)
    assert metrics["rules"] == ["clip"]
    test = metrics["splits"]["test"]
    assert test["n_tracks"] == 2 and test["n_windows"] == 0
    ws, _ = read_window_scores(tmp_path / "eval" / "window_scores.h5")
    assert ws.input == "embedding_mean" and len(ws.track) == 4  # 2 val + 2 test tracks
    # The score of a track is the head's on the normalized mean of its pool vectors.
    bundle = load_model_dir(out)
    row = manifest[manifest["split"] == "test"].iloc[0]
    values, _, _, _ = read_hdf5(row["spectrogram"], "pool")
    mean = values.mean(axis=0, dtype=np.float64).astype(np.float32)
    x = ((mean - bundle.mean) / bundle.std)[None, None, :, None]
    expected = np.asarray(bundle.model.predict_on_batch(x))[0]
    np.testing.assert_allclose(ws.scores[list(ws.track).index(row["track"])], expected, atol=1e-6)
