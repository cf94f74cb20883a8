"""Accuracy tables over seeds from every metrics.json (Snakemake script)."""

# ruff: noqa: F821 (`snakemake` is injected by Snakemake)

import logging

from divconq.aggregate import aggregate
from divconq.aggregate_folds import aggregate_folds

logging.basicConfig(
    filename=snakemake.log[0], level=logging.INFO, format="%(levelname)s %(message)s"
)
out = snakemake.output
if snakemake.params.get("folds") is None:
    table = aggregate(snakemake.input.metrics, out.csv, out.md, out.per_seed, out.html)
else:  # split.method kfold: tables per fold and pooled over folds
    folds = snakemake.params.folds
    table = aggregate_folds(snakemake.input.metrics, folds, out.csv, out.md, out.per_seed, out.html)
logging.info("%d metrics files, %d table rows", len(snakemake.input.metrics), len(table))
for note in sorted(set(table["note"]) - {""}):
    logging.info("note: %s", note)
