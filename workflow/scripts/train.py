"""Train one model (experiment, seed) into its model folder (Snakemake script)."""

# ruff: noqa: F821 (`snakemake` is injected by Snakemake)

from divconq.scriptlog import log_to

# TensorFlow's and Keras' own output (one line per epoch) goes to the job's log too.
log_to(snakemake.log[0], fds=True, fmt="%(asctime)s %(levelname)s %(message)s")

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
