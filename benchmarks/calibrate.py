"""Calibrate this machine: training and scoring throughput, and the expected run time.

Each measurement runs in a fresh process (thread counts are fixed when TensorFlow
starts): the package's own model and training setup
(:func:`divconq.models.presets.build_model`, :func:`divconq.train.run.configure_tensorflow`,
:func:`divconq.train.run.compile_model`) on a few hundred random snippets of the
default shape (130 frames x 100 mel bands), a couple of warm-up batches (tracing),
then a timed ``fit`` of ``--steps`` batches of 32, and a timed scoring pass of the
batch-norm-folded model (:func:`divconq.evaluate.inference.fold_batch_norm`) in batches of
256, as evaluation scores windows.

Measured: ``small`` with 1 thread, with 2 threads, and as two 1-thread jobs side
by side (the default run's layout on 2 cores); ``article`` with 1 and 2 threads.
The figures are turned into an expected wall time for the default run
(``config.yaml``) and for the GTZAN preset (``presets/gtzan.yaml``): epochs x
training snippets / rate, plus the validation pass at the scoring rate, for every
seed, with as many jobs side by side as cores allow, and the evaluation jobs.
Each job also pays its start (importing TensorFlow, measured). Early stopping
can only make a run shorter; the data stage (audio, spectrograms) and the
tables and figures are not included.

Takes ~1-2 minutes on 2 idle cores. On a shared or busy machine the figures are
lower than the machine can do: run it when nothing else runs.

Usage::

    python benchmarks/calibrate.py               # small and article, 1 and 2 threads
    python benchmarks/calibrate.py --presets small --steps 40
    python benchmarks/calibrate.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Input of one snippet (time, mel, 1) with the default features.
SNIPPET_SHAPE = (130, 100, 1)
N_CLASSES = 10
#: Windows per model call when scoring (evaluation's default batch).
SCORE_BATCH = 256


def measure(
    preset: str,
    threads: int,
    snippets: int = 320,
    steps: int = 20,
    warmup: int = 2,
    batch_size: int = 32,
    deterministic: bool = True,
    seed: int = 0,
) -> dict:
    """Training and scoring throughput of one preset in this process.

    Parameters
    ----------
    preset : str
        :data:`divconq.models.presets.PRESETS` name.
    threads : int
        TensorFlow intra-op threads (set before TensorFlow's runtime starts).
    snippets : int
        Random snippets in memory (batches cycle through them).
    steps : int
        Timed training batches.
    warmup : int
        Untimed batches first (graph tracing).
    batch_size : int
    deterministic : bool
        TensorFlow op determinism, as training uses by default.

    Returns
    -------
    dict
        ``train_snippets_per_s`` (fit, wall time), ``score_windows_per_s``,
        ``train_s``, ``score_s``, ``startup_s`` (importing TensorFlow and the
        package: paid once by every training and evaluation job), the parameters
        and the CPU description.
    """
    t_start = time.perf_counter()
    import numpy as np

    from divconq.models.presets import build_model
    from divconq.shared.sysinfo import describe
    from divconq.train.keras_loop import compile_model, configure_tensorflow

    configure_tensorflow(seed, threads, deterministic)
    from divconq.evaluate.inference import fold_batch_norm

    startup_s = time.perf_counter() - t_start

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((snippets, *SNIPPET_SHAPE), dtype=np.float32)
    y = np.eye(N_CLASSES, dtype=np.float32)[rng.integers(0, N_CLASSES, snippets)]
    model = build_model(preset, N_CLASSES, SNIPPET_SHAPE, fused_batchnorm=True)
    compile_model(model, 1e-3)
    n_warm = min(snippets, warmup * batch_size)
    model.fit(x[:n_warm], y[:n_warm], batch_size=batch_size, epochs=1, verbose=0)
    per_epoch = max(1, snippets // batch_size)
    epochs = max(1, round(steps / per_epoch))
    t0 = time.perf_counter()
    model.fit(
        x[: per_epoch * batch_size],
        y[: per_epoch * batch_size],
        batch_size=batch_size,
        epochs=epochs,
        shuffle=False,
        verbose=0,
    )
    train_s = time.perf_counter() - t0
    n_trained = epochs * per_epoch * batch_size

    folded = fold_batch_norm(model)
    # Fewer snippets than a scoring batch: smaller batches (else nothing is scored).
    batch = min(SCORE_BATCH, snippets)
    folded.predict_on_batch(x[:batch])  # tracing
    n_scored = 0
    t0 = time.perf_counter()
    while n_scored < 4 * SCORE_BATCH:
        for start in range(0, snippets - batch + 1, batch):
            folded.predict_on_batch(x[start : start + batch])
            n_scored += batch
    score_s = time.perf_counter() - t0
    return {
        "preset": preset,
        "threads": threads,
        "deterministic": deterministic,
        "startup_s": round(startup_s, 2),
        "train_snippets": n_trained,
        "train_s": round(train_s, 3),
        "train_snippets_per_s": round(n_trained / train_s, 1),
        "score_windows": n_scored,
        "score_s": round(score_s, 3),
        "score_windows_per_s": round(n_scored / score_s, 1),
        "cpu": describe(),
    }


def _worker_cmd(args, preset: str, threads: int) -> list[str]:
    return [
        sys.executable,
        __file__,
        "--worker",
        preset,
        str(threads),
        "--snippets",
        str(args.snippets),
        "--steps",
        str(args.steps if preset == "small" else max(4, args.steps // 3)),
        "--warmup",
        str(args.warmup),
    ] + ([] if args.deterministic else ["--no-deterministic"])


def run_workers(args, preset: str, threads: int, jobs: int = 1) -> list[dict]:
    """``jobs`` worker processes started together; their results."""
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    procs = [
        subprocess.Popen(
            _worker_cmd(args, preset, threads),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(jobs)
    ]
    results = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(
                f"calibration worker ({preset}, {threads} threads) failed:\n{err[-2000:]}"
            )
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def run_shape(config: dict) -> dict:
    """Seeds, epochs and snippet counts of a run from its config (synthetic data set sizes).

    A ``folder`` data set's size is not known before its inventory; GTZAN's
    (1,000 tracks of 30 s) is assumed for it.
    """
    ds = config["dataset"]
    if ds.get("source") == "synthetic":
        syn = ds["synthetic"]
        n_tracks = syn["genres"] * syn["tracks_per_genre"]
    else:
        n_tracks = 1000
    fr = config["split"]["fractions"]
    per_track = config["features"]["max_snippets"]
    feats = config["features"]
    duration = ds["synthetic"]["duration_s"] if ds.get("source") == "synthetic" else 30.0
    windows = int((duration - feats["snippet_s"]) // feats["window_hop_s"]) + 1
    exps = {n: e for n, e in config["experiments"].items() if e.get("enabled", True)}
    return {
        "seeds": len(config["training"]["seeds"]),
        "epochs": int(config["training"]["epochs"]),
        "threads": int(config["training"].get("threads") or 1),
        "n_train": round(n_tracks * fr["train"]) * per_track,
        "n_val": round(n_tracks * fr["val"]) * per_track,
        "n_tracks": n_tracks,
        # Evaluation scores every window of the val and test tracks.
        "n_eval_windows": round(n_tracks * (fr["val"] + fr["test"])) * windows,
        "experiments": {n: (e["model"], e["input"]) for n, e in exps.items()},
    }


def expected_minutes(
    shape: dict, train_rate: float, score_rate: float, cores: int, startup_s: float = 0.0
) -> tuple[float, float]:
    """Wall minutes of the training and of the evaluation stage.

    Training: seeds in waves of ``cores // threads`` jobs, each job ``startup_s``
    plus ``epochs`` x (training snippets / ``train_rate`` + validation snippets /
    ``score_rate``). Evaluation: one job per seed,
    :data:`divconq.evaluate.evaluation.THREADS` threads
    each, ``startup_s`` plus the val and test windows / ``score_rate``.
    ``train_rate`` and ``score_rate`` are per job (snippets/s, windows/s) as
    measured with the jobs side by side.
    """
    per_epoch = shape["n_train"] / train_rate + shape["n_val"] / score_rate
    jobs = max(1, cores // shape["threads"])
    waves = -(-shape["seeds"] // jobs)
    train = waves * (startup_s + shape["epochs"] * per_epoch) / 60
    # The rule's threads per evaluation job; imported here, not at the top, so that a
    # worker's start-up time still includes numpy and pandas.
    from divconq.evaluate.evaluation import THREADS as eval_threads

    eval_waves = -(-shape["seeds"] // max(1, cores // eval_threads))
    evaluation = eval_waves * (startup_s + shape["n_eval_windows"] / score_rate) / 60
    return train, evaluation


def report(results: dict, cores: int) -> list[str]:
    """The lines printed: rates, then the expected time of each run."""
    import yaml

    lines = []
    for key, r in results.items():
        lines.append(
            f"{key:22s} train {r['train_snippets_per_s']:7.1f} snippets/s   "
            f"score {r['score_windows_per_s']:7.1f} windows/s"
        )
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    gtzan = _merge(base, yaml.safe_load((ROOT / "presets" / "gtzan.yaml").read_text()))
    for name, cfg in (("default run (config.yaml)", base), ("GTZAN preset", gtzan)):
        shape = run_shape(cfg)
        for exp, (preset, input_kind) in shape["experiments"].items():
            if input_kind != "snippets":
                lines.append(f"{name}, {exp}: {preset} on whole clips is not calibrated")
                continue
            jobs = max(1, cores // shape["threads"])
            key = f"{preset} x{jobs} side by side" if jobs > 1 else f"{preset} {shape['threads']}t"
            r = results.get(key) or results.get(f"{preset} {shape['threads']}t")
            if r is None:
                lines.append(f"{name}, {exp}: {preset} not measured (see --presets)")
                continue
            train, evaluation = expected_minutes(
                shape,
                r["train_snippets_per_s"],
                r["score_windows_per_s"],
                cores,
                r.get("startup_s", 0.0),
            )
            lines.append(
                f"{name}, {exp}: {shape['seeds']} seeds x {shape['epochs']} epochs x "
                f"{shape['n_train']} snippets, {jobs} job(s) of {shape['threads']} thread(s): "
                f"at {r['train_snippets_per_s']:.0f} snippets/s your training takes about "
                f"{train:.1f} minutes (at most; early stopping shortens it), "
                f"evaluation about {evaluation:.1f} minutes"
            )
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=["small", "article"])
    ap.add_argument("--snippets", type=int, default=320, help="random snippets in memory")
    ap.add_argument("--steps", type=int, default=30, help="timed batches of 32 (article: a third)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed batches first")
    ap.add_argument("--cores", type=int, default=os.cpu_count(), help="cores a run may use")
    ap.add_argument(
        "--no-deterministic",
        dest="deterministic",
        action="store_false",
        help="without TensorFlow op determinism (training's default is on)",
    )
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--worker", nargs=2, metavar=("PRESET", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        preset, threads = args.worker[0], int(args.worker[1])
        r = measure(
            preset,
            threads,
            args.snippets,
            args.steps,
            args.warmup,
            deterministic=args.deterministic,
        )
        print(json.dumps(r))
        return 0

    sys.path.insert(0, str(ROOT / "src"))
    from divconq.shared.sysinfo import describe

    print(describe(), flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5:
        # Other processes take CPU time from the workers: the rates come out too low.
        print(
            f"warning: load average {load:.1f} before calibrating; the figures are only as good "
            "as the share of the CPU the workers get",
            flush=True,
        )
    results = {}
    for preset in args.presets:
        for threads in (1, 2):
            if threads <= args.cores:
                results[f"{preset} {threads}t"] = run_workers(args, preset, threads)[0]
        if preset == "small" and args.cores >= 2:
            both = run_workers(args, preset, 1, jobs=2)
            keys = ("train_snippets_per_s", "score_windows_per_s", "startup_s")
            results[f"{preset} x2 side by side"] = {
                k: min(r[k] for r in both) if k != "startup_s" else max(r[k] for r in both)
                for k in keys
            }
    lines = report(results, args.cores)
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": describe(), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
