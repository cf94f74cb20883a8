# Track-wise train/val/test split of the usable tracks.


rule split:
    input:
        tracks=f"{RESULTS}/inventory/tracks.csv",
        listings=batch_listings,
    output:
        manifest=f"{RESULTS}/split/manifest.csv",
        report=f"{RESULTS}/split/report.txt",
    log:
        f"{RESULTS}/logs/split.log",
    benchmark:
        f"{RESULTS}/benchmarks/split.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        split=split_params(),
    script:
        "../scripts/split.py"


# split.method kfold: the ordinary train/val/test manifest of fold k (divconq.split.folds).
rule fold_manifest:
    input:
        manifest=f"{RESULTS}/split/manifest.csv",
    output:
        manifest=f"{RESULTS}/split/fold{{k}}/manifest.csv",
    log:
        f"{RESULTS}/logs/split_fold{{k}}.log",
    wildcard_constraints:
        k=r"\d+",
    conda:
        "../../envs/data.yaml"
    params:
        split=config["split"],
    script:
        "../scripts/fold_manifest.py"


# `snakemake data`: the data stage alone, every per-track file included.
rule data:
    input:
        data_targets,
    localrule: True
