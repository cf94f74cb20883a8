"""k-fold tables: per fold and pooled over fold x seed runs, folds read from the paths."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from divconq.evaluate import aggregate as ag
from divconq.evaluate import aggregate_folds as af

# accuracy (snippet, track sum) of each (fold, seed) run
RUNS = {(0, 0): (0.60, 0.75), (0, 1): (0.64, 0.70), (1, 0): (0.55, 0.72), (1, 1): (0.66, 0.69)}
RUNS |= {(2, 0): (0.58, 0.80), (2, 1): (0.61, 0.66)}


def write_runs(root, experiment="e"):
    """metrics.json of every run in eval/<experiment>/fold<k>/seed<N>/, as the DAG lays out."""
    files = []
    for (k, s), (snippet, track) in RUNS.items():
        res = {
            "n_tracks": 10,
            "snippet": {"accuracy": snippet, "n": 140},
            "window_per_track": {"accuracy": snippet + 0.02},
            "track": {"sum": {"accuracy": track, "n": 10}},
        }
        metrics = {"experiment": experiment, "seed": s, "input": "snippets", "splits": {}}
        metrics["splits"] = {"val": res, "test": res}
        d = root / experiment / f"fold{k}" / f"seed{s}"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps(metrics))
        files.append(d / "metrics.json")
    return files


def test_folds_of_paths(tmp_path):
    files = write_runs(tmp_path)
    assert af.folds_of(files) == [k for k, _ in RUNS]
    assert af.folds_of([tmp_path / "e" / "seed0" / "metrics.json"]) is None
    with pytest.raises(ValueError, match="mixed"):
        af.folds_of([*files, tmp_path / "e" / "seed0" / "metrics.json"])


def test_pooled_and_per_fold_rows(tmp_path):
    files = write_runs(tmp_path)
    out = tmp_path / "tables"
    table = af.aggregate_folds(
        files, out / "a.csv", out / "a.md", out / "per_seed.csv", out / "a.html"
    )
    assert list(table.columns) == [*ag.COLUMNS[:4], "fold", *ag.COLUMNS[4:]]
    rows = table[table["split"] == "test"].set_index(["fold", "level"])
    snip = np.array([a for a, _ in RUNS.values()])
    track = np.array([b for _, b in RUNS.values()])
    pooled = rows.loc[(af.POOLED, "track_sum")]
    assert pooled["n_seeds"] == 6 and pooled["mean"] == pytest.approx(track.mean())
    assert pooled["sd"] == pytest.approx(track.std(ddof=1))
    diff = rows.loc[(af.POOLED, ag.DIFF_LEVEL)]
    assert diff["mean"] == pytest.approx((track - snip).mean())
    assert diff["p_ttest"] == pytest.approx(stats.ttest_rel(track, snip).pvalue)
    for k in (0, 1, 2):
        fold = rows.loc[(str(k), "track_sum")]
        assert fold["n_seeds"] == 2
        assert fold["mean"] == pytest.approx(np.mean([RUNS[k, s][1] for s in (0, 1)]))
        assert (str(k), ag.DIFF_LEVEL) in rows.index
    back = pd.read_csv(out / "a.csv", dtype={"fold": str})
    assert list(dict.fromkeys(back["fold"])) == [af.POOLED, "0", "1", "2"]
    per_seed = pd.read_csv(out / "per_seed.csv")
    assert set(zip(per_seed["fold"], per_seed["seed"], strict=True)) == set(RUNS)
    md = (out / "a.md").read_text()
    assert "e, pooled over folds" in md and "e, fold 2" in md and "3 folds" in md
    assert "e, fold 0" in (out / "a.html").read_text()
