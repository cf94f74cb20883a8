"""Track-level rules, snippet vs per-track window accuracy, evaluation files (no model)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from divconq.evaluate import evaluation as ev
from divconq.evaluate import metrics, rules, scoring
from divconq.shared.fileio import plain

# Three windows of class 0 confident, three of class 1 by a thin margin:
# sum -> 0 (large scores), vote -> 1 (most argmaxes), mean_log -> 2 (never near 0).
DISAGREE = np.array(
    [
        [0.90, 0.01, 0.09],
        [0.90, 0.01, 0.09],
        [0.001, 0.55, 0.449],
        [0.001, 0.55, 0.449],
        [0.001, 0.55, 0.449],
    ]
)


def test_rules_disagree():
    assert ev.predict_track(DISAGREE, "sum") == 0
    assert ev.predict_track(DISAGREE, "vote") == 1
    assert ev.predict_track(DISAGREE, "mean_log") == 2
    np.testing.assert_allclose(ev.rule_scores(DISAGREE, "sum"), DISAGREE.sum(0))
    np.testing.assert_allclose(ev.rule_scores(DISAGREE, "mean_log"), np.log(DISAGREE).mean(0))


def test_vote_ties_broken_by_summed_score():
    # One vote each for 0 and 1; class 1 has the larger sum.
    s = np.array([[0.6, 0.4, 0.0], [0.3, 0.7, 0.0]])
    assert ev.predict_track(s, "vote") == 1
    # Same votes, class 0 has the larger sum.
    s = np.array([[0.9, 0.1, 0.0], [0.45, 0.55, 0.0]])
    assert ev.predict_track(s, "vote") == 0
    # A clear majority wins over a larger summed score.
    s = np.array([[0.34, 0.33, 0.33]] * 2 + [[0.0, 1.0, 0.0]])
    assert ev.predict_track(s, "vote") == 0
    assert ev.predict_track(s, "sum") == 1


def test_mean_log_handles_zero_probability():
    s = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert ev.predict_track(s, "mean_log") == 1
    assert np.all(np.isfinite(ev.rule_scores(s, "mean_log")))


def test_unknown_rule():
    with pytest.raises(ValueError, match="median"):
        ev.predict_track(DISAGREE, "median")
    with pytest.raises(ValueError, match="did you mean 'mean_log'"):
        ev.rule_scores(DISAGREE, "mean-log")


def test_classification_metrics():
    y_true = [0, 0, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 1]
    m = metrics.classification_metrics(y_true, y_pred, 3)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [0, 1, 0]]
    assert m["precision"][0] == 1.0 and m["precision"][1] == pytest.approx(0.5)
    assert math.isnan(m["precision"][2])  # class 2 never predicted
    assert m["recall"] == pytest.approx([0.5, 1.0, 0.0])
    assert m["f1"][1] == pytest.approx(2 * 0.5 / 1.5)
    assert m["support"] == [2, 2, 1]


def _reference_metrics(y_true, y_pred, n_classes):
    """Per-class precision / recall / F1 counted one class at a time (the definitions)."""
    precision, recall, f1 = [], [], []
    for c in range(n_classes):
        tp = sum(t == c and p == c for t, p in zip(y_true, y_pred, strict=True))
        fp = sum(t != c and p == c for t, p in zip(y_true, y_pred, strict=True))
        fn = sum(t == c and p != c for t, p in zip(y_true, y_pred, strict=True))
        p_c = tp / (tp + fp) if tp + fp else math.nan
        r_c = tp / (tp + fn) if tp + fn else math.nan
        if math.isnan(p_c) or math.isnan(r_c):
            f_c = math.nan
        else:
            f_c = 2 * p_c * r_c / (p_c + r_c) if p_c + r_c else 0.0
        precision.append(p_c)
        recall.append(r_c)
        f1.append(f_c)
    return precision, recall, f1


@pytest.mark.parametrize("seed", range(12))
def test_classification_metrics_match_the_definitions(seed):
    """scikit-learn's numbers with the tables' conventions: NaN for an undefined
    precision or recall, and for F1 then; macro averages over the defined classes."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 6))
    n = int(rng.integers(0, 25))
    y_true = rng.integers(0, k, n).tolist()
    y_pred = rng.integers(0, k, n).tolist()
    if seed % 2 and k > 1:
        y_pred = [p if p else 1 for p in y_pred]  # class 0 never predicted
    m = metrics.classification_metrics(y_true, y_pred, k)
    want = _reference_metrics(y_true, y_pred, k)
    for key, values in zip(("precision", "recall", "f1"), want, strict=True):
        np.testing.assert_allclose(m[key], values, equal_nan=True)
        defined = [v for v in values if not math.isnan(v)]
        macro = m[f"macro_{key}"]
        assert macro == pytest.approx(np.mean(defined)) if defined else math.isnan(macro)
    confusion = np.zeros((k, k), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        confusion[t, p] += 1
    assert m["confusion"] == confusion.tolist() and m["n"] == n
    assert m["support"] == confusion.sum(axis=1).tolist()
    if n:
        assert m["accuracy"] == pytest.approx(np.trace(confusion) / n)
    else:
        assert math.isnan(m["accuracy"])


def _ws(lengths, correct, snippet_every=2, n_classes=2):
    """Windows of tracks of class 0; ``correct[t]`` windows of track t are right."""
    track, start, snip, scores = [], [], [], []
    for t, (n, k) in enumerate(zip(lengths, correct, strict=True)):
        for w in range(n):
            track.append(f"a/t{t}")
            start.append(float(w))
            snip.append(w % snippet_every == 0)
            scores.append([0.8, 0.2] if w < k else [0.2, 0.8])
    names = ["a", "b"][:n_classes]
    return ev.WindowScores(track, start, snip, np.array(scores), names)


def test_snippet_vs_window_per_track_unequal_lengths():
    # A long track (20 windows, all right) and a short one (4 windows, none right).
    ws = _ws([20, 4], [20, 0])
    tracks = pd.DataFrame({"track": ["a/t0", "a/t1"], "label": "a", "split": "test"})
    m = ev.compute_metrics(ws, tracks, splits=["test"])["splits"]["test"]
    # Snippets pooled: 10 right of 10 + 2 -> dominated by the long track.
    assert m["n_snippets"] == 12
    assert m["snippet"]["accuracy"] == pytest.approx(10 / 12)
    # Per track: (1 + 0) / 2.
    assert m["window_per_track"]["accuracy"] == pytest.approx(0.5)
    assert m["window_pooled"]["accuracy"] == pytest.approx(20 / 24)
    assert m["track"]["sum"]["accuracy"] == pytest.approx(0.5)
    assert list(m["track"]) == list(rules.names())  # every rule of the registry


def test_window_accuracy_per_track_direct():
    ids = ["x"] * 3 + ["y"]
    assert metrics.window_accuracy_per_track(ids, [0, 0, 0, 1], [0, 1, 1, 1]) == pytest.approx(
        (1 / 3 + 1) / 2
    )
    assert math.isnan(metrics.window_accuracy_per_track([], [], []))


def test_track_table_and_files(tmp_path):
    names = ["a", "b", "c"]
    rows = [("a/x", DISAGREE, "val"), ("b/y", np.array([[0.1, 0.8, 0.1]] * 3), "test")]
    track, start, snip, scores = [], [], [], []
    for t, s, _ in rows:
        track += [t] * len(s)
        start += list(range(len(s)))
        snip += [i % 2 == 0 for i in range(len(s))]
        scores.append(s)
    ws = ev.WindowScores(track, start, snip, np.concatenate(scores), names)
    manifest = pd.DataFrame(
        {
            "track": ["a/x", "b/y", "c/z"],
            "label": ["a", "b", "c"],
            "split": ["val", "test", "train"],
        }
    )
    metrics = ev.write_outputs(tmp_path, ws, manifest, experiment="e", seed=3)
    df = pd.read_csv(tmp_path / "tracks.csv")
    assert list(df["track"]) == ["b/y", "a/x"]  # sorted by split, then track
    x = df.set_index("track").loc["a/x"]
    assert (x["pred_sum"], x["pred_vote"], x["pred_mean_log"]) == ("a", "b", "c")
    assert x["n_windows"] == 5 and x["n_snippets"] == 3 and x["n_snippets_correct"] == 1
    assert x["sum_a"] == pytest.approx(1.803)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["experiment"] == "e" and saved["seed"] == 3
    assert saved["splits"]["val"]["track"]["sum"]["accuracy"] == 1.0
    assert saved["splits"]["val"]["track"]["vote"]["accuracy"] == 0.0
    assert metrics["splits"]["test"]["snippet"]["accuracy"] == 1.0
    # Window scores round-trip and give the same metrics without the model.
    back, attrs = ev.read_window_scores(tmp_path / "window_scores.h5")
    assert attrs["experiment"] == "e"
    np.testing.assert_array_equal(back.track, ws.track)
    np.testing.assert_allclose(back.scores, ws.scores)
    again = ev.recompute(tmp_path, manifest)
    assert json.dumps(plain(again), sort_keys=True) == json.dumps(saved, sort_keys=True)


def test_clip_model(tmp_path):
    ws = ev.WindowScores(
        ["a/x", "b/y"], [0, 0], [False, False], [[0.7, 0.3], [0.6, 0.4]], ["a", "b"], "clip"
    )
    manifest = pd.DataFrame({"track": ["a/x", "b/y"], "label": ["a", "b"], "split": "test"})
    m = ev.write_outputs(tmp_path, ws, manifest, splits=["test"], experiment="clip", seed=0)
    res = m["splits"]["test"]
    assert list(res["track"]) == ["clip"]
    assert res["track"]["clip"]["accuracy"] == 0.5
    assert math.isnan(res["snippet"]["accuracy"])
    assert math.isnan(res["window_per_track"]["accuracy"])
    df = pd.read_csv(tmp_path / "tracks.csv")
    assert list(df["pred_clip"]) == ["a", "a"]


class _FakeBundle:
    class_names = ["a", "b"]
    input = "snippets"
    params = None


def test_score_tracks_with_fake_inference(tmp_path, monkeypatch):
    """score_tracks reads each HDF5 once, concatenates windows and keeps their order."""
    from divconq.data import features as F

    params = F.FeatureParams()
    paths = []
    for i, n in enumerate([3, 5]):
        feats = F.TrackFeatures(
            mel_db=np.full((n, 4, 6), float(i), dtype=np.float32),
            start_s=np.arange(n, dtype=np.float64),
            is_snippet=np.arange(n) % 2 == 0,
            duration_s=n + 2.0,
            padded=False,
        )
        p = tmp_path / f"t{i}.h5"
        F.write_hdf5(p, feats, params, track=f"a/t{i}", label="a")
        paths.append(str(p))

    calls = []

    def score_windows(bundle, mel_db, batch_size=256):
        calls.append(len(mel_db))
        v = mel_db[:, 0, 0]
        return np.stack([1 - v * 0.9, v * 0.9], axis=1)

    import types

    fake = types.ModuleType("divconq.evaluate.inference")
    fake.score_windows = score_windows
    monkeypatch.setitem(__import__("sys").modules, "divconq.evaluate.inference", fake)
    import divconq.evaluate

    monkeypatch.setattr(divconq.evaluate, "inference", fake, raising=False)
    tracks = pd.DataFrame({"track": ["a/t0", "a/t1"], "spectrogram": paths})
    bundle = _FakeBundle()
    bundle.params = params
    ws = scoring.score_tracks(bundle, tracks, chunk_windows=4)
    assert len(ws.track) == 8 and list(ws.track[:3]) == ["a/t0"] * 3
    assert sum(calls) == 8
    np.testing.assert_allclose(ws.scores[3:, 1], 0.9, rtol=1e-6)
    np.testing.assert_array_equal(ws.is_snippet[:3], [True, False, True])

    # A model trained on other features is refused.
    bundle.params = F.FeatureParams(n_mels=64)
    with pytest.raises(ValueError, match="n_mels"):
        scoring.score_tracks(bundle, tracks)


def _tiny_model_dir(path, input_kind, class_names, params):
    """A real (untrained) Keras model directory, as the training stage writes one."""
    keras = pytest.importorskip("keras")
    inp = keras.Input((None, params.n_mels, 1))
    x = keras.layers.GlobalAveragePooling2D()(inp)
    out = keras.layers.Dense(len(class_names), activation="softmax")(x)
    model = keras.Model(inp, out)
    model.layers[-1].set_weights(
        [np.linspace(-1, 1, len(class_names))[None, :] * 3, np.zeros(len(class_names))]
    )
    path.mkdir(parents=True)
    model.save(path / "model.keras")
    info = {
        "class_names": class_names,
        "features": params.to_dict(),
        "input": input_kind,
        "normalization": {"mean": [-40.0] * params.n_mels, "std": [20.0] * params.n_mels},
        "experiment": f"tiny_{input_kind}",
        "seed": 7,
    }
    (path / "preprocessing.json").write_text(json.dumps(info))
    return path


def test_evaluate_with_a_real_model(tmp_path):
    """evaluate() on a tiny Keras model: the files, and scores equal to inference's."""
    from divconq.data import features as F
    from divconq.evaluate import inference

    params = F.FeatureParams()
    names = ["a", "b", "c"]
    rng = np.random.default_rng(0)
    rows = []
    for i, (label, split, n) in enumerate(
        [("a", "val", 4), ("b", "test", 7), ("c", "test", 2), ("a", "train", 3)]
    ):
        feats = F.TrackFeatures(
            mel_db=rng.normal(-40 + 10 * i, 20, (n, params.n_mels, params.n_frames)).astype(
                np.float32
            ),
            start_s=np.arange(n, dtype=np.float64),
            is_snippet=np.arange(n) % 2 == 0,
            duration_s=n + 2.0,
            padded=False,
            clip_mel_db=rng.normal(-40, 20, (params.n_mels, params.n_clip_frames)).astype(
                np.float32
            ),
        )
        track = f"{label}/t{i}"
        F.write_hdf5(tmp_path / "spec" / f"{track}.h5", feats, params, track=track, label=label)
        rows.append({"track": track, "label": label, "split": split, "spectrogram": f"{track}.h5"})
    manifest = pd.DataFrame(rows)
    manifest.to_csv(tmp_path / "manifest.csv", index=False)

    model_dir = _tiny_model_dir(tmp_path / "m" / "seed7", "snippets", names, params)
    out = tmp_path / "eval"
    m = ev.evaluate(model_dir, tmp_path / "manifest.csv", out, base_dir=tmp_path / "spec")
    assert m["experiment"] == "tiny_snippets" and m["seed"] == 7
    assert m["splits"]["test"]["n_windows"] == 9 and m["splits"]["test"]["n_snippets"] == 5
    ws, _ = ev.read_window_scores(out / "window_scores.h5")
    assert "a/t3" not in set(ws.track)  # train tracks are not scored
    bundle = inference.load_model_dir(model_dir)
    feats, _, _ = F.read_hdf5(tmp_path / "spec" / "b/t1.h5")
    np.testing.assert_allclose(
        ws.scores[ws.track == "b/t1"], inference.score_windows(bundle, feats.mel_db), rtol=1e-5
    )
    assert set(pd.read_csv(out / "tracks.csv")["track"]) == {"a/t0", "b/t1", "c/t2"}

    clip_dir = _tiny_model_dir(tmp_path / "c" / "seed0", "clip", names, params)
    m = ev.evaluate(clip_dir, manifest, tmp_path / "eval_clip", base_dir=tmp_path / "spec")
    assert list(m["splits"]["test"]["track"]) == ["clip"]
    ws, _ = ev.read_window_scores(tmp_path / "eval_clip" / "window_scores.h5")
    assert ws.input == "clip" and len(ws.track) == 3


def test_no_sklearn_on_import():
    """scikit-learn is loaded by the metrics alone: importing evaluation (as
    ``divconq predict`` does for its track rule) leaves it out."""
    import subprocess
    import sys

    from conftest import REPO

    code = (
        "import sys, divconq.evaluate.evaluation, divconq.predict; print('sklearn' in sys.modules)"
    )
    env = {"PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.stdout.strip() == "False", proc.stderr
