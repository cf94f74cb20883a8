# Prediction: classify the audio files put in the `predict.input` folder (default
# predict/) with a trained model. Every file gives results/predictions/<name>.csv,
# <name> being its path under the folder without the extension (a track row, then
# one row per 3-s window; columns in divconq.predict.to_csv). Target: `predictions`.
#
#   cp song.mp3 predict/ && snakemake --cores 2 predictions
#
# Each job loads TensorFlow and the model(s) (a few seconds); `divconq predict
# predict/ --model ...` classifies a large batch in one process instead.
rule predict:
    input:
        audio=predict_audio,
        models=predict_models,
    output:
        f"{RESULTS}/predictions/{{name}}.csv",
    log:
        f"{RESULTS}/logs/predict/{{name}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/predict/{{name}}.tsv"
    wildcard_constraints:
        name=r".+",
    conda:
        "../../envs/predict.yaml"
    threads: 2
    params:
        rule=PREDICT["rule"],
        batch_size=PREDICT["batch_size"],
        windows=PREDICT["windows"],
    script:
        "../scripts/predict.py"


# `snakemake predictions`: classify every file of the predict folder.
rule predictions:
    input:
        prediction_targets,
    localrule: True
