"""Speed of ``divconq predict`` per file, and ensemble vs single seed on the test split.

Speed: with one model loaded (the ``article`` preset, random weights, unless
``--model`` names a trained one), classify a 30-s and a 10-minute synthetic track,
as a 22050 Hz mono WAV and as a 44.1 kHz MP3, ``--repeats`` times each; report the
best and median wall time and the process CPU time, and a breakdown of the best
run's stages measured one by one (decode + resample, features, scoring). The
earlier public analyzer took 0.42 s for a 30-s MP3 and 4.0-4.7 s for a 10-minute one.

Ensemble: for an experiment folder (``results/models/<experiment>``) and the split
manifest, the track accuracy on the test tracks of each seed model, and of their
ensemble (window scores averaged over seeds, then the track rule), for every rule.
Window scores come from the evaluation stage's ``results/eval/<experiment>/seed<N>/
window_scores.h5`` when present, else the models score the test tracks' HDF5 here.

Usage::

    python benchmarks/bench_predict.py                     # speed, article preset
    python benchmarks/bench_predict.py --preset small      # speed, the default run's model
    python benchmarks/bench_predict.py --model results/models/snippets_3s/seed0
    python benchmarks/bench_predict.py --skip-speed --ensemble results/models/snippets_3s
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# As `divconq predict` runs (see divconq.cli): one BLAS thread, set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def fake_model_dir(root: Path, preset: str = "article", n_classes: int = 10) -> Path:
    """A model folder with an untrained preset and a made-up normalization."""
    from divconq.data.features import FeatureParams
    from divconq.models.presets import build_model

    params = FeatureParams()
    d = root / preset / "seed0"
    d.mkdir(parents=True, exist_ok=True)
    build_model(preset, n_classes, (params.n_frames, params.n_mels, 1)).save(d / "model.keras")
    pre = {
        "class_names": [f"class{i}" for i in range(n_classes)],
        "features": params.to_dict(),
        "input": "snippets",
        "normalization": {"mean": [-40.0] * params.n_mels, "std": [20.0] * params.n_mels},
        "experiment": preset,
        "seed": 0,
        "preset": preset,
    }
    (d / "preprocessing.json").write_text(json.dumps(pre))
    return d


def make_audio(root: Path, durations) -> list[Path]:
    """Synthetic tracks: a 22050 Hz mono WAV and a 44.1 kHz MP3 of each duration."""
    from divconq.data.mp3 import to_mp3
    from divconq.data.synth import write_track

    files = []
    for i, seconds in enumerate(durations):
        wav = write_track(root / f"t{seconds:g}s.wav", "rock", i, duration_s=seconds)
        hi = write_track(root / f"t{seconds:g}s_44k.wav", "jazz", i, duration_s=seconds,
                         sample_rate=44100)  # fmt: skip
        mp3 = root / f"t{seconds:g}s.mp3"
        to_mp3(hi, mp3)
        files += [wav, mp3]
    return files


def cpu() -> float:
    return time.process_time()


def bench_speed(model, durations, repeats: int, batch_size: int) -> list[dict]:
    from divconq.data.audio import load
    from divconq.predict import Predictor, window_chunks

    t0 = time.perf_counter()
    predictor = Predictor(model, batch_size=batch_size)
    print(f"model loaded and warmed up in {time.perf_counter() - t0:.2f} s: {model}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = make_audio(Path(tmp), durations)
        predictor.predict_file(files[0])  # first-file effects (page cache, allocators)
        for f in files:
            walls, cpus = [], []
            for _ in range(repeats):
                w, c = time.perf_counter(), cpu()
                pred = predictor.predict_file(f)
                walls.append(time.perf_counter() - w)
                cpus.append(cpu() - c)
            # Stage by stage (serially; predict overlaps features and scoring).
            stage = {"decode": [], "features": [], "scoring": []}
            for _ in range(repeats):
                w = time.perf_counter()
                y = load(f, sr=predictor.params.sample_rate)
                stage["decode"].append(time.perf_counter() - w)
                w = time.perf_counter()
                mel = np.concatenate([m for _, m in window_chunks(y, predictor.params)])
                stage["features"].append(time.perf_counter() - w)
                w = time.perf_counter()
                predictor.score_windows(mel)
                stage["scoring"].append(time.perf_counter() - w)
            row = {
                "file": f.name,
                "duration_s": round(pred.duration_s, 1),
                "windows": pred.n_windows,
                "best_s": min(walls),
                "median_s": statistics.median(walls),
                "cpu_s": statistics.median(cpus),
                **{f"{k}_s": min(v) for k, v in stage.items()},
            }
            rows.append(row)
            print(
                f"{row['file']:>14}  {row['windows']:4d} windows  best {row['best_s']:.3f} s"
                f"  median {row['median_s']:.3f} s  cpu {row['cpu_s']:.3f} s  |  decode"
                f" {row['decode_s']:.3f}  features {row['features_s']:.3f}  scoring"
                f" {row['scoring_s']:.3f}",
                flush=True,
            )
    return rows


def seed_window_scores(model_dir: Path, tracks, eval_root: Path | None):
    """WindowScores of the test tracks for one seed (saved evaluation, else scored here)."""
    from divconq.evaluate import evaluation, inference, scoring

    saved = eval_root / model_dir.name / "window_scores.h5" if eval_root else None
    if saved is not None and saved.exists():
        ws, _ = evaluation.read_window_scores(saved)
        keep = np.isin(ws.track, tracks["track"].to_numpy())
        source = str(saved)
        ws = evaluation.WindowScores(
            ws.track[keep], ws.start_s[keep], ws.is_snippet[keep], ws.scores[keep],
            ws.class_names, ws.input,
        )  # fmt: skip
    else:
        ws = scoring.score_tracks(inference.load_model_dir(model_dir), tracks)
        source = "scored here"
    return ws, source


def check_cli(experiment: Path, tracks, mean_scores, ws) -> dict:
    """``divconq predict <the tracks' MP3s> --model <experiment>``: same labels and window
    scores as the ensemble of the evaluation stage's window scores?"""
    import subprocess

    from divconq.evaluate.evaluation import predict_track

    mp3_root = experiment.parent.parent / "mp3"
    files = [str(mp3_root / f"{t}.mp3") for t in tracks["track"]]
    if not all(Path(f).exists() for f in files):
        print(f"(no MP3s under {mp3_root}: command-line check skipped)")
        return {}
    cmd = [sys.executable, "-m", "divconq.cli", "predict", *files, "--model", str(experiment)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd + ["--format", "json", "--windows"], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"divconq predict failed:\n{proc.stderr}")
    doc = json.loads(proc.stdout)
    same, max_diff = 0, 0.0
    for item, track in zip(doc["files"], tracks["track"], strict=True):
        rows = ws.track == track
        cli = np.array([[w["scores"][c] for c in doc["class_names"]] for w in item["windows"]])
        max_diff = max(max_diff, float(np.abs(cli - mean_scores[rows]).max()))
        same += item["prediction"] == ws.class_names[predict_track(mean_scores[rows], "sum")]
    print(
        f"divconq predict on the {len(files)} MP3s with {experiment} (all seeds): "
        f"{same}/{len(files)} labels as the ensemble of evaluation scores, "
        f"max |window score difference| {max_diff:.1e} (JSON rounds to 1e-6), "
        f"{wall:.1f} s with start-up and model loading"
    )
    return {"same_labels": same, "n": len(files), "max_diff": max_diff, "wall_s": wall}


def bench_ensemble(experiment: Path, manifest: Path, split: str = "test") -> dict:
    from divconq.evaluate import evaluation
    from divconq.predict import model_dirs
    from divconq.split import read_manifest

    tracks = read_manifest(manifest)
    tracks = tracks[tracks["split"] == split].sort_values("track").reset_index(drop=True)
    # <results>/models/<experiment> -> <results>/eval/<experiment>
    eval_root = experiment.parent.parent / "eval" / experiment.name
    seeds = model_dirs(experiment)
    per_seed, all_ws = {}, []
    for d in seeds:
        ws, source = seed_window_scores(d, tracks, eval_root)
        order = np.argsort(ws.track, kind="stable")  # tracks sorted, windows in order
        ws = evaluation.WindowScores(
            ws.track[order], ws.start_s[order], ws.is_snippet[order], ws.scores[order],
            ws.class_names, ws.input,
        )  # fmt: skip
        if all_ws and (
            not np.array_equal(ws.track, all_ws[0].track)
            or not np.array_equal(ws.start_s, all_ws[0].start_s)
        ):
            raise SystemExit(f"{d}: windows differ from {seeds[0]}'s")
        all_ws.append(ws)
        m = evaluation.compute_metrics(ws, tracks, splits=(split,))["splits"][split]
        per_seed[d.name] = {rule: r["accuracy"] for rule, r in m["track"].items()}
        per_seed[d.name]["window_per_track"] = m["window_per_track"]["accuracy"]
        print(f"{d.name}: {per_seed[d.name]}  ({source})", flush=True)
    first = all_ws[0]
    mean_scores = np.mean([ws.scores.astype(np.float64) for ws in all_ws], axis=0)
    ens = evaluation.WindowScores(
        first.track, first.start_s, first.is_snippet, mean_scores, first.class_names, first.input
    )
    m = evaluation.compute_metrics(ens, tracks, splits=(split,))["splits"][split]
    ensemble = {rule: r["accuracy"] for rule, r in m["track"].items()}
    ensemble["window_per_track"] = m["window_per_track"]["accuracy"]
    out = {"experiment": str(experiment), "split": split, "n_tracks": len(tracks)}
    out["cli"] = check_cli(experiment, tracks, mean_scores, first)
    out["n_seeds"] = len(seeds)
    out["per_seed"] = per_seed
    out["ensemble"] = ensemble
    print(f"\n{split} tracks: {len(tracks)}, seeds: {len(seeds)}")
    print("| level | single seed: mean (SD) [min, max] | ensemble |\n|---|---|---|")
    for key in ensemble:
        vals = [v[key] for v in per_seed.values()]
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        out.setdefault("single_mean", {})[key] = statistics.mean(vals)
        print(
            f"| {key} | {statistics.mean(vals):.4f} ({sd:.4f}) [{min(vals):.4f}, {max(vals):.4f}]"
            f" | {ensemble[key]:.4f} |"
        )
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model folder or experiment folder (default: --preset)")
    ap.add_argument(
        "--preset", default="article", help="untrained preset timed without --model (article)"
    )
    ap.add_argument("--durations", default="30,600", help="track lengths, seconds")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--ensemble", help="experiment folder: ensemble vs single seed")
    ap.add_argument(
        "--manifest", help="split manifest (default: <results>/split/manifest.csv of --ensemble)"
    )
    ap.add_argument("--split", default="test")
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args(argv)
    out = {"cpu_count": os.cpu_count(), "loadavg_before": os.getloadavg()}
    if not args.skip_speed:
        with tempfile.TemporaryDirectory() as tmp:
            model = args.model or fake_model_dir(Path(tmp), args.preset)
            durations = [float(x) for x in args.durations.split(",")]
            out["speed"] = bench_speed(model, durations, args.repeats, args.batch_size)
    if args.ensemble:
        exp = Path(args.ensemble)
        manifest = Path(args.manifest or exp.parent.parent / "split" / "manifest.csv")
        out["ensemble"] = bench_ensemble(exp, manifest, args.split)
    out["loadavg_after"] = os.getloadavg()
    print(f"load average before {out['loadavg_before']}, after {out['loadavg_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    from divconq.shared.sysinfo import describe

    # The CPU every figure below was measured on.
    print(describe(), flush=True)
    sys.exit(main())
