"""What the source fingerprints cost (divconq.data.fingerprint), against the data stage.

Every usable source is hashed (SHA-256 of the whole file) by the inventory the first
time it is seen and again only when its stat signature changes. This script measures,
on this CPU:

1. the hash alone, per 30-s WAV track (1.3 MB, read from the page cache) and in MB/s,
   median of ``--repeats`` passes over the 10 synthetic source tracks;
2. the data stage's own work per track (MP3 when ``features_from: mp3``, decode,
   log-mels, HDF5) in a warm process: the floor of the stage, lower than what the
   workflow pays per track, so the share in 4. is an upper bound;
3. the workflow's inventory of ``--tracks`` tracks (hard links to those 10 WAVs, so the
   files come from the page cache; a cold disk adds its read time, which the data
   stage pays anyway when it decodes the file): its first run, which hashes every
   file, and a rerun after one file is replaced with its old mtime kept, which hashes
   that file alone (wall and CPU of the ``snakemake`` command, median of ``--repeats``);
4. the fingerprints' CPU at that size as a share of the data stage's floor.

The CPU model and SIMD level are printed with the figures and stored in ``--out``.

Usage::

    python benchmarks/bench_fingerprint.py --tracks 10000 --out bench_fingerprint.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import floor_per_track, make_collection, measure, render_sources, snakemake  # noqa: E402


def hash_cost(sources: list[Path], repeats: int) -> tuple[float, float]:
    """Median CPU seconds per file of :func:`divconq.data.fingerprint.file_sha256`
    over ``sources`` (warm page cache), and the throughput in MB/s."""
    from divconq.data.fingerprint import file_sha256
    from divconq.shared.sysinfo import cpu_s

    size = sum(p.stat().st_size for p in sources)
    for p in sources:
        file_sha256(p)
    passes = []
    for _ in range(repeats):
        t = cpu_s()
        for p in sources:
            file_sha256(p)
        passes.append(cpu_s() - t)
    per_pass = statistics.median(passes)
    return per_pass / len(sources), size / per_pass / 1e6


def replace_keeping_mtime(path: Path) -> None:
    """Give one file of the collection other bytes and its old mtime (a new inode, as
    ``rsync -t`` leaves it; the other hard links keep the old content)."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-2:] = bytes([data[-2] ^ 1, data[-1] ^ 1])  # the last sample changes
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(bytes(data))
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    tmp.replace(path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/divconq-fingerprint"))
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)

    from divconq.shared.sysinfo import describe

    machine = describe()
    print(f"# {machine}, {args.cores} cores for Snakemake")
    sources = render_sources(args.work / "sources")
    per_file, mb_s = hash_cost(sources, 5 * args.repeats)
    print(f"sha256 of a 30-s WAV ({sources[0].stat().st_size / 1e6:.2f} MB): "
          f"{per_file * 1e3:.2f} ms CPU ({mb_s:.0f} MB/s)")  # fmt: skip
    floors = {ff: floor_per_track(sources, args.work, ff) for ff in ("mp3", "source")}
    for ff, floor in floors.items():
        print(f"data stage floor, features from the {ff}: {floor:.3f} CPU-s per track; "
              f"the hash is {per_file / floor:.1%} of it")  # fmt: skip

    n = args.tracks
    data = make_collection(args.work / "audio", n, sources)
    results = args.work / "results"
    target = str(results / "inventory" / "tracks.csv")
    first, rerun = [], []
    for _ in range(args.repeats):
        shutil.rmtree(results, ignore_errors=True)
        first.append(measure(snakemake(data, results, args.cores, target)))
        replace_keeping_mtime(next(data.glob("*/*.wav")))
        t = time.monotonic()
        rerun.append(measure(snakemake(data, results, args.cores, target)))
        rerun[-1]["wall_s"] = time.monotonic() - t
    inventory = {
        "first_cpu_s": statistics.median(r["cpu_s"] for r in first),
        "first_wall_s": statistics.median(r["wall_s"] for r in first),
        "rerun_cpu_s": statistics.median(r["cpu_s"] for r in rerun),
        "rerun_wall_s": statistics.median(r["wall_s"] for r in rerun),
    }
    hashing = per_file * n
    share = {ff: hashing / (floor * n) for ff, floor in floors.items()}
    inventory["hashing_cpu_s"] = inventory["first_cpu_s"] - inventory["rerun_cpu_s"]
    print(f"inventory of {n} tracks: first run {inventory['first_wall_s']:.1f} s wall, "
          f"{inventory['first_cpu_s']:.1f} CPU-s; rerun after one replaced file "
          f"{inventory['rerun_wall_s']:.1f} s wall, "
          f"{inventory['rerun_cpu_s']:.1f} CPU-s")  # fmt: skip
    print(
        f"fingerprints of {n} tracks: {hashing:.1f} CPU-s, "
        + ", ".join(f"{s:.1%} of the data stage's floor ({ff})" for ff, s in share.items())
    )
    report = {
        "machine": machine,
        "cores": args.cores,
        "date": time.strftime("%Y-%m-%d"),
        "tracks": n,
        "wav_mb": sources[0].stat().st_size / 1e6,
        "sha256_cpu_per_track_s": per_file,
        "sha256_mb_per_s": mb_s,
        "floor_cpu_per_track_s": floors,
        "inventory": inventory,
        "fingerprint_cpu_s": hashing,
        "share_of_data_stage_floor": share,
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    shutil.rmtree(args.work / "audio", ignore_errors=True)
    shutil.rmtree(results, ignore_errors=True)


if __name__ == "__main__":
    main()
