# Training stage: one model per (experiment, seed), results/models/<experiment>/seed<N>/
# (model.keras, history.csv, preprocessing.json, training.json; docs/architecture.md);
# with split.method kfold one per (experiment, fold, seed), <experiment>/fold<k>/seed<N>/,
# trained on split/fold<k>/manifest.csv ({fold} is "" or "fold<k>/", common.smk).
# Code: divconq.models.presets, divconq.train.run (its steps; divconq.train.keras_loop, sampling,
# augment). Every key of the `training` section, merged with the model preset's own
# settings (divconq.models.presets.Preset.training) and then the experiment's `training:`
# overrides, reaches divconq.train.run.TrainConfig (train_params in common.smk), which
# refuses an unknown key; only seeds, threads, mem_mb and gpu are taken out here as
# job settings (threads comes back as the job's thread count).
#
# A killed or failed training resumes after its last finished epoch when the rule
# runs again: Snakemake deletes the incomplete output folder, but the resume state
# lives beside it, in results/models/<experiment>/seed<N>.resume/ (removed once
# the model folder is complete).


rule train:
    input:
        manifest=fold_manifest,
        features=experiment_features,
        # Fine-tuning from a trained head (head_from): that experiment's model folder.
        head=head_model,
    output:
        directory(f"{RESULTS}/models/{{experiment}}/{{fold}}seed{{seed}}"),
    log:
        f"{RESULTS}/logs/train/{{experiment}}/{{fold}}seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{experiment}}/{{fold}}seed{{seed}}.tsv"
    wildcard_constraints:
        experiment=r"[^/]+",
        fold=FOLD_PATTERN,
        seed=r"\d+",
    conda:
        "../../envs/train.yaml"
    threads: TRAINING["threads"]
    resources:
        mem_mb=TRAINING["mem_mb"],
        # Declared for cluster profiles (the SLURM plugin asks for --gpus=N when N > 0);
        # TensorFlow uses a GPU whenever it sees one.
        gpu=TRAINING["gpu"],
    params:
        spec=lambda wildcards: train_spec(wildcards.experiment),
        training=lambda wildcards: train_params(wildcards.experiment),
        results=RESULTS,
    script:
        "../scripts/train.py"


# `snakemake --cores N models`: train every enabled experiment and seed.
rule models:
    input:
        training_targets,
    localrule: True
