"""Split the usable tracks and write the manifest (Snakemake script)."""

import pandas as pd

from divconq.data.features import summarize_hdf5
from divconq.shared.scriptlog import log_to
from divconq.split import build_manifest, make_split, write_manifest, write_report

log_to(snakemake.log[0])
tracks = pd.read_csv(snakemake.input.tracks, dtype={"track": str, "label": str, "stem": str})
split, report = make_split(tracks, snakemake.params.split)
counts = pd.DataFrame(
    [summarize_hdf5(p) | {"spectrogram": p} for p in snakemake.input.spectrograms]
)
write_manifest(build_manifest(split, counts), snakemake.output.manifest)
write_report(report, snakemake.output.report)
