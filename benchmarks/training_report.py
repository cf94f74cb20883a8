"""What training and evaluation cost, per experiment, from a finished run's files.

Reads ``models/<experiment>/**/training.json`` and ``history.csv`` and the Snakemake
benchmarks of the evaluation jobs (``benchmarks/evaluate/...tsv``) under a results
folder and prints, per experiment: the device and CPU the models trained on, the
precision, epochs run, the median epoch time (first epoch apart: it includes tracing),
training snippets per second, peak GPU memory and the wall time of one evaluation job:

    python benchmarks/training_report.py results
    python benchmarks/training_report.py results/gpu_check     # presets/gpu_check.yaml

Nothing is trained here; medians over seeds (and over epochs within a seed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd


def model_rows(results: Path) -> pd.DataFrame:
    """One row per trained model (experiment, run) with its cost figures."""
    rows = []
    for info_path in sorted((results / "models").glob("*/**/training.json")):
        model_dir = info_path.parent
        experiment = model_dir.relative_to(results / "models").parts[0]
        info = json.loads(info_path.read_text())
        hist = pd.read_csv(model_dir / "history.csv")
        epochs = hist["time_s"].to_numpy(float)
        later = epochs[1:] if len(epochs) > 1 else epochs
        epoch_s = float(np.median(later)) if len(later) else np.nan
        peak = info.get("gpu_peak_mb") or {}
        rows.append(
            {
                "experiment": experiment,
                "run": str(model_dir.relative_to(results / "models" / experiment)),
                "device": ", ".join(info.get("devices", ["?"])),
                "precision": info.get("precision", "?"),
                "cpu": info.get("cpu", "?"),
                "epochs": len(epochs),
                "first_epoch_s": epochs[0] if len(epochs) else np.nan,
                "epoch_s": epoch_s,
                "snippets_per_s": info["n_train"] / epoch_s,
                "gpu_peak_mb": max(peak.values()) if peak else np.nan,
            }
        )
    return pd.DataFrame(rows)


def evaluation_seconds(results: Path) -> pd.Series:
    """Median wall seconds of one evaluation job, per experiment."""
    times = {}
    for tsv in (results / "benchmarks" / "evaluate").glob("*/**/*.tsv"):
        experiment = tsv.relative_to(results / "benchmarks" / "evaluate").parts[0]
        times.setdefault(experiment, []).append(float(pd.read_csv(tsv, sep="\t")["s"].iloc[-1]))
    return pd.Series({e: float(np.median(t)) for e, t in times.items()}, name="eval_s")


def summary(results: Path) -> pd.DataFrame:
    """Per experiment: medians over its models."""
    df = model_rows(results)
    if df.empty:
        raise SystemExit(f"no training.json under {results}/models")
    g = df.groupby("experiment")
    table = pd.DataFrame(
        {
            "models": g.size(),
            "device": g["device"].first(),
            "precision": g["precision"].first(),
            "epochs (median)": g["epochs"].median(),
            "first epoch s": g["first_epoch_s"].median().round(1),
            "epoch s": g["epoch_s"].median().round(2),
            "snippets/s": g["snippets_per_s"].median().round(0),
            "peak GPU MiB": g["gpu_peak_mb"].max(),
        }
    )
    table = table.join(evaluation_seconds(results).rename("eval job s"))
    return table.astype(object).where(table.notna(), "-")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path, help="a run's results folder")
    args = ap.parse_args(argv)
    table = summary(args.results)
    cpus = model_rows(args.results)["cpu"].unique()
    print("CPU of the training jobs: " + "; ".join(map(str, cpus)))
    print(table.to_markdown())


if __name__ == "__main__":
    main()
