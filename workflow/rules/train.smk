# Training stage: one model per (experiment, seed), results/models/<experiment>/seed<N>/
# (model.keras, history.csv, preprocessing.json, training.json; docs/architecture.md).
# Code: divconq.model, divconq.training.
#
# A killed or failed training resumes after its last finished epoch when the rule
# runs again: Snakemake deletes the incomplete output folder, but the resume state
# lives beside it, in results/models/<experiment>/seed<N>.resume/ (removed once
# the model folder is complete).

TRAINING = config.get("training", {})
# Keys of `training` that are workflow settings, not training hyper-parameters.
TRAINING_RESOURCE_KEYS = ("seeds", "threads", "mem_mb", "gpu")


def train_experiments():
    """Names of the enabled experiments, in config order."""
    return [
        name
        for name, exp in config.get("experiments", {}).items()
        if exp.get("enabled", True)
    ]


def train_spec(experiment):
    """The config entry of one experiment (input, model)."""
    experiments = config.get("experiments", {})
    if experiment not in experiments:
        raise WorkflowError(f"experiment {experiment!r} is not in the config")
    exp = experiments[experiment]
    return {"input": exp.get("input", "snippets"), "model": exp.get("model", "small")}


def train_seeds(experiment):
    """Seeds of one experiment: its own `seeds` or `training.seeds` (a list or a count)."""
    exp = config.get("experiments", {}).get(experiment, {})
    seeds = exp.get("seeds", TRAINING.get("seeds", [0]))
    return list(range(seeds)) if isinstance(seeds, int) else list(seeds)


def train_params(experiment):
    """Training hyper-parameters of one experiment: `training`, then its own overrides."""
    exp = config.get("experiments", {}).get(experiment, {})
    merged = {**TRAINING, **exp.get("training", {})}
    return {k: v for k, v in merged.items() if k not in TRAINING_RESOURCE_KEYS}


def train_model_dirs(experiment):
    return [f"{RESULTS}/models/{experiment}/seed{s}" for s in train_seeds(experiment)]


def training_targets(wildcards=None):
    """Every model folder of the enabled experiments."""
    return [d for e in train_experiments() for d in train_model_dirs(e)]


rule train:
    input:
        manifest=f"{RESULTS}/split/manifest.csv",
    output:
        directory(f"{RESULTS}/models/{{experiment}}/seed{{seed}}"),
    log:
        f"{RESULTS}/logs/train/{{experiment}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{experiment}}/seed{{seed}}.tsv"
    wildcard_constraints:
        experiment=r"[^/]+",
        seed=r"\d+",
    conda:
        "../../envs/train.yaml"
    threads: TRAINING.get("threads", 1)
    resources:
        mem_mb=TRAINING.get("mem_mb", 4000),
        # Declared for cluster profiles (the SLURM plugin asks for --gpus=N when N > 0);
        # TensorFlow uses a GPU whenever it sees one.
        gpu=TRAINING.get("gpu", 0),
    params:
        spec=lambda wildcards: train_spec(wildcards.experiment),
        training=lambda wildcards: train_params(wildcards.experiment),
    script:
        "../scripts/train.py"


# `snakemake --cores N models`: train every enabled experiment and seed.
rule models:
    input:
        training_targets,
    localrule: True
