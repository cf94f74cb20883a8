"""Selection on validation tracks (divconq.evaluate.selection), on hand-made per-track
tables whose criteria are computed here independently."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from divconq.evaluate import selection

CLASSES = ["a", "b"]


def _tracks(path, rows):
    """A run's tracks.csv: (track, label, split, n_windows, n_correct, sum_a, sum_b)."""
    df = pd.DataFrame(
        rows,
        columns=["track", "label", "split", "n_windows", "n_windows_correct", "sum_a", "sum_b"],
    )
    df.to_csv(path, index=False)
    return path


def test_criteria_of_one_run(tmp_path):
    path = _tracks(
        tmp_path / "t.csv",
        [
            ("a/1", "a", "val", 4, 3, 3.0, 1.0),  # p(a) = 0.75, right
            ("b/1", "b", "val", 2, 0, 1.5, 0.5),  # p(b) = 0.25, wrong
            ("b/2", "b", "test", 2, 2, 0.0, 2.0),
        ],
    )
    got = selection.run_criteria(pd.read_csv(path), "val")
    assert got["track_log_loss"] == pytest.approx(-(math.log(0.75) + math.log(0.25)) / 2)
    assert got["track_accuracy"] == 0.5
    assert got["window_accuracy"] == pytest.approx(3 / 6)
    assert got["n_tracks"] == 2


def _runs(values, costs):
    rows = []
    for (e, fold), vals in values.items():
        for seed, v in enumerate(vals):
            rows.append(
                {
                    "experiment": e,
                    "fold": fold,
                    "seed": seed,
                    "val_track_log_loss": v,
                    "val_track_accuracy": 1 - v,
                    "val_window_accuracy": 1 - v,
                    "n_val": 10,
                    "test_track_accuracy": {"big": 0.8, "cheap": 0.7}[e] + 0.01 * fold,
                    "n_test": 10,
                    "cost_s": costs[e],
                }
            )
    return pd.DataFrame(rows)


def test_one_se_prefers_the_cheaper_within_noise_and_the_choice_is_per_fold():
    # Fold 0: big is better by less than its standard error; fold 1: by far more.
    values = {
        ("big", 0): [0.50, 0.60, 0.40],
        ("cheap", 0): [0.53, 0.53, 0.53],
        ("big", 1): [0.30, 0.31, 0.29],
        ("cheap", 1): [0.60, 0.61, 0.59],
    }
    runs = _runs(values, {"big": 100.0, "cheap": 10.0})
    se_big0 = np.std([0.5, 0.6, 0.4], ddof=1) / math.sqrt(3)
    assert 0.53 - 0.50 < se_big0  # the premise
    table = selection.choose(runs, "track_log_loss", one_se=True)
    picked = table[table["chosen"]]
    chosen = dict(zip(picked["fold"], picked["experiment"], strict=True))
    assert chosen == {0: "cheap", 1: "big"}
    best = selection.choose(runs, "track_log_loss", one_se=False)
    assert list(best.loc[best["chosen"], "experiment"]) == ["big", "big"]
    # Higher-is-better criteria are read the right way round.
    acc = selection.choose(runs, "track_accuracy", one_se=False)
    assert list(acc.loc[acc["chosen"], "experiment"]) == ["big", "big"]

    report = selection.selection_report(runs, table, "track_log_loss", True)
    # Nested: fold 0 scored by cheap (0.70), fold 1 by big (0.81).
    assert report["test"]["procedure_track_accuracy"] == pytest.approx((0.70 + 0.81) / 2)
    assert report["test"]["per_experiment_track_accuracy"] == pytest.approx(
        {"big": 0.805, "cheap": 0.705}
    )
    # Chosen once each: the tie goes to the cheaper.
    assert report["chosen"] == "cheap" and report["test"]["n_tracks"] == 20
    json.dumps(report)  # plain JSON
    assert "**yes**" in selection.selection_markdown(report)


def test_wilson_interval_matches_the_formula():
    low, high = selection.wilson_interval(0.8, 50)
    # Independent: scipy's binomtest Wilson interval.
    from scipy.stats import binomtest

    want = binomtest(40, 50).proportion_ci(confidence_level=0.95, method="wilson")
    assert (low, high) == pytest.approx((want.low, want.high), abs=1e-6)


def test_suspects_are_out_of_fold_disagreements_most_confident_first(tmp_path):
    # Two seeds of one experiment in fold 0; their probabilities are averaged.
    rows = [
        ("a/ok", "a", "test", 2, 2, 1.8, 0.2),
        ("a/odd", "a", "test", 2, 0, 0.2, 1.8),  # p(b) 0.9 then 0.7: mean 0.8
        ("b/odd", "b", "test", 2, 0, 1.2, 0.8),  # p(a) 0.6 both
        ("a/val", "a", "val", 2, 0, 0.0, 2.0),  # not tested in this fold
    ]
    seed1 = [r if r[0] != "a/odd" else ("a/odd", "a", "test", 2, 0, 0.6, 1.4) for r in rows]
    files = [_tracks(tmp_path / "s0.csv", rows), _tracks(tmp_path / "s1.csv", seed1)]
    out = selection.suspects(files, ["e", "e"], [0, 0], {0: "e"})
    assert list(out["track"]) == ["a/odd", "b/odd"]
    assert out["p_predicted"].tolist() == pytest.approx([0.8, 0.6])
    assert out["margin"].tolist() == pytest.approx([0.6, 0.2])
    assert list(out["predicted"]) == ["b", "a"]
    # Another experiment chosen for the fold: these runs are not its evidence.
    assert selection.suspects(files, ["e", "e"], [0, 0], {0: "f"}).empty
