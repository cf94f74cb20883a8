"""What the embedding stage costs: the jobs of a finished run, or the network alone.

From a run's Snakemake benchmark files and the track durations of its inventory: for
batches (``benchmarks/embedding_batch/<model>/<batch>.tsv``, rule ``embedding_batch``,
tracks from each batch's listing) the total CPU and wall seconds, per audio minute and
per job; for per-track jobs (``benchmarks/embedding/<model>/<label>/<track>.tsv``, runs
made before the batches, or single targets) also the fixed part per job (intercept of
wall time against duration) and the peak memory:

    python benchmarks/embedding_cost.py results/realmusic_5fold

Without a results folder it times the network alone in this process (no Snakemake,
no audio decoding): the load (graph build + checkpoint read + first call) and the
embedding rate in 3-s patches per second at a few batch sizes, repeated ``--repeat``
times (median, min, max):

    python benchmarks/embedding_cost.py --model msd_musicnn --threads 2

``--per-track-vs-batch FOLDER`` runs the embedding stage's own commands on the first
``--tracks`` audio files of a ``<label>/<file>`` folder twice, one process per track
(``divconq embed``, rule ``embedding``) and one process for all (``divconq embed-batch``,
rule ``embedding_batch``), and reports the CPU of each (``RUSAGE_CHILDREN``, TensorFlow's
threads included), ``--repeat`` times alternating:

    python benchmarks/embedding_cost.py --per-track-vs-batch /data/realmusic/audio --tracks 16

``--finetune`` times what fine-tuning the whole network (``trainable: all``) costs:
training steps of the workflow's own fine-tuning model (the network up to ``pool``
and the ``emb_mlp`` head; forward and backward, Adam) on random patches:

    python benchmarks/embedding_cost.py --finetune --batch 32

Every figure depends on the CPU; the script prints it first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd


def job_table(results: Path, model: str) -> pd.DataFrame:
    """One row per embedding job: wall s, CPU s, peak RSS MB and the track's duration (s)."""
    rows = []
    base = results / "benchmarks" / "embedding" / model
    for tsv in sorted(base.glob("*/*.tsv")):
        b = pd.read_csv(tsv, sep="\t").iloc[-1]
        track = f"{tsv.parent.name}/{tsv.stem}"
        row = {"track": track, "wall_s": b["s"], "cpu_s": b["cpu_time"], "rss_mb": b["max_rss"]}
        rows.append(row)
    if not rows:
        raise SystemExit(f"no benchmark file under {base}")
    jobs = pd.DataFrame(rows)
    return jobs.merge(_durations(results), on="track", how="inner")


def _durations(results: Path) -> pd.DataFrame:
    return pd.read_csv(results / "inventory" / "tracks.csv", usecols=["track", "duration_s"])


def batch_table(results: Path, model: str) -> pd.DataFrame | None:
    """One row per embedding batch job: wall s, CPU s, peak RSS MB, tracks, and the
    audio they hold (s); None when the run has no batch benchmark file."""
    base = results / "benchmarks" / "embedding_batch" / model
    durations = _durations(results).set_index("track")["duration_s"]
    rows = []
    for tsv in sorted(base.glob("*.tsv")):
        b = pd.read_csv(tsv, sep="\t").iloc[-1]
        listing = pd.read_csv(results / "embedding_batches" / model / f"{tsv.stem}.csv")
        rows.append(
            {"batch": tsv.stem, "wall_s": b["s"], "cpu_s": b["cpu_time"], "rss_mb": b["max_rss"],
             "tracks": len(listing), "made": int(listing["made"].sum()),
             "duration_s": durations[listing["track"]].sum()}
        )  # fmt: skip
    return pd.DataFrame(rows) if rows else None


def summarize_batches(jobs: pd.DataFrame) -> str:
    """Markdown: totals of the batch jobs, per audio minute and per job."""
    minutes = jobs["duration_s"].sum() / 60
    lines = [
        "| figure | value |",
        "|---|---:|",
        f"| batch jobs (tracks, of which embedded) | {len(jobs)} ({jobs['tracks'].sum()}, "
        f"{jobs['made'].sum()}) |",
        f"| audio, minutes | {minutes:.0f} |",
        f"| CPU s, whole stage | {jobs['cpu_s'].sum():.0f} |",
        f"| CPU s per audio minute | {jobs['cpu_s'].sum() / minutes:.2f} |",
        f"| wall s per job, median (min-max) | {jobs['wall_s'].median():.1f} "
        f"({jobs['wall_s'].min():.1f}-{jobs['wall_s'].max():.1f}) |",
        f"| peak RSS MB, median (max) | {jobs['rss_mb'].median():.0f} "
        f"({jobs['rss_mb'].max():.0f}) |",
        f"| total wall minutes (one job at a time) | {jobs['wall_s'].sum() / 60:.1f} |",
    ]
    return "\n".join(lines)


def summarize_jobs(jobs: pd.DataFrame) -> str:
    """Markdown: medians per job and per audio minute, fixed cost per job, totals."""
    minutes = jobs["duration_s"] / 60
    slope, intercept = np.polyfit(jobs["duration_s"] / 60, jobs["wall_s"], 1)
    lines = [
        "| figure | value |",
        "|---|---:|",
        f"| tracks (jobs) | {len(jobs)} |",
        f"| audio, minutes | {minutes.sum():.0f} |",
        f"| CPU s, whole stage | {jobs['cpu_s'].sum():.0f} |",
        f"| wall s per job, median (min-max) | {jobs['wall_s'].median():.1f} "
        f"({jobs['wall_s'].min():.1f}-{jobs['wall_s'].max():.1f}) |",
        f"| CPU s per job, median | {jobs['cpu_s'].median():.1f} |",
        f"| wall s per audio minute, median | {(jobs['wall_s'] / minutes).median():.2f} |",
        f"| fixed wall s per job (intercept) | {intercept:.1f} |",
        f"| wall s per further audio minute (slope) | {slope:.2f} |",
        f"| peak RSS MB, median (max) | {jobs['rss_mb'].median():.0f} "
        f"({jobs['rss_mb'].max():.0f}) |",
        f"| total wall minutes (one job at a time) | {jobs['wall_s'].sum() / 60:.1f} |",
    ]
    return "\n".join(lines)


def per_track_vs_batch(
    folder: Path, n_tracks: int, model: str, threads: int, repeat: int, work: Path
) -> str:
    """Markdown: CPU seconds of embedding ``n_tracks`` files one process per track against
    one batch process (the same files, the same threads), median over ``repeat`` rounds."""
    import shutil
    import subprocess
    import sys

    from divconq.data.audio import find_audio_files, probe
    from divconq.shared.sysinfo import cpu_s

    files = find_audio_files(folder)[:n_tracks]
    tracks = [f"{f.parent.name}/{f.stem}" for f in files]
    minutes = sum(probe(f).duration_s for f in files) / 60
    work.mkdir(parents=True, exist_ok=True)
    listing = work / "tracks.csv"
    pd.DataFrame({"track": tracks, "path": [str(f) for f in files]}).to_csv(listing, index=False)
    cli = [sys.executable, "-m", "divconq.cli"]
    params = ["--params", json.dumps({"model": model}), "--threads", str(threads)]
    costs: dict[str, list] = {"per track": [], "batch": []}
    for _ in range(repeat):
        shutil.rmtree(work / "out", ignore_errors=True)
        t = cpu_s(own=False)
        for track, f in zip(tracks, files, strict=True):
            dst = work / "out" / "track" / f"{track}.h5"
            cmd = [*cli, "embed", str(f), str(dst), "--track", track, *params]
            subprocess.run(cmd, check=True, capture_output=True)
        costs["per track"].append(cpu_s(own=False) - t)
        t = cpu_s(own=False)
        cmd = [*cli, "embed-batch", str(listing), str(work / "out" / "listing.csv"),
               "--batch", "00000", "--tracks-per-job", str(len(files)),
               "--results", str(work / "out" / "batch"), *params]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True)
        costs["batch"].append(cpu_s(own=False) - t)
    lines = [
        f"{len(files)} tracks, {minutes:.1f} audio minutes, {threads} threads, "
        f"median of {repeat} (min-max)",
        "",
        "| processes | CPU s, all tracks | CPU s per track | CPU s per audio minute |",
        "|---|---:|---:|---:|",
    ]
    for name, values in costs.items():
        m = statistics.median(values)
        lines.append(
            f"| {name} | {m:.1f} ({min(values):.1f}-{max(values):.1f}) | "
            f"{m / len(files):.2f} | {m / minutes:.2f} |"
        )
    ratio = statistics.median(costs["per track"]) / statistics.median(costs["batch"])
    lines += ["", f"per track / batch: {ratio:.2f}"]
    return "\n".join(lines)


def time_network(model: str, layer: str, batch_sizes, repeat: int, n_patches: int) -> str:
    """Markdown: load time and patches/s of the network alone on random log-mel patches."""
    from divconq.models import musicnn

    t0 = time.perf_counter()
    net = musicnn.load(model, [layer])
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 1.0, size=(n_patches, musicnn.PATCH_FRAMES, musicnn.N_MELS))
    x = x.astype(np.float32)
    musicnn.embed(x[:1], net, batch_size=1)
    load_s = time.perf_counter() - t0
    lines = [
        f"load (build + weights + first call): {load_s:.1f} s",
        "",
        "| batch | patches/s median (min-max) |",
        "|---:|---:|",
    ]
    for batch in batch_sizes:
        musicnn.embed(x[:batch], net, batch_size=batch)  # trace this batch shape
        rates = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            musicnn.embed(x, net, batch_size=batch)
            rates.append(n_patches / (time.perf_counter() - t0))
        lines.append(
            f"| {batch} | {statistics.median(rates):.1f} ({min(rates):.1f}-{max(rates):.1f}) |"
        )
    return "\n".join(lines)


def time_finetune(
    model: str, batch: int, steps: int, repeat: int, n_classes: int = 8, layer: str = "pool"
) -> str:
    """Markdown: patches per second of training steps of the workflow's fine-tuning model
    (:func:`divconq.models.presets.build_finetune_model`: the network up to ``layer`` and the
    ``emb_mlp`` head, Adam at the fine-tuning learning rate) on random patches."""
    from divconq.models import musicnn
    from divconq.models.presets import FINETUNE_TRAINING, build_finetune_model
    from divconq.train.keras_loop import compile_model

    clf = build_finetune_model("emb_mlp", n_classes, model, layer)
    compile_model(clf, dict(FINETUNE_TRAINING)["learning_rate"])
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 1.0, size=(batch, musicnn.PATCH_FRAMES, musicnn.N_MELS, 1))
    x = x.astype(np.float32)
    y = np.eye(n_classes, dtype=np.float32)[rng.integers(n_classes, size=batch)]
    clf.train_on_batch(x, y)  # trace
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(steps):
            clf.train_on_batch(x, y)
        rates.append(steps * batch / (time.perf_counter() - t0))
    trainable = sum(int(np.prod(w.shape)) for w in clf.trainable_weights)
    return (
        f"{model} up to {layer} + emb_mlp, {trainable:,} trainable parameters, batch {batch}: "
        f"{statistics.median(rates):.1f} patches/s median ({min(rates):.1f}-{max(rates):.1f})"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path, nargs="?", help="a finished run's results folder")
    ap.add_argument("--model", default="msd_musicnn")
    ap.add_argument("--layer", default="pool")
    ap.add_argument("--threads", type=int, default=2, help="TensorFlow threads (network only)")
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 32, 64])
    ap.add_argument("--patches", type=int, default=256, help="patches per timed call")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--finetune", action="store_true", help="time training steps instead")
    ap.add_argument("--steps", type=int, default=5, help="--finetune: steps per timing")
    ap.add_argument("--per-track-vs-batch", type=Path, metavar="FOLDER",
                    help="time the stage's commands on <label>/<file> audio")  # fmt: skip
    ap.add_argument("--tracks", type=int, default=16, help="--per-track-vs-batch: files")
    ap.add_argument("--work", type=Path, default=Path("/tmp/divconq-embed-cost"))
    args = ap.parse_args(argv)

    from divconq.shared.sysinfo import describe

    print(describe(), flush=True)
    if args.per_track_vs_batch is not None:
        print(f"\nEmbedding stage commands, {args.model}\n")
        print(per_track_vs_batch(args.per_track_vs_batch, args.tracks, args.model,
                                 args.threads, args.repeat, args.work))  # fmt: skip
        return
    if args.results is not None:
        batches = batch_table(args.results, args.model)
        if batches is not None:
            print(f"\nEmbedding batches of {args.results} ({args.model})\n")
            print(summarize_batches(batches))
        if (args.results / "benchmarks" / "embedding" / args.model).is_dir():
            print(f"\nPer-track embedding jobs of {args.results} ({args.model})\n")
            print(summarize_jobs(job_table(args.results, args.model)))
        return
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if args.finetune:
        if args.model.endswith("_vgg"):
            raise SystemExit("--finetune times the musicnn checkpoints (penultimate layer)")
        print(f"\nfine-tuning {args.model}, {args.threads} threads\n")
        print(time_finetune(args.model, args.batch[0], args.steps, args.repeat))
        return
    print(f"\n{args.model} to layer {args.layer}, {args.threads} threads\n")
    print(time_network(args.model, args.layer, args.batch, args.repeat, args.patches))


if __name__ == "__main__":
    main()
