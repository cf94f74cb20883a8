# Prediction: classify the audio files put in the `predict.input` folder (default
# predict/) with a trained model. Every file gives results/predictions/<name>.csv,
# <name> being its path under the folder without the extension (a track row, then
# one row per 3-s window; columns in divconq.predict.to_csv). Target: `predictions`.
#
#   cp song.mp3 predict/ && snakemake --cores 2 predictions
#
# Each job loads TensorFlow and the model(s) (a few seconds); `divconq predict
# predict/ --model ...` classifies a large batch in one process instead.
import re
from pathlib import Path

from snakemake.logging import logger

PREDICT = config.get("predict", {})
PREDICT_ROOT = PREDICT.get("input", "predict")


def predict_sources():
    """Name -> audio file of every file under the predict folder.

    Sorted; hidden files are skipped; of two files with the same name (a.wav,
    a.mp3) the first in sorted order is kept, as in the dataset inventory.
    """
    from divconq.audio import AUDIO_EXTENSIONS

    root = Path(PREDICT_ROOT)
    if not root.is_dir():
        return {}
    found = {}
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root)
        if (
            f.is_file()
            and f.suffix.lower() in AUDIO_EXTENSIONS
            and not any(part.startswith(".") for part in rel.parts)
        ):
            name = rel.with_suffix("").as_posix()
            if name in found:
                logger.warning(f"predict: {f} skipped, {found[name]} has the same name")
            else:
                found[name] = str(f)
    return found


PREDICT_SOURCES = predict_sources()


def predict_models(wildcards=None):
    """Model folders of `predict.model`.

    An experiment of this workflow (<results>/models/<experiment>) stands for its
    configured seeds' folders, which the training rules build when missing; one
    seed's folder stands for itself; any other folder must exist already and may
    be a model folder or an experiment folder (all its seed*/ models).
    """
    default = f"{RESULTS}/models/{(enabled_experiments() or ['snippets_3s'])[0]}"
    model = Path(PREDICT.get("model") or default)
    models = Path(RESULTS) / "models"
    if model.parent == models and model.name in config.get("experiments", {}):
        return [f"{model}/seed{s}" for s in experiment_seeds(model.name)]
    if model.parent.parent == models and re.fullmatch(r"seed\d+", model.name):
        return [str(model)]
    from divconq.predict import ModelDirError, model_dirs

    try:
        return [str(d) for d in model_dirs(model)]
    except ModelDirError as err:
        raise WorkflowError(f"predict.model: {err}")


def predict_audio(wildcards):
    if wildcards.name not in PREDICT_SOURCES:
        raise WorkflowError(
            f"no audio file named {wildcards.name!r} under {PREDICT_ROOT}/"
        )
    return PREDICT_SOURCES[wildcards.name]


def prediction_targets(wildcards=None):
    """One CSV per audio file of the predict folder."""
    return [f"{RESULTS}/predictions/{name}.csv" for name in PREDICT_SOURCES]


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
        rule=PREDICT.get("rule", "sum"),
        batch_size=PREDICT.get("batch_size", 32),
        windows=PREDICT.get("windows", True),
    script:
        "../scripts/predict.py"


# `snakemake predictions`: classify every file of the predict folder.
rule predictions:
    input:
        prediction_targets,
    localrule: True
