"""divconq.models.musicnn: the Keras rebuild of the pretrained musicnn networks against the
checkpoints' own TF1 graphs (tests/musicnn_reference.py), and its front end against
librosa."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import librosa
import numpy as np
import pytest

from divconq.data.synth import synthesize_track
from divconq.models import musicnn
from divconq.shared.errors import PretrainedWeightsMissing
from divconq.shared.melspec import melspectrogram_power

# The rebuild must equal the original graph to 1e-4 (absolute) plus 1e-5 of the value.
# Both run float32 convolutions whose sums are ordered differently (~1 ulp apart);
# the batch norms that follow multiply those differences by up to ~10, and the pool
# layer reaches ~85 (float32's ulp there: 7.6e-6): its largest differences are
# 6e-5 to 1e-4 (with TF_ENABLE_ONEDNN_OPTS=0), the other layers' below 2e-5.
ATOL, RTOL = 1e-4, 1e-5


def _wheel_installed() -> bool:
    try:
        musicnn.checkpoint_dir("msd_musicnn")
    except PretrainedWeightsMissing:
        return False
    return True


needs_weights = pytest.mark.skipif(
    not _wheel_installed(),
    reason="musicnn wheel not installed: pip install --no-deps musicnn==0.1.0",
)


@pytest.fixture(scope="module")
def music():
    """7 s of synthetic metal at 16 kHz: loud enough that its mel power exceeds the
    float16 log's overflow point (6.55) in places."""
    return synthesize_track("metal", 0, duration_s=7.0, sample_rate=musicnn.SAMPLE_RATE)


@pytest.fixture(scope="module")
def networks():
    """``get(name)`` -> (Keras rebuild, original graph); each built once per module."""
    from musicnn_reference import ReferenceGraph

    built = {}

    def get(name):
        if name not in built:
            prefix = str(musicnn.checkpoint_dir(name)) + "/"
            arch = musicnn.CHECKPOINTS[name].architecture
            built[name] = (musicnn.load(name), ReferenceGraph(prefix, arch))
        return built[name]

    yield get
    for _, reference in built.values():
        reference.close()


def _random_patches(n=4, seed=0):
    # Values of the range of real log-mels (log10(10000 x + 1) of mel power).
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 4, (n, musicnn.PATCH_FRAMES, musicnn.N_MELS)).astype(np.float32)


# --- the networks -----------------------------------------------------------------


@needs_weights
@pytest.mark.parametrize("source", ["random", "music"])
@pytest.mark.parametrize("name", list(musicnn.CHECKPOINTS))
def test_rebuild_equals_original_graph(networks, music, name, source):
    if source == "random":
        x = _random_patches()
    else:
        x = musicnn.patches(musicnn.log_mel(music), hop_frames=94)
        assert len(x) == 3
    model, reference = networks(name)
    expected = reference(x)
    # A batch size that splits the patches: embed's batching must not matter.
    got = musicnn.embed(x, model, batch_size=3)
    spec = musicnn.CHECKPOINTS[name]
    assert set(got) == set(expected) == set(spec.layers)
    for layer, width in spec.layers.items():
        assert got[layer].shape == expected[layer].shape == (len(x), width)
        assert got[layer].dtype == np.float32
        np.testing.assert_allclose(
            got[layer], expected[layer], rtol=RTOL, atol=ATOL, err_msg=f"{name} {layer}"
        )
    assert np.all((got["tags"] > 0) & (got["tags"] < 1))


@needs_weights
def test_reference_graph_takes_187_by_96_patches(networks):
    _, reference = networks("msd_musicnn")
    assert reference.input_shape == (-1, musicnn.PATCH_FRAMES, musicnn.N_MELS)


def test_layers_offered():
    assert dict(musicnn.CHECKPOINTS["msd_musicnn"].layers) == {
        "pool": 1506,
        "penultimate": 200,
        "tags": 50,
    }
    assert dict(musicnn.CHECKPOINTS["mtt_vgg"].layers) == {"pool": 256, "tags": 50}
    for spec in musicnn.CHECKPOINTS.values():
        assert len(spec.tags) == spec.layers["tags"] == 50
    assert musicnn.CHECKPOINTS["mtt_musicnn"].tags[:3] == ("guitar", "classical", "slow")
    assert musicnn.CHECKPOINTS["msd_vgg"].tags[:3] == ("rock", "pop", "alternative")


def test_vgg_has_no_penultimate_layer():
    with pytest.raises(ValueError, match="offers the layers pool, tags; not 'penultimate'"):
        musicnn.build("msd_vgg", ("pool", "penultimate"))
    with pytest.raises(ValueError, match="unknown musicnn checkpoint"):
        musicnn.build("msd_resnet")


@needs_weights
def test_pool_only_network_leaves_out_the_back_end(networks):
    full, _ = networks("msd_musicnn")
    pool_only = musicnn.load("msd_musicnn", layers="pool")
    names = {layer.name for layer in pool_only.layers}
    assert "batch_normalization_8" in names and not names & {"dense", "dense_1"}
    x = _random_patches(2, seed=1)
    np.testing.assert_allclose(
        musicnn.embed(x, pool_only)["pool"], musicnn.embed(x, full)["pool"], atol=1e-5
    )
    assert musicnn.load("msd_musicnn", layers=("pool",)) is pool_only  # cached


@needs_weights
def test_load_weights_fails_loudly(networks):
    import keras

    # Another architecture's checkpoint.
    with pytest.raises(ValueError, match="no vgg checkpoint scope"):
        musicnn.load_weights(musicnn.build("msd_musicnn", "pool"), "msd_vgg")
    # A network of one temporal block: the other blocks' variables would go unused.
    full, _ = networks("msd_musicnn")
    front = keras.Model(full.input, full.get_layer("batch_normalization_5").output)
    with pytest.raises(ValueError, match="variables the network does not use") as info:
        musicnn.load_weights(front, "msd_musicnn")
    assert "'conv2d_5/kernel'" in str(info.value) and "'conv2d_4/kernel'" not in str(info.value)


@needs_weights
def test_trainable_network_has_dropout_and_is_not_cached():
    model = musicnn.load("mtt_vgg", trainable=True)
    assert model.trainable and model.trainable_weights
    assert any(isinstance(layer, __import__("keras").layers.Dropout) for layer in model.layers)
    assert musicnn.load("mtt_vgg", trainable=True) is not model


@needs_weights
def test_embed_no_patches(networks):
    model, _ = networks("mtt_vgg")
    out = musicnn.embed(np.zeros((0, 187, 96), np.float32), model)
    assert {k: v.shape for k, v in out.items()} == {"pool": (0, 256), "tags": (0, 50)}
    with pytest.raises(ValueError, match="patches have shape"):
        musicnn.embed(np.zeros((2, 96, 187), np.float32), model)


# --- the weights ------------------------------------------------------------------


def test_missing_wheel_names_package_and_install_command(monkeypatch):
    def not_found(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(musicnn.metadata, "distribution", not_found)
    for call in (musicnn.checkpoint_dir, musicnn.weights_info):
        with pytest.raises(PretrainedWeightsMissing) as info:
            call("msd_musicnn")
        message = str(info.value)
        assert "musicnn==0.1.0" in message
        assert "`pip install --no-deps musicnn==0.1.0`" in message
        assert "make install" in message


@needs_weights
def test_weights_info():
    info = musicnn.weights_info("mtt_vgg")
    assert info["package"] == "musicnn" and info["version"] == "0.1.0"
    assert info["license"] == "ISC" and "Pons" in info["citation"]
    assert info["checkpoint"].endswith("MTT_vgg")
    with open(info["license_file"]) as f:  # the ISC licence's text
        assert "Permission to use, copy, modify, and/or distribute" in f.read()


def test_import_stays_light():
    code = (
        "import sys, divconq.models.musicnn; "
        "assert not {'tensorflow', 'keras', 'librosa'} & set(sys.modules), sys.modules.keys()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the front end ----------------------------------------------------------------


def _librosa_power(y):
    return librosa.feature.melspectrogram(
        y=y, sr=musicnn.SAMPLE_RATE, hop_length=musicnn.HOP, n_fft=musicnn.N_FFT, n_mels=96
    )


def test_melspectrogram_power_equals_librosa(music):
    got = melspectrogram_power(music, musicnn.SAMPLE_RATE, musicnn.N_FFT, musicnn.HOP, 96)
    expected = _librosa_power(music)
    assert got.shape == expected.shape == (96, 1 + len(music) // musicnn.HOP)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-8 * expected.max())


def test_log_mel_equals_musicnn_batch_data(music):
    got = musicnn.log_mel(music)
    # musicnn's batch_data: float16 power, then np.log10(10000 * x + 1) as numpy < 1.17
    # computed it (the float16 array times the int 10000 promoted to float32).
    power16 = _librosa_power(music).T.astype(np.float16)
    expected = np.log10(np.float32(10000) * power16.astype(np.float32) + 1)
    assert got.shape == (1 + len(music) // musicnn.HOP, 96) and got.dtype == np.float32
    # One float16 step of the power moves the log by up to ~4e-4.
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)
    # numpy 2 keeps float16 and overflows where the power exceeds 6.55: the reason
    # log_mel writes the float32 arithmetic out.
    with np.errstate(over="ignore"):
        assert np.isinf(np.log10(10000 * power16 + 1)).any()
    assert np.isfinite(got).all()


def test_patch_starts():
    assert list(musicnn.patch_starts(187)) == [0]
    assert list(musicnn.patch_starts(500)) == [0, 187]  # the last 126 frames are left out
    assert list(musicnn.patch_starts(500, 62)) == [0, 62, 124, 186, 248, 310]
    assert list(musicnn.patch_starts(10, 62)) == [0]
    with pytest.raises(ValueError):
        musicnn.patch_starts(500, 0)
    with pytest.raises(ValueError):
        musicnn.patch_starts(0)


def test_patches_hop_and_repeat_padding():
    mel = np.arange(400 * 96, dtype=np.float32).reshape(400, 96)
    out = musicnn.patches(mel, hop_frames=62)
    assert out.shape == (4, 187, 96) and out.dtype == np.float32
    np.testing.assert_array_equal(out[2], mel[124:311])
    # Shorter than a patch: the mel again and again up to 187 frames.
    short = mel[:50]
    (patch,) = musicnn.patches(short)
    np.testing.assert_array_equal(patch, np.concatenate([short] * 3 + [short[:37]]))
    with pytest.raises(ValueError, match="shape"):
        musicnn.patches(mel.T)
