"""Choose the experiment on validation tracks; report its test figures and the suspect
labels (Snakemake script)."""

# ruff: noqa: F821 (`snakemake` is injected by Snakemake)

import logging

import pandas as pd

from divconq.evaluate.selection import (
    choose,
    load_runs,
    selection_markdown,
    selection_report,
    suspects,
)
from divconq.evaluate.summary import summary_html
from divconq.shared.fileio import write_json, write_text
from divconq.shared.scriptlog import log_to

log_to(snakemake.log[0])
p = snakemake.params
runs = load_runs(snakemake.input.tracks, snakemake.input.models, p.experiments, p.folds, p.seeds)
table = choose(runs, p.criterion, p.one_se)
report = selection_report(runs, table, p.criterion, p.one_se)
write_json(snakemake.output.selection, report)
write_text(snakemake.output.table, selection_markdown(report))
chosen = {f["fold"] if f["fold"] is not None else -1: f["chosen"] for f in report["folds"]}
# Under k-fold every track is tested once: its out-of-fold prediction. Under one split,
# the validation and test tracks.
splits = ("test",) if report["kfold"] else ("val", "test")
suspect = suspects(snakemake.input.tracks, p.experiments, p.folds, chosen, splits)
suspect.to_csv(snakemake.output.suspects, index=False, float_format="%.4f")
logging.info("chosen: %s; %d suspect tracks", report["chosen"], len(suspect))
tracks = pd.read_csv(snakemake.input.inventory, dtype={"track": str, "label": str})
rejected = pd.read_csv(snakemake.input.rejected)
write_text(snakemake.output.summary, summary_html(report, tracks, rejected, suspect))
