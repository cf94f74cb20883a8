"""The chosen experiment's models and their card in results/models/best (Snakemake script)."""

# ruff: noqa: F821 (`snakemake` is injected by Snakemake)

from divconq.evaluate.champion import write_champion
from divconq.shared.scriptlog import log_to

log_to(snakemake.log[0])
write_champion(
    snakemake.input.selection,
    snakemake.params.model_dirs,
    snakemake.input.inventory,
    snakemake.output[0],
    settings=snakemake.params.settings,
)
