"""Damaged, truncated and half-written files: named, never read as garbage, never left in place.

Also the shared file helpers (:mod:`divconq.shared.fileio`), the ffmpeg fallback decoder,
the user's wording for undecodable audio and the logs of ``script:`` jobs.
"""

from __future__ import annotations

import errno
import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
from conftest import write_tone

from divconq.data.audio import decode, read_blocks
from divconq.data.features import (
    FeatureParams,
    read_hdf5,
    summarize_hdf5,
    track_features,
    write_hdf5,
)
from divconq.evaluate.window_scores import WindowScores, read_window_scores, write_window_scores
from divconq.shared import fileio
from divconq.shared.errors import AudioError, DamagedFileError

P = FeatureParams()


def _features(seconds=8.0, seed=0):
    rng = np.random.default_rng(seed)
    y = (0.1 * rng.standard_normal(int(seconds * P.sample_rate))).astype(np.float32)
    return track_features(y, P, track_id="blues/a")


def _write_track(path, feats=None):
    write_hdf5(path, feats or _features(), P, track="blues/a", label="blues", source_path="a.wav")
    return Path(path)


def _assert_damaged_message(err, path, command="rm -- "):
    msg = str(err)
    assert "\n" not in msg
    assert str(path) in msg and "damaged" in msg and command in msg


def _no_temporaries(folder):
    return [p.name for p in Path(folder).iterdir() if ".part" in p.name] == []


# ---------------------------------------------------------------------------
# fileio: JSON values and atomic writes


def test_plain_turns_numpy_nan_and_inf_into_json_values():
    obj = {"a": np.float32(0.5), "b": [np.int64(3), math.nan], "c": (np.inf, -np.inf)}
    assert fileio.plain(obj) == {"a": 0.5, "b": [3, None], "c": [None, None]}
    assert fileio.plain(np.array([1.0, np.nan])) == [1.0, None]
    assert fileio.plain(math.inf, keep_inf=True) == math.inf
    assert fileio.plain(1 / 3, digits=6) == 0.333333
    assert fileio.plain(True) is True and fileio.plain("x") == "x"
    assert math.isnan(fileio.number(None)) and fileio.number(2) == 2.0


def test_write_json_is_atomic_and_json_safe(tmp_path):
    p = tmp_path / "m.json"
    fileio.write_json(p, {"x": np.float64("nan"), "y": np.int32(2)}, fsync=True)
    assert json.loads(p.read_text()) == {"x": None, "y": 2}
    assert _no_temporaries(tmp_path)


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    p = tmp_path / "out.txt"
    fileio.write_text(p, "complete")
    with pytest.raises(RuntimeError), fileio.atomic_path(p) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert p.read_text() == "complete" and _no_temporaries(tmp_path)


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_writing_an_hdf5_leaves_no_half_written_file(tmp_path, monkeypatch):
    """ENOSPC part way through the HDF5 writer: the old file stays, the new one never appears."""
    old = _write_track(tmp_path / "kept.h5")
    before = old.read_bytes()
    real = h5py.Group.create_dataset
    calls = []

    def fill_up(self, name, *args, **kwargs):
        calls.append(name)
        if len(calls) > 2:  # the disk fills after two datasets are written
            _enospc()
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", fill_up)
    for target in (old, tmp_path / "new.h5"):
        with pytest.raises(OSError) as err:
            _write_track(target)
        assert err.value.errno == errno.ENOSPC
    assert old.read_bytes() == before
    assert not (tmp_path / "new.h5").exists()
    assert _no_temporaries(tmp_path)


def test_disk_full_while_writing_window_scores(tmp_path, monkeypatch):
    monkeypatch.setattr(h5py.Group, "create_dataset", _enospc)
    ws = WindowScores(
        np.array(["a/x"]), np.zeros(1), np.ones(1, bool), np.ones((1, 2), np.float32), ["a", "b"]
    )
    with pytest.raises(OSError):
        write_window_scores(tmp_path / "window_scores.h5", ws)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# Checksummed HDF5: verified where read


def test_track_hdf5_carries_checksums_and_round_trips(tmp_path):
    feats = _features()
    path = _write_track(tmp_path / "t.h5", feats)
    with h5py.File(path, "r") as h5:
        assert all(h5[name].fletcher32 for name in h5)
        assert h5.attrs["track"] == b"blues/a"  # fixed-length: inside the checksummed header
    back, params, attrs = read_hdf5(path, clip=True)
    assert params == P and attrs["track"] == "blues/a" and attrs["fmax"] == "none"
    np.testing.assert_array_equal(back.mel_db, feats.mel_db)
    np.testing.assert_array_equal(back.clip_mel_db, feats.clip_mel_db)
    summary = summarize_hdf5(path)
    assert summary == {"track": "blues/a", "n_windows": 6, "n_snippets": 3, "duration_s": 8.0}


def test_the_same_features_give_the_same_bytes(tmp_path):
    """No timestamps inside: a rebuilt file equals the original byte for byte."""
    import time

    a = _write_track(tmp_path / "a.h5")
    time.sleep(1.1)  # HDF5 timestamps count seconds
    assert _write_track(tmp_path / "b.h5").read_bytes() == a.read_bytes()


def test_truncated_hdf5_is_named_as_damaged_with_the_rebuild_command(tmp_path):
    path = _write_track(tmp_path / "blues" / "it's a.h5")
    os.truncate(path, path.stat().st_size // 2)
    for reader in (read_hdf5, summarize_hdf5):
        with pytest.raises(DamagedFileError) as err:
            reader(path)
        _assert_damaged_message(err.value, path)
    assert "truncated" in str(err.value)
    assert "rm -- '" in str(err.value)  # the path quoted for the shell


@pytest.mark.parametrize("where", [0.0, 0.01, 0.3, 0.6, 0.995])
def test_bit_rot_anywhere_is_caught_not_read_as_garbage(tmp_path, where):
    """4 KiB of random bytes written in place (same size), as a bad disk does."""
    path = _write_track(tmp_path / "t.h5")
    size = path.stat().st_size
    offset = min(int(where * size), size - 4096)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(np.random.default_rng(7).bytes(4096))
    assert path.stat().st_size == size
    with pytest.raises(DamagedFileError) as err:
        summarize_hdf5(path)
    _assert_damaged_message(err.value, path)


def test_nan_features_never_reach_training_or_evaluation(tmp_path):
    feats = _features()
    feats.mel_db[1, 2, 3] = np.nan
    feats.mel_db[0, 0, 0] = np.inf
    path = _write_track(tmp_path / "t.h5", feats)
    for reader in (read_hdf5, summarize_hdf5):
        with pytest.raises(DamagedFileError, match="2 NaN or infinite values in mel_db"):
            reader(path)


def test_a_missing_file_is_missing_not_damaged(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        read_hdf5(tmp_path / "nope.h5")


def test_a_file_missing_a_dataset_is_damaged(tmp_path):
    path = _write_track(tmp_path / "t.h5")
    with h5py.File(path, "a") as h5:
        del h5["is_snippet"]
    with pytest.raises(DamagedFileError, match="is_snippet"):
        summarize_hdf5(path)


def test_files_of_the_previous_format_still_read(tmp_path):
    """No checksums, variable-length strings: an HDF5 cached by an older divconq."""
    feats = _features()
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as h5:
        for name in ("mel_db", "start_s", "is_snippet"):
            h5.create_dataset(name, data=getattr(feats, name))
        for key, value in P.to_dict().items():
            h5.attrs[key] = "none" if value is None else value
        h5.attrs.update({"duration_s": 8.0, "padded": False, "track": "blues/a"})
    assert summarize_hdf5(path)["n_windows"] == 6
    assert read_hdf5(path)[1] == P


def test_window_scores_checked_where_read(tmp_path):
    ws = WindowScores(
        np.array(["a/x", "a/x", "b/ü y"], dtype=object),
        np.array([0.0, 1.0, 0.0]),
        np.array([True, False, True]),
        np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]], np.float32),
        ["a", "b"],
    )
    path = tmp_path / "window_scores.h5"
    write_window_scores(path, ws, experiment="e", seed=3)
    back, attrs = read_window_scores(path)
    assert list(back.track) == ["a/x", "a/x", "b/ü y"] and attrs["seed"] == 3
    np.testing.assert_array_equal(back.scores, ws.scores)
    os.truncate(path, path.stat().st_size - 100)
    with pytest.raises(DamagedFileError) as err:
        read_window_scores(path)
    _assert_damaged_message(err.value, path)


# ---------------------------------------------------------------------------
# model.keras


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A model folder as training writes it, with a model small enough to build fast."""
    keras = pytest.importorskip("keras")
    path = tmp_path_factory.mktemp("models") / "seed1"
    path.mkdir()
    inp = keras.Input(shape=(P.n_frames, P.n_mels, 1))
    x = keras.layers.Conv2D(2, 3, strides=4)(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x))
    with fileio.atomic_path(path / "model.keras") as tmp:
        model.save(tmp)
    pre = {
        "class_names": ["a", "b"],
        "features": P.to_dict(),
        "input": "snippets",
        "normalization": {"mean": [0.0] * P.n_mels, "std": [1.0] * P.n_mels},
    }
    fileio.write_json(path / "preprocessing.json", pre)
    return path


def _copy_model_dir(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_model_export_through_the_atomic_helper_survives_a_full_disk(
    tmp_path, model_dir, monkeypatch
):
    """What training's export must do: ENOSPC part way through Keras' zip leaves nothing."""
    import keras

    from divconq.evaluate.inference import load_model_dir

    model = keras.saving.load_model(model_dir / "model.keras")
    real = zipfile._ZipWriteFile.write
    calls = []

    def fill_up(self, data):
        calls.append(len(data))
        if len(calls) > 1:  # the disk fills after Keras' first write into the archive
            _enospc()
        return real(self, data)

    monkeypatch.setattr(zipfile._ZipWriteFile, "write", fill_up)
    out = _copy_model_dir(model_dir, tmp_path / "seed1")
    before = (out / "model.keras").read_bytes()
    for target in (out / "model.keras", tmp_path / "fresh" / "model.keras"):
        with pytest.raises(OSError) as err, fileio.atomic_path(target) as tmp:
            model.save(tmp)
        assert err.value.errno == errno.ENOSPC and calls
        assert _no_temporaries(target.parent)
    monkeypatch.undo()
    assert (out / "model.keras").read_bytes() == before
    assert not (tmp_path / "fresh" / "model.keras").exists()
    load_model_dir(out)


@pytest.mark.parametrize("damage", ["truncate", "bit rot"])
def test_damaged_model_keras_is_named_with_the_rebuild_command(tmp_path, model_dir, damage, capsys):
    from divconq.cli import main
    from divconq.evaluate.inference import load_model_dir

    bad = _copy_model_dir(model_dir, tmp_path / "seed1")
    f = bad / "model.keras"
    size = f.stat().st_size
    if damage == "truncate":
        os.truncate(f, size // 2)
    else:
        with open(f, "r+b") as fh:
            fh.seek(size // 3)
            fh.write(np.random.default_rng(1).bytes(4096))
    with pytest.raises(DamagedFileError) as err:
        load_model_dir(bad)
    _assert_damaged_message(err.value, f, command="rm -r -- ")
    wav = write_tone(tmp_path / "a.wav", duration_s=4.0)
    assert main(["predict", str(wav), "--model", str(bad)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(f) in lines[0] and "damaged" in lines[0]


def test_safe_mode_refusal_names_the_model_folder_and_why(tmp_path, model_dir):
    import keras

    from divconq.evaluate.inference import load_model_dir

    bad = _copy_model_dir(model_dir, tmp_path / "lambda")
    inp = keras.Input(shape=(P.n_frames, P.n_mels, 1))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x)).save(bad / "model.keras")
    with pytest.raises(ValueError) as err:
        load_model_dir(bad)
    assert str(bad) in str(err.value) and "safe mode" in str(err.value)
    assert "arbitrary code" in str(err.value)


# ---------------------------------------------------------------------------
# Audio: the ffmpeg fallback and the user's wording


def _six_channels(path, sr=44100, seconds=2.0):
    t = np.arange(int(sr * seconds)) / sr
    y = np.stack([0.1 * (c + 1) * np.sin(2 * np.pi * 110 * (c + 1) * t) for c in range(6)], 1)
    sf.write(str(path), y.astype(np.float32), sr, subtype="FLOAT")
    return y.astype(np.float32)


def test_ffmpeg_fallback_keeps_six_channels_and_the_true_rate(tmp_path):
    from divconq.data.audio import _decode_ffmpeg

    y = _six_channels(tmp_path / "six.wav")
    data, sr = _decode_ffmpeg(tmp_path / "six.wav")
    assert sr == 44100 and data.shape == y.shape
    np.testing.assert_array_equal(data, y)


def test_a_format_libsndfile_cannot_read_goes_through_ffmpeg(tmp_path):
    """5.1 AAC in an .m4a: libsndfile refuses it, ffmpeg decodes all six channels."""
    from divconq.data.ffmpeg import ffmpeg_exe

    _six_channels(tmp_path / "six.wav", sr=48000)
    m4a = tmp_path / "six.m4a"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "six.wav"), "-c:a", "aac", str(m4a)],
        check=True,
    )
    with pytest.raises(RuntimeError):
        sf.info(str(m4a))
    sr, channels, _ = read_blocks(m4a)
    data, _ = decode(m4a)
    assert (sr, channels, data.shape[1]) == (48000, 6, 6)
    assert abs(len(data) / sr - 2.0) < 0.05


def _mp3(tmp_path, tone_seconds=6.0):
    from divconq.data.mp3 import to_mp3

    wav = write_tone(tmp_path / "x.wav", duration_s=tone_seconds)
    to_mp3(wav, tmp_path / "x.mp3")
    return (tmp_path / "x.mp3").read_bytes()


def test_undecodable_mp3_is_named_in_the_users_words(tmp_path, capfd):
    data = _mp3(tmp_path)
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(data[:60])
    with pytest.raises(AudioError) as err:
        read_blocks(bad)
    assert err.value.reason == "not a decodable MP3 file (truncated, corrupt or not audio)"
    assert str(err.value) == f"{bad}: {err.value.reason}"
    assert "possibly a pipe" in err.value.detail  # libsndfile's words: for the log


def test_decoder_chatter_stays_off_stderr(tmp_path, capfd, caplog):
    """A damaged frame in the middle of an MP3: mpg123 resyncs and says so on fd 2."""
    from divconq.data.inventory import Candidate, probe_all

    data = bytearray(_mp3(tmp_path))
    data[len(data) // 2 : len(data) // 2 + 4096] = np.random.default_rng(3).bytes(4096)
    (tmp_path / "rock").mkdir()
    hurt = tmp_path / "rock" / "hurt.mp3"
    hurt.write_bytes(bytes(data))
    caplog.set_level("DEBUG", logger="divconq.data.audio")
    capfd.readouterr()
    tracks, rejected = probe_all([Candidate("rock", "hurt", hurt)])
    print("a line of our own", file=sys.stderr)
    err = capfd.readouterr().err
    assert len(tracks) == 1 and not rejected
    assert "Illegal Audio-MPEG-Header" not in err and "resync" not in err
    assert "a line of our own" in err
    assert "Illegal Audio-MPEG-Header" in caplog.text


# ---------------------------------------------------------------------------
# Logs of script: jobs


@pytest.mark.parametrize("error", ["DamagedFileError('x.h5', 'truncated file')", "KeyError('k')"])
def test_script_errors_reach_the_log(tmp_path, error):
    log = tmp_path / "job.log"
    code = (
        "from divconq.shared.scriptlog import log_to\n"
        "from divconq.shared.errors import DamagedFileError\n"
        f"log_to({str(log)!r})\n"
        "import logging; logging.info('started')\n"
        f"raise {error}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    text = log.read_text()
    assert "started" in text
    if error.startswith("Damaged"):
        assert "ERROR x.h5: damaged file (truncated file)" in text
        assert "Traceback" not in text + proc.stderr
        assert proc.stderr.strip().count("\n") == 0 and "x.h5" in proc.stderr
    else:
        assert "Traceback" in text and "KeyError" in text and "KeyError" in proc.stderr


# ---------------------------------------------------------------------------
# The workflow: a damaged cache stops the run before training, and the hint rebuilds it


def _snakemake(results, *args):
    from conftest import REPO

    cmd = [sys.executable, "-m", "snakemake", *args, "--cores", "2"]
    cmd += ["--configfile", str(REPO / "tests" / "configs" / "tiny.yaml")]
    cmd += ["--config", f"results={results}"]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


def _plant_unrecorded(path):
    """The state a per-track job leaves when killed right after its rename: the output
    is in place with a fresh timestamp, Snakemake's metadata for it is missing and
    its "incomplete" marker is still there."""
    from base64 import urlsafe_b64encode

    from conftest import REPO

    key = urlsafe_b64encode(str(path).encode()).decode()
    (REPO / ".snakemake" / "metadata" / key).unlink(missing_ok=True)
    marker = REPO / ".snakemake" / "incomplete" / key
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"external_jobid": None}))
    os.utime(path)


@pytest.mark.slow
def test_a_run_killed_in_the_data_stage_leaves_files_the_next_run_verifies(tmp_path):
    """Per-track jobs killed right after their rename, one file bit-rotted since: the next
    run's split job reads every spectrogram, passes the complete one, names the damaged
    one with the command that rebuilds it, and that command gives the original features."""
    from divconq.data.synth import genre_names, track_name

    results = tmp_path / "results"
    # The data stage up to the per-track files: the kill comes before the split job.
    targets = [
        str(results / "spectrograms" / label / f"{track_name(label, i)}.h5")
        for label in genre_names(3)
        for i in range(5)
    ]
    proc = _snakemake(results, *targets)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    complete, damaged = Path(targets[1]), Path(targets[7])
    good = read_hdf5(damaged)[0].mel_db
    with open(damaged, "r+b") as f:
        f.seek(damaged.stat().st_size // 2)
        f.write(np.random.default_rng(5).bytes(4096))
    for path in (complete, damaged):
        _plant_unrecorded(path)

    proc = _snakemake(results, "data")
    assert proc.returncode != 0
    line = f"{damaged}: damaged file ("
    assert line in proc.stderr
    log = (results / "logs" / "split.log").read_text()
    assert line in log and "Traceback" not in log
    hint = log[log.index("rm -- ") :].splitlines()[0]
    assert hint == f"rm -- {damaged} && snakemake --cores all"

    damaged.unlink()
    proc = _snakemake(results, "data")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    np.testing.assert_array_equal(read_hdf5(damaged)[0].mel_db, good)
    summary = summarize_hdf5(complete)
    manifest = (results / "split" / "manifest.csv").read_text()
    assert manifest.count("\n") == 16 and f"{summary['track']}," in manifest
