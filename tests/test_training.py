"""Training: data loading, train-only normalization, determinism, resumption."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Interrupt, assert_same_training, interrupt_after, model_weights

from divconq.data.features import FeatureParams, TrackFeatures, summarize_hdf5, write_hdf5
from divconq.split import write_manifest
from divconq.train.run import (
    TrainConfig,
    band_statistics,
    class_names_of,
    load_split,
    normalize_inplace,
)

# Keras' own callbacks call np.array on variables (a NumPy 2 DeprecationWarning).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

PARAMS = FeatureParams(max_snippets=4)
# Offsets that make the splits' statistics obviously different.
OFFSETS = {"train": 10.0, "val": -50.0, "test": 200.0}


def make_dataset(root, n_classes=3, tracks=(4, 1, 1), n_windows=8, clip=False, seed=0):
    """Per-track HDF5 files and a manifest: class c is louder in mel bands 10c..10c+9."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    rows = []
    for split, n in zip(("train", "val", "test"), tracks, strict=True):
        for c in range(n_classes):
            label = f"g{c}"
            for k in range(n):
                track = f"{label}/{split}{k}"
                mel = rng.normal(0, 1, (n_windows, PARAMS.n_mels, PARAMS.n_frames))
                mel[:, 10 * c : 10 * (c + 1)] += 3.0
                mel = (mel + OFFSETS[split]).astype(np.float32)
                mask = np.zeros(n_windows, bool)
                mask[::2][: PARAMS.max_snippets] = True
                clip_mel = None
                if clip:
                    clip_mel = rng.normal(0, 1, (PARAMS.n_mels, PARAMS.n_clip_frames))
                    clip_mel[10 * c : 10 * (c + 1)] += 3.0
                    clip_mel = (clip_mel + OFFSETS[split]).astype(np.float32)
                feats = TrackFeatures(
                    mel, np.arange(n_windows, dtype=float), mask, n_windows + 2.0, False, clip_mel
                )
                path = root / "spectrograms" / f"{track}.h5"
                write_hdf5(path, feats, PARAMS, track=track, label=label, source_path="x.wav")
                # The counts as the split rule takes them from the file.
                info = {"label": label, "split": split, "path": "x.wav", "spectrogram": str(path)}
                rows.append(summarize_hdf5(path) | info)
    return write_manifest(pd.DataFrame(rows).sort_values(["split", "track"]), root / "manifest.csv")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data"))


# ---------------------------------------------------------------------------
# Data, no TensorFlow


def test_load_split_reads_snippets_transposed(dataset):
    df = pd.read_csv(dataset)
    names = class_names_of(df)
    assert names == ["g0", "g1", "g2"]
    data, params = load_split(df, "train", names)
    assert params == PARAMS
    assert data.x.shape == (3 * 4 * 4, PARAMS.n_frames, PARAMS.n_mels, 1)
    assert data.x.dtype == np.float32 and data.x.flags.c_contiguous
    assert np.bincount(data.y).tolist() == [16, 16, 16]
    # Same values as the file's snippets, (mel, time) -> (time, mel).
    first = df[df.split == "train"].sort_values("track").iloc[0]
    import h5py

    with h5py.File(first["spectrogram"]) as h5:
        snippets = h5["mel_db"][()][h5["is_snippet"][()]]
    np.testing.assert_array_equal(data.x[:4, :, :, 0], snippets.transpose(0, 2, 1))
    assert data.tracks[:4] == [first["track"]] * 4


def test_band_statistics_and_normalization():
    rng = np.random.default_rng(3)
    x = rng.normal(5, 3, (1100, 13, 7, 1)).astype(np.float32)
    x[..., 2, 0] = 4.0  # a constant band: std 1, not a division by zero
    mean, std = band_statistics(x, chunk=256)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 1, 3), dtype=np.float64), rtol=1e-10)
    expected_std = x.std(axis=(0, 1, 3), dtype=np.float64)
    expected_std[2] = 1.0
    np.testing.assert_allclose(std, expected_std, rtol=1e-8)
    ref = ((x - mean.astype(np.float32)[:, None]) / std.astype(np.float32)[:, None]).copy()
    before = x.__array_interface__["data"][0]
    normalize_inplace(x, mean, std, chunk=100)
    assert x.__array_interface__["data"][0] == before
    np.testing.assert_array_equal(x, ref)


def test_classes_need_training_tracks(dataset):
    df = pd.read_csv(dataset)
    df.loc[df.track == "g2/val0", "label"] = "extra"
    with pytest.raises(ValueError, match="extra"):
        class_names_of(df)


def test_epoch_order_is_seeded_per_epoch():
    from divconq.train.sampling import EpochOrder as _EpochOrder

    a, b = _EpochOrder(100, 32, True, 5), _EpochOrder(100, 32, True, 5)
    a.set_epoch(3)
    b.set_epoch(3)
    assert np.array_equal(a.order(), b.order())
    batches = np.concatenate([a.batch_indices(i) for i in range(4)])
    assert sorted(batches.tolist()) == list(range(100))
    first = a.order().copy()
    a.set_epoch(4)
    assert not np.array_equal(first, a.order())
    assert np.array_equal(_EpochOrder(10, 4, False, 0).batch_indices(2), [8, 9])


def test_train_config_from_dict():
    cfg = TrainConfig.from_dict({"epochs": 3, "threads": 2})
    assert cfg.epochs == 3 and cfg.threads == 2
    assert "threads" not in cfg.shaping()


@pytest.mark.parametrize(
    ("key", "hint"),
    [("epoch", "epochs"), ("lr_patiense", "lr_patience"), ("mixup", "mixup_alpha")],
)
def test_train_config_rejects_unknown_keys(key, hint):
    with pytest.raises(ValueError, match=f"unknown key '{key}' in training; did you mean '{hint}'"):
        TrainConfig.from_dict({key: 1})
    with pytest.raises(ValueError, match="unknown key 'zzz' in training; valid keys: .*epochs"):
        TrainConfig.from_dict({"zzz": 1})


def test_train_config_rejects_bad_values():
    with pytest.raises(ValueError, match="sampling must be one of"):
        TrainConfig(sampling="random")
    with pytest.raises(ValueError, match="balance must be one of"):
        TrainConfig(balance="classes")
    with pytest.raises(ValueError, match="windows_per_track must be at least 1"):
        TrainConfig(windows_per_track=0)
    with pytest.raises(ValueError, match="gain_db must not be negative"):
        TrainConfig(gain_db=-1)
    with pytest.raises(ValueError, match="monitor must be one of"):
        TrainConfig(monitor="val_acc")


def test_importing_training_loads_no_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, divconq.train.run, divconq.train.data, divconq.train.sampling, "
        "divconq.train.augment, divconq.train.state; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# ---------------------------------------------------------------------------
# Training runs (tiny data, 2 epochs of the small model)

CONFIG = {"epochs": 2, "learning_rate": 1e-3, "threads": 2, "patience": 5}


@pytest.fixture(scope="module")
def baseline(dataset, tmp_path_factory):
    from divconq.train.run import train

    out = tmp_path_factory.mktemp("models") / "exp" / "seed0"
    info = train(dataset, out, experiment="exp", seed=0, preset="small", config=CONFIG)
    return out, info


def test_model_directory(baseline, dataset):
    out, info = baseline
    assert sorted(p.name for p in out.iterdir()) == [
        "history.csv",
        "model.keras",
        "preprocessing.json",
        "training.json",
    ]
    assert not out.with_name("seed0.resume").exists()
    hist = pd.read_csv(out / "history.csv")
    assert hist["epoch"].tolist() == [0, 1]
    for col in ("loss", "accuracy", "precision", "recall", "val_loss", "val_accuracy", "lr"):
        assert col in hist
    pre = json.loads((out / "preprocessing.json").read_text())
    assert pre["class_names"] == ["g0", "g1", "g2"]
    assert pre["features"] == PARAMS.to_dict()
    assert pre["input"] == "snippets" and pre["experiment"] == "exp" and pre["seed"] == 0
    assert pre["preset"] == "small"
    # Trained with the fused batch norm, exported with Keras' own layers only.
    import zipfile

    with zipfile.ZipFile(out / "model.keras") as z:
        config = z.read("config.json").decode()
    assert '"BatchNormalization"' in config and "divconq" not in config
    # Normalization: training snippets only (val/test are offset by -50/+200 dB).
    df = pd.read_csv(dataset)
    train_x, _ = load_split(df, "train", pre["class_names"])
    np.testing.assert_allclose(pre["normalization"]["mean"], train_x.x.mean(axis=(0, 1, 3)), 1e-5)
    np.testing.assert_allclose(pre["normalization"]["std"], train_x.x.std(axis=(0, 1, 3)), 1e-4)
    assert abs(np.mean(pre["normalization"]["mean"]) - OFFSETS["train"]) < 1.0
    assert info["n_train"] == 48 and info["n_val"] == 12 and info["resumes"] == 0
    # The saved model scores through divconq.evaluate.inference.
    from divconq.data.features import read_hdf5
    from divconq.evaluate import inference

    bundle = inference.load_model_dir(out)
    feats, _, _ = read_hdf5(df[df.split == "test"].iloc[0]["spectrogram"])
    scores = inference.score_windows(bundle, feats.mel_db)
    assert scores.shape == (8, 3)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)


def test_same_seed_same_history(baseline, dataset, tmp_path):
    from divconq.train.run import train

    out, _ = baseline
    again = tmp_path / "exp" / "seed0"
    train(dataset, again, experiment="exp", seed=0, preset="small", config=CONFIG)
    assert_same_training(out, again)


def test_resume_after_interruption(baseline, dataset, tmp_path):
    from divconq.train.run import train

    out, _ = baseline
    run = tmp_path / "exp" / "seed0"
    state = tmp_path / "exp" / "seed0.resume"
    with pytest.raises(Interrupt):
        train(dataset, run, experiment="exp", seed=0, config=CONFIG, callbacks=[interrupt_after(0)])
    assert not run.exists()
    st = json.loads((state / "state.json").read_text())
    assert st["epoch"] == 0 and len(st["history"]) == 1
    # Snakemake would delete a partial output folder; the state lives beside it.
    info = train(dataset, run, experiment="exp", seed=0, config=CONFIG)
    assert info["resumes"] == 1
    assert not state.exists()
    hist = pd.read_csv(run / "history.csv")
    assert hist["epoch"].tolist() == [0, 1]
    # The first epoch comes from the state, the second was trained after the restart,
    # and the whole run equals the uninterrupted one (same batches, dropout, optimizer).
    assert hist["time_s"].iloc[0] == st["history"][0]["time_s"]
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "history.csv").drop(columns="time_s"),
        hist.drop(columns="time_s"),
        check_exact=True,
    )
    for a, b in zip(model_weights(out), model_weights(run), strict=True):
        np.testing.assert_array_equal(a, b)


def test_band_stats_trains_resumes_and_loads_in_a_fresh_process(dataset, tmp_path):
    """The non-CRNN preset goes through the same training, resume and export, and its
    saved model (a divconq layer inside) loads in a new process through inference."""
    import subprocess
    import sys

    from divconq.train.run import train

    run = tmp_path / "bs" / "seed0"
    kw = dict(experiment="bs", seed=0, preset="band_stats", config=CONFIG)
    with pytest.raises(Interrupt):
        train(dataset, run, callbacks=[interrupt_after(0)], **kw)
    info = train(dataset, run, **kw)
    assert info["resumes"] == 1 and info["preset"] == "band_stats"
    assert 30_000 <= info["n_params"] <= 50_000
    again = tmp_path / "bs_again" / "seed0"
    train(dataset, again, **kw)
    for a, b in zip(model_weights(run), model_weights(again), strict=True):
        np.testing.assert_array_equal(a, b)
    df = pd.read_csv(dataset)
    h5 = df[df.split == "test"].iloc[0]["spectrogram"]
    script = (
        "import sys; from divconq.evaluate import inference\n"
        "from divconq.data.features import read_hdf5\n"
        "b = inference.load_model_dir(sys.argv[1]); f, _, _ = read_hdf5(sys.argv[2])\n"
        "s = inference.score_windows(b, f.mel_db); print(s.shape, round(float(s.sum()), 3))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(run), h5], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "(8, 3) 8.0"


def test_killed_after_last_epoch_only_finalizes(dataset, tmp_path):
    from divconq.train.run import train

    run = tmp_path / "exp" / "seed1"
    with pytest.raises(Interrupt):
        train(dataset, run, experiment="exp", seed=1, config=CONFIG, callbacks=[interrupt_after(1)])
    info = train(dataset, run, experiment="exp", seed=1, config=CONFIG)
    assert info["resumes"] == 1 and info["epochs_run"] == 2
    assert info["fit_s_this_run"] < 1.0


def test_other_configuration_starts_over(dataset, tmp_path):
    from divconq.train.run import train

    run = tmp_path / "exp" / "seed2"
    with pytest.raises(Interrupt):
        train(dataset, run, experiment="exp", seed=2, config=CONFIG, callbacks=[interrupt_after(0)])
    info = train(dataset, run, experiment="exp", seed=2, config={**CONFIG, "epochs": 1})
    assert info["resumes"] == 0 and info["epochs_run"] == 1


def test_monitor_direction():
    from divconq.train.keras_loop import improves, monitor_mode

    assert monitor_mode("val_loss") == "min" and monitor_mode("accuracy") == "max"
    assert improves(0.5, None, "min") and improves(0.4, 0.5, "min")
    assert not improves(0.5, 0.5, "min")
    assert improves(0.6, 0.5, "max") and not improves(0.4, 0.5, "max")
    assert not improves(None, 0.5, "max")


@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy"])
def test_monitor_picks_the_kept_epoch(dataset, tmp_path, monitor):
    """The kept epoch is the first best one of `monitor` (lowest loss, highest accuracy)."""
    from divconq.train.run import train

    config = {**CONFIG, "epochs": 4, "learning_rate": 3e-3, "monitor": monitor}
    info = train(dataset, tmp_path / "m", experiment="exp", seed=0, config=config)
    hist = pd.read_csv(tmp_path / "m" / "history.csv")
    values = hist[monitor].to_numpy()
    best = int(np.argmax(values)) if monitor == "val_accuracy" else int(np.argmin(values))
    assert info["monitor"] == monitor and info["epochs_run"] == 4
    assert info["best_epoch"] == best
    assert info[f"best_{monitor}"] == pytest.approx(values[best])


def test_clip_input(tmp_path):
    from divconq.train.run import train

    manifest = make_dataset(
        tmp_path / "data", n_classes=2, tracks=(3, 1, 0), n_windows=4, clip=True
    )
    out = tmp_path / "full" / "seed0"
    info = train(
        manifest,
        out,
        experiment="full",
        seed=0,
        preset="small",
        input="clip",
        config={**CONFIG, "epochs": 1},
    )
    assert info["n_train"] == 6 and info["n_val"] == 2
    pre = json.loads((out / "preprocessing.json").read_text())
    assert pre["input"] == "clip"
    from divconq.evaluate import inference

    bundle = inference.load_model_dir(out)
    clip = np.zeros((PARAMS.n_mels, PARAMS.n_clip_frames), np.float32)
    assert inference.score_clip(bundle, clip).shape == (1, 2)


# ---------------------------------------------------------------------------
# The steps of train(), one by one


def test_prepare_data_normalizes_both_splits_with_train_statistics(dataset):
    from divconq.train.run import prepare_data

    data = prepare_data(dataset, TrainConfig())
    assert data.class_names == ["g0", "g1", "g2"] and data.params == PARAMS
    assert data.train.x.shape[0] == 48 and data.val.x.shape[0] == 12
    # Train is centred; val keeps its -50 dB offset, in train's units.
    assert abs(float(data.train.x.mean())) < 1e-3
    assert float(data.val.x.mean()) < -5
    assert abs(np.mean(data.mean) - OFFSETS["train"]) < 1.0
    assert data.tracks["split"].tolist() == ["train"] * 12 + ["val"] * 3


def test_describe_run_fingerprint_follows_what_shapes_the_model(dataset):
    from divconq.train.run import describe_run, prepare_data

    data = prepare_data(dataset, TrainConfig())
    kw = {"experiment": "e", "seed": 0, "preset": "small", "input": "snippets"}
    pre, fp = describe_run(data, TrainConfig(), **kw)
    assert pre["class_names"] == data.class_names and pre["seed"] == 0
    assert describe_run(data, TrainConfig(threads=3, verbose=2), **kw)[1] == fp
    assert describe_run(data, TrainConfig(mixup_alpha=0.2), **kw)[1] != fp
    assert describe_run(data, TrainConfig(), **{**kw, "seed": 1})[1] != fp


def test_build_or_resume_starts_over_on_a_foreign_state(tmp_path):
    from divconq.shared.fileio import write_json
    from divconq.train.run import build_or_resume
    from divconq.train.state import new_state

    state_dir = tmp_path / "seed0.resume"
    state_dir.mkdir()
    (state_dir / "checkpoint-0000.keras").write_text("stale")
    write_json(state_dir / "state.json", new_state("other", 0))
    model, state, initial = build_or_resume(state_dir, "mine", 0, lambda: "new model")
    assert model == "new model" and initial == 0
    assert state["fingerprint"] == "mine" and state["resumes"] == 0
    assert list(state_dir.iterdir()) == []


# ---------------------------------------------------------------------------
# Whole tracks (sampling: epoch), balancing and augmentation


def test_load_split_all_windows(dataset):
    df = pd.read_csv(dataset)
    names = class_names_of(df)
    data, _ = load_split(df, "train", names, all_windows=True)
    assert data.x.shape[0] == 12 * 8  # every window of the 12 training tracks
    first = df[df.split == "train"].sort_values("track").iloc[0]
    import h5py

    with h5py.File(first["spectrogram"]) as h5:
        np.testing.assert_array_equal(data.x[:8, :, :, 0], h5["mel_db"][()].transpose(0, 2, 1))
    assert data.tracks[:9] == [first["track"]] * 8 + [data.tracks[8]]


def test_epoch_sampling_needs_snippet_input(dataset):
    from divconq.train.run import prepare_data

    with pytest.raises(ValueError, match="sampling: epoch needs windows"):
        prepare_data(dataset, TrainConfig(sampling="epoch"), input="clip")


WHOLE = {
    **CONFIG,
    "sampling": "epoch",
    "windows_per_track": 3,
    "balance": "class",
    "time_masks": 2,
    "freq_masks": 1,
    "mixup_alpha": 0.3,
    "gain_db": 6.0,
}


def test_epoch_sampling_with_augmentation_resumes_exactly(dataset, tmp_path):
    from divconq.train.run import train

    ref = tmp_path / "ref" / "seed4"
    info = train(dataset, ref, experiment="w", seed=4, config=WHOLE)
    # 12 training tracks of 8 windows, 3 drawn per track and epoch; val: fixed snippets.
    assert info["n_train"] == 36 and info["n_train_windows"] == 96 and info["n_val"] == 12
    assert info["training"]["sampling"] == "epoch"
    pre = json.loads((ref / "preprocessing.json").read_text())
    df = pd.read_csv(dataset)
    every, _ = load_split(df, "train", pre["class_names"], all_windows=True)
    np.testing.assert_allclose(pre["normalization"]["mean"], every.x.mean(axis=(0, 1, 3)), 1e-5)
    run = tmp_path / "run" / "seed4"
    with pytest.raises(Interrupt):
        train(dataset, run, experiment="w", seed=4, config=WHOLE, callbacks=[interrupt_after(0)])
    assert train(dataset, run, experiment="w", seed=4, config=WHOLE)["resumes"] == 1
    assert_same_training(ref, run)
    # Not the fixed-snippet run: other samples, other history.
    plain = tmp_path / "plain" / "seed4"
    train(dataset, plain, experiment="w", seed=4, config=CONFIG)
    assert not pd.read_csv(plain / "history.csv")["loss"].equals(
        pd.read_csv(ref / "history.csv")["loss"]
    )


# ---------------------------------------------------------------------------
# Fault test: SIGKILL of a training process, then a rerun (issue 12)

CHILD = '''
import json, os, signal, sys
import keras
from divconq.train.run import train

manifest, out = sys.argv[1], sys.argv[2]
cfg, kill = json.loads(sys.argv[3]), json.loads(sys.argv[4])


class Kill(keras.callbacks.Callback):
    """SIGKILL this process at a batch of an epoch, or once fit() has ended."""

    epoch = -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if [self.epoch, batch] == kill.get("batch"):
            os.kill(os.getpid(), signal.SIGKILL)

    def on_train_end(self, logs=None):
        if kill.get("train_end"):
            os.kill(os.getpid(), signal.SIGKILL)


train(manifest, out, experiment="f", seed=0, config=cfg, callbacks=[Kill()])
'''

# Val loss is lowest after epoch 0 (val is offset by -50 dB): the learning rate is cut
# after epoch 3 and early stopping fires after epoch 4. A kill inside epoch 3 leaves a
# state (of epoch 2) in which both counters are part-way (2 of 3 and 2 of 4).
FAULT = {
    "epochs": 10,
    "learning_rate": 1e-2,
    "batch_size": 16,
    "patience": 4,
    "lr_patience": 3,
    "threads": 1,
}


def _child(script, manifest, out, kill=None):
    import subprocess
    import sys

    args = [sys.executable, str(script), str(manifest), str(out), json.dumps(FAULT)]
    done = subprocess.run([*args, json.dumps(kill or {})], capture_output=True, text=True)
    return done


def _outcome(model_dir):
    info = json.loads((Path(model_dir) / "training.json").read_text())
    hist = pd.read_csv(Path(model_dir) / "history.csv").drop(columns="time_s")
    keys = ("epochs_run", "best_epoch", "best_val_loss", "early_stopped")
    return hist, {k: info[k] for k in keys}, info["resumes"]


@pytest.mark.slow
def test_sigkill_mid_epoch_and_after_early_stop_resume_exactly(dataset, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    ref = tmp_path / "ref" / "seed0"
    done = _child(script, dataset, ref)
    assert done.returncode == 0, done.stderr[-3000:]
    ref_hist, ref_facts, _ = _outcome(ref)
    # The schedule this test relies on: a cut learning rate and an early stop.
    assert ref_facts["early_stopped"] and ref_facts["epochs_run"] < FAULT["epochs"]
    assert ref_hist["lr"].nunique() > 1
    last = ref_facts["epochs_run"] - 1
    cases = {"mid_epoch": {"batch": [last - 1, 1]}, "after_early_stop": {"train_end": True}}
    for name, kill in cases.items():
        run = tmp_path / name / "seed0"
        state = tmp_path / name / "seed0.resume"
        done = _child(script, dataset, run, kill)
        assert done.returncode == -9, (name, done.stderr[-3000:])
        st = json.loads((state / "state.json").read_text())
        if name == "mid_epoch":
            # Killed inside the last epoch but one: the state is the epoch before, with
            # both counters part-way, so a rerun that reset them would cut and stop later.
            assert st["epoch"] == last - 2 and not st["stopped"]
            counters = st["callbacks"]
            assert counters["ResumableEarlyStopping"]["wait"] > 0
            assert counters["ResumableReduceLROnPlateau"]["wait"] > 0
        else:
            assert st["epoch"] == last and st["stopped"]
        done = _child(script, dataset, run)
        assert done.returncode == 0, (name, done.stderr[-3000:])
        hist, facts, resumes = _outcome(run)
        assert resumes == 1 and not state.exists()
        assert facts == ref_facts, name
        # Every metric of every epoch and the learning-rate schedule, exactly.
        pd.testing.assert_frame_equal(hist, ref_hist, check_exact=True)
        for a, b in zip(model_weights(ref), model_weights(run), strict=True):
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# Samples on disk (training.in_memory_mb)


def test_disk_samples_read_as_the_array_does(tmp_path):
    from divconq.train.data import DiskSamples, normalize_inplace

    rng = np.random.default_rng(0)
    x = rng.normal(5, 3, (40, 6, 4, 1)).astype(np.float32)
    x.tofile(tmp_path / "x.f32")
    disk = DiskSamples(tmp_path / "x.f32", x.shape)
    assert len(disk) == 40 and disk.shape == x.shape and disk.dtype == np.float32
    for key in (
        np.array([3, 4, 5, 9, 10, 39]),  # runs of consecutive rows
        np.array([7, 2, 2, 0]),  # any order, repeats
        np.array([-1, 0]),
        slice(5, 17),
        (slice(0, 512), slice(None), slice(None), 0),  # band_statistics' chunks
        7,
        (3, slice(None), 2),
    ):
        np.testing.assert_array_equal(disk[key], x[key])
    mean, std = np.arange(4.0), np.array([1.0, 2.0, 0.5, 3.0])
    disk.set_normalization(mean, std)
    normalize_inplace(x, mean, std)
    idx = np.array([0, 1, 2, 30])
    np.testing.assert_array_equal(disk[idx], x[idx])  # the same float32 arithmetic
    with pytest.raises(IndexError):
        disk[np.array([40])]
    with pytest.raises(ValueError, match="bytes, not"):
        DiskSamples(tmp_path / "x.f32", (41, 6, 4, 1))


def test_samples_on_disk_train_exactly_as_in_memory(baseline, dataset, tmp_path):
    """in_memory_mb: 0 puts every sample on disk: the same batches, history and
    weights as the in-memory run; a run killed after its first epoch resumes to it."""
    from divconq.train.run import train

    out, info = baseline
    assert info["samples_on_disk"] is False and info["peak_rss_mb"] > 0
    run = tmp_path / "exp" / "seed0"
    config = {**CONFIG, "in_memory_mb": 0}
    with pytest.raises(Interrupt):
        train(dataset, run, experiment="exp", seed=0, config=config, callbacks=[interrupt_after(0)])
    assert not (tmp_path / "exp" / "seed0.samples").exists()
    got = train(dataset, run, experiment="exp", seed=0, config=config)
    assert got["samples_on_disk"] is True and got["resumes"] == 1
    assert got["fingerprint"] == info["fingerprint"]  # where samples are held is no setting
    assert not (tmp_path / "exp" / "seed0.samples").exists()
    assert_same_training(out, run)
