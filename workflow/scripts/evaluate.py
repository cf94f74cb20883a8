"""Evaluate one model (experiment, seed) on the val and test tracks (Snakemake script)."""

# ruff: noqa: F821 (`snakemake` is injected by Snakemake)

import logging
from pathlib import Path

from divconq.evaluate.evaluation import evaluate
from divconq.shared.inputs import WHOLE_TRACK_INPUTS
from divconq.shared.scriptlog import log_to

log_to(snakemake.log[0])
out_dir = Path(snakemake.output.metrics).parent
manifest = snakemake.input.manifest
spec = snakemake.params.spec
if "trainable" in spec:
    from divconq.split.manifest import mel_manifest

    # Fine-tuned network: the tracks' network log-mel files stand in for their spectrograms.
    manifest = mel_manifest(manifest, snakemake.params.results)
elif "embedding" in spec:
    from divconq.split.manifest import feature_manifest

    # The tracks' embedding files stand in for their spectrograms.
    manifest = feature_manifest(manifest, snakemake.params.results, spec["embedding"]["model"])
metrics = evaluate(
    snakemake.input.model,
    manifest,
    out_dir,
    splits=snakemake.params.splits,
    batch_size=snakemake.params.batch_size,
    threads=snakemake.threads,
    experiment=snakemake.wildcards.experiment,
    seed=int(snakemake.wildcards.seed),
)
for split, res in metrics["splits"].items():
    levels = {}
    if metrics["input"] not in WHOLE_TRACK_INPUTS:
        levels["snippet"] = res["snippet"]["accuracy"]
        levels["window_per_track"] = res["window_per_track"]["accuracy"]
    levels |= {f"track_{rule}": m["accuracy"] for rule, m in res["track"].items()}
    logging.info(
        "%s: %d tracks, %d windows, %d snippets; accuracy %s",
        split,
        res["n_tracks"],
        res["n_windows"],
        res["n_snippets"],
        ", ".join(f"{k} {v:.4f}" for k, v in levels.items()),
    )
