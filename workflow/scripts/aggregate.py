"""Accuracy tables over seeds from every metrics.json (Snakemake script)."""

# ruff: noqa: F821 (`snakemake` is injected by Snakemake)

import logging

from divconq.evaluate.aggregate import aggregate
from divconq.evaluate.aggregate_folds import aggregate_folds, folds_of
from divconq.shared.scriptlog import log_to

log_to(snakemake.log[0])
out = snakemake.output
# split.method kfold (eval/<experiment>/fold<k>/seed<N>/): tables per fold and pooled.
tables = aggregate if folds_of(snakemake.input.metrics) is None else aggregate_folds
table = tables(snakemake.input.metrics, out.csv, out.md, out.per_seed, out.html)
logging.info("%d metrics files, %d table rows", len(snakemake.input.metrics), len(table))
for note in sorted(set(table["note"]) - {""}):
    logging.info("note: %s", note)
