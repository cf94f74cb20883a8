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


def snakemake(data: Path, results: Path, cores: int, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "snakemake", *args, "--cores", str(cores),
        "--scheduler-subsample", "32", "--configfile", str(REPO / "config.yaml"),
        "--config", f"results={results}", f"dataset={{source: folder, path: '{data}'}}",
    ]  # fmt: skip


def floor_per_track(sources: list[Path], workdir: Path, repeats: int = 2) -> float:
    """CPU seconds per track of the data work alone, in this (warm) process."""
    from divconq.data.batch import make_track
    from divconq.data.features import FeatureParams

    params, settings = FeatureParams(), {"mp3_bitrate": "192k", "mp3_quality": 7}
    make_track("x/warm", sources[0], workdir / "w.mp3", workdir / "w.h5", params, False, settings)
    costs = []
    for _ in range(repeats):
        for src in sources:
            t = os.times()
            make_track("x/t", src, workdir / "t.mp3", workdir / "t.h5", params, False, settings)
            u = os.times()
            costs.append(sum(u[:4]) - sum(t[:4]))
    return statistics.median(costs)


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
    args = parser.parse_args(argv)

    from divconq.shared.sysinfo import describe

    machine = describe()
    print(f"# {machine}, {args.cores} cores for Snakemake, {args.format} sources")
    sources = render_sources(args.work / "sources", args.format)
    floor = floor_per_track(sources, args.work)
    print(f"floor (warm process, per 30-s track): {floor:.3f} CPU-s")
    rows = []
    for n in args.tracks:
        data = make_collection(args.work / f"n{n}" / "audio", n, sources)
        results = args.work / f"n{n}" / "results"
        shutil.rmtree(results, ignore_errors=True)
        row = {"tracks": n}
        inv = measure(
            snakemake(data, results, args.cores, str(results / "inventory" / "tracks.csv"))
        )
        row["inventory_wall_s"], row["inventory_cpu_s"] = inv["wall_s"], inv["cpu_s"]
        target = str(results / "tables" / "accuracy.csv")
        plans = [
            measure(snakemake(data, results, args.cores, "-n", target)) for _ in range(args.repeats)
        ]
        row["plan_wall_s"] = statistics.median(p["wall_s"] for p in plans)
        row["plan_peak_mb"] = statistics.median(p["peak_mb"] for p in plans)
        if n <= args.data_max:
            t = time.monotonic()
            stage = measure(
                snakemake(data, results, args.cores, str(results / "split" / "manifest.csv"))
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
        "floor_cpu_per_track_s": floor,
        "rows": rows,
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    if args.plot:
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
