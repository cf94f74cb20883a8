"""Figures of the evaluation (Snakemake script): one function per rule, chosen by rule name."""

# ruff: noqa: F821 (`snakemake` is injected by Snakemake)

import logging

from divconq.evaluate import figures
from divconq.shared.scriptlog import log_to

log_to(snakemake.log[0])
rule = snakemake.rule
if rule == "training_curves":
    histories = {
        seed: f"{model_dir}/history.csv"
        for seed, model_dir in zip(snakemake.params.seeds, snakemake.input.models, strict=True)
    }
    path = figures.training_curves(
        histories, snakemake.output[0], title=snakemake.wildcards.experiment
    )
elif rule == "confusion_matrix":
    path = figures.confusion_figure(
        snakemake.input.tracks,
        snakemake.output[0],
        experiment=snakemake.wildcards.experiment,
        split=snakemake.params.split,
    )
elif rule == "figures":
    path = figures.accuracy_bars(
        snakemake.input.table, snakemake.output.accuracy, snakemake.params.experiments
    )
else:
    raise ValueError(f"figures.py does not know rule {rule!r}")
logging.info("wrote %s", path)
