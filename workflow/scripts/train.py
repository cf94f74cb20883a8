"""Train one model (experiment, seed) into its model folder (Snakemake script)."""

# ruff: noqa: F821 (`snakemake` is injected by Snakemake)

from divconq.shared.scriptlog import log_to

# TensorFlow's and Keras' own output (one line per epoch) goes to the job's log too.
log_to(snakemake.log[0], fds=True, fmt="%(asctime)s %(levelname)s %(message)s")

from divconq.train.run import train  # noqa: E402

spec = snakemake.params.spec
config = {**snakemake.params.training, "threads": snakemake.threads, "verbose": 2}
manifest, input, layer, embedding = snakemake.input.manifest, spec["input"], None, None
head_from = snakemake.input.head or None
if "trainable" in spec:
    from divconq.data.embeddings import EmbeddingParams
    from divconq.split.manifest import mel_manifest

    # Fine-tuning: the network's log-mel files stand in for the spectrograms.
    manifest = mel_manifest(manifest, snakemake.params.results)
    input, embedding = "musicnn_mel", EmbeddingParams(**spec["embedding"])
elif "embedding" in spec:
    from divconq.split.manifest import feature_manifest

    # The tracks' embedding files stand in for their spectrograms.
    manifest = feature_manifest(manifest, snakemake.params.results, spec["embedding"]["model"])
    layer = spec["embedding"]["layer"]
train(
    manifest,
    snakemake.output[0],
    experiment=snakemake.wildcards.experiment,
    seed=int(snakemake.wildcards.seed),
    preset=spec["model"],
    input=input,
    config=config,
    layer=layer,
    embedding=embedding,
    head_from=head_from,
)
