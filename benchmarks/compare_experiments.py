"""Paired comparison of experiments run on the same split(s): each against a reference.

For every (fold, seed) evaluated in both the reference and an experiment, the
track accuracy (rule ``sum``) and the per-track mean window accuracy of both on
the same tracks (``eval/<experiment>/[fold<K>/]seed<N>/tracks.csv``); then,
per split, the mean of each and the paired difference experiment - reference
over those pairs (95 % CI, paired t-test and Wilcoxon p), the paired track (sum) -
per-track window accuracy of each, and per-label track accuracy pooled over the
pairs:

    python benchmarks/compare_experiments.py results/realmusic_5fold band_stats \\
        fixed emb_linear emb_mlp

Pairs share the test tracks (and, with k-fold, the whole fold), so the paired
test removes the variance of which tracks landed in the test split. Choose with
``--split val``; report ``test``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from fuse_experiments import load_sums  # benchmarks/, beside this script

from divconq.evaluate.aggregate import paired_test, paired_text


def load_tracks(results: Path, experiment: str) -> dict:
    """``{(fold, seed): tracks.csv}`` of one experiment; exits if it has none."""
    out = load_sums(results, experiment)
    if not out:
        raise SystemExit(f"no evaluated seed under {results}/eval/{experiment}")
    return out


def run_metrics(tracks: pd.DataFrame, split: str) -> dict:
    """Track accuracy (sum) and mean per-track window accuracy of one run on ``split``.

    Experiments with one input per track (``clip``, ``embedding_mean``) have no
    windows: their track prediction is ``pred_clip`` and their window accuracy NaN.
    """
    part = tracks[tracks["split"] == split]
    pred = part["pred_sum"] if "pred_sum" in part else part["pred_clip"]
    out = {"track_sum": float((pred == part["label"]).mean())}
    if (part["n_windows"] > 0).all():
        out["window"] = float((part["n_windows_correct"] / part["n_windows"]).mean())
    else:
        out["window"] = float("nan")
    return out


def _paired(a, b) -> str:
    """``+d (lo to hi)`` of a paired difference, or ``-`` where a side has no value."""
    if a.isna().any() or b.isna().any():
        return "-"
    d = paired_test(a, b)
    return f"{paired_text(d)} ({d['p_ttest']:.2g})"


def compare(results, reference: str, experiments, splits=("val", "test")) -> pd.DataFrame:
    """One row per (experiment, split, fold, seed) with its and the reference's metrics."""
    results = Path(results)
    ref = load_tracks(results, reference)
    rows = []
    for name in experiments:
        runs = load_tracks(results, name)
        for key in sorted(set(runs) & set(ref)):
            for split in splits:
                if not (ref[key]["split"] == split).any():
                    continue
                mine, theirs = run_metrics(runs[key], split), run_metrics(ref[key], split)
                rows.append(
                    {
                        "experiment": name,
                        "split": split,
                        "fold": key[0],
                        "seed": key[1],
                        **mine,
                        **{f"ref_{k}": v for k, v in theirs.items()},
                    }
                )
    if not rows:
        raise SystemExit(f"no (fold, seed) of {', '.join(experiments)} shared with {reference}")
    return pd.DataFrame(rows)


def report(table: pd.DataFrame, reference: str) -> str:
    """Markdown: per experiment and split, the means and the paired differences."""
    lines = [
        f"| experiment | split | pairs | track (sum) % | - {reference} (95 % CI) | t-test p "
        f"| Wilcoxon p | window % | - {reference} (p) | track - window (p) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (name, split), part in table.groupby(["experiment", "split"], sort=False):
        d = paired_test(part["track_sum"], part["ref_track_sum"])
        lines.append(
            f"| {name} | {split} | {len(part)} | {100 * part['track_sum'].mean():.1f} | "
            f"{paired_text(d)} | {d['p_ttest']:.2g} | {d['p_wilcoxon']:.2g} | "
            f"{100 * part['window'].mean():.1f} | {_paired(part['window'], part['ref_window'])} | "
            f"{_paired(part['track_sum'], part['window'])} |"
        )
    ref_rows = table.drop_duplicates(["split", "fold", "seed"])
    for split, part in ref_rows.groupby("split", sort=False):
        lines.append(
            f"| {reference} (reference) | {split} | {len(part)} | "
            f"{100 * part['ref_track_sum'].mean():.1f} | | | | "
            f"{100 * part['ref_window'].mean():.1f} | | "
            f"{_paired(part['ref_track_sum'], part['ref_window'])} |"
        )
    return "\n".join(lines)


def per_label(results, experiments, split: str = "test") -> str:
    """Markdown: track accuracy (sum) per true label, pooled over all (fold, seed) runs."""
    results = Path(results)
    cols = {}
    for name in experiments:
        tables = [t[t["split"] == split] for t in load_tracks(results, name).values()]
        pooled = pd.concat(tables, ignore_index=True)
        pred = pooled["pred_sum"] if "pred_sum" in pooled else pooled["pred_clip"]
        cols[name] = 100 * (pred == pooled["label"]).groupby(pooled["label"]).mean()
    df = pd.DataFrame(cols)
    df.index.name = "label"
    return df.to_markdown(floatfmt=".1f")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path, help="the run's results folder")
    ap.add_argument("reference", help="the experiment the others are compared with")
    ap.add_argument("experiments", nargs="+", help="experiments to compare with it")
    ap.add_argument("--split", default="test", help="split of the per-label table")
    args = ap.parse_args(argv)
    table = compare(args.results, args.reference, args.experiments)
    print("Mean over the (fold, seed) pairs; differences paired by (fold, seed)\n")
    print(report(table, args.reference))
    print(f"\nTrack accuracy (sum) per label, {args.split}, pooled over all runs, %\n")
    print(per_label(args.results, [args.reference, *args.experiments], args.split))


if __name__ == "__main__":
    main()
