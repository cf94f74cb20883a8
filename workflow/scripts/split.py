"""Split the usable tracks and write the manifest (Snakemake script)."""

import pandas as pd

from divconq.data.batch import read_listing
from divconq.data.features import summarize_hdf5
from divconq.shared.scriptlog import log_to
from divconq.split import build_manifest, make_split, write_manifest, write_report

log_to(snakemake.log[0])
tracks = pd.read_csv(snakemake.input.tracks, dtype={"track": str, "label": str, "stem": str})
split, report = make_split(tracks, snakemake.params.split)
# Every track's HDF5, in inventory order, as the data batches list them.
spectrograms = [
    row["spectrogram"] for path in snakemake.input.listings for row in read_listing(path)
]
counts = pd.DataFrame([summarize_hdf5(p) | {"spectrogram": p} for p in spectrograms])
write_manifest(build_manifest(split, counts), snakemake.output.manifest)
write_report(report, snakemake.output.report)
