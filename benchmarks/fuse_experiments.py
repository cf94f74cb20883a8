"""Track accuracy of two or more experiments' window scores summed together (score fusion).

For every seed (and fold) evaluated in all the experiments, each track's summed
window scores (``sum_<class>`` of ``eval/<experiment>/[fold<K>/]seed<N>/tracks.csv``)
are added over the experiments and the largest class is the fused prediction: an
ensemble of different models on the same windows, seed by seed. Prints, per
split, the track accuracy (sum) of each experiment and of the fusion, and the
paired difference fusion - first experiment over the (fold, seed) pairs:

    python benchmarks/fuse_experiments.py results/realmusic fixed band_stats

The workflow does not fuse experiments (``divconq predict --model`` takes one
experiment); this measures whether it would be worth it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from divconq.evaluate.aggregate import paired_test, paired_text
from divconq.evaluate.evaluation import run_dirs


def load_sums(results: Path, experiment: str) -> dict:
    """``{(fold, seed): tracks.csv}`` of one experiment (fold ``""`` without k-fold)."""
    out = {}
    for d in run_dirs(results, "eval", experiment):
        if (d / "tracks.csv").is_file():
            fold = d.parent.name if d.parent.name.startswith("fold") else ""
            out[(fold, d.name)] = pd.read_csv(d / "tracks.csv")
    return out


def track_accuracy(tables: list, split: str) -> float:
    """Track accuracy (sum) of the summed ``sum_<class>`` columns of ``tables``."""
    first = tables[0][tables[0]["split"] == split].set_index("track")
    cols = [c for c in first.columns if c.startswith("sum_")]
    total = sum(t[t["split"] == split].set_index("track").loc[first.index, cols] for t in tables)
    predicted = total.idxmax(axis=1).str.removeprefix("sum_")
    return float((predicted == first["label"].astype(str)).mean())


def fuse(results, experiments, splits=("val", "test")) -> pd.DataFrame:
    """One row per (split, fold, seed): each experiment's track accuracy and the fusion's.

    Raises
    ------
    ValueError
        Fewer than two experiments, no (fold, seed) evaluated in all of them, or
        experiments with different classes.
    """
    if len(experiments) < 2:
        raise ValueError("give at least two experiments to fuse")
    results = Path(results)
    sums = {e: load_sums(results, e) for e in experiments}
    keys = sorted(set.intersection(*(set(s) for s in sums.values())))
    if not keys:
        raise ValueError(f"no seed of {', '.join(experiments)} is evaluated in all of them")
    rows = []
    for key in keys:
        tables = [sums[e][key] for e in experiments]
        cols = [sorted(c for c in t.columns if c.startswith("sum_")) for t in tables]
        if any(c != cols[0] for c in cols):
            raise ValueError(f"{key}: the experiments have different classes")
        for split in splits:
            if not (tables[0]["split"] == split).any():
                continue
            row = {"split": split, "fold": key[0], "seed": key[1]}
            for e, t in zip(experiments, tables, strict=True):
                row[e] = track_accuracy([t], split)
            row["fused"] = track_accuracy(tables, split)
            rows.append(row)
    return pd.DataFrame(rows)


def report(table: pd.DataFrame, experiments) -> str:
    """Markdown: mean accuracy per split and the paired fusion - first experiment."""
    lines = [
        f"| split | pairs | {' | '.join(experiments)} | fused | fused - {experiments[0]} "
        "(95 % CI) | t-test p |",
        "|---|---:|" + "---:|" * (len(experiments) + 3),
    ]
    for split, part in table.groupby("split", sort=False):
        d = paired_test(part["fused"], part[experiments[0]])
        means = " | ".join(f"{100 * part[e].mean():.1f}" for e in experiments)
        lines.append(
            f"| {split} | {len(part)} | {means} | {100 * part['fused'].mean():.1f} | "
            f"{paired_text(d)} | {d['p_ttest']:.2g} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path, help="the run's results folder")
    ap.add_argument("experiments", nargs="+", help="two or more experiment names")
    args = ap.parse_args(argv)
    table = fuse(args.results, args.experiments)
    print("Track accuracy (sum), % (mean over the (fold, seed) pairs)\n")
    print(report(table, args.experiments))


if __name__ == "__main__":
    main()
