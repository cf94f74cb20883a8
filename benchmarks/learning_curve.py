"""Learning curve: track accuracy against the number of training tracks, per k-fold fold.

For each fold of a finished k-fold run, each fraction and each seed, one model is
trained on a stratified, seeded fraction of the fold's training tracks (the
validation and test tracks stay as they are) with the same settings as the run's
own models of that experiment (their ``training.json``), and scored on the fold's
validation and test tracks, with divconq's training and evaluation code. The
subsets are nested: the tracks of 0.25 are among those of 0.5, and so on, and
fraction 1 is the run's own training set. Its models are trained again rather than
read from the run, so every point of the curve comes from the same code (a run made
with older code differs by the seed-to-seed spread). Prints
per fraction the mean track accuracy (sum), the paired differences against the
largest fraction, and the gain per doubling of the training tracks (least squares
of accuracy on log2 of the training-track count):

    python benchmarks/learning_curve.py results/realmusic_kfold band_stats \\
        --fractions 0.25 0.5 0.75 1 --seeds 0 1 2 --jobs 2

Each run is written under ``<results>/learning_curve/<experiment>/f<fraction>/
fold<K>/seed<N>/`` (model, evaluation, ``result.json``); runs already done are
skipped, so the command resumes. A run of ``band_stats`` takes ~30 s on one core,
the ``small`` CRNN a few minutes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from divconq.evaluate.aggregate import paired_test, paired_text
from divconq.evaluate.evaluation import run_dirs
from divconq.split import read_manifest


def subsample(manifest: pd.DataFrame, fraction: float, seed: int = 0, least: int = 2):
    """Keep a stratified ``fraction`` of the training tracks; other splits unchanged.

    Parameters
    ----------
    manifest : pd.DataFrame
        A fold's manifest (``track``, ``label``, ``split`` columns).
    fraction : float
        In (0, 1]. Per label, ``round(fraction * n)`` of its ``n`` training tracks
        are kept, at least ``least`` (or all it has).
    seed : int
        Orders each label's tracks; one order for every fraction, so the subsets
        of a seed are nested.

    Returns
    -------
    pd.DataFrame
        The rows kept, in the manifest's order.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction}")
    rng = np.random.default_rng(seed)
    train = manifest[manifest["split"] == "train"]
    keep = []
    for _, group in train.groupby("label", sort=True):
        order = rng.permutation(np.sort(group["track"].to_numpy()))
        keep += list(order[: max(min(least, len(order)), int(round(fraction * len(order))))])
    return manifest[(manifest["split"] != "train") | manifest["track"].isin(keep)]


def run_dir(out: Path, fraction: float, fold: str, seed: int) -> Path:
    return out / f"f{fraction:g}" / fold / f"seed{seed}"


def run_settings(results: Path, experiment: str, fold: str) -> dict:
    """``training.json`` of the run's first model of ``experiment`` in ``fold``."""
    for d in run_dirs(results, "models", experiment):
        if d.parent.name == fold and (d / "training.json").is_file():
            return json.loads((d / "training.json").read_text())
    raise FileNotFoundError(f"no {results}/models/{experiment}/{fold}/seed<N>/training.json")


def run_one(results, experiment: str, fraction: float, fold: str, seed: int, out) -> dict:
    """Train and score one (fraction, fold, seed); writes and returns ``result.json``."""
    from divconq.evaluate.evaluation import evaluate
    from divconq.train.run import train

    results, d = Path(results), run_dir(Path(out), fraction, fold, seed)
    info = run_settings(results, experiment, fold)
    manifest = read_manifest(results / "split" / fold / "manifest.csv")
    # One subset per (fold, fraction): the seeds vary the model, not the tracks.
    subset = subsample(manifest, fraction, seed=int(fold.removeprefix("fold")))
    config = {**info["training"], "threads": 1, "verbose": 0}
    train(subset, d / "model", experiment=experiment, seed=seed, preset=info["preset"],
          input=info["input"], config=config)  # fmt: skip
    metrics = evaluate(d / "model", subset, d / "eval", splits=("val", "test"), threads=1)
    result = {
        "fraction": fraction,
        "fold": fold,
        "seed": seed,
        "n_train_tracks": int((subset["split"] == "train").sum()),
        **{s: metrics["splits"][s]["track"]["sum"]["accuracy"] for s in ("val", "test")},
    }
    (d / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def summarize(rows: pd.DataFrame) -> str:
    """Markdown: per fraction mean accuracy, paired gain to the largest, gain per doubling."""
    from scipy import stats

    lines = [
        "| fraction | training tracks | runs | val track sum % | test track sum % (SD) "
        "| largest - this, test (95 % CI) | t-test p |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    wide = rows.pivot_table(index=["fold", "seed"], columns="fraction", values="test")
    top = wide.columns.max()
    for fraction, g in rows.groupby("fraction"):
        diff = " | "
        if fraction != top:
            t = paired_test(wide[top], wide[fraction])
            diff = f"{paired_text(t)} | {t['p_ttest']:.2g}"
        test = 100 * g["test"]
        lines.append(
            f"| {fraction:g} | {g['n_train_tracks'].mean():.0f} | {len(g)} "
            f"| {100 * g['val'].mean():.1f} | {test.mean():.1f} ({test.std(ddof=1):.1f}) | {diff} |"
        )
    lines.append("")
    if rows["n_train_tracks"].nunique() < 2:
        lines.append("One training-set size: no gain per doubling.")
        return "\n".join(lines)
    fit = stats.linregress(np.log2(rows["n_train_tracks"]), rows["test"])
    lines.append(
        f"Test track accuracy per doubling of the training tracks: {100 * fit.slope:+.1f} "
        f"points (SE {100 * fit.stderr:.1f}, {len(rows)} runs)."
    )
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("results", type=Path, help="results folder of a finished k-fold run")
    p.add_argument("experiment", help="an experiment of that run (its settings are reused)")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=1, help="runs side by side (one thread each)")
    p.add_argument("--out", type=Path, help="default: <results>/learning_curve/<experiment>")
    args = p.parse_args(argv)
    out = args.out or args.results / "learning_curve" / args.experiment
    folds = sorted(d.name for d in (args.results / "split").glob("fold*") if d.is_dir())
    if not folds:
        raise SystemExit(f"{args.results}/split has no fold<K>/ folders: not a k-fold run")
    runs = [(f, k, s) for f in args.fractions for k in folds for s in args.seeds]
    todo = [r for r in runs if not (run_dir(out, *r) / "result.json").is_file()]
    print(f"{len(runs)} runs, {len(runs) - len(todo)} done, {len(todo)} to train", flush=True)
    # A fresh process per run: TensorFlow's threads and memory go with it.
    ctx = multiprocessing.get_context("spawn")
    failed = 0
    with ProcessPoolExecutor(args.jobs, mp_context=ctx, max_tasks_per_child=1) as pool:
        futures = {pool.submit(run_one, args.results, args.experiment, *r, out): r for r in todo}
        for future, (fraction, fold, seed) in futures.items():
            name = f"fraction {fraction:g} {fold} seed {seed}"
            try:
                r = future.result()
            except Exception as exc:  # one failed run must not stop the rest
                failed += 1
                print(f"{name}: FAILED: {type(exc).__name__}: {exc}", flush=True)
                continue
            print(f"{name}: val {r['val']:.3f} test {r['test']:.3f}", flush=True)
    done = [run_dir(out, *r) / "result.json" for r in runs]
    rows = pd.DataFrame([json.loads(p.read_text()) for p in done if p.is_file()])
    if len(rows):
        print(summarize(rows))
    if failed:
        raise SystemExit(f"{failed} run(s) failed (above); the same command retries them")


if __name__ == "__main__":
    main()
