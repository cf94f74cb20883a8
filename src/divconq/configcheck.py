"""Cross-field checks of a whole workflow configuration, run before the first job.

JSON Schema cannot check one key against another. :func:`cross_field_errors` does:
split fractions, split method and its files, experiments' presets, inputs, embedding
settings, fine-tuning and seeds. It needs to know every stage, so it sits at the top
of the package beside the command line; the generic schema checks (unknown keys,
text coercion, entry defaults) are in :mod:`divconq.shared.config`.

Import-light (no numpy or TensorFlow): ``common.smk`` imports it on every run.
"""

from __future__ import annotations

from pathlib import Path

from divconq.shared.config import (
    ConfigError,
    closest,
    dotted,
    where_given,
)
from divconq.shared.inputs import EMBEDDING_INPUTS, WHOLE_TRACK_INPUTS

# Split fractions may miss 1 by this much (0.7 + 0.15 + 0.15 is 1 + 2e-16).
FRACTION_TOLERANCE = 1e-6


def _split_errors(split: dict) -> list[tuple[tuple, str]]:
    """Fractions, method options and split files of the ``split`` section."""
    from divconq.split import SplitError, check_fractions

    errors = []
    method = split.get("method", "stratified")
    if method in ("stratified", "groups"):
        try:
            check_fractions(split.get("fractions") or {})
        except SplitError as err:
            errors.append((("split", "fractions"), str(err)))
    lists = split.get("lists") or {}
    needs = {
        "lists": [("lists", s) for s in ("train", "val", "test")],
        "json": [("json",)],
        "groups": [("groups",)],
    }
    # kfold reads a groups file when one is given (no group straddles two folds).
    optional = {("kfold", "groups")}
    for other, keys in needs.items():
        for key in keys:
            value = lists.get(key[1]) if key[0] == "lists" else split.get(key[0])
            if (method, other) in optional:
                if value and not Path(value).is_file():
                    errors.append((("split", *key), f"file not found: {value}"))
                continue
            if other == method and not value:
                errors.append(
                    (("split", *key), f"split.method is '{method}' but this file is not set")
                )
            elif other != method and value:
                errors.append(
                    (
                        ("split", *key),
                        f"is set but split.method is '{method}', which does not read it "
                        f"(set split.method: {other}, or remove it)",
                    )
                )
            elif value and not Path(value).is_file():
                errors.append((("split", *key), f"file not found: {value}"))
    return errors


def _experiment_errors(config: dict, schema: dict, presets) -> list[tuple[tuple, str]]:
    """Presets, inputs, seeds and training overrides of each experiment."""
    from jsonschema import Draft202012Validator

    errors = []
    training_schema = schema["properties"]["training"]
    check_training = Draft202012Validator(
        {k: v for k, v in training_schema.items() if k != "default"}
    )
    seeds = config.get("training", {}).get("seeds")
    if isinstance(seeds, list) and len(set(seeds)) != len(seeds):
        errors.append((("training", "seeds"), f"seeds must be unique, got {seeds}"))
    for name, exp in (config.get("experiments") or {}).items():
        if not isinstance(exp, dict):
            continue
        path = ("experiments", name)
        model = exp.get("model")
        if model not in presets:
            guess = closest(model, presets)
            hint = f"did you mean '{guess}'? " if guess else ""
            errors.append(
                (
                    (*path, "model"),
                    f"unknown model preset '{model}'; {hint}presets "
                    f"(divconq.models.presets.PRESETS): {', '.join(sorted(presets))}",
                )
            )
        elif presets[model].input != exp.get("input"):
            errors.append(
                (
                    (*path, "input"),
                    f"is '{exp.get('input')}' but model preset '{model}' is shaped for "
                    f"'{presets[model].input}' inputs (choose input: {presets[model].input} "
                    "or another preset)",
                )
            )
        own = exp.get("seeds")
        if isinstance(own, list) and len(set(own)) != len(own):
            errors.append(((*path, "seeds"), f"seeds must be unique, got {own}"))
        for err in check_training.iter_errors(exp.get("training") or {}):
            errors.append(((*path, "training", *err.absolute_path), err.message))
    return errors


#: Training settings that act on log-mel values and mean nothing for an embedding.
SPECTROGRAM_ONLY_TRAINING = ("time_masks", "freq_masks", "gain_db")


def experiment_embedding(config: dict, name: str) -> dict:
    """``{model, layer}`` of an embedding experiment (``input: embeddings`` or
    ``embedding_mean``): the ``embedding`` section's (defaulted by the schema),
    replaced by the experiment's own ``embedding:`` keys."""
    section = config["embedding"]
    own = config["experiments"][name].get("embedding") or {}
    return {
        "model": own.get("model", section["model"]),
        "layer": own.get("layer", section["layer"]),
    }


def experiment_seeds(config: dict, name: str) -> list:
    """Seeds of one experiment: its own ``seeds`` or ``training.seeds`` (a list, or a
    count N meaning 0..N-1)."""
    exp = config["experiments"][name]
    seeds = exp.get("seeds", (config.get("training") or {}).get("seeds", 1))
    return list(range(seeds)) if isinstance(seeds, int) else list(seeds)


def _head_from_errors(config: dict, name: str) -> list[tuple[tuple, str]]:
    """``head_from`` of a fine-tuning experiment: an experiment whose trained heads fit
    it (input embeddings, frozen, same preset, checkpoint, layer; every seed)."""
    experiments = config.get("experiments") or {}
    exp = experiments[name]
    path = ("experiments", name, "head_from")
    source = exp["head_from"]
    if exp.get("trainable") != "all":
        return [(path, "is for trainable: all only (a head to start the fine-tuning from)")]
    if source not in experiments or not isinstance(experiments[source], dict):
        guess = closest(source, [k for k in experiments if k != name])
        hint = f"; did you mean '{guess}'?" if guess else ""
        return [(path, f"names no experiment: '{source}'{hint}")]
    head = experiments[source]
    problems = []
    if head.get("input") != "embeddings" or head.get("trainable", "head") != "head":
        problems.append("an experiment with input: embeddings and trainable: head")
    if head.get("model") != exp.get("model"):
        problems.append(f"the same model preset ({exp.get('model')}, not {head.get('model')})")
    if head.get("input") in EMBEDDING_INPUTS and experiment_embedding(
        config, source
    ) != experiment_embedding(config, name):
        problems.append("the same embedding checkpoint and layer")
    missing = sorted(set(experiment_seeds(config, name)) - set(experiment_seeds(config, source)))
    if missing:
        problems.append(f"the seeds {missing} too")
    if problems:
        return [(path, f"'{source}' must be {'; '.join(problems)}")]
    return []


def _embedding_errors(config: dict) -> list[tuple[tuple, str]]:
    """Embedding experiments: parameters :class:`divconq.data.embeddings.EmbeddingParams`
    accepts (a layer the checkpoint has, hops), no log-mel augmentation (fine-tuning:
    masks but no gain), ``trainable: all`` only on input embeddings; whole-track
    inputs: no per-epoch window draws."""
    from divconq.data.embeddings import EmbeddingParams

    errors = []
    hops = {k: v for k, v in (config.get("embedding") or {}).items() if "hop" in k}
    try:
        EmbeddingParams(**hops)
    except ValueError as err:
        # The schema keeps hop_s positive: what is left is train_hop_s.
        errors.append((("embedding", "train_hop_s"), str(err)))
    training = config.get("training") or {}
    for name, exp in (config.get("experiments") or {}).items():
        if not isinstance(exp, dict) or not exp.get("enabled", True):
            continue
        path = ("experiments", name)
        merged = {**training, **(exp.get("training") or {})}
        if exp.get("input") in WHOLE_TRACK_INPUTS and merged.get("sampling") == "epoch":
            errors.append(
                (
                    (*path, "training", "sampling"),
                    f"is epoch, but input {exp.get('input')} has one sample per track "
                    "(use sampling: snippets)",
                )
            )
        finetune = exp.get("trainable") == "all"
        if finetune and exp.get("input") != "embeddings":
            errors.append(
                (
                    (*path, "trainable"),
                    f"is all, but input {exp.get('input')} has no pretrained network to "
                    "fine-tune (trainable: all is for input: embeddings; remove it)",
                )
            )
        if exp.get("head_from") is not None:
            errors += _head_from_errors(config, name)
        if exp.get("input") not in EMBEDDING_INPUTS:
            if exp.get("embedding"):
                errors.append(
                    (
                        (*path, "embedding"),
                        "is for input: embeddings or embedding_mean only (remove it)",
                    )
                )
            continue
        emb = experiment_embedding(config, name)
        try:
            EmbeddingParams(emb["model"], emb["layer"])
        except ValueError as err:
            # The schema's enums admit every checkpoint and layer: what is left is a
            # layer this checkpoint lacks (a vgg has no penultimate dense layer).
            errors.append(((*path, "embedding", "layer"), str(err)))
        for key in SPECTROGRAM_ONLY_TRAINING:
            if not merged.get(key):
                continue
            if not finetune:
                errors.append(
                    (
                        (*path, "training", key),
                        f"is {merged[key]} but acts on log-mels, not on embeddings "
                        "(set it to 0 for this experiment)",
                    )
                )
            elif key == "gain_db":
                # Masks act on the network's log-mel patches as on any log-mel; a
                # gain in dB does not: their compression is log10(10000 x + 1).
                errors.append(
                    (
                        (*path, "training", key),
                        f"is {merged[key]} but the network's log-mel is no dB scale "
                        "(set it to 0 for this experiment; masks work)",
                    )
                )
    return errors


def cross_field_errors(config: dict, schema: dict, presets) -> list[tuple[tuple, str]]:
    """Mistakes no single key shows (the config is validated and defaulted already).

    Parameters
    ----------
    config : dict
        The validated configuration, defaults filled.
    schema : dict
        The configuration schema.
    presets : dict
        The model presets by name (``divconq.models.presets.PRESETS``; each has an ``input``).

    Returns
    -------
    list of (path, message)
    """
    errors = _split_errors(config.get("split") or {})
    errors += _experiment_errors(config, schema, presets)
    errors += _embedding_errors(config)
    dataset = config.get("dataset") or {}
    if dataset.get("source") == "folder" and not dataset.get("path"):
        errors.append(
            (
                ("dataset", "path"),
                "dataset.source is 'folder' but no path is set; give your folder of"
                " <label>/<audio file>s: snakemake --cores all --configfile"
                " presets/collection.yaml --config dataset='{source: folder, path: DIR}'",
            )
        )
    return errors


def check_cross_fields(config: dict, schema: dict, presets, sources=()) -> None:
    """Raise :class:`ConfigError` listing every cross-field mistake.

    Parameters
    ----------
    config, schema : dict
        The validated, defaulted configuration and its schema.
    presets : dict
        The model presets by name (``divconq.models.presets.PRESETS``).
    sources : list of (name, dict)
        Where the configuration came from (see :func:`where_given`).
    """
    lines = [
        f"{dotted(path)} ({where_given(path, sources)}): {message}"
        for path, message in cross_field_errors(config, schema, presets)
    ]
    if lines:
        raise ConfigError("config: " + "\nconfig: ".join(lines))
