"""``divconq predict``: formats, rates, lengths, errors, outputs, ensembles, and
consistency with the workflow's features and the evaluation stage's prediction.

A tiny Keras model (random weights, fixed seed) stands in for a trained one: what is
tested is the plumbing, which must give the same numbers as training and evaluation
whatever the weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, write_tone

from divconq.cli import main
from divconq.data.features import FeatureParams, read_hdf5, track_features
from divconq.evaluate import rules

keras = pytest.importorskip("keras")

P = FeatureParams()
CLASSES = ["blues", "classical", "rock"]


def tiny_model(seed: int, input_shape=(P.n_frames, P.n_mels, 1)):
    """A small conv net on (time, mel, 1) inputs with softmax outputs."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(len(CLASSES) * 2, activation="tanh")(x)
    out = keras.layers.Dense(len(CLASSES), activation="softmax")(x)
    return keras.Model(inp, out)


def write_model_dir(path, seed=0, params=P, kind="snippets"):
    """A model folder as the training stage writes it (model.keras + preprocessing.json)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    frames = params.n_clip_frames if kind == "clip" else params.n_frames
    tiny_model(seed, (frames, params.n_mels, 1)).save(path / "model.keras")
    rng = np.random.default_rng(seed)
    pre = {
        "class_names": CLASSES,
        "features": params.to_dict(),
        "input": kind,
        "normalization": {
            "mean": (-40.0 + rng.standard_normal(params.n_mels)).tolist(),
            "std": (15.0 + rng.random(params.n_mels)).tolist(),
        },
        "experiment": "tiny",
        "seed": seed,
        "preset": "test",
    }
    (path / "preprocessing.json").write_text(json.dumps(pre))
    return path


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """An experiment folder with two seed models."""
    root = tmp_path_factory.mktemp("models") / "tiny"
    for seed in (0, 1):
        write_model_dir(root / f"seed{seed}", seed=seed)
    return root


@pytest.fixture(scope="module")
def model(experiment):
    return experiment / "seed0"


def music(path, seconds, sr=22050, channels=1, fmt=None, subtype="PCM_16", seed=0):
    """A few tones changing over time, so window scores differ."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    freq = 220 * 2 ** (np.floor(t / 2) % 5 / 4)
    y = 0.3 * np.sin(2 * np.pi * np.cumsum(freq) / sr) + 0.03 * rng.standard_normal(len(t))
    data = np.stack([y * (1 - 0.3 * c) for c in range(channels)], axis=1).astype(np.float32)
    sf.write(str(path), data, sr, subtype=subtype, format=fmt)
    return path


def predict(capsys, *args):
    """Run ``divconq predict`` in this process; returns (exit code, stdout, stderr)."""
    code = main(["predict", *map(str, args), "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def predict_json(capsys, *args):
    code, out, err = predict(capsys, *args, "--format", "json")
    return code, json.loads(out), err


# ---------------------------------------------------------------------------
# Inputs


def test_formats_rates_and_channels(tmp_path, model, capsys):
    from divconq.data.mp3 import to_mp3

    d = tmp_path / "in"
    music(d / "a.wav", 5)
    music(d / "b.flac", 5, sr=44100, channels=2, subtype="PCM_16")
    music(d / "c.ogg", 5, sr=48000, subtype="VORBIS")
    music(d / "d.au", 5, sr=8000, fmt="AU")
    music(d / "sub" / "e.wav", 5, sr=48000, channels=2)
    to_mp3(music(tmp_path / "f.wav", 5, sr=44100, channels=2), d / "sub" / "f.mp3")
    (d / "notes.txt").write_text("not audio, not an audio extension: skipped")
    code, doc, err = predict_json(capsys, d, "--model", model)
    assert code == 0, err
    names = [Path(f["file"]).relative_to(d).as_posix() for f in doc["files"]]
    assert names == ["a.wav", "b.flac", "c.ogg", "d.au", "sub/e.wav", "sub/f.mp3"]
    for f in doc["files"]:
        assert f["prediction"] in CLASSES
        assert f["duration_s"] == pytest.approx(5.0, abs=0.06)  # MP3 adds encoder padding
        assert f["n_windows"] == 3
        assert sum(f["scores"].values()) == pytest.approx(1.0, abs=1e-5)
        assert [c for c, _ in f["top"]][0] == f["prediction"]


@pytest.mark.parametrize("seconds, n_windows, padded", [(1.0, 1, True), (30, 28, False)])
def test_lengths(tmp_path, model, capsys, seconds, n_windows, padded):
    f = music(tmp_path / "x.wav", seconds)
    code, doc, err = predict_json(capsys, f, "--model", model, "--windows")
    assert code == 0, err
    (item,) = doc["files"]
    assert item["n_windows"] == n_windows
    assert item["padded"] is padded
    assert [w["start_s"] for w in item["windows"]] == list(range(n_windows))


def test_long_track_in_chunks_equals_whole_track(tmp_path, model):
    """A few minutes of audio: chunked features are the whole track's, bit for bit."""
    from divconq.data.audio import load
    from divconq.predict import Predictor, window_chunks

    f = music(tmp_path / "long.wav", 150)
    y = load(f)
    whole = track_features(y, P, clip=False)
    parts = list(window_chunks(y, P, chunk=37))
    np.testing.assert_array_equal(np.concatenate([m for _, m in parts]), whole.mel_db)
    np.testing.assert_array_equal(np.concatenate([s for s, _ in parts]), whole.start_s)
    pred = Predictor(model, batch_size=64).predict_file(f)
    assert pred.n_windows == 148
    from divconq.evaluate import inference

    ref = inference.score_windows(inference.load_model_dir(model), whole.mel_db)
    np.testing.assert_allclose(pred.scores, ref, atol=1e-5)


@pytest.mark.parametrize("seconds", [1.0, 3.0, 3.0 + 1 / 22050, 70.3])
def test_window_cutter_on_pieces_of_any_size_equals_whole_track(seconds):
    """Audio arriving in pieces of random sizes (empty ones too) is cut into the
    windows of the whole track: same starts, same features, bit for bit."""
    from divconq.predict import WindowCutter, segment_features

    rng = np.random.default_rng(int(seconds * 10))
    y = (0.1 * rng.standard_normal(int(round(seconds * P.sample_rate)))).astype(np.float32)
    whole = track_features(y, P, clip=False)
    cuts = np.sort(rng.integers(0, len(y), 12))
    cuts = np.concatenate([cuts, cuts[:3]])  # repeated cuts give empty pieces
    pieces = np.split(y, np.sort(cuts))
    cutter = WindowCutter(P, chunk=16)
    jobs = [job for piece in pieces for job in cutter.feed(piece)] + cutter.finish()
    assert cutter.n_samples == len(y)
    assert [first for first, _, _ in jobs] == list(range(0, len(whole.start_s), 16))
    parts = [segment_features(P, *job) for job in jobs]
    np.testing.assert_array_equal(np.concatenate([s for s, _ in parts]), whole.start_s)
    np.testing.assert_array_equal(np.concatenate([m for _, m in parts]), whole.mel_db)


def test_streamed_mp3_gives_the_features_of_the_loaded_file(tmp_path, model):
    """``predict_file`` decodes while it scores: a 48 kHz stereo MP3 of 75 s (a dozen
    decoder reads, two feature chunks) gives the features ``load`` + ``track_features``
    give, bit for bit, and the scores of those features."""
    from divconq.data.audio import load, stream
    from divconq.data.mp3 import to_mp3
    from divconq.evaluate import inference
    from divconq.predict import Predictor, WindowCutter, segment_features

    f = tmp_path / "long.mp3"
    to_mp3(music(tmp_path / "long.wav", 75, sr=48000, channels=2), f)
    y = load(f, sr=P.sample_rate)
    whole = track_features(y, P, clip=False)
    cutter = WindowCutter(P)
    jobs = [job for piece in stream(f, sr=P.sample_rate) for job in cutter.feed(piece)]
    jobs += cutter.finish()
    assert len(jobs) == 2 and cutter.n_samples == len(y)
    mel = np.concatenate([segment_features(P, *job)[1] for job in jobs])
    np.testing.assert_array_equal(mel, whole.mel_db)

    pred = Predictor(model, batch_size=16).predict_file(f)
    assert pred.n_windows == len(whole.start_s) and pred.duration_s == len(y) / P.sample_rate
    ref = inference.score_windows(inference.load_model_dir(model), whole.mel_db)
    np.testing.assert_allclose(pred.scores, ref, atol=1e-6)


def test_a_failure_while_scoring_stops_the_decoding_thread(tmp_path, model):
    """If scoring fails part way through a long file, the error comes out of
    ``predict_file`` and the reader and feature threads are gone, not left decoding."""
    import threading

    from divconq.predict import Predictor

    f = music(tmp_path / "long.wav", 200)
    predictor = Predictor(model, batch_size=16)
    calls = []

    def failing(mel_db):
        calls.append(len(mel_db))
        raise RuntimeError("scoring failed")

    before = threading.active_count()
    predictor.score_windows = failing
    with pytest.raises(RuntimeError, match="scoring failed"):
        predictor.predict_file(f)
    assert calls == [64]  # the first chunk; nothing after the failure
    assert threading.active_count() == before


def test_unreadable_file_is_reported_and_the_others_continue(tmp_path, model, capsys):
    d = tmp_path / "in"
    music(d / "a.wav", 4)
    (d / "b.wav").write_bytes(b"RIFF garbage, not a wave file at all" * 10)
    (d / "c.mp3").write_bytes(b"")
    music(d / "d.wav", 4)
    code, doc, err = predict_json(capsys, d, tmp_path / "missing.wav", "--model", model)
    assert code != 0
    assert [Path(f["file"]).name for f in doc["files"]] == ["a.wav", "d.wav"]
    lines = err.strip().splitlines()
    assert len(lines) == 3, err
    assert any("b.wav" in line for line in lines)
    assert any("c.mp3" in line for line in lines)
    assert any("missing.wav" in line for line in lines)
    assert {Path(e["file"]).name for e in doc["errors"]} == {"b.wav", "c.mp3", "missing.wav"}


def test_all_good_exit_zero_and_table(tmp_path, model, capsys):
    f = music(tmp_path / "song one.wav", 6)
    code, out, err = predict(capsys, f, "--model", model, "--top", "2")
    assert code == 0 and err == ""
    head, row = out.strip().splitlines()
    assert head.split()[:2] == ["file", "prediction"]
    assert row.startswith(str(f))
    assert len(row[len(str(f)) :].split()) == 1 + 2 * 2  # label, then 2 x (class score)


# ---------------------------------------------------------------------------
# Model folders


def test_missing_model_parts_are_a_clear_error(tmp_path, model, capsys):
    f = music(tmp_path / "a.wav", 4)
    part = tmp_path / "partial"
    part.mkdir()
    (part / "preprocessing.json").write_text((model / "preprocessing.json").read_text())
    code, out, err = predict(capsys, f, "--model", part)
    assert code == 2 and out == ""
    assert "model.keras" in err and str(part) in err

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = predict(capsys, f, "--model", empty)
    assert code == 2 and "seed" in err and str(empty) in err

    code, _, err = predict(capsys, f, "--model", tmp_path / "nowhere")
    assert code == 2 and "does not exist" in err

    only_model = tmp_path / "only_model"
    only_model.mkdir()
    (only_model / "model.keras").write_bytes((model / "model.keras").read_bytes())
    code, _, err = predict(capsys, f, "--model", only_model)
    assert code == 2 and "preprocessing.json" in err


def test_ensemble_averages_the_seed_scores(tmp_path, experiment, capsys):
    f = music(tmp_path / "a.wav", 8)
    runs = {}
    for m in (experiment / "seed0", experiment / "seed1", experiment):
        code, doc, err = predict_json(capsys, f, "--model", m, "--windows")
        assert code == 0, err
        (item,) = doc["files"]
        runs[m.name] = np.array([[w["scores"][c] for c in CLASSES] for w in item["windows"]])
    assert not np.allclose(runs["seed0"], runs["seed1"], atol=1e-3)
    np.testing.assert_allclose(runs["tiny"], (runs["seed0"] + runs["seed1"]) / 2, atol=2e-6)


def test_models_that_disagree_are_no_ensemble(tmp_path, capsys):
    root = tmp_path / "mixed"
    write_model_dir(root / "seed0")
    write_model_dir(root / "seed1", params=FeatureParams(n_mels=64))
    code, _, err = predict(capsys, music(tmp_path / "a.wav", 4), "--model", root)
    assert code == 2 and "disagree" in err


def test_clip_model(tmp_path, capsys):
    m = write_model_dir(tmp_path / "clip" / "seed0", kind="clip")
    code, doc, err = predict_json(capsys, music(tmp_path / "a.wav", 12), "--model", m)
    assert code == 0, err
    (item,) = doc["files"]
    assert item["n_windows"] == 1 and doc["rule"] == "clip"


# ---------------------------------------------------------------------------
# Outputs


def test_csv_windows_and_output_file(tmp_path, model, capsys):
    f = music(tmp_path / "a.wav", 7)
    out = tmp_path / "out" / "pred.csv"
    code, stdout, err = predict(
        capsys, f, "--model", model, "--format", "csv", "--windows", "-o", out
    )
    assert code == 0 and stdout == "", err
    df = pd.read_csv(out)
    assert list(df.columns) == [
        "file",
        "level",
        "start_s",
        "end_s",
        "n_windows",
        "prediction",
        "rule",
        *CLASSES,
    ]
    assert list(df["level"]) == ["track"] + ["window"] * 5
    assert list(df["start_s"][1:]) == [0, 1, 2, 3, 4]
    assert list(df["end_s"][1:]) == [3, 4, 5, 6, 7]
    np.testing.assert_allclose(df[CLASSES].sum(axis=1), 1.0, atol=1e-5)
    track = df.iloc[0]
    assert track["rule"] == "sum"
    # sum rule: the shown track scores are the mean window scores
    np.testing.assert_allclose(track[CLASSES].astype(float), df[CLASSES][1:].mean(), atol=1e-5)


@pytest.mark.parametrize("rule", rules.names())
def test_rules_are_the_evaluation_rules(tmp_path, model, capsys, rule):
    from divconq.evaluate.evaluation import predict_track

    f = music(tmp_path / "a.wav", 20)
    code, doc, err = predict_json(capsys, f, "--model", model, "--windows", "--rule", rule)
    assert code == 0, err
    (item,) = doc["files"]
    scores = np.array([[w["scores"][c] for c in CLASSES] for w in item["windows"]])
    assert item["prediction"] == CLASSES[predict_track(scores, rule)]
    assert doc["rule"] == rule
    # The shown track scores are the rule's display values: they sum to 1.
    np.testing.assert_allclose(sum(item["scores"].values()), 1.0, atol=1e-5)
    assert max(item["scores"], key=item["scores"].get) == item["top"][0][0]


def test_unknown_rule_is_an_error_with_a_hint(tmp_path, model, capsys):
    """``mean-log`` (the old spelling) is refused by the command line, naming
    ``mean_log``; the Python API refuses unknown rules too, before any work."""
    from divconq.predict import Predictor, track_values

    f = music(tmp_path / "a.wav", 4)
    with pytest.raises(SystemExit):
        main(["predict", str(f), "--model", str(model), "--rule", "mean-log"])
    assert "did you mean 'mean_log'" in capsys.readouterr().err
    with pytest.raises(rules.UnknownRuleError, match="median"):
        Predictor(model, warmup=False).predict_file(f, rule="median")
    with pytest.raises(rules.UnknownRuleError):
        track_values(np.full((2, 3), 1 / 3), "median")


def test_table_windows(tmp_path, model, capsys):
    f = music(tmp_path / "a.wav", 5)
    code, out, _ = predict(capsys, f, "--model", model, "--windows")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2 + 3
    assert lines[2].split()[0] == "0.0-3.0" and lines[4].split()[0] == "2.0-5.0"


def test_plot_writes_pngs(tmp_path, model, capsys):
    one = music(tmp_path / "one.wav", 6)
    code, _, err = predict(capsys, one, "--model", model, "--plot", tmp_path / "p.png")
    assert code == 0, err
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    d = tmp_path / "many"
    music(d / "x.wav", 4)
    music(d / "sub" / "x.wav", 2)  # same stem, padded: one window
    music(d / "y.flac", 4)
    code, _, err = predict(capsys, d, "--model", model, "--plot", tmp_path / "figs" / "t.png")
    assert code == 0, err
    pngs = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert pngs == ["t-x-2.png", "t-x.png", "t-y.png"]


def test_progress_bar_only_on_a_terminal(tmp_path, model, capsys):
    import io

    from divconq.cli.predict import predict_files, progress_bar
    from divconq.predict import Predictor

    d = tmp_path / "in"
    for i in range(3):
        music(d / f"{i}.wav", 3)
    # capsys' stderr is not a terminal: no bar even without --no-progress
    code = main(["predict", str(d), "--model", str(model), "--format", "csv"])
    assert code == 0 and capsys.readouterr().err == ""
    buf = io.StringIO()
    files = sorted(d.iterdir())
    preds, errors = predict_files(
        files, Predictor(model), bar=progress_bar(len(files), True, stream=buf)
    )
    assert len(preds) == 3 and not errors
    assert "3/3" in buf.getvalue() and "0.wav" in buf.getvalue()
    hidden = io.StringIO()  # not a terminal: tqdm stays silent unless asked
    predict_files(files[:1], Predictor(model), bar=progress_bar(1, None, stream=hidden))
    assert hidden.getvalue() == ""


# ---------------------------------------------------------------------------
# Consistency with the workflow


def test_consistent_with_training_features_and_evaluation(tmp_path, model):
    """A dataset track made by the workflow's per-track commands (``divconq mp3`` then
    ``divconq features``): predict computes the HDF5's features exactly, and predicts
    the evaluation stage's label for it.

    Bit-for-bit equality needs the same number of BLAS threads on both sides (OpenBLAS
    sums the mel filterbank product in another order with 2 threads than with 1, a
    float32 rounding of ~1e-6 dB); ``divconq predict`` uses one, so the HDF5 is made
    with one too, and once more with the library default to bound the difference.
    """
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from divconq.data.audio import load
    from divconq.evaluate import evaluation, inference, scoring
    from divconq.predict import Predictor, window_chunks

    src = music(tmp_path / "src" / "rock" / "rock.00001.wav", 11, sr=44100, channels=2)
    mp3 = tmp_path / "results" / "mp3" / "rock" / "rock.00001.mp3"
    h5 = tmp_path / "results" / "spectrograms" / "rock" / "rock.00001.h5"
    h5_default = tmp_path / "default_blas" / "rock.00001.h5"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["PYTHONPATH"] = str(REPO / "src")
    features = ["--track", "rock/rock.00001", "--params", json.dumps(P.to_dict())]
    for cmd, extra in (
        (["mp3", str(src), str(mp3)], {}),
        (["features", str(mp3), str(h5), *features], {"OPENBLAS_NUM_THREADS": "1"}),
        (["features", str(mp3), str(h5_default), *features], {}),
    ):
        cmd = [sys.executable, "-m", "divconq.cli", *cmd]
        subprocess.run(cmd, check=True, env={**env, **extra})

    stored, stored_params, _ = read_hdf5(h5)
    predictor = Predictor(model)
    assert predictor.params == stored_params
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        y = load(mp3, sr=predictor.params.sample_rate)
        parts = list(window_chunks(y, predictor.params))
    mel_db = np.concatenate([m for _, m in parts])
    np.testing.assert_array_equal(mel_db, stored.mel_db)
    np.testing.assert_array_equal(np.concatenate([s for s, _ in parts]), stored.start_s)
    np.testing.assert_allclose(mel_db, read_hdf5(h5_default)[0].mel_db, rtol=0, atol=1e-4)

    manifest = pd.DataFrame(
        {"track": ["rock/rock.00001"], "label": ["rock"], "split": ["test"], "spectrogram": [h5]}
    )
    ws = scoring.score_tracks(inference.load_model_dir(model), manifest)
    table = evaluation.track_table(ws, manifest)
    pred = predictor.predict_file(mp3)
    np.testing.assert_allclose(pred.scores, ws.scores, atol=1e-5)
    for rule in rules.names():
        assert predictor.predict_file(mp3, rule=rule).label == table.at[0, f"pred_{rule}"]
    assert pred.label == table.at[0, "pred_sum"]
    assert pred.rule == "sum"

    # The command line itself (its own process, one BLAS thread) agrees too.
    proc = subprocess.run(
        [sys.executable, "-m", "divconq.cli", "predict", str(mp3), "--model", str(model)]
        + ["--format", "json", "--windows"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    (item,) = json.loads(proc.stdout)["files"]
    assert item["prediction"] == table.at[0, "pred_sum"]
    cli_scores = [[w["scores"][c] for c in CLASSES] for w in item["windows"]]
    np.testing.assert_allclose(cli_scores, ws.scores, atol=2e-5)


def test_stereo_and_rate_change_go_through_load(tmp_path, model):
    """Predict decodes with divconq.data.audio.load: a 48 kHz stereo file gives the
    features of its 22050 Hz mono mix, as the feature stage computes them."""
    from divconq.data.audio import load
    from divconq.predict import window_chunks

    f = write_tone(tmp_path / "s.wav", duration_s=4.5, sr=48000, channels=2)
    y = load(f, sr=P.sample_rate)
    assert y.ndim == 1 and len(y) == pytest.approx(4.5 * 22050, abs=2)
    mel = np.concatenate([m for _, m in window_chunks(y, P)])
    np.testing.assert_array_equal(mel, track_features(y, P).mel_db)


def test_tensorflow_notices_are_filtered():
    from divconq.cli.predict import _TF_NOISE

    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1795589742.162171   19736 port.cc:153] oneDNN custom operations are on.",
        "I0000 00:00:1795589048.472696   12482 cpu_feature_guard.cc:227] This TensorFlow binary",
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow"
        " with the appropriate compiler flags.",
    ]
    assert all(_TF_NOISE.match(line) for line in noise)
    assert not _TF_NOISE.match("Traceback (most recent call last):")
    assert not _TF_NOISE.match("E0000 00:00:1 cuda_dnn.cc:1] could not load cuDNN")


@pytest.mark.slow
def test_workflow_predictions_target(tmp_path, experiment):
    """`snakemake predictions`: one CSV per file of the predict folder (subfolders kept),
    with a log and a benchmark per job, the same numbers as the command line."""
    inbox = tmp_path / "inbox"
    music(inbox / "first song.wav", 5)
    music(inbox / "live" / "second.flac", 4, sr=44100, channels=2)
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "snakemake", "predictions", "--cores", "2"]
    cmd += ["--configfile", str(REPO / "tests" / "configs" / "tiny.yaml")]
    cmd += ["--config", f"results={results}", f"predict={{input: {inbox}, model: {experiment}}}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("first song", "live/second"):
        df = pd.read_csv(results / "predictions" / f"{name}.csv")
        assert df["level"].iloc[0] == "track"
        assert (df["level"].iloc[1:] == "window").all()
        assert (results / "logs" / "predict" / f"{name}.log").exists()
        assert (results / "benchmarks" / "predict" / f"{name}.tsv").exists()
    df = pd.read_csv(results / "predictions" / "first song.csv")
    from divconq.predict import Predictor

    pred = Predictor(experiment).predict_file(inbox / "first song.wav")
    assert df["prediction"].iloc[0] == pred.label
    np.testing.assert_allclose(df[CLASSES].iloc[1:].to_numpy(), pred.scores, atol=1e-5)


def peak_rss_of_predict(model_dir, audio) -> int:
    """Peak resident memory (bytes) of ``divconq predict`` on one file, in a fresh
    process: a wrapper runs the command as its only child and reports
    ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the test process's own children would
    mix in other tests' processes)."""
    cmd = [sys.executable, "-m", "divconq.cli", "predict", str(audio), "--model", str(model_dir)]
    wrapper = (
        "import resource, subprocess, sys\n"
        f"proc = subprocess.run({cmd!r}, stdout=subprocess.DEVNULL)\n"
        "sys.exit(proc.returncode) if proc.returncode else None\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", wrapper], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip()) * 1024  # Linux reports KiB


@pytest.mark.slow
def test_memory_of_a_10_minute_mp3_is_that_of_a_2_minute_one(tmp_path):
    """Issue 12: ``divconq predict`` with the article's model on a 10-minute 44.1 kHz
    stereo MP3 peaks under 1.5 GB, and within 10 % of its peak on a 2-minute file
    (decoding, features and scores stream; only the window scores are kept)."""
    from divconq.data.mp3 import to_mp3
    from divconq.models.presets import build_model

    model_dir = write_model_dir(tmp_path / "article" / "seed0")
    build_model("article", len(CLASSES), (P.n_frames, P.n_mels, 1)).save(model_dir / "model.keras")
    peaks = {}
    for minutes in (2, 10):
        wav = write_tone(tmp_path / f"{minutes}min.wav", 60 * minutes, sr=44100, channels=2)
        mp3 = tmp_path / f"{minutes}min.mp3"
        to_mp3(wav, mp3)
        wav.unlink()
        peaks[minutes] = peak_rss_of_predict(model_dir, mp3)
    print(
        f"peak RSS of divconq predict: { ({k: f'{v / 2**20:.0f} MiB' for k, v in peaks.items()}) }"
    )
    assert peaks[10] < 1.5 * 2**30, peaks
    assert peaks[10] <= 1.10 * peaks[2], peaks
