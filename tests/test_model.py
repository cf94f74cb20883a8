"""Model presets: shapes, parameter counts, the layer table, and inference loading."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

keras = pytest.importorskip("keras")

# Keras' own callbacks call np.array on variables (a NumPy 2 DeprecationWarning).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

from divconq.data.features import FeatureParams  # noqa: E402
from divconq.models.presets import PRESETS, build_model, get_preset, layer_table, summary_table  # noqa: E402


@pytest.mark.parametrize(
    "preset, input_shape, low, high, steps",
    [
        ("article", (130, 100, 1), 350_000, 450_000, 8),
        ("article_30s", (1292, 100, 1), 150_000, 260_000, 13),
        ("small", (130, 100, 1), 20_000, 120_000, 4),
        ("small_30s", (1292, 100, 1), 20_000, 120_000, 6),
    ],
)
def test_preset_shapes_and_parameters(preset, input_shape, low, high, steps):
    model = build_model(preset, 10, input_shape)
    assert model.input_shape == (None, *input_shape)
    assert model.output_shape == (None, 10)
    assert low <= model.count_params() <= high
    # The conv blocks squeeze the mel axis to 1 and keep a time axis for the GRU.
    seq = model.get_layer("to_sequence").output.shape
    assert seq[1] == steps and steps > 1
    pool4 = model.get_layer("pool4").output.shape
    assert pool4[2] == 1


def test_article_is_half_of_article_30s_or_less():
    a = build_model("article", 10, (130, 100, 1)).count_params()
    b = build_model("article_30s", 10, (1292, 100, 1)).count_params()
    assert 0.4 * a <= b <= 0.65 * a


def test_outputs_are_probabilities():
    model = build_model("small", 4, (130, 100, 1))
    x = np.random.default_rng(0).normal(size=(3, 130, 100, 1)).astype(np.float32)
    p = keras.ops.convert_to_numpy(model(x, training=False))
    assert p.shape == (3, 4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_custom_input_shape_clips_pools():
    # A shorter snippet (e.g. 1 s, 44 frames x 40 mels) still builds: pools are clipped.
    model = build_model("small", 3, (44, 40, 1))
    assert model.output_shape == (None, 3)


def test_mixed_precision_keeps_float32_softmax():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model("small", 3, (130, 100, 1))
        assert model.get_layer("conv1").compute_dtype == "float16"
        assert model.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown model preset"):
        get_preset("huge")


def test_layer_table_and_summary():
    rows = layer_table(build_model("article", 10, (130, 100, 1)))
    assert rows[0]["type"] == "InputLayer"
    assert sum(r["params"] for r in rows) == build_model("article", 10).count_params()
    table = summary_table("small")
    assert table.startswith("| layer |") and "**total**" in table
    assert set(PRESETS) == {
        *("article", "article_30s", "small", "small_30s", "band_stats"),
        *("emb_linear", "emb_mlp", "emb_linear_mean", "emb_mlp_mean"),
    }


CRNNS = sorted(n for n, p in PRESETS.items() if p.architecture == "crnn")


@pytest.mark.parametrize("name", CRNNS)
def test_each_preset_builds_on_its_own_input(name):
    # summary_table's default shape comes from the preset's `input` field, not its name.
    preset = get_preset(name)
    assert preset.input in ("snippets", "clip")
    model = build_model(name, 10, preset.example_shape)
    assert model.get_layer("pool4").output.shape[2] == 1
    assert f"{preset.example_shape[0] // (preset.input_pool or (1, 1))[0]}x" in summary_table(name)


def test_band_statistics_match_numpy():
    from divconq.models.band_stats import EPSILON, BandStatistics

    x = np.random.default_rng(4).normal(size=(3, 130, 100, 1)).astype(np.float32)
    x[1] *= 5.0  # another level and spread
    got = keras.ops.convert_to_numpy(BandStatistics()(x))
    v = x[..., 0]
    expected = np.concatenate(
        [v.mean(1), np.sqrt(v.var(1) + EPSILON), np.abs(np.diff(v, axis=1)).mean(1)], axis=1
    )
    assert got.shape == (3, 300)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_band_stats_preset():
    spec = get_preset("band_stats")
    assert spec.architecture == "band_stats" and spec.input == "snippets"
    model = build_model("band_stats", 8)
    assert model.input_shape == (None, 130, 100, 1) and model.output_shape == (None, 8)
    assert model.get_layer("band_stats").output.shape[1:] == (300,)
    assert model.get_layer("stats_bn").output.shape[1:] == (300,)
    assert 30_000 <= model.count_params() <= 50_000
    # The L2 weight decay is on: a loss term for each dense kernel.
    x = np.zeros((2, 130, 100, 1), np.float32)
    model(x, training=True)
    assert len(model.losses) == 2
    # Any snippet length and band count (a custom feature setup) builds.
    assert build_model("band_stats", 3, (44, 40, 1)).get_layer("band_stats").output.shape[1] == 120
    assert "| band_stats | BandStatistics | 300 |" in summary_table("band_stats", 8)
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model(replace(spec, architecture="transformer"), 8)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_training_settings_are_training_keys(name):
    """A preset's own training settings build a TrainConfig; an experiment's win over them."""
    from divconq.train.config import TrainConfig, experiment_training

    section = {"epochs": 10, "batch_size": 32, "learning_rate": 2e-3, "patience": 3}
    merged = experiment_training(section, name, {"patience": 7})
    cfg = TrainConfig.from_dict(merged)
    assert cfg.patience == 7
    for key, value in get_preset(name).training:
        if key != "patience":  # the experiment's own
            assert getattr(cfg, key) == value
    # the experiment's own setting beats the preset's, and nothing is changed in place
    assert experiment_training(section, name, {"batch_size": 8})["batch_size"] == 8
    assert section["batch_size"] == 32


def test_band_stats_brings_its_training_settings():
    from divconq.train.config import experiment_training

    merged = experiment_training({"batch_size": 32, "epochs": 10, "patience": 3}, "band_stats")
    assert merged == {"batch_size": 200, "epochs": 200, "learning_rate": 1e-3, "patience": 3}
    assert get_preset("small").training == ()


def test_small_30s_is_small_on_clips():
    small, clip = build_model("small", 10), build_model("small_30s", 10, (1292, 100, 1))
    assert abs(clip.count_params() - small.count_params()) < 0.05 * small.count_params()


# ---------------------------------------------------------------------------
# divconq.evaluate.inference on a hand-made model directory


def _model_dir(tmp_path, n_classes=3, input="snippets", preset="small"):
    from divconq.evaluate.inference import MODEL_FILE, PREPROCESSING_FILE

    params = FeatureParams()
    frames = params.n_clip_frames if input == "clip" else params.n_frames
    model = build_model(preset, n_classes, (frames, params.n_mels, 1))
    d = tmp_path / "seed0"
    d.mkdir()
    model.save(d / MODEL_FILE)
    rng = np.random.default_rng(1)
    pre = {
        "class_names": [f"c{i}" for i in range(n_classes)],
        "features": params.to_dict(),
        "input": input,
        "normalization": {
            "mean": rng.normal(-30, 5, params.n_mels).tolist(),
            "std": rng.uniform(5, 15, params.n_mels).tolist(),
        },
        "experiment": "x",
        "seed": 0,
        "preset": preset,
    }
    (d / PREPROCESSING_FILE).write_text(json.dumps(pre))
    return d, model, pre


@pytest.mark.parametrize("preset", ["small", "band_stats"])
def test_inference_matches_manual_preprocessing(tmp_path, preset):
    from divconq.evaluate import inference

    d, model, pre = _model_dir(tmp_path, preset=preset)
    bundle = inference.load_model_dir(d)
    assert bundle.class_names == ["c0", "c1", "c2"] and bundle.input == "snippets"
    assert bundle.params == FeatureParams()
    mel = np.random.default_rng(2).normal(-30, 10, (7, 100, 130)).astype(np.float32)
    scores = inference.score_windows(bundle, mel, batch_size=3)
    mean = np.asarray(pre["normalization"]["mean"], np.float32)[:, None]
    std = np.asarray(pre["normalization"]["std"], np.float32)[:, None]
    x = ((mel - mean) / std).transpose(0, 2, 1)[..., None]
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    assert scores.shape == (7, 3) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-6)
    # Batching does not change the scores.
    np.testing.assert_allclose(inference.score_windows(bundle, mel, 256), scores, atol=1e-6)
    with pytest.raises(ValueError, match="snippets model; use score_windows"):
        inference.score_clip(bundle, mel[0])
    with pytest.raises(ValueError, match="shape"):
        inference.score_windows(bundle, mel[:, :50])


def test_inference_clip_model(tmp_path):
    from divconq.evaluate import inference

    d, _, _ = _model_dir(tmp_path, n_classes=2, input="clip")
    bundle = inference.load_model_dir(d)
    clip = np.zeros((100, FeatureParams().n_clip_frames), np.float32)
    s = inference.score_clip(bundle, clip)
    assert s.shape == (1, 2)
    with pytest.raises(ValueError, match="clip model; use score_clip"):
        inference.score_windows(bundle, clip[None, :, :130])


def test_inference_names_missing_parts(tmp_path):
    from divconq.evaluate import inference

    with pytest.raises(FileNotFoundError, match="does not exist"):
        inference.load_model_dir(tmp_path / "nope")
    d, _, _ = _model_dir(tmp_path)
    (d / "model.keras").unlink()
    with pytest.raises(FileNotFoundError, match="model.keras"):
        inference.load_model_dir(d)
    (d / "preprocessing.json").unlink()
    with pytest.raises(FileNotFoundError, match="model.keras and no preprocessing.json"):
        inference.load_model_dir(d)


def test_inference_rejects_bad_preprocessing(tmp_path):
    from divconq.evaluate import inference

    d, _, pre = _model_dir(tmp_path)
    del pre["normalization"]
    (d / "preprocessing.json").write_text(json.dumps(pre))
    with pytest.raises(ValueError, match="normalization"):
        inference.load_model_dir(d)
    pre["normalization"] = {"mean": [0.0] * 100, "std": [1.0] * 100}
    pre["class_names"] = ["a", "b"]
    (d / "preprocessing.json").write_text(json.dumps(pre))
    with pytest.raises(ValueError, match="3 outputs"):
        inference.load_model_dir(d)


@pytest.mark.parametrize("preset", ["article", "small"])
def test_folding_batch_norm_keeps_the_scores(preset):
    """Inference merges each conv + batch norm into one conv with a bias: the layers
    go, the scores stay (trained-looking normalization statistics, not the identity)."""
    from divconq.evaluate.inference import fold_batch_norm

    rng = np.random.default_rng(3)
    model = build_model(preset, 4)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights(
                [rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n), rng.normal(0, 0.3, n),
                 rng.uniform(0.2, 2.0, n)]
            )  # fmt: skip
    folded = fold_batch_norm(model)
    kinds = [type(layer).__name__ for layer in folded.layers]
    assert "BatchNormalization" not in kinds
    assert kinds.count("Conv2D") == len(get_preset(preset).filters)
    x = rng.normal(0, 1, (3, 130, 100, 1)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(folded(x, training=False)), expected, rtol=0, atol=1e-6
    )
    # A model with nothing to fold is returned as it is.
    inp = keras.Input((8, 8, 1))
    plain = keras.Model(inp, keras.layers.Conv2D(2, 3, activation="relu")(inp))
    assert fold_batch_norm(plain) is plain


def test_fused_batchnorm_matches_keras_batchnorm():
    import tensorflow as tf

    from divconq.models.batchnorm import FusedBatchNormalization

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(3, 2, (8, 65, 50, 16)).astype("float32"))
    fused = FusedBatchNormalization(momentum=0.9)
    plain = keras.layers.BatchNormalization(momentum=0.9)
    for layer in (fused, plain):
        layer.build(x.shape)
    for w in fused.weights:
        value = rng.normal(0, 0.1, w.shape) + (1.0 if "variance" in w.path else 0.0)
        w.assign(value.astype("float32"))
    plain.set_weights(fused.get_weights())
    # Inference: the same code (moving statistics).
    np.testing.assert_array_equal(fused(x, training=False), plain(x, training=False))
    # Training: batch statistics; the same outputs, gradients and moving statistics.
    out, grads = [], []
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.sin(x))
        out.append(y.numpy())
        grads.append(tape.gradient(loss, [x, *layer.trainable_weights]))
    np.testing.assert_allclose(out[0], out[1], atol=2e-5)
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-3)
    for a, b in zip(fused.weights, plain.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)


def test_fused_batchnorm_model_round_trips(tmp_path):
    """A fused model's .keras file (a resume checkpoint) loads back with its layer,
    and its weights go into the Keras-layer model that is exported."""
    import divconq.models.batchnorm  # noqa: F401

    fused = build_model("small", 5, fused_batchnorm=True)
    plain = build_model("small", 5)
    assert type(plain.get_layer("bn1")) is keras.layers.BatchNormalization
    rng = np.random.default_rng(1)
    for w in fused.weights:
        value = rng.normal(0, 0.1, w.shape) + (1.0 if "variance" in w.path else 0.0)
        w.assign(value.astype("float32"))
    fused.save(tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    assert type(back.get_layer("bn2")).__name__ == "FusedBatchNormalization"
    plain.set_weights(back.get_weights())
    x = rng.normal(0, 1, (2, 130, 100, 1)).astype("float32")
    np.testing.assert_array_equal(back(x, training=False), fused(x, training=False))
    np.testing.assert_array_equal(plain(x, training=False), fused(x, training=False))
