"""Training input pipeline: throughput and peak memory on a GTZAN-sized data set.

Writes fake per-track HDF5 files (random log-mels, the real layout and default
features: 28 windows of 100 x 130 per 30-s track, 14 of them training snippets)
and a manifest into a temporary folder, then runs, each in a fresh process:

``pipeline``
    :func:`divconq.train.run.train` itself: manifest -> HDF5 files -> one
    float32 array, train-split normalization in place, seeded per-epoch batches
    of :class:`divconq.train.keras_loop.ArraySequence`, the resume checkpoint after
    every epoch.
``in_memory``
    ``model.fit(x, y, batch_size, shuffle=True)`` (Keras' own array adapter) on
    arrays of the same shape already in memory, same model, same validation data.

Throughput is training snippets per second of wall time over the epochs after
the first (tracing); an epoch includes its validation pass in both modes (and,
for ``pipeline``, the per-epoch checkpoint). The modes alternate ``--repeats``
times and the medians are reported, so that load from other processes on a
shared machine hits both alike. Peak RSS is each process's maximum resident set
size (the largest over repeats).

``--variants``
    Instead of the two modes: ``pipeline`` once per given set of ``training``
    keys (JSON objects), alternating, with each one's throughput relative to the
    first (the cost of augmentation or per-epoch window sampling).

Usage::

    python benchmarks/bench_training.py                 # 800 train tracks (~11k snippets)
    python benchmarks/bench_training.py --tracks 160 --epochs 2   # quick
    python benchmarks/bench_training.py --tracks 60 --epochs 3 \
        --variants '{}' '{"time_masks": 2, "freq_masks": 2}' '{"mixup_alpha": 0.2}'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_CLASSES = 10


def make_data(root: Path, n_train: int, n_val: int, n_windows: int, seed: int = 0) -> Path:
    """Fake HDF5 files and manifest; returns the manifest path."""
    import numpy as np
    import pandas as pd

    from divconq.data.features import (
        FeatureParams,
        TrackFeatures,
        snippet_mask,
        summarize_hdf5,
        write_hdf5,
    )
    from divconq.split import write_manifest

    params = FeatureParams()
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            label = f"genre{i % N_CLASSES}"
            track = f"{label}/{split}.{i:05d}"
            mel = rng.standard_normal((n_windows, params.n_mels, params.n_frames), np.float32)
            mel *= 10.0
            mel -= 40.0
            mask = snippet_mask(n_windows, params)
            feats = TrackFeatures(
                mel, np.arange(n_windows, dtype=float), mask, n_windows + 2.0, False, None
            )
            path = root / "spectrograms" / f"{track}.h5"
            write_hdf5(path, feats, params, track=track, label=label, source_path="fake.wav")
            # The counts as the split rule takes them from the file.
            info = {"label": label, "split": split, "path": "fake.wav", "spectrogram": str(path)}
            rows.append(summarize_hdf5(path) | info)
    return write_manifest(pd.DataFrame(rows).sort_values(["split", "track"]), root / "manifest.csv")


def _epoch_clock():
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []
            self.start = None

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(time.perf_counter())

    return Clock()


def run_mode(
    mode: str, manifest: Path, preset: str, epochs: int, threads: int, batch: int, extra=None
):
    """One measurement in this process; prints one JSON line.

    ``extra``: more ``training`` keys (pipeline mode).
    """
    from divconq.shared.sysinfo import peak_rss_mb

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.perf_counter()
    result = {"mode": mode}
    if mode == "pipeline":
        from divconq.train.run import train

        clock = _epoch_clock()
        out = Path(manifest).parent / "models" / "bench" / "seed0"
        cfg = {"epochs": epochs, "patience": 1000, "threads": threads, "batch_size": batch}
        cfg.update(extra or {})
        info = train(
            manifest, out, experiment="bench", seed=0, preset=preset, config=cfg, callbacks=[clock]
        )
        result.update(n_train=info["n_train"], n_val=info["n_val"], load_s=info["load_s"])
    else:
        import numpy as np

        from divconq.models.presets import build_model
        from divconq.split import read_manifest
        from divconq.train.data import one_hot
        from divconq.train.keras_loop import compile_model, configure_tensorflow

        df = read_manifest(manifest)
        n_train = int(df.loc[df.split == "train", "n_snippets"].sum())
        n_val = int(df.loc[df.split == "val", "n_snippets"].sum())
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n_train, 130, 100, 1), np.float32)
        xv = rng.standard_normal((n_val, 130, 100, 1), np.float32)
        y = one_hot(rng.integers(0, N_CLASSES, n_train), N_CLASSES)
        yv = one_hot(rng.integers(0, N_CLASSES, n_val), N_CLASSES)
        configure_tensorflow(0, threads)
        model = build_model(preset, N_CLASSES, x.shape[1:], fused_batchnorm=True)
        compile_model(model, 1e-4)
        clock = _epoch_clock()
        model.fit(
            x,
            y,
            batch_size=batch,
            epochs=epochs,
            shuffle=True,
            validation_data=(xv, yv),
            validation_batch_size=max(batch, 128),
            callbacks=[clock],
            verbose=0,
        )
        result.update(n_train=n_train, n_val=n_val, load_s=0.0)
    ends = clock.ends
    steady = [b - a for a, b in zip(ends[:-1], ends[1:], strict=True)]
    result["first_epoch_s"] = ends[0] - clock.start
    result["epoch_s"] = sum(steady) / len(steady) if steady else result["first_epoch_s"]
    result["snippets_per_s"] = result["n_train"] / result["epoch_s"]
    result["total_s"] = time.perf_counter() - t0
    result["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result), flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tracks", type=int, default=800, help="training tracks (GTZAN: ~800)")
    ap.add_argument("--val-tracks", type=int, default=None, help="default: tracks / 8")
    ap.add_argument("--windows", type=int, default=28, help="windows per track (30 s: 28)")
    ap.add_argument(
        "--preset",
        default="small",
        help="model preset (small: the fastest, the hardest case for the input pipeline)",
    )
    ap.add_argument("--epochs", type=int, default=2, help="epochs per run (the first is warm-up)")
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of each mode")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--dir", default=None, help="data folder (default: a temporary one)")
    ap.add_argument("--variants", nargs="+", help="JSON training keys; see the docstring")
    ap.add_argument("--training", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=["pipeline", "in_memory"], help=argparse.SUPPRESS)
    ap.add_argument("--manifest", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.mode:
        run_mode(
            args.mode,
            Path(args.manifest),
            args.preset,
            args.epochs,
            args.threads,
            args.batch_size,
            json.loads(args.training),
        )
        return 0

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        t = time.perf_counter()
        n_val = args.val_tracks if args.val_tracks is not None else max(1, args.tracks // 8)
        manifest = make_data(Path(tmp), args.tracks, n_val, args.windows)
        print(
            f"wrote {args.tracks} + {n_val} fake tracks in {time.perf_counter() - t:.1f} s",
            flush=True,
        )
        runs = []
        jobs = [(m, "{}") for m in ("pipeline", "in_memory")]
        if args.variants:
            jobs = [("pipeline", v) for v in args.variants]
        for mode, extra in jobs * args.repeats:
            cmd = [
                sys.executable,
                __file__,
                "--mode",
                mode,
                "--manifest",
                str(manifest),
                "--preset",
                args.preset,
                "--epochs",
                str(args.epochs),
                "--threads",
                str(args.threads),
                "--batch-size",
                str(args.batch_size),
                "--training",
                extra,
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not line:
                print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
                return 1
            runs.append(json.loads(line[-1][len("RESULT ") :]) | {"variant": extra})
            r = runs[-1]
            print(f"  {mode} {extra}: epoch {r['epoch_s']:.1f} s, RSS {r['peak_rss_mb']:.0f} MB")
    if args.variants:
        return report_variants(runs, args)

    results = []
    for mode in ("pipeline", "in_memory"):
        mine = [r for r in runs if r["mode"] == mode]
        med = {k: statistics.median(r[k] for r in mine) for k in ("load_s", "first_epoch_s")}
        med["epoch_s"] = statistics.median(r["epoch_s"] for r in mine)
        results.append(
            {
                **mine[0],
                **med,
                "snippets_per_s": mine[0]["n_train"] / med["epoch_s"],
                "peak_rss_mb": max(r["peak_rss_mb"] for r in mine),
            }
        )

    pipe, mem = results
    print(
        f"\npreset {args.preset}, batch {args.batch_size}, {args.threads} threads, "
        f"median of {args.repeats} alternating runs, "
        f"{pipe['n_train']} training + {pipe['n_val']} validation snippets\n"
    )
    print("| mode | load s | first epoch s | epoch s | snippets/s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['mode']} | {r['load_s']:.1f} | {r['first_epoch_s']:.1f} | {r['epoch_s']:.1f}"
            f" | {r['snippets_per_s']:.0f} | {r['peak_rss_mb']:.0f} |"
        )
    ratio = pipe["snippets_per_s"] / mem["snippets_per_s"]
    print(
        f"\npipeline / in-memory throughput: {ratio:.1%} (target >= 95 %); "
        f"pipeline peak RSS {pipe['peak_rss_mb']:.0f} MB (target < 2048 MB)"
    )
    return 0


def report_variants(runs: list, args) -> int:
    """Median snippets/s of each variant and its ratio to the first."""
    print(f"\npreset {args.preset}, batch {args.batch_size}, {args.threads} threads, median of")
    print(f"{args.repeats} alternating runs\n")
    print("| training keys | snippets per epoch | epoch s | snippets/s | vs first |")
    print("|---|---:|---:|---:|---:|")
    first = None
    for v in args.variants:
        mine = [r for r in runs if r["variant"] == v]
        epoch_s = statistics.median(r["epoch_s"] for r in mine)
        rate = mine[0]["n_train"] / epoch_s
        first = first or rate
        print(f"| `{v}` | {mine[0]['n_train']} | {epoch_s:.2f} | {rate:.0f} | {rate / first:.2f} |")
    return 0


if __name__ == "__main__":
    from divconq.shared.sysinfo import describe

    # The CPU every figure below was measured on.
    print(describe(), flush=True)
    sys.exit(main())
