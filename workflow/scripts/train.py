"""Train one model (experiment, seed) into its model folder (Snakemake script)."""

# ruff: noqa: F821 (`snakemake` is injected by Snakemake)

import logging
import os
import sys

# TensorFlow's and Keras' own output (one line per epoch) goes to the job's log too.
log_fd = os.open(snakemake.log[0], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
sys.stdout.flush()
sys.stderr.flush()
os.dup2(log_fd, 1)
os.dup2(log_fd, 2)
logging.basicConfig(
    stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
)

from divconq.training import train  # noqa: E402

spec = snakemake.params.spec
config = {**snakemake.params.training, "threads": snakemake.threads, "verbose": 2}
train(
    snakemake.input.manifest,
    snakemake.output[0],
    experiment=snakemake.wildcards.experiment,
    seed=int(snakemake.wildcards.seed),
    preset=spec["model"],
    input=spec["input"],
    config=config,
)
