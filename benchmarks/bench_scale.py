"""Cost against collection size: planning, the data stage, per track.

For each N of ``--tracks``, a folder data set of N 30-s WAVs in 10 labels is made from
hard links to 10 synthetic tracks (one per genre, rendered once), so that making
100,000 tracks takes seconds and no disk. Then, with the workflow's own rules and
the default config (``--cores`` cores):

1. the inventory (``results/inventory/tracks.csv``): wall and CPU;
2. planning: ``snakemake -n`` to ``results/tables/accuracy.csv`` after the inventory,
   the cost every later ``snakemake`` call pays (a resume, a single target, ``-n``):
   wall and Snakemake's peak memory (median of ``--repeats``);
3. for N <= ``--data-max``: the data stage, ``snakemake`` to
   ``results/split/manifest.csv`` from scratch, CPU of Snakemake and every job per
   track (kernel accounting of waited-for children), beside the floor: the same work
   per track (MP3, decode, log-mels, HDF5) in a warm process, no start-up.
   ``--features-from source`` runs the stage with ``data.features_from: source``
   (no MP3; the features of the source audio).

``--train-tracks N ...`` measures one training seed and its evaluation on N tracks of
14 snippets each (hard links to 10 real feature files, an 80/10/10 manifest), one
epoch of the ``--train-preset`` (``band_stats``: the data path, not the model, is
what is measured): the peak memory of each process, whether the samples were held on
disk (``training.in_memory_mb``), the load and fit times.

CPU and memory are read from ``RUSAGE_CHILDREN`` in a fresh process per measured
command, so each figure is that command's alone. The CPU model and SIMD level are
printed beside the figures and stored in the JSON (``--out``); ``--plot`` draws cost
against N.

Usage::

    python benchmarks/bench_scale.py --tracks 1000 10000 100000 --data-max 10000 \\
        --work /tmp/divconq-scale --out bench_scale.json --plot bench_scale.png
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs a command and prints its CPU seconds and peak memory (of the largest process
# it waited for, KB on Linux) as measured by the kernel.
_MEASURE = """
import resource, subprocess, sys, time
t = time.monotonic()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
wall = time.monotonic() - t
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(rc, wall, u.ru_utime + u.ru_stime, u.ru_maxrss)
"""


def measure(cmd: list[str]) -> dict:
    """Wall seconds, CPU seconds and peak memory (MB) of one command, run in REPO."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd], cwd=REPO, capture_output=True, text=True
    )
    rc, wall, cpu, maxrss = out.stdout.split()
    if int(rc) != 0:
        raise RuntimeError(f"failed ({rc}): {' '.join(cmd)}")
    return {"wall_s": float(wall), "cpu_s": float(cpu), "peak_mb": int(maxrss) / 1024}


def make_collection(root: Path, n_tracks: int, sources: list[Path]) -> Path:
    """N tracks in 10 labels, hard links to one source WAV per label."""
    for i in range(n_tracks):
        src = sources[i % len(sources)]
        label = src.parent.name
        dst = root / label / f"{label}.{i // len(sources):06d}{src.suffix}"
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, dst)
    return root


def render_sources(root: Path, fmt: str = "wav") -> list[Path]:
    """One 30-s synthetic track per genre, as WAV or (for an MP3 collection such as
    FMA, whose MP3s the data stage copies rather than encodes) as MP3."""
    from divconq.data.mp3 import to_mp3
    from divconq.data.synth import genre_names, track_name, write_track

    paths = []
    for label in genre_names(10):
        path = root / label / f"{track_name(label, 0)}.wav"
        if not path.exists():
            write_track(path, label, 0, duration_s=30.0)
        if fmt == "mp3":
            wav, path = path, path.with_suffix(".mp3")
            if not path.exists():
                to_mp3(wav, path)
        paths.append(path)
    return paths


def snakemake(
    data: Path, results: Path, cores: int, *args: str, features_from: str = "mp3"
) -> list[str]:
    # Its own working folder (.snakemake/, locks) beside the results, not the checkout's.
    return [
        sys.executable, "-m", "snakemake", *args, "--cores", str(cores),
        "--snakefile", str(REPO / "Snakefile"), "--directory", str(results.parent),
        "--scheduler-subsample", "32", "--configfile", str(REPO / "config.yaml"),
        "--config", f"results={results}", f"dataset={{source: folder, path: '{data}'}}",
        f"data={{features_from: {features_from}}}",
    ]  # fmt: skip


def floor_per_track(
    sources: list[Path], workdir: Path, features_from: str = "mp3", repeats: int = 2
) -> float:
    """CPU seconds per track of the data work alone (MP3 if any, decode, log-mels, HDF5),
    in this (warm) process, ffmpeg included."""
    from divconq.data.batch import make_track, recorded_settings
    from divconq.data.features import FeatureParams
    from divconq.shared.sysinfo import cpu_s

    params, settings = FeatureParams(), recorded_settings(features_from)
    mp3 = (lambda name: workdir / name) if features_from == "mp3" else (lambda name: None)
    make_track("x/warm", sources[0], mp3("w.mp3"), workdir / "w.h5", params, False, settings)
    costs = []
    for _ in range(repeats):
        for src in sources:
            t = cpu_s()
            make_track("x/t", src, mp3("t.mp3"), workdir / "t.h5", params, False, settings)
            costs.append(cpu_s() - t)
    return statistics.median(costs)


_TRAIN = """
import json, sys
from divconq.train.run import train
train(sys.argv[1], sys.argv[2], experiment="scale", seed=0, preset=sys.argv[3],
      config={"epochs": 1, "threads": 2, **json.loads(sys.argv[4])})
"""

_EVALUATE = """
import sys
from divconq.evaluate.evaluation import evaluate
evaluate(sys.argv[1], sys.argv[2], sys.argv[3], threads=2)
"""


def make_feature_collection(root: Path, n_tracks: int, sources: list[Path]) -> Path:
    """A manifest of N tracks (80/10/10 by index), each a hard link to the feature file
    of one of the 10 sources; returns the manifest's path."""
    import pandas as pd

    from divconq.data.batch import make_track, recorded_settings
    from divconq.data.features import FeatureParams, summarize_hdf5

    params, settings = FeatureParams(), recorded_settings("mp3")
    features = []
    for src in sources:
        label = src.parent.name
        h5 = root / "sources" / f"{label}.h5"
        if not h5.exists():
            make_track(f"{label}/x", src, root / "sources" / f"{label}.mp3", h5, params, False,
                       settings)  # fmt: skip
        features.append((label, h5, summarize_hdf5(h5)))
    rows = []
    for i in range(n_tracks):
        label, h5, summary = features[i % len(features)]
        track = f"{label}/{label}.{i // len(features):06d}"
        dst = root / "spectrograms" / f"{track}.h5"
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(h5, dst)
        split = ("train",) * 8 + ("val", "test")
        rows.append(
            {"track": track, "label": label, "split": split[(i // len(features)) % 10],
             "path": "-", "spectrogram": str(dst), "n_snippets": summary["n_snippets"],
             "n_windows": summary["n_windows"], "duration_s": summary["duration_s"]}
        )  # fmt: skip
    manifest = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def measure_training(root: Path, n_tracks: int, sources, preset: str, config: dict) -> dict:
    manifest = make_feature_collection(root, n_tracks, sources)
    model = root / "models" / "seed0"
    shutil.rmtree(model, ignore_errors=True)
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, sys.executable, "-c", _TRAIN, str(manifest), str(model),
         preset, json.dumps(config)],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    # The wrapper measures the process; training.json holds the run's facts.
    rc, wall, cpu, maxrss = out.stdout.split()
    if int(rc) != 0:
        raise RuntimeError("training failed")
    info = json.loads((model / "training.json").read_text())
    row = {
        "tracks": n_tracks,
        "n_train_samples": info["n_train"],
        "samples_on_disk": info["samples_on_disk"],
        "train_peak_mb": int(maxrss) / 1024,
        "train_wall_s": float(wall),
        "load_s": info["load_s"],
        "fit_s": info["fit_s_this_run"],
    }
    ev = measure([sys.executable, "-c", _EVALUATE, str(model), str(manifest), str(root / "eval")])
    row["eval_peak_mb"], row["eval_wall_s"] = ev["peak_mb"], ev["wall_s"]
    return row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--data-max", type=int, default=10000, help="data stage up to N")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="planning runs per N")
    parser.add_argument("--work", type=Path, default=Path("/tmp/divconq-scale"))
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument("--plot", type=Path, help="draw cost against N (PNG)")
    parser.add_argument("--keep", action="store_true", help="keep the data and results")
    parser.add_argument("--format", choices=["wav", "mp3"], default="wav", help="source audio")
    parser.add_argument(
        "--features-from", choices=["mp3", "source"], default="mp3", help="data.features_from"
    )
    parser.add_argument("--train-tracks", type=int, nargs="*", default=[])
    parser.add_argument("--train-preset", default="band_stats")
    parser.add_argument("--train-config", default="{}", help="training settings, JSON")
    parser.add_argument("--skip-data", action="store_true", help="only --train-tracks")
    args = parser.parse_args(argv)

    from divconq.shared.sysinfo import describe

    machine = describe()
    print(
        f"# {machine}, {args.cores} cores for Snakemake, {args.format} sources,"
        f" features from the {args.features_from}"
    )
    sources = render_sources(args.work / "sources", args.format)
    floor = None if args.skip_data else floor_per_track(sources, args.work, args.features_from)
    if floor is not None:
        print(f"floor (warm process, per 30-s track): {floor:.3f} CPU-s")
    rows, training = [], []
    ff = {"features_from": args.features_from}
    for n in args.train_tracks:
        root = args.work / f"train{n}"
        training.append(measure_training(root, n, sources, args.train_preset,
                                         json.loads(args.train_config)))  # fmt: skip
        print(json.dumps(training[-1]))
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    for n in [] if args.skip_data else args.tracks:
        data = make_collection(args.work / f"n{n}" / "audio", n, sources)
        results = args.work / f"n{n}" / "results"
        shutil.rmtree(results, ignore_errors=True)
        row = {"tracks": n}
        inv = measure(
            snakemake(data, results, args.cores, str(results / "inventory" / "tracks.csv"), **ff)
        )
        row["inventory_wall_s"], row["inventory_cpu_s"] = inv["wall_s"], inv["cpu_s"]
        target = str(results / "tables" / "accuracy.csv")
        plans = [
            measure(snakemake(data, results, args.cores, "-n", target, **ff))
            for _ in range(args.repeats)
        ]
        row["plan_wall_s"] = statistics.median(p["wall_s"] for p in plans)
        row["plan_peak_mb"] = statistics.median(p["peak_mb"] for p in plans)
        if n <= args.data_max:
            t = time.monotonic()
            stage = measure(
                snakemake(data, results, args.cores, str(results / "split" / "manifest.csv"), **ff)
            )
            row["data_wall_s"] = time.monotonic() - t
            row["data_cpu_per_track_s"] = stage["cpu_s"] / n
        rows.append(row)
        print(json.dumps(row))
        if not args.keep:
            shutil.rmtree(args.work / f"n{n}", ignore_errors=True)
    report = {
        "machine": machine,
        "cores": args.cores,
        "format": args.format,
        "features_from": args.features_from,
        "floor_cpu_per_track_s": floor,
        "rows": rows,
        "training": training,
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    if args.plot and rows:
        plot(report, args.plot)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    n = [r["tracks"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.loglog(n, [r["plan_wall_s"] for r in rows], "o-", label="planning (snakemake -n), s")
    a.loglog(n, [r["plan_peak_mb"] / 1024 for r in rows], "s-", label="planning peak memory, GB")
    a.set_xlabel("tracks")
    a.legend(fontsize=8)
    data = [r for r in rows if "data_cpu_per_track_s" in r]
    b.semilogx([r["tracks"] for r in data], [r["data_cpu_per_track_s"] for r in data], "o-",
               label="data stage, CPU-s per track")  # fmt: skip
    b.axhline(report["floor_cpu_per_track_s"], ls="--", c="grey", label="floor (warm process)")
    b.set_xlabel("tracks")
    b.set_ylim(bottom=0)
    b.legend(fontsize=8)
    fig.suptitle(report["machine"], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
