"""Markdown for the real-music page (docs/realmusic.md): training curves and confusion matrix.

The workflow draws both as figures (``figures/training_<experiment>.png``,
``figures/confusion_<experiment>.png``); this prints the same numbers as
Markdown tables, so that the docs show them without committing generated
images:

    python benchmarks/realmusic_report.py results/realmusic fixed
    python benchmarks/realmusic_report.py results/realmusic fixed --split val

Training curves: per epoch, the mean over the seeds still training at that
epoch of the training and validation accuracy and loss, and how many seeds
kept that epoch as their best. Confusion matrix: track level, the rule
``sum`` (or the clip model's prediction), counts summed over seeds, rows true
labels, with each label's accuracy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from divconq.evaluate.evaluation import run_dirs
from divconq.evaluate.figures import confusion_from_tracks


def curve_table(results: Path, experiment: str) -> str:
    """Mean training curve over seeds, one row per epoch (Markdown)."""
    rows = []
    for d in run_dirs(results, "models", experiment):
        if not (d / "history.csv").is_file():
            continue
        hist = pd.read_csv(d / "history.csv")
        best = json.loads((d / "training.json").read_text())["best_epoch"]
        hist["best"] = hist["epoch"] == best
        rows.append(hist)
    if not rows:
        raise SystemExit(f"no history.csv under {results}/models/{experiment}")
    df = pd.concat(rows, ignore_index=True)
    g = df.groupby("epoch")
    table = pd.DataFrame(
        {
            "epoch": g.size().index + 1,
            "seeds": g.size().to_numpy(),
            "train acc. %": 100 * g["accuracy"].mean().to_numpy(),
            "val acc. %": 100 * g["val_accuracy"].mean().to_numpy(),
            "train loss": g["loss"].mean().to_numpy(),
            "val loss": g["val_loss"].mean().to_numpy(),
            "kept as best": g["best"].sum().to_numpy(),
        }
    )
    formats = (".0f", ".0f", ".1f", ".1f", ".2f", ".2f", ".0f")
    return table.to_markdown(index=False, floatfmt=formats)


def confusion_table(results: Path, experiment: str, split: str) -> str:
    """Track-level confusion matrix summed over seeds, with per-label accuracy (Markdown)."""
    files = [d / "tracks.csv" for d in run_dirs(results, "eval", experiment)]
    files = [f for f in files if f.is_file()]
    if not files:
        raise SystemExit(f"no tracks.csv under {results}/eval/{experiment}")
    cm, names, rule = confusion_from_tracks(files, split=split)
    df = pd.DataFrame(cm, index=names, columns=names)
    rows = cm.sum(axis=1)
    df["accuracy %"] = np.round(100 * np.diag(cm) / np.maximum(rows, 1)).astype(int)
    df.index.name = "true \\ predicted"
    total = int(cm.sum())
    head = (
        f"{experiment}, {split}, rule `{rule}`, {len(files)} seeds: {total} track predictions, "
        f"accuracy {100 * np.trace(cm) / max(total, 1):.1f} %\n\n"
    )
    return head + df.to_markdown()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path, help="the run's results folder")
    ap.add_argument("experiment")
    ap.add_argument("--split", default="test", help="confusion matrix split (default test)")
    args = ap.parse_args(argv)
    print(f"Training curves ({args.experiment}, mean over seeds):\n")
    print(curve_table(args.results, args.experiment))
    print(f"\nConfusion matrix ({args.experiment}):\n")
    print(confusion_table(args.results, args.experiment, args.split))


if __name__ == "__main__":
    main()
