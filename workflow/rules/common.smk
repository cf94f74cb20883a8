import functools
import json
import os
import re
import shlex
import sys
from pathlib import Path

import yaml
from snakemake.common.configfile import load_configfile
from snakemake.logging import logger
from snakemake.utils import validate

# Jobs import divconq from this checkout, so a conda environment or a cluster
# node needs no install of it; and a plain `python` in a job is the interpreter
# running Snakemake (e.g. .venv's) unless a conda environment or container brings
# its own. script: jobs run through the shell too. The prefix is formatted like a
# shell command: doubled braces are literal.
SRC = str(Path(workflow.basedir) / "src")
SHELL_PREFIX = (
    "set -euo pipefail; export PYTHONPATH=%s${{PYTHONPATH:+:$PYTHONPATH}}; "
    % (shlex.quote(SRC))
)
if not workflow.deployment_settings.deployment_method:
    SHELL_PREFIX += "export PATH=%s:$PATH; " % shlex.quote(
        str(Path(sys.executable).parent)
    )
shell.prefix(SHELL_PREFIX)
sys.path.insert(0, SRC)
from divconq.evaluate.rules import check_config as check_track_rule

check_track_rule(config)

from divconq import configcheck
from divconq.shared import config as config_schema
from divconq.shared import runlock
from divconq.shared.inputs import EMBEDDING_INPUTS
from divconq.models.musicnn import CHECKPOINTS
from divconq.models.presets import PRESETS
from divconq.train.config import experiment_training

# A run killed by SIGKILL (or power loss) leaves Snakemake's lock behind; clear it
# when its recorded owner is dead, so that the same command resumes. Only the
# process the user started does this, never a job (which re-reads the Snakefile).
if workflow.is_main_process:
    runlock.clear_stale_locks(Path(".snakemake"), log=logger.warning)
    runlock.record_owner(Path(".snakemake"))


# Configuration: unknown keys and numbers given as text first, then the schema
# (types, ranges, defaults), then checks of keys against each other. Each stops
# the run before any job with the key, where it was given and a suggestion.
def config_sources():
    """(name, dict) of each config source, in the order Snakemake merges them."""
    # The Snakefile's `configfile:` first: --configfile files override it.
    given = [str(f) for f in workflow.config_settings.configfiles]
    files = dict.fromkeys(
        [*(str(f) for f in workflow.configfiles if str(f) not in given), *given]
    )
    sources = [(str(f), load_configfile(f)) for f in files if Path(f).is_file()]
    return sources + [("--config", dict(workflow.config_settings.config))]


with open(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml") as f:
    CONFIG_SCHEMA = yaml.safe_load(f)
# Each config file is read once more here, to say where a mistake was given.
CONFIG_SOURCES = config_sources()
try:
    config_schema.coerce_text(config, CONFIG_SCHEMA)
    config_schema.check_unknown(config, CONFIG_SCHEMA, CONFIG_SOURCES)
    validate(config, schema="../schemas/config.schema.yaml")
    config_schema.fill_entry_defaults(config, CONFIG_SCHEMA)
    if workflow.is_main_process:
        configcheck.check_cross_fields(config, CONFIG_SCHEMA, PRESETS, CONFIG_SOURCES)
except config_schema.ConfigError as err:
    raise WorkflowError(str(err))

from divconq.evaluate.evaluation import THREADS as EVALUATION_THREADS
from divconq.data import batch as data_batch
from divconq.data import fingerprint
from divconq.data.features import FeatureParams
from divconq.data.inventory import DatasetError, discover

RESULTS = config["results"]
DATASET = config["dataset"]
FEATURES = FeatureParams.from_dict(config["features"])


def synthetic_root():
    return f"{RESULTS}/synthetic"


def synthetic_sources():
    """Track id -> WAV path of every track the synthetic generator will write."""
    from divconq.data.synth import genre_names, track_name

    syn = DATASET["synthetic"]
    return {
        f"{label}/{track_name(label, i)}": f"{synthetic_root()}/{label}/{track_name(label, i)}.wav"
        for label in genre_names(syn["genres"])
        for i in range(syn["tracks_per_genre"])
    }


def synthetic_genre_wavs():
    """Output patterns of one genre's job: every track of {label}, GTZAN-named."""
    from divconq.data.synth import track_name

    n = DATASET["synthetic"]["tracks_per_genre"]
    return [
        f"{synthetic_root()}/{{label}}/{track_name('{label}', i)}.wav" for i in range(n)
    ]


def folder_sources():
    """Track id -> audio path of every candidate file of the dataset folder."""
    try:
        candidates, _ = discover(DATASET["path"])
    except DatasetError as err:
        raise WorkflowError(str(err))
    return {c.track: str(c.path) for c in candidates}


if DATASET["source"] == "synthetic":
    DATASET_ROOT = synthetic_root()
    SOURCES = synthetic_sources()
else:
    DATASET_ROOT = DATASET["path"]
    SOURCES = folder_sources()
DATASET_LABELS = sorted({track.split("/", 1)[0] for track in SOURCES})
if len(DATASET_LABELS) < 2 and workflow.is_main_process:
    raise WorkflowError(
        f"dataset ({DATASET_ROOT}): a classifier needs at least two labels (folders"
        f" of audio files), found {len(DATASET_LABELS)}: {', '.join(DATASET_LABELS)}"
    )


def source_audio(wildcards):
    """The input audio file of one track."""
    track = f"{wildcards.label}/{wildcards.track}"
    if track not in SOURCES:
        raise WorkflowError(f"no audio file for track {track!r} under {DATASET_ROOT}")
    return SOURCES[track]


def spectrogram_audio(wildcards):
    """The audio a track's features are computed from: its MP3, or with
    `data.features_from: source` its source file."""
    if config["data"]["features_from"] == "source":
        return source_audio(wildcards)
    return f"{RESULTS}/mp3/{wildcards.label}/{wildcards.track}.mp3"


@functools.lru_cache(maxsize=4)
def _read_tracks(path, mtime_ns):
    from divconq.data.inventory import read_tracks

    return read_tracks(path)


def usable_tracks():
    """Rows of the inventory's tracks.csv (waits for the inventory checkpoint).

    Read once per version of the file: every data batch's input function asks for them,
    and a 100,000-row CSV read a thousand times would cost minutes of planning.
    """
    path = checkpoints.inventory.get().output.tracks
    return _read_tracks(path, os.stat(path).st_mtime_ns)


# Data stage in batches (divconq.data.batch) --------------------------------------
# One `data_batch` job makes the MP3 (if any) and the HDF5 of `data.tracks_per_job` tracks of
# the inventory; its listing, written last, is what the split waits for. The per-track
# rules `mp3` and `spectrogram` make one track's files when asked for them by name.


def tracks_per_job(section="data"):
    """Tracks per job of the data (and network log-mel) batches, or with section
    "embedding" of the embedding batches: the section's `tracks_per_job`, or chosen from
    the collection size (larger for embeddings, whose jobs start TensorFlow)."""
    given = config[section]["tracks_per_job"]
    if given != "auto":
        return int(given)
    return data_batch.auto_tracks_per_job(
        len(usable_tracks()), *data_batch.AUTO[section]
    )


def sources_state():
    """The stat signatures of a dataset folder's files, as one digest (the inventory's
    parameter); empty for the synthetic set, which this workflow writes."""
    if DATASET["source"] == "synthetic":
        return ""
    return fingerprint.state_digest(SOURCES.values())


def batch_listings(wildcards=None):
    """The listing of every data batch (waits for the inventory)."""
    names = data_batch.batch_names(len(usable_tracks()), tracks_per_job())
    return [f"{RESULTS}/data_batches/{name}.csv" for name in names]


@functools.lru_cache(maxsize=None)
def _folder_names(folder, mtime_ns):
    return frozenset(os.listdir(folder))


def _exists(path):
    # One listing per folder (per label) instead of one stat per file.
    folder, name = os.path.split(path)
    try:
        mtime_ns = os.stat(folder).st_mtime_ns
    except FileNotFoundError:
        return False
    return name in _folder_names(folder, mtime_ns)


def lost_files(listings, per_job, files_of):
    """Per-track files of finished batches that are gone since.

    Targets of `all` and `data`, so the per-track rules make them again (only those).
    Not inputs of the batches or of what reads them: what comes back is what was there,
    and a changed set of inputs would rerun everything after it. A batch without its
    listing (never run, or killed) makes what it lacks itself.

    Parameters: the folder of the batches' listings, tracks per job, and a function
    giving a track's files.
    """
    rows = usable_tracks()
    lost = []
    for name in data_batch.batch_names(len(rows), per_job):
        if not os.path.exists(f"{listings}/{name}.csv"):
            continue
        for row in data_batch.batch_rows(rows, name, per_job):
            lost += files_of(row["track"])
    return [f for f in lost if not _exists(f)]


def lost_track_files():
    """The MP3s (if any) and HDF5s of finished data batches that are gone since."""

    def files_of(track):
        files = [f"{RESULTS}/spectrograms/{track}.h5"]
        if config["data"]["features_from"] == "mp3":
            files.append(f"{RESULTS}/mp3/{track}.mp3")
        return files

    return lost_files(f"{RESULTS}/data_batches", tracks_per_job(), files_of)


def feature_params_json():
    return json.dumps(FEATURES.to_dict())


def data_targets(wildcards=None):
    """Every data, embedding and network log-mel batch's listing, and the manifest.

    Listing these (not just the manifest) is what makes Snakemake rebuild one that
    was deleted: a missing intermediate of an up-to-date output is otherwise left
    alone; so are a finished batch's lost per-track files (:func:`lost_files`).
    """
    models = embedding_models()
    return (
        batch_listings()
        + lost_track_files()
        + [f for m in models for f in embedding_listings(m) + lost_embedding_files(m)]
        + (mel_listings() + lost_mel_files() if finetuning() else [])
        + [f"{RESULTS}/split/manifest.csv"]
    )


# Embeddings ----------------------------------------------------------------------
# Experiments with input: embeddings train on the per-track embedding files of
# their checkpoint, results/embeddings/<model>/<label>/<track>.h5 (rule embedding).

EMBEDDING = config["embedding"]
# The checkpoints divconq.models.musicnn rebuilds: the `embedding` rule's {model} wildcard.
EMBEDDING_MODELS = "|".join(CHECKPOINTS)


def embedding_params_json(model):
    """The embedding job's parameters: what its file depends on (not the layer)."""
    keys = ("hop_s", "train_hop_s")
    return json.dumps({"model": model, **{k: EMBEDDING[k] for k in keys}})


def embedding_models():
    """Checkpoints of the enabled experiments on embedding files, sorted."""
    specs = [train_spec(e) for e in enabled_experiments()]
    return sorted(
        {
            s["embedding"]["model"]
            for s in specs
            if "embedding" in s and "trainable" not in s
        }
    )


def embedding_listings(model):
    """The listing of every embedding batch of a checkpoint (waits for the inventory)."""
    names = data_batch.batch_names(len(usable_tracks()), tracks_per_job("embedding"))
    return [f"{RESULTS}/embedding_batches/{model}/{name}.csv" for name in names]


def lost_embedding_files(model):
    """Embedding files of finished batches that are gone since (rule embedding)."""
    return lost_files(
        f"{RESULTS}/embedding_batches/{model}",
        tracks_per_job("embedding"),
        lambda track: [f"{RESULTS}/embeddings/{model}/{track}.h5"],
    )


def finetuning():
    """Whether an enabled experiment fine-tunes its network (trainable: all)."""
    return any("trainable" in train_spec(e) for e in enabled_experiments())


def mel_listings():
    """The listing of every network log-mel batch (in batches of data.tracks_per_job)."""
    names = data_batch.batch_names(len(usable_tracks()), tracks_per_job())
    return [f"{RESULTS}/musicnn_mel_batches/{name}.csv" for name in names]


def lost_mel_files():
    """Network log-mel files of finished batches that are gone since (rule musicnn_mel)."""
    return lost_files(
        f"{RESULTS}/musicnn_mel_batches",
        tracks_per_job(),
        lambda track: [f"{RESULTS}/musicnn_mels/{track}.h5"],
    )


def experiment_features(wildcards):
    """What an experiment's jobs read besides the manifest: the listings of the
    embedding batches for input embeddings, of the network log-mel batches when it
    fine-tunes the network (the per-track files are named by convention,
    divconq.split.manifest; the spectrograms are the manifest's own inputs)."""
    spec = train_spec(wildcards.experiment)
    if "trainable" in spec:
        return mel_listings()
    if "embedding" not in spec:
        return []
    return embedding_listings(spec["embedding"]["model"])


def per_track_targets(wildcards):
    """The data batches and per-track files of every usable track (known once the
    inventory has run)."""
    return data_targets()[:-1]


# Experiments and seeds ---------------------------------------------------------

TRAINING = config["training"]
EVAL = config["evaluation"]


def enabled_experiments():
    """Names of the enabled experiments, in config order."""
    return [name for name, exp in config["experiments"].items() if exp["enabled"]]


def experiment_entry(experiment):
    """The config entry of one experiment (defaults filled)."""
    if experiment not in config["experiments"]:
        raise WorkflowError(f"experiment {experiment!r} is not in the config")
    return config["experiments"][experiment]


def experiment_seeds(experiment):
    """Seeds of one experiment: its own `seeds` or `training.seeds` (a list or a count)."""
    experiment_entry(experiment)  # an unknown name fails with the workflow's message
    return configcheck.experiment_seeds(config, experiment)


def train_spec(experiment):
    """The config entry of one experiment (input, model; embedding model and layer
    for the embedding inputs; `trainable: all` and the patch hops when it fine-tunes
    the network, whose patches are cut when read)."""
    exp = experiment_entry(experiment)
    spec = {"input": exp["input"], "model": exp["model"]}
    if exp["input"] in EMBEDDING_INPUTS:
        spec["embedding"] = configcheck.experiment_embedding(config, experiment)
    # Only when set: a new key in a rule's params would rerun every trained model.
    if exp.get("trainable") == "all":
        spec["trainable"] = "all"
        spec["embedding"] |= {k: EMBEDDING[k] for k in ("hop_s", "train_hop_s")}
        if exp.get("head_from"):
            spec["head_from"] = exp["head_from"]
    return spec


def head_model(wildcards):
    """The trained head a fine-tuning starts from (`head_from`): the model folder of
    that experiment with the same fold and seed; none otherwise."""
    source = train_spec(wildcards.experiment).get("head_from")
    if not source:
        return []
    return f"{RESULTS}/models/{source}/{wildcards.fold}seed{wildcards.seed}"


def train_params(experiment):
    """Training hyper-parameters of one experiment: `training`, its model preset's own
    settings (band_stats: batch size, epochs), then the experiment's `training:`."""
    spec = train_spec(experiment)
    merged = experiment_training(
        TRAINING,
        spec["model"],
        experiment_entry(experiment)["training"],
        spec.get("trainable", "head"),
    )
    return {
        k: v for k, v in merged.items() if k not in config_schema.TRAINING_RESOURCE_KEYS
    }


def model_dirs(experiment):
    return [f"{RESULTS}/models/{experiment}/{r}" for r in run_names(experiment)]


def eval_dirs(experiment):
    return [f"{RESULTS}/eval/{experiment}/{r}" for r in run_names(experiment)]


def training_targets(wildcards=None):
    """Every model folder of the enabled experiments."""
    return [d for e in enabled_experiments() for d in model_dirs(e)]


def clip_flag():
    """`--no-clip` unless an enabled experiment trains on whole clips.

    The clip spectrogram costs ~15 % of a track's feature time; toggling an
    experiment with `input: clip` changes this parameter and so rebuilds the HDF5s.
    """
    inputs = {train_spec(e)["input"] for e in enabled_experiments()}
    return "" if "clip" in inputs else "--no-clip"


def all_metrics(wildcards):
    return [f"{d}/metrics.json" for e in enabled_experiments() for d in eval_dirs(e)]


def evaluation_targets(wildcards=None):
    """Tables and figures of every enabled experiment; the selection and the champion
    model when `selection.enabled`."""
    exps = enabled_experiments()
    if not exps:
        return []
    return (
        [f"{RESULTS}/tables/accuracy.csv", f"{RESULTS}/tables/accuracy.md"]
        + [f"{RESULTS}/figures/accuracy.png"]
        + [f"{RESULTS}/figures/training_{e}.png" for e in exps]
        + [f"{RESULTS}/figures/confusion_{e}.png" for e in exps]
        + (selection_targets() if SELECTION["enabled"] else [])
    )


# Selection ------------------------------------------------------------------------

SELECTION = config["selection"]


def selection_keys():
    """(experiment, fold or None, seed) of every run the selection weighs."""
    return [(e, k, s) for e in enabled_experiments() for k, s in runs(e)]


def selection_runs():
    """(evaluation folder, model folder) of every run the selection weighs."""
    return [
        (eval_dir, model_dir)
        for e in enabled_experiments()
        for eval_dir, model_dir in zip(eval_dirs(e), model_dirs(e))
    ]


def selection_targets():
    return [
        f"{RESULTS}/selection.json",
        f"{RESULTS}/tables/summary.html",
        f"{RESULTS}/tables/selection.md",
        f"{RESULTS}/tables/suspects.csv",
        f"{RESULTS}/models/best",
    ]


def final_targets():
    """The manifest, every model, table and figure of the enabled experiments.

    Known before the inventory runs, so `snakemake -n` shows the whole plan.
    """
    return [f"{RESULTS}/split/manifest.csv"] + training_targets() + evaluation_targets()


# Folds ----------------------------------------------------------------------------
# split.method: kfold trains and evaluates every (fold, seed) of an experiment, in
# <experiment>/fold<k>/seed<N>/ under models/ and eval/; fold k's train/val/test
# manifest is split/fold<k>/manifest.csv (divconq.split.folds.fold_view). Other methods
# keep <experiment>/seed<N>/ and split/manifest.csv: the rules' {fold} wildcard is
# then empty, else "fold<k>/".

KFOLD = config["split"]["method"] == "kfold"
FOLD_PATTERN = r"(fold\d+/)?"


def fold_numbers():
    """The folds 0..K-1 of a k-fold run; [None] otherwise."""
    if not KFOLD:
        return [None]
    return list(range(config["split"]["folds"]))


def runs(experiment):
    """(fold, seed) of every model of one experiment, fold-major; fold None unless kfold."""
    return [(k, s) for k in fold_numbers() for s in experiment_seeds(experiment)]


def run_names(experiment):
    """Sub-folders of an experiment's models/ and eval/ folders: seed<N> or fold<k>/seed<N>."""
    return [
        f"seed{s}" if k is None else f"fold{k}/seed{s}" for k, s in runs(experiment)
    ]


def run_labels(experiment):
    """Legend labels of the runs: the seeds, or 'fold<k>/seed<N>' for kfold."""
    if not KFOLD:
        return experiment_seeds(experiment)
    return run_names(experiment)


def fold_manifest(wildcards):
    """The manifest a (fold, seed) run trains and is evaluated on."""
    return f"{RESULTS}/split/{wildcards.fold}manifest.csv"


def split_params():
    """The split section for rule split; the kfold keys only for kfold runs.

    Their schema defaults would otherwise change the params of rule split, and so
    rerun the split (and all after it) of results made before kfold existed.
    """
    if KFOLD:
        return config["split"]
    return {
        k: v for k, v in config["split"].items() if k not in ("folds", "val_fraction")
    }


# Prediction --------------------------------------------------------------------

PREDICT = config["predict"]
PREDICT_ROOT = PREDICT["input"]


def predict_sources():
    """Name -> audio file of every file under the predict folder.

    Sorted; hidden files are skipped; of two files with the same name (a.wav,
    a.mp3) the first in sorted order is kept, as in the dataset inventory.
    """
    from divconq.data.audio import find_audio_files

    root = Path(PREDICT_ROOT)
    if not root.is_dir():
        return {}
    found = {}
    for f in find_audio_files(root):
        name = f.relative_to(root).with_suffix("").as_posix()
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
    model = Path(PREDICT["model"] or default)
    models = Path(RESULTS) / "models"
    if model.parent == models and model.name in config["experiments"]:
        return model_dirs(model.name)
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
