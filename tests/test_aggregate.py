"""Aggregation over seeds: summary statistics, paired tests, recomputation from tracks.csv."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from divconq.evaluate import aggregate as ag
from divconq.evaluate import evaluation as ev


def _metrics(experiment, seed, snippet, track_sum, splits=("val", "test"), input="snippets"):
    """A minimal metrics.json dict with given accuracies (same for every split)."""
    res = {}
    for split in splits:
        track = {"sum": {"accuracy": track_sum, "n": 10}}
        if input != "clip":
            track.update(mean_log={"accuracy": track_sum - 0.01}, vote={"accuracy": track_sum})
        res[split] = {
            "n_tracks": 10,
            "snippet": {"accuracy": snippet if input != "clip" else None, "n": 140},
            "window_per_track": {"accuracy": snippet + 0.02 if input != "clip" else None},
            "track": track if input != "clip" else {"clip": {"accuracy": track_sum, "n": 10}},
        }
    return {"experiment": experiment, "seed": seed, "input": input, "splits": res}


def _write(tmp_path, metrics_list):
    files = []
    for m in metrics_list:
        d = tmp_path / m["experiment"] / f"seed{m['seed']}"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps(m))
        files.append(d / "metrics.json")
    return files


SNIP = [0.61, 0.64, 0.58, 0.66, 0.60, 0.63]
TRACK = [0.75, 0.80, 0.70, 0.78, 0.79, 0.72]


def test_summary_and_paired_tests_match_scipy(tmp_path):
    files = _write(
        tmp_path, [_metrics("e", s, a, b) for s, (a, b) in enumerate(zip(SNIP, TRACK, strict=True))]
    )
    table = ag.summarize(ag.load_per_seed(files))
    row = table.set_index(["experiment", "level", "split"]).loc[("e", "snippet", "test")]
    assert row["n_seeds"] == 6
    assert row["mean"] == pytest.approx(np.mean(SNIP))
    assert row["sd"] == pytest.approx(np.std(SNIP, ddof=1))
    assert (row["min"], row["max"]) == (min(SNIP), max(SNIP))

    diff = table[(table["level"] == ag.DIFF_LEVEL) & (table["split"] == "val")].iloc[0]
    d = np.array(TRACK) - np.array(SNIP)
    assert diff["mean"] == pytest.approx(d.mean())
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert (diff["ci_low"], diff["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    t = stats.ttest_rel(TRACK, SNIP)
    assert diff["t"] == pytest.approx(t.statistic)
    assert diff["p_ttest"] == pytest.approx(t.pvalue)
    w = stats.wilcoxon(d, method="exact")
    assert diff["p_wilcoxon"] == pytest.approx(w.pvalue)
    assert diff["p_wilcoxon"] == pytest.approx(2 / 2**6)  # all 6 differences positive

    md = ag.to_markdown(table)
    assert f"{100 * np.mean(SNIP):.1f} ± {100 * np.std(SNIP, ddof=1):.1f}" in md
    assert f"+{100 * d.mean():.1f}" in md


def test_single_seed_gives_nan_and_note(tmp_path):
    files = _write(tmp_path, [_metrics("e", 0, 0.6, 0.7)])
    table = ag.summarize(ag.load_per_seed(files))
    diff = table[table["level"] == ag.DIFF_LEVEL].iloc[0]
    assert diff["n_seeds"] == 1 and diff["mean"] == pytest.approx(0.1)
    for col in ("sd", "ci_low", "ci_high", "p_ttest", "p_wilcoxon"):
        assert math.isnan(diff[col])
    assert "1 paired seed" in diff["note"]
    assert "NaN" in ag.to_markdown(table)


def test_constant_and_zero_differences():
    out = ag.paired_test([0.7, 0.8, 0.9], [0.6, 0.7, 0.8])  # all +0.1 (with float noise)
    assert math.isnan(out["p_ttest"]) and "equal" in out["note"]
    assert out["p_wilcoxon"] == pytest.approx(0.25)
    out = ag.paired_test([0.5, 0.6], [0.5, 0.6])
    assert math.isnan(out["p_wilcoxon"]) and "zero" in out["note"]


def test_clip_experiment_is_its_own_row(tmp_path):
    files = _write(
        tmp_path,
        [_metrics("snip", s, 0.6 + s / 100, 0.7) for s in range(3)]
        + [_metrics("clip30", s, 0.0, 0.65, input="clip") for s in range(3)],
    )
    table = ag.summarize(ag.load_per_seed(files))
    clip = table[table["experiment"] == "clip30"]
    assert set(clip["level"]) == {"track_clip"}
    assert set(table[table["experiment"] == "snip"]["level"]) == {
        "snippet",
        "window_per_track",
        "track_sum",
        "track_mean_log",
        "track_vote",
        ag.DIFF_LEVEL,
    }
    assert list(table["experiment"].unique()) == ["snip", "clip30"]


def _random_eval_dir(root, experiment, seed, rng, class_names, manifest):
    """An evaluation directory from random window scores of tracks of unequal length."""
    rows = manifest[manifest["split"].isin(["val", "test"])]
    track, start, snip, scores = [], [], [], []
    for t, label in zip(rows["track"], rows["label"], strict=True):
        n = int(rng.integers(1, 30))
        true = class_names.index(label)
        logits = rng.normal(size=(n, len(class_names)))
        logits[:, true] += rng.uniform(-0.5, 2.0)
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        track += [t] * n
        start += list(range(n))
        snip += [(i % 2 == 0) and i < 28 for i in range(n)]
        scores.append(p)
    ws = ev.WindowScores(track, start, snip, np.concatenate(scores), class_names)
    out = root / experiment / f"seed{seed}"
    ev.write_outputs(out, ws, manifest, experiment=experiment, seed=seed)
    return out


def test_table_recomputed_from_tracks_csv(tmp_path):
    rng = np.random.default_rng(0)
    names = ["blues", "jazz", "rock"]
    tracks = [f"{c}/{c}.{i:05d}" for c in names for i in range(12)]
    split = (["train"] * 6 + ["val"] * 3 + ["test"] * 3) * len(names)
    manifest = pd.DataFrame({"track": tracks, "label": [t.split("/")[0] for t in tracks]})
    manifest["split"] = split
    dirs = [_random_eval_dir(tmp_path, "exp", s, rng, names, manifest) for s in range(4)]
    table = ag.aggregate(
        [d / "metrics.json" for d in dirs],
        tmp_path / "t" / "accuracy.csv",
        tmp_path / "t" / "accuracy.md",
        tmp_path / "t" / "accuracy_per_seed.csv",
        tmp_path / "t" / "accuracy.html",
    )
    assert (tmp_path / "t" / "accuracy.html").read_text().count("<table") == 2
    saved = pd.read_csv(tmp_path / "t" / "accuracy.csv", keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(
        saved.drop(columns="note"), table.drop(columns="note"), check_dtype=False
    )

    # Independent recomputation from tracks.csv alone.
    per_seed = {}
    for s, d in enumerate(dirs):
        df = pd.read_csv(d / "tracks.csv")
        for sp, g in df.groupby("split"):
            per_seed[(s, sp, "snippet")] = g["n_snippets_correct"].sum() / g["n_snippets"].sum()
            per_seed[(s, sp, "window_per_track")] = (g["n_windows_correct"] / g["n_windows"]).mean()
            for rule in ev.RULES:
                per_seed[(s, sp, f"track_{rule}")] = (g[f"pred_{rule}"] == g["label"]).mean()
            # The sum rule is the argmax of the summed-score columns.
            sums = g[[f"sum_{c}" for c in names]].to_numpy()
            assert list(np.array(names)[sums.argmax(1)]) == list(g["pred_sum"])
    got = table.set_index(["level", "split"])
    for sp in ("val", "test"):
        for level in ("snippet", "window_per_track", "track_sum", "track_mean_log", "track_vote"):
            vals = [per_seed[(s, sp, level)] for s in range(4)]
            row = got.loc[(level, sp)]
            assert row["mean"] == pytest.approx(np.mean(vals))
            assert row["sd"] == pytest.approx(np.std(vals, ddof=1))
            assert row["min"] == pytest.approx(min(vals))
            assert row["n_seeds"] == 4
        d = [per_seed[(s, sp, "track_sum")] - per_seed[(s, sp, "snippet")] for s in range(4)]
        row = got.loc[(ag.DIFF_LEVEL, sp)]
        assert row["mean"] == pytest.approx(np.mean(d))
        assert row["p_ttest"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)


def test_markdown_and_html_show_the_display_tables(tmp_path):
    """Both renderings carry the display DataFrames' cells as they are (signs kept,
    no number re-parsing), the levels as code, and the paired-difference section."""
    import html
    import re

    files = _write(
        tmp_path, [_metrics("e", s, a, b) for s, (a, b) in enumerate(zip(SNIP, TRACK, strict=True))]
    )
    table = ag.summarize(ag.load_per_seed(files))
    acc, diff = ag.accuracy_display(table), ag.difference_display(table)
    shown = ("snippet", "window_per_track", "track_sum", "track_mean_log", "track_vote")
    assert list(acc["level"]) == [f"`{lvl}`" for lvl in shown]  # the levels of _metrics
    assert diff["mean"].str.startswith("+").all()
    md, page = ag.to_markdown(table), ag.to_html(table)
    md_rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in md.splitlines()
        if line.startswith("|") and not set(line) <= set("|:- ")
    ]
    want = [list(acc.columns)] + acc.values.tolist()
    want += [list(diff.columns)] + diff.values.tolist()
    assert md_rows == want
    html_cells = [
        html.unescape(re.sub(r"</?code>", "`", c)).strip()
        for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", page, re.S)
    ]
    assert html_cells == [c for row in want for c in row]
    assert "<code>track_sum</code>" in page and page.count("<table") == 2
    assert "## Paired difference track (sum) − snippet, per seed" in md
