"""CPU cost of the data stage per 30-s track: WAV -> MP3 -> HDF5 -> manifest.

Runs the real workflow (``snakemake --cores N``) on freshly generated synthetic
WAVs, read as a ``source: folder`` dataset so their generation is not counted,
and reads the CPU time of Snakemake and every job it ran from the kernel's
accounting of waited-for children (``RUSAGE_CHILDREN``). Snakemake's own
overhead, the inventory and the split are included.

For comparison, ``--baseline N`` re-creates the earlier public pipeline on N of
the same tracks in one process: pydub MP3 export, pydub slicing into 3-s MP3
snippet files, one ``librosa.load`` + ``melspectrogram`` per snippet.

Usage::

    python benchmarks/bench_data.py --tracks 100 --cores 2 --repeats 3 --baseline 20
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_wavs(root: Path, n_tracks: int, duration_s: float) -> list[Path]:
    from divconq.data.synth import genre_names, track_name, write_track

    labels = genre_names(10)
    paths = []
    for i in range(n_tracks):
        label, index = labels[i % len(labels)], i // len(labels)
        path = root / label / f"{track_name(label, index)}.wav"
        write_track(path, label, index, duration_s=duration_s)
        paths.append(path)
    return paths


def run_workflow(data: Path, results: Path, cores: int) -> tuple[float, float]:
    """One full data-stage run from scratch; returns (cpu_s, wall_s)."""
    shutil.rmtree(results, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        str(results / "split" / "manifest.csv"),
        "--cores",
        str(cores),
        # As `make run`: bounds Snakemake's per-round work (docs/performance.md, data stage).
        "--scheduler-subsample",
        "32",
        "--quiet",
        "all",
        "--config",
        f"results={results}",
        "dataset={source: folder, path: '" + str(data) + "'}",
    ]
    cpu0, t0 = children_cpu(), time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return children_cpu() - cpu0, time.perf_counter() - t0


def baseline(wavs: list[Path], workdir: Path) -> float:
    """The earlier public pipeline, one process; returns CPU seconds for all tracks."""
    import librosa

    from divconq.data.mp3 import _audio_segment_class

    AudioSegment = _audio_segment_class()
    t0 = time.process_time()
    c0 = children_cpu()
    for wav in wavs:
        mp3 = workdir / f"{wav.stem}.mp3"
        AudioSegment.from_wav(str(wav)).export(str(mp3), format="mp3", bitrate="192k")
        # The old tool re-read the MP3 here; pydub needs ffprobe for that, which the
        # imageio-ffmpeg wheel lacks, so the WAV is sliced: this baseline is cheaper
        # than the real one, so the ratio below is conservative.
        song = AudioSegment.from_wav(str(wav))
        for k, start_ms in enumerate(range(0, 28000, 2000)):
            piece = workdir / f"{wav.stem}.{k}.mp3"
            song[start_ms : start_ms + 3000].export(str(piece), format="mp3")
            y, sr = librosa.load(str(piece), sr=22050)
            librosa.power_to_db(
                librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=100)
            )
    return (time.process_time() - t0) + (children_cpu() - c0)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=100)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=int, default=0, help="tracks for the old pipeline")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wavs = make_wavs(tmp / "wav", args.tracks, args.duration)
        runs = [run_workflow(tmp / "wav", tmp / "results", args.cores) for _ in range(args.repeats)]
        cpu = statistics.median(r[0] for r in runs) / args.tracks
        wall = statistics.median(r[1] for r in runs) / args.tracks
        print(f"machine: {os.cpu_count()} cores; {args.tracks} tracks of {args.duration:g} s")
        print(f"workflow --cores {args.cores}, {args.repeats} runs, per track (median):")
        print(f"  CPU  {cpu:.3f} s   (runs: {', '.join(f'{r[0]:.1f}' for r in runs)} s total)")
        print(f"  wall {wall:.3f} s   (runs: {', '.join(f'{r[1]:.1f}' for r in runs)} s total)")
        if args.baseline:
            work = tmp / "baseline"
            work.mkdir()
            base = baseline(wavs[: args.baseline], work) / args.baseline
            print(f"earlier public pipeline, one process, {args.baseline} tracks:")
            print(f"  CPU  {base:.3f} s per track  -> divconq uses {cpu / base:.2f}x the CPU")


if __name__ == "__main__":
    from divconq.shared.sysinfo import describe

    # The CPU every figure below was measured on.
    print(describe(), flush=True)
    main()
