"""Probe the dataset's audio files: tracks.csv + rejected.csv (Snakemake script)."""

from pathlib import Path

from divconq.data.inventory import discover, inventory
from divconq.shared.scriptlog import log_to

log_to(snakemake.log[0])
candidates, rejected = discover(snakemake.params.root)
# Only the files this run asked for: a synthetic folder may hold tracks of a larger earlier config.
wanted = {str(Path(p)) for p in snakemake.input}
candidates = [c for c in candidates if str(c.path) in wanted]
inventory(
    candidates,
    snakemake.output.tracks,
    snakemake.output.rejected,
    pre_rejected=rejected,
    min_duration_s=snakemake.config["dataset"].get("min_duration_s", 0.0),
    threads=snakemake.threads,
    cache_path=snakemake.params.cache,
)
