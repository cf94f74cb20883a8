import json
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

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

from divconq.features import FeatureParams
from divconq.inventory import DatasetError, discover

RESULTS = config["results"]
DATASET = config["dataset"]
FEATURES = FeatureParams.from_dict(config["features"])


def synthetic_root():
    return f"{RESULTS}/synthetic"


def synthetic_sources():
    """Track id -> WAV path of every track the synthetic generator will write."""
    from divconq.synth import genre_names, track_name

    syn = DATASET["synthetic"]
    return {
        f"{label}/{track_name(label, i)}": f"{synthetic_root()}/{label}/{track_name(label, i)}.wav"
        for label in genre_names(syn["genres"])
        for i in range(syn["tracks_per_genre"])
    }


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
    if not DATASET.get("path"):
        raise WorkflowError("dataset.source is 'folder' but dataset.path is not set")
    DATASET_ROOT = DATASET["path"]
    SOURCES = folder_sources()


def source_audio(wildcards):
    """The input audio file of one track."""
    track = f"{wildcards.label}/{wildcards.track}"
    if track not in SOURCES:
        raise WorkflowError(f"no audio file for track {track!r} under {DATASET_ROOT}")
    return SOURCES[track]


def usable_tracks():
    """Rows of the inventory's tracks.csv (waits for the inventory checkpoint)."""
    from divconq.inventory import read_tracks

    return read_tracks(checkpoints.inventory.get().output.tracks)


def spectrogram_files(wildcards):
    return [f"{RESULTS}/spectrograms/{t['track']}.h5" for t in usable_tracks()]


def feature_params_json():
    return json.dumps(FEATURES.to_dict())


def data_targets(wildcards=None):
    """Every per-track artifact and the manifest.

    Listing the per-track files themselves (not just the manifest) is what makes
    Snakemake rebuild one that was deleted: a missing intermediate of an
    up-to-date output is otherwise left alone.
    """
    tracks = [t["track"] for t in usable_tracks()]
    return (
        [f"{RESULTS}/mp3/{t}.mp3" for t in tracks]
        + [f"{RESULTS}/spectrograms/{t}.h5" for t in tracks]
        + [f"{RESULTS}/split/manifest.csv"]
    )


def all_targets(wildcards):
    """The final files of every enabled stage."""
    return data_targets()
