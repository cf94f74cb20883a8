"""Generic checks of a configuration against its JSON Schema, run before the first job.

JSON Schema (``workflow/schemas/config.schema.yaml``) checks types and ranges, but
its ``additionalProperties: false`` message does not say which key is wrong nor
what was meant. This module:

- reports every unknown key with where it was found and the closest valid key
  (:func:`unknown_keys`, :func:`reject_unknown`, :func:`check_unknown`);
- turns numeric text into numbers where the schema expects a number
  (:func:`coerce_text`): Snakemake's ``--config key='{a: 0.7}'`` keeps nested
  values as strings;
- fills the defaults of entries of free-named sections such as ``experiments``,
  which Snakemake's ``validate`` leaves out (:func:`fill_entry_defaults`).

Checks of one key against another, which need to know the stages, are in
:mod:`divconq.configcheck`. Import-light (no numpy or TensorFlow): ``common.smk``
imports it on every run.
"""

from __future__ import annotations

import copy
import difflib
import math

# Keys of the `training` section that are workflow settings (Snakemake threads and
# resources, the seed list), not training hyper-parameters: an experiment cannot
# override them in `experiments.<name>.training`.
TRAINING_RESOURCE_KEYS = ("seeds", "threads", "mem_mb", "gpu")

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


def _string_values(schema: dict) -> set[str] | None:
    """The only strings a (sub)schema allows (its string enums), or None for any string."""
    alternatives = [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]
    values = set()
    for alt in alternatives:
        if "string" in _types({"type": alt.get("type", [])}):
            if "enum" not in alt:
                return None
            values |= set(alt["enum"])
    return values


def _parse_text(text: str, kinds: set[str], strings: set[str] | None = None):
    """The value YAML would have given ``text`` if the schema allows that type, else ``text``.

    ``strings``: the only strings the schema allows (e.g. ``auto`` beside a number), or
    None for any string.
    """
    low = text.strip().lower()
    if "null" in kinds and low in _NULL:
        return None
    if "string" in kinds and (strings is None or text in strings):
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
            return _parse_text(node, _types(sub), _string_values(sub))
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
