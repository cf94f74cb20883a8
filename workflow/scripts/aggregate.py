"""Accuracy tables over seeds from every metrics.json (Snakemake script)."""

# ruff: noqa: F821 (`snakemake` is injected by Snakemake)

import logging

from divconq.aggregate import aggregate
from divconq.scriptlog import log_to

log_to(snakemake.log[0])
table = aggregate(
    snakemake.input.metrics,
    snakemake.output.csv,
    snakemake.output.md,
    snakemake.output.per_seed,
    snakemake.output.html,
)
logging.info("%d metrics files, %d table rows", len(snakemake.input.metrics), len(table))
for note in sorted(set(table["note"]) - {""}):
    logging.info("note: %s", note)
