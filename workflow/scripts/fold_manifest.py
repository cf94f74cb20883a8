"""Write the train/val/test manifest of one fold of a k-fold split (Snakemake script)."""

# ruff: noqa: F821 (`snakemake` is injected by Snakemake)

import logging

from divconq.split import write_manifest
from divconq.split.folds import fold_view

logging.basicConfig(
    filename=snakemake.log[0], level=logging.INFO, format="%(levelname)s %(message)s"
)
split = snakemake.params.split
view = fold_view(
    snakemake.input.manifest,
    int(snakemake.wildcards.k),
    val_fraction=float(split.get("val_fraction", 0.1)),
    seed=int(split.get("seed") or 0),
)
write_manifest(view, snakemake.output.manifest)
logging.info("fold %s: %s tracks", snakemake.wildcards.k, view["split"].value_counts().to_dict())
