"""Strict checks of the workflow configuration, run before the first job.

JSON Schema (``workflow/schemas/config.schema.yaml``) checks types and ranges, but
its ``additionalProperties: false`` message does not say which key is wrong nor
what was meant, and it cannot check one key against another. This module:

- reports every unknown key with where it was found and the closest valid key
  (:func:`unknown_keys`, :func:`reject_unknown`);
- turns numeric text into numbers where the schema expects a number
  (:func:`coerce_text`): Snakemake's ``--config key='{a: 0.7}'`` keeps nested
  values as strings;
- fills the defaults of entries of free-named sections such as ``experiments``,
  which Snakemake's ``validate`` leaves out (:func:`fill_entry_defaults`);
- checks keys against each other (:func:`cross_field_errors`): split fractions,
  split method and its files, experiments' presets, seeds.

Import-light (no numpy or TensorFlow): ``common.smk`` imports it on every run.
"""

from __future__ import annotations

import copy
import difflib
import math
from pathlib import Path

from divconq.inputs import EMBEDDING_INPUTS, WHOLE_TRACK_INPUTS

# Keys of the `training` section that are workflow settings (Snakemake threads and
# resources, the seed list), not training hyper-parameters: an experiment cannot
# override them in `experiments.<name>.training`.
TRAINING_RESOURCE_KEYS = ("seeds", "threads", "mem_mb", "gpu")

# Split fractions may miss 1 by this much (0.7 + 0.15 + 0.15 is 1 + 2e-16).
FRACTION_TOLERANCE = 1e-6

_TRUE, _FALSE, _NULL = {"true", "yes", "on"}, {"false", "no", "off"}, {"null", "~", ""}


class ConfigError(ValueError):
    """A configuration mistake; the message names the key, where it is and a fix."""


def closest(key: str, valid) -> str | None:
    """The valid key most like ``key`` (difflib ratio >= 0.6), or None."""
    matches = difflib.get_close_matches(str(key), [str(v) for v in valid], n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_key_message(key: str, valid, where: str) -> str:
    """``unknown key 'traning' in <where>; did you mean 'training'?`` (one line).

    Parameters
    ----------
    key : str
        The unknown key.
    valid : iterable of str
        The keys allowed there.
    where : str
        Where the key was found, e.g. ``"the top level of the config"`` or
        ``"training (tests/configs/tiny.yaml)"``.
    """
    guess = closest(key, valid)
    hint = f"did you mean '{guess}'?" if guess else f"valid keys: {', '.join(sorted(valid))}"
    return f"unknown key '{key}' in {where}; {hint}"


def reject_unknown(keys, valid, where: str) -> None:
    """Raise :class:`ConfigError` if any of ``keys`` is not in ``valid``.

    For ``from_dict`` constructors (``FeatureParams``, ``TrainConfig``): one line
    per unknown key, each with the closest valid key.

    Parameters
    ----------
    keys : iterable of str
        The keys given (e.g. a dict's keys).
    valid : iterable of str
        The keys allowed.
    where : str
        The section they were found in, e.g. ``"features"``.
    """
    valid = list(valid)
    unknown = [k for k in keys if k not in valid]
    if unknown:
        raise ConfigError("\n".join(unknown_key_message(k, valid, where) for k in unknown))


def dotted(path) -> str:
    """``("experiments", "x", "training")`` -> ``"experiments.x.training"``."""
    return ".".join(str(p) for p in path)


# Walking the schema ------------------------------------------------------------


def _types(schema: dict) -> set[str]:
    """JSON types a (sub)schema allows, looking into oneOf/anyOf alternatives."""
    kinds = schema.get("type", [])
    out = {kinds} if isinstance(kinds, str) else set(kinds)
    for alt in schema.get("oneOf", []) + schema.get("anyOf", []):
        out |= _types(alt)
    return out


def _item_schemas(schema: dict) -> list[dict]:
    """Schemas of array items, looking into oneOf/anyOf alternatives."""
    out = [schema["items"]] if isinstance(schema.get("items"), dict) else []
    for alt in schema.get("oneOf", []) + schema.get("anyOf", []):
        out += _item_schemas(alt)
    return out


def _parse_text(text: str, kinds: set[str]):
    """The value YAML would have given ``text`` if the schema allows that type, else ``text``."""
    low = text.strip().lower()
    if "null" in kinds and low in _NULL:
        return None
    if "string" in kinds:
        return text
    if "boolean" in kinds and low in _TRUE | _FALSE:
        return low in _TRUE
    if "integer" in kinds:
        try:
            return int(low)
        except ValueError:
            pass
    if "number" in kinds:
        try:
            value = float(low)
        except ValueError:
            return text
        return value if math.isfinite(value) else text
    return text


def coerce_text(config: dict, schema: dict) -> dict:
    """Turn text into numbers, booleans or null where the schema expects them (in place).

    Snakemake parses ``--config split='{fractions: {train: 0.7}}'`` with YAML's
    base loader, which keeps every nested scalar as a string. Text is only
    converted where the schema does not allow a string, so paths stay text.

    Returns
    -------
    dict
        ``config`` itself.
    """

    def walk(node, sub):
        if isinstance(node, dict):
            props = sub.get("properties", {})
            extra = sub.get("additionalProperties")
            for key, value in node.items():
                child = props.get(key, extra if isinstance(extra, dict) else None)
                if child is not None:
                    node[key] = walk(value, child)
            return node
        if isinstance(node, list):
            items = _item_schemas(sub)
            return [walk(v, items[0]) for v in node] if items else node
        if isinstance(node, str):
            return _parse_text(node, _types(sub))
        return node

    return walk(config, schema)


def fill_entry_defaults(config: dict, schema: dict) -> dict:
    """Fill schema defaults into the entries of free-named sections (in place).

    Snakemake's ``validate`` fills ``default`` values of named ``properties`` only;
    the entries of ``experiments`` (described by ``additionalProperties``) would
    otherwise need ``.get(key, default)`` in the rules, a second copy of each default.
    """

    def walk(node, sub):
        if not isinstance(node, dict):
            return
        props = sub.get("properties", {})
        extra = sub.get("additionalProperties")
        for key, value in node.items():
            if key in props:
                walk(value, props[key])
            elif isinstance(extra, dict) and isinstance(value, dict):
                for name, child in extra.get("properties", {}).items():
                    if "default" in child:
                        # A copy: two entries must not share one `training: {}` dict.
                        value.setdefault(name, copy.deepcopy(child["default"]))
                walk(value, extra)

    walk(config, schema)
    return config


def unknown_keys(config: dict, schema: dict) -> list[tuple[tuple, str, list[str]]]:
    """Every key of ``config`` that the schema does not name.

    A section with ``properties`` and without an ``additionalProperties`` schema
    is closed. ``experiments.<name>.training`` takes the keys of the ``training``
    section except :data:`TRAINING_RESOURCE_KEYS`.

    Returns
    -------
    list of (path, key, valid keys)
        ``path`` is the tuple of keys of the section the key was found in.
    """
    found = []
    per_experiment = {
        k: v
        for k, v in schema["properties"]["training"]["properties"].items()
        if k not in TRAINING_RESOURCE_KEYS
    }

    def walk(node, sub, path):
        if not isinstance(node, dict):
            return
        props = sub.get("properties", {})
        extra = sub.get("additionalProperties")
        if len(path) == 3 and path[0] == "experiments" and path[2] == "training":
            props, extra = per_experiment, False
        for key, value in node.items():
            if key in props:
                walk(value, props[key], (*path, key))
            elif isinstance(extra, dict):
                walk(value, extra, (*path, key))
            elif props or extra is False:
                found.append((path, key, sorted(props)))

    walk(config, schema, ())
    return found


# Cross-field checks ---------------------------------------------------------------


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
                    f"unknown model preset '{model}'; {hint}presets (divconq.model.PRESETS): "
                    f"{', '.join(sorted(presets))}",
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
    """Embedding experiments: parameters :class:`divconq.embeddings.EmbeddingParams`
    accepts (a layer the checkpoint has, hops), no log-mel augmentation (fine-tuning:
    masks but no gain), ``trainable: all`` only on input embeddings; whole-track
    inputs: no per-epoch window draws."""
    from divconq.embeddings import EmbeddingParams

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
        The model presets by name (``divconq.model.PRESETS``; each has an ``input``).

    Returns
    -------
    list of (path, message)
    """
    errors = _split_errors(config.get("split") or {})
    errors += _experiment_errors(config, schema, presets)
    errors += _embedding_errors(config)
    dataset = config.get("dataset") or {}
    if dataset.get("source") == "folder" and not dataset.get("path"):
        errors.append((("dataset", "path"), "dataset.source is 'folder' but no path is set"))
    return errors


def where_given(path, sources) -> str:
    """Name of the last config source that sets ``path`` (later sources win).

    Parameters
    ----------
    path : tuple of str
    sources : list of (name, dict)
        E.g. ``[("config.yaml", {...}), ("--config", {...})]``.
    """
    found = None
    for name, data in sources:
        node = data
        for key in path:
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
        else:
            found = name
    return found or "the defaults"


def describe(path) -> str:
    """Where a section is, in words: ``training`` or ``the top level of the config``."""
    return dotted(path) if path else "the top level of the config"


def check_unknown(config: dict, schema: dict, sources=()) -> None:
    """Raise :class:`ConfigError` naming every unknown key and the closest valid one.

    Run before ``validate``, so that a misspelled key is reported as such rather
    than as a type error of the default filled in beside it.

    Parameters
    ----------
    config, schema : dict
        The configuration as given and its schema.
    sources : list of (name, dict)
        Where the configuration came from (see :func:`where_given`).
    """
    lines = [
        unknown_key_message(key, valid, f"{describe(path)} ({where_given((*path, key), sources)})")
        for path, key, valid in unknown_keys(config, schema)
    ]
    if lines:
        raise ConfigError("config: " + "\nconfig: ".join(lines))


def check_cross_fields(config: dict, schema: dict, presets, sources=()) -> None:
    """Raise :class:`ConfigError` listing every cross-field mistake.

    Parameters
    ----------
    config, schema : dict
        The validated, defaulted configuration and its schema.
    presets : dict
        The model presets by name (``divconq.model.PRESETS``).
    sources : list of (name, dict)
        Where the configuration came from (see :func:`where_given`).
    """
    lines = [
        f"{dotted(path)} ({where_given(path, sources)}): {message}"
        for path, message in cross_field_errors(config, schema, presets)
    ]
    if lines:
        raise ConfigError("config: " + "\nconfig: ".join(lines))
