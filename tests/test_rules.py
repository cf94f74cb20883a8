"""The registry of track rules (divconq.evaluate.rules) and everything derived from it."""

import numpy as np
import pytest

from divconq.cli import build_parser
from divconq.evaluate import aggregate, evaluation, rules
from divconq.predict import track_values

# Three windows of class 0 confident, three of class 1 by a thin margin.
SCORES = np.array(
    [
        [0.90, 0.01, 0.09],
        [0.90, 0.01, 0.09],
        [0.001, 0.55, 0.449],
        [0.001, 0.55, 0.449],
        [0.001, 0.55, 0.449],
    ]
)


def random_scores(seed, n_windows=7, n_classes=4):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n_windows, n_classes)) * 2
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


@pytest.mark.parametrize("name", rules.names())
def test_every_rule_scores_and_displays(name):
    rule = rules.get(name)
    assert rule.name == name and rule.label.startswith("track, ")
    for seed in range(20):
        s = random_scores(seed)
        score = rule.score(s)
        shown = rule.display(s)
        assert score.shape == shown.shape == (s.shape[1],)
        assert np.all(shown >= 0) and shown.sum() == pytest.approx(1.0)
        # The prediction is the argmax of the score, and the best shown value
        # belongs to it (the shown values rank as the rule does, up to vote's ties).
        assert shown[np.argmax(score)] == pytest.approx(shown.max())


def test_display_values():
    """Mean window score for sum, normalized geometric mean for mean_log, share of
    windows for vote."""
    np.testing.assert_allclose(rules.get("sum").display(SCORES), SCORES.mean(0))
    geo = np.exp(np.log(SCORES).mean(0))
    np.testing.assert_allclose(rules.get("mean_log").display(SCORES), geo / geo.sum())
    np.testing.assert_allclose(rules.get("vote").display(SCORES), [0.4, 0.6, 0.0])


def test_everything_derives_from_the_registry():
    assert evaluation.RULES == rules.names() == tuple(rules.RULES)
    assert evaluation.track_rules("snippets") == rules.names()
    assert evaluation.track_rules("clip") == ("clip",)
    assert aggregate.LEVELS == (
        "snippet",
        "window_per_track",
        *(f"track_{n}" for n in rules.names()),
        "track_clip",
    )
    for name, rule in rules.RULES.items():
        assert aggregate.LEVEL_LABELS[f"track_{name}"] == rule.label
        np.testing.assert_array_equal(evaluation.rule_scores(SCORES, name), rule.score(SCORES))
        index, values = track_values(SCORES, name)
        assert index == evaluation.predict_track(SCORES, name)
        np.testing.assert_array_equal(values, rule.display(SCORES))
    rule_action = next(
        a
        for a in build_parser()._subparsers._group_actions[0].choices["predict"]._actions
        if a.dest == "rule"
    )
    for name in rules.names():
        assert name in rule_action.metavar
        assert rule_action.type(name) == name


@pytest.mark.parametrize("bad, hint", [("mean-log", "mean_log"), ("sums", "sum"), ("vot", "vote")])
def test_unknown_rule_everywhere_with_a_hint(bad, hint):
    for call in (
        lambda: rules.get(bad),
        lambda: evaluation.rule_scores(SCORES, bad),
        lambda: track_values(SCORES, bad),
        lambda: rules.check_config({"predict": {"rule": bad}}),
    ):
        with pytest.raises(rules.UnknownRuleError, match=f"did you mean '{hint}'"):
            call()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["predict", "x.wav", "--model", "m", "--rule", bad])


def test_clip_is_no_user_rule():
    assert rules.get("clip") is rules.CLIP
    with pytest.raises(rules.UnknownRuleError):
        rules.get("clip", clip=False)
    with pytest.raises(rules.UnknownRuleError, match="predict.rule"):
        rules.check_config({"predict": {"rule": "clip"}})
    rules.check_config({"predict": {"rule": "mean_log"}})
    rules.check_config({})
    with pytest.raises(rules.UnknownRuleError, match=r"'zzz' \(known: sum, mean_log"):
        rules.get("zzz")


def test_config_check_stops_the_workflow(tmp_path):
    """``predict.rule: mean-log`` stops ``snakemake -n`` before any job, naming the key."""
    import subprocess
    import sys

    from conftest import REPO

    cmd = [sys.executable, "-m", "snakemake", "-n", "--configfile", "tests/configs/tiny.yaml"]
    cmd += ["--config", f"results={tmp_path}", "predict={rule: mean-log}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "predict.rule" in out and "did you mean 'mean_log'" in out


def test_max_rule():
    """``max``: the class with the single most confident window wins (a track with
    one strong section), where sum, mean_log and vote all pick the steady class."""
    steady = [0.6, 0.4, 0.0]
    strong = [0.02, 0.03, 0.95]
    s = np.array([steady] * 9 + [strong])
    assert {n: evaluation.predict_track(s, n) for n in ("sum", "mean_log", "vote")} == {
        "sum": 0,
        "mean_log": 0,
        "vote": 0,
    }
    assert evaluation.predict_track(s, "max") == 2
    np.testing.assert_allclose(evaluation.rule_scores(s, "max"), [0.6, 0.4, 0.95])
    index, shown = track_values(s, "max")
    assert index == 2
    np.testing.assert_allclose(shown, np.array([0.6, 0.4, 0.95]) / 1.95)
    assert "track_max" in aggregate.LEVELS
    assert aggregate.LEVEL_LABELS["track_max"] == "track, maximum window score"
    rules.check_config({"predict": {"rule": "max"}})
    assert (
        build_parser().parse_args(["predict", "x.wav", "--model", "m", "--rule", "max"]).rule
        == "max"
    )


def test_max_in_evaluation_files_and_tables(tmp_path):
    """A rule added to the registry reaches tracks.csv, metrics.json and the tables."""
    import pandas as pd

    names = ["a", "b", "c"]
    s = np.array([[0.6, 0.4, 0.0]] * 9 + [[0.02, 0.03, 0.95]])
    ws = evaluation.WindowScores(["c/x"] * 10, range(10), [True] * 10, s, names)
    manifest = pd.DataFrame({"track": ["c/x"], "label": ["c"], "split": ["test"]})
    out = tmp_path / "eval" / "e" / "seed0"
    metrics = evaluation.write_outputs(out, ws, manifest, splits=["test"], experiment="e", seed=0)
    assert pd.read_csv(out / "tracks.csv").at[0, "pred_max"] == "c"
    assert metrics["splits"]["test"]["track"]["max"]["accuracy"] == 1.0
    assert metrics["splits"]["test"]["track"]["sum"]["accuracy"] == 0.0
    t = tmp_path / "tables"
    table = aggregate.aggregate([out / "metrics.json"], t / "accuracy.csv", t / "accuracy.md")
    assert "track_max" in set(table["level"])
    assert "| `track_max`" in (t / "accuracy.md").read_text()
