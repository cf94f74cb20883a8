"""Accuracy tables over seeds from every metrics.json (Snakemake script)."""

# ruff: noqa: F821 (`snakemake` is injected by Snakemake)

import logging

from divconq.aggregate import aggregate

logging.basicConfig(
    filename=snakemake.log[0], level=logging.INFO, format="%(levelname)s %(message)s"
)
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
