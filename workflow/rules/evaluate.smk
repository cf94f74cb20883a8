# Evaluation stage: per (experiment, seed) window scores and metrics (per experiment,
# fold and seed with split.method kfold, common.smk), tables over seeds, figures.
# Files: docs/architecture.md; code: divconq.evaluate.evaluation, divconq.evaluate.aggregate, divconq.evaluate.figures.


rule evaluate:
    input:
        model=f"{RESULTS}/models/{{experiment}}/{{fold}}seed{{seed}}",
        manifest=fold_manifest,
        features=experiment_features,
    output:
        scores=f"{RESULTS}/eval/{{experiment}}/{{fold}}seed{{seed}}/window_scores.h5",
        tracks=f"{RESULTS}/eval/{{experiment}}/{{fold}}seed{{seed}}/tracks.csv",
        metrics=f"{RESULTS}/eval/{{experiment}}/{{fold}}seed{{seed}}/metrics.json",
    log:
        f"{RESULTS}/logs/evaluate/{{experiment}}/{{fold}}seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{experiment}}/{{fold}}seed{{seed}}.tsv"
    wildcard_constraints:
        experiment=r"[^/]+",
        fold=FOLD_PATTERN,
        seed=r"\d+",
    conda:
        "../../envs/eval.yaml"
    # divconq.evaluate.evaluation.THREADS (1: jobs side by side on a small machine).
    threads: EVALUATION_THREADS
    params:
        splits=EVAL["splits"],
        batch_size=EVAL["batch_size"],
        spec=lambda wildcards: train_spec(wildcards.experiment),
        results=RESULTS,
    script:
        "../scripts/evaluate.py"


rule aggregate:
    input:
        metrics=all_metrics,
    output:
        csv=report(
            f"{RESULTS}/tables/accuracy.csv",
            caption="../report/accuracy.rst",
            category="Tables",
            subcategory="Accuracy",
            labels={"table": "accuracy over seeds (csv)"},
        ),
        md=f"{RESULTS}/tables/accuracy.md",
        html=report(
            f"{RESULTS}/tables/accuracy.html",
            caption="../report/accuracy.rst",
            category="Tables",
            subcategory="Accuracy",
            labels={"table": "accuracy over seeds"},
        ),
        per_seed=report(
            f"{RESULTS}/tables/accuracy_per_seed.csv",
            caption="../report/accuracy_per_seed.rst",
            category="Tables",
            subcategory="Accuracy",
            labels={"table": "accuracy per seed"},
        ),
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        "../../envs/eval.yaml"
    script:
        "../scripts/aggregate.py"


rule training_curves:
    input:
        # The model folders (a directory output of rule train): history.csv of each.
        models=lambda wc: model_dirs(wc.experiment),
    output:
        report(
            f"{RESULTS}/figures/training_{{experiment}}.png",
            caption="../report/training_curves.rst",
            category="Figures",
            subcategory="Training curves",
            labels={"experiment": "{experiment}", "figure": "training curves"},
        ),
    log:
        f"{RESULTS}/logs/figures/training_{{experiment}}.log",
    wildcard_constraints:
        experiment=r"[^/]+",
    conda:
        "../../envs/eval.yaml"
    params:
        seeds=lambda wc: run_labels(wc.experiment),
    script:
        "../scripts/figures.py"


rule confusion_matrix:
    input:
        tracks=lambda wc: [f"{d}/tracks.csv" for d in eval_dirs(wc.experiment)],
    output:
        report(
            f"{RESULTS}/figures/confusion_{{experiment}}.png",
            caption="../report/confusion.rst",
            category="Figures",
            subcategory="Confusion matrices",
            labels={"experiment": "{experiment}", "figure": "test confusion matrix"},
        ),
    log:
        f"{RESULTS}/logs/figures/confusion_{{experiment}}.log",
    wildcard_constraints:
        experiment=r"[^/]+",
    conda:
        "../../envs/eval.yaml"
    params:
        split="test",
    script:
        "../scripts/figures.py"


rule figures:
    input:
        table=f"{RESULTS}/tables/accuracy.csv",
        training=lambda wc: [
            f"{RESULTS}/figures/training_{e}.png" for e in enabled_experiments()
        ],
        confusion=lambda wc: [
            f"{RESULTS}/figures/confusion_{e}.png" for e in enabled_experiments()
        ],
    output:
        accuracy=report(
            f"{RESULTS}/figures/accuracy.png",
            caption="../report/accuracy_bars.rst",
            category="Figures",
            subcategory="Accuracy",
            labels={"figure": "mean accuracy over seeds"},
        ),
    log:
        f"{RESULTS}/logs/figures/accuracy.log",
    conda:
        "../../envs/eval.yaml"
    params:
        experiments=enabled_experiments(),
    script:
        "../scripts/figures.py"


# Selection on validation (divconq.evaluate.selection): per fold, the experiment whose
# validation tracks score best by `selection.criterion`; the test figures of that
# choice (nested under k-fold) beside every experiment's, and the tracks whose
# out-of-fold prediction disagrees with their label.
rule select:
    input:
        tracks=lambda wc: [f"{d}/tracks.csv" for d, _ in selection_runs()],
        models=lambda wc: [m for _, m in selection_runs()],
        inventory=f"{RESULTS}/inventory/tracks.csv",
        rejected=f"{RESULTS}/inventory/rejected.csv",
    output:
        # What the run did and found, first in the report.
        summary=report(
            f"{RESULTS}/tables/summary.html",
            caption="../report/summary.rst",
            category="Summary",
            labels={"page": "what this run did and found"},
        ),
        selection=report(
            f"{RESULTS}/selection.json",
            caption="../report/selection.rst",
            category="Selection",
            labels={"table": "selection (json)"},
        ),
        table=report(
            f"{RESULTS}/tables/selection.md",
            caption="../report/selection.rst",
            category="Selection",
            labels={"table": "selection"},
        ),
        suspects=report(
            f"{RESULTS}/tables/suspects.csv",
            caption="../report/suspects.rst",
            category="Selection",
            labels={"table": "suspect labels"},
        ),
    log:
        f"{RESULTS}/logs/select.log",
    conda:
        "../../envs/eval.yaml"
    params:
        criterion=SELECTION["criterion"],
        one_se=SELECTION["one_se"],
        experiments=lambda wc: [e for e, _, _ in selection_keys()],
        folds=lambda wc: [k for _, k, _ in selection_keys()],
        seeds=lambda wc: [s for _, _, s in selection_keys()],
    script:
        "../scripts/select.py"


# The chosen experiment's models and their card: divconq predict's default model.
rule champion:
    input:
        selection=f"{RESULTS}/selection.json",
        inventory=f"{RESULTS}/inventory/tracks.csv",
        models=lambda wc: [m for _, m in selection_runs()],
    output:
        directory(f"{RESULTS}/models/best"),
    log:
        f"{RESULTS}/logs/champion.log",
    conda:
        "../../envs/eval.yaml"
    params:
        model_dirs=lambda wc: {e: model_dirs(e) for e in enabled_experiments()},
        settings=lambda wc: {
            e: {**train_spec(e), "training": train_params(e)}
            for e in enabled_experiments()
        },
    script:
        "../scripts/champion.py"
