"""Strict configuration: unknown keys, numeric text, cross-field checks (divconq.configcheck).

The workflow tests run Snakemake for real: each mistake must stop the run before
any job (no results folder is created) with a message that names the key.
"""

import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from divconq import configcheck
from divconq.data.features import FeatureParams
from divconq.models.presets import PRESETS
from divconq.shared import config as shared_config
from divconq.train.config import experiment_training

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
TINY = REPO / "tests" / "configs" / "tiny.yaml"


def _leaves(schema, path=()):
    """(path, subschema) of every named key of the schema."""
    for key, sub in schema.get("properties", {}).items():
        yield (*path, key), sub
        yield from _leaves(sub, (*path, key))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _leaves(extra, (*path, "<name>"))


# Per-experiment keys whose default is another section's value (training.seeds, the
# embedding section): a schema default would hide which one the user set.
INHERITED = (("experiments", "<name>", "seeds"), ("experiments", "<name>", "embedding"))


def test_every_schema_key_has_a_default_and_a_description():
    missing = [
        shared_config.dotted(p)
        for p, sub in _leaves(SCHEMA)
        if "description" not in sub
        or ("default" not in sub and p[-1] != "seeds" and p[:3] not in INHERITED)
    ]
    assert missing == []


# The JSON Schema keywords the schema uses. Any other key in a key's schema is a typo or
# a flow-style YAML value cut at a comma: `{description: length, seconds}` reads as a
# description "length" and a key "seconds".
KEYWORDS = {
    *("type", "default", "description", "enum", "items", "properties", "required"),
    *("additionalProperties", "propertyNames", "oneOf", "pattern", "uniqueItems"),
    *("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems"),
}


def test_every_schema_key_uses_only_schema_keywords():
    stray = {shared_config.dotted(p): sorted(set(sub) - KEYWORDS) for p, sub in _leaves(SCHEMA)}
    assert {k: v for k, v in stray.items() if v} == {}


def test_config_yaml_names_every_section_key_and_no_unknown_one():
    assert shared_config.unknown_keys(CONFIG, SCHEMA) == []
    absent = []
    for path, _ in _leaves(SCHEMA):
        if "experiments" in path:
            continue
        node = CONFIG
        for key in path:
            if not isinstance(node, dict) or key not in node:
                absent.append(shared_config.dotted(path))
                break
            node = node[key]
    assert absent == []


def test_unknown_keys_everywhere_with_suggestions():
    config = {
        "traning": {},
        "features": {"n_mel": 64},
        "split": {"fractions": {"vall": 0.1}},
        "experiments": {"x": {"modle": "small", "training": {"epoch": 3, "seeds": 2}}},
        "evaluation": {"split": ["test"]},
    }
    found = {
        (shared_config.dotted(p), k, shared_config.closest(k, v))
        for p, k, v in shared_config.unknown_keys(config, SCHEMA)
    }
    assert found == {
        ("", "traning", "training"),
        ("features", "n_mel", "n_mels"),
        ("split.fractions", "vall", "val"),
        ("experiments.x", "modle", "model"),
        ("experiments.x.training", "epoch", "epochs"),
        # seeds is a training key, but a workflow setting: not per experiment
        ("experiments.x.training", "seeds", None),
        ("evaluation", "split", "splits"),
    }


def test_feature_params_reject_unknown_keys():
    with pytest.raises(
        shared_config.ConfigError, match="'n_mel' in features; did you mean 'n_mels'"
    ):
        FeatureParams.from_dict({"n_mel": 64})
    assert FeatureParams.from_dict({"n_mels": 64}).n_mels == 64


def test_reject_unknown_lists_each_key():
    with pytest.raises(shared_config.ConfigError) as err:
        shared_config.reject_unknown(
            ["epoch", "zzz", "batch_size"], ["epochs", "batch_size"], "training"
        )
    lines = str(err.value).splitlines()
    assert lines == [
        "unknown key 'epoch' in training; did you mean 'epochs'?",
        "unknown key 'zzz' in training; valid keys: batch_size, epochs",
    ]


def test_numeric_text_is_coerced_where_the_schema_wants_numbers():
    config = {
        "results": "123",
        "split": {"fractions": {"train": "0.7", "val": "0.15", "test": "0.15"}, "json": "null"},
        "features": {"fmax": "null", "n_mels": "64", "top_db": "80"},
        "training": {"seeds": ["0", "1"], "mixed_precision": "false", "epochs": "x"},
        "dataset": {"path": "001"},
    }
    shared_config.coerce_text(config, SCHEMA)
    assert config["results"] == "123" and config["dataset"]["path"] == "001"
    assert config["split"]["fractions"] == {"train": 0.7, "val": 0.15, "test": 0.15}
    assert config["split"]["json"] is None
    assert config["features"] == {"fmax": None, "n_mels": 64, "top_db": 80.0}
    assert config["training"]["seeds"] == [0, 1]
    assert config["training"]["mixed_precision"] is False
    assert config["training"]["epochs"] == "x"  # left for the schema to report


def test_a_number_beside_a_named_value_is_coerced():
    # tracks_per_job: an integer or "auto"; any other text is left for the schema.
    for section in ("data", "embedding"):
        for given, want in (("15", 15), ("auto", "auto"), ("some", "some")):
            config = {section: {"tracks_per_job": given}}
            shared_config.coerce_text(config, SCHEMA)
            assert config[section]["tracks_per_job"] == want


def test_experiment_defaults_filled():
    config = {"experiments": {"a": {"model": "small_30s", "input": "clip"}}}
    shared_config.fill_entry_defaults(config, SCHEMA)
    assert config["experiments"]["a"] == {
        "model": "small_30s",
        "input": "clip",
        "enabled": True,
        "trainable": "head",
        "head_from": None,
        "training": {},
    }


def _checked(**sections):
    config = {
        "split": {"method": "stratified", "fractions": {"train": 0.8, "val": 0.1, "test": 0.1}},
        "experiments": {"e": {"input": "snippets", "model": "small", "training": {}}},
        "training": {"seeds": [0, 1]},
        "dataset": {"source": "synthetic"},
    }
    config.update(sections)
    return {
        shared_config.dotted(p): m
        for p, m in configcheck.cross_field_errors(config, SCHEMA, PRESETS)
    }


def test_cross_field_checks(tmp_path):
    assert _checked() == {}
    assert (
        "sum to 1, got 0.7"
        in _checked(split={"fractions": {"train": 0.5, "val": 0.1, "test": 0.1}})["split.fractions"]
    )
    lists = {"train": str(tmp_path / "train.txt"), "val": None, "test": None}
    errors = _checked(split={"method": "lists", "lists": lists})
    assert "file not found" in errors["split.lists.train"]
    assert "not set" in errors["split.lists.val"]
    assert "split.fractions" not in _checked(split={"method": "lists", "fractions": {"train": 2}})
    assert (
        "does not read it"
        in _checked(split={"method": "stratified", "groups": "g.txt"})["split.groups"]
    )
    errors = _checked(experiments={"e": {"input": "snippets", "model": "artcle", "training": {}}})
    assert "did you mean 'article'" in errors["experiments.e.model"]
    errors = _checked(
        experiments={"e": {"input": "snippets", "model": "small_30s", "training": {}}}
    )
    assert "shaped for 'clip'" in errors["experiments.e.input"]
    errors = _checked(
        experiments={"e": {"input": "snippets", "model": "small", "training": {"epochs": 0}}}
    )
    assert "minimum" in errors["experiments.e.training.epochs"]
    assert "unique" in _checked(training={"seeds": [0, 0]})["training.seeds"]


def test_where_given_names_the_last_source():
    sources = [("config.yaml", {"training": {"epochs": 1}}), ("--config", {"training": {"x": 1}})]
    assert shared_config.where_given(("training", "epochs"), sources) == "config.yaml"
    assert shared_config.where_given(("training", "x"), sources) == "--config"
    assert shared_config.where_given(("training", "y"), sources) == "the defaults"


# Through Snakemake: each mistake stops the run before any job ----------------


def snakemake(tmp_path, *config, configfile=None, check=False):
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", str(TINY)]
    if configfile:
        cmd += ["--configfile", str(configfile)]
    cmd += ["--config", f"results={results}", *config]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, out
    return proc.returncode, out, results


def config_file(tmp_path, text):
    path = tmp_path / "mistake.yaml"
    path.write_text(text)
    return path


MISTAKES = {
    "top-level": (
        ["traning={epochs: 1}"],
        "'traning' in the top level of the config (--config); did you mean 'training'",
    ),
    "nested": (["training={epocs: 1}"], "'epocs' in training (--config); did you mean 'epochs'"),
    "per-experiment": (
        ["experiments={snippets_3s: {training: {epoch: 3}}}"],
        "'epoch' in experiments.snippets_3s.training (--config); did you mean 'epochs'",
    ),
    "fractions-sum": (
        ["split={fractions: {train: 0.5}}"],
        "split.fractions (--config): split fractions must sum to 1, got 0.7",
    ),
    "fraction-key": (
        ["split={fractions: {vall: 0.1}}"],
        "'vall' in split.fractions (--config); did you mean 'val'",
    ),
    "lists-missing": (
        ["split={method: lists}"],
        "split.lists.train (config.yaml): split.method is 'lists'",
    ),
    "json-file": (
        ["split={method: json, json: /no/such.json}"],
        "split.json (--config): file not found: /no/such.json",
    ),
    "groups-without-method": (
        ["split={groups: groups.txt}"],
        "split.groups (--config): is set but split.method is 'stratified'",
    ),
    "preset": (["experiments={snippets_3s: {model: smal}}"], "did you mean 'small'"),
    "preset-input": (
        ["experiments={snippets_3s: {model: article_30s}}"],
        "experiments.snippets_3s.input",
    ),
    "seeds": (["training={seeds: [1, 1]}"], "training.seeds (--config): seeds must be unique"),
    "evaluation": (["evaluation={splits: [tset]}"], "'tset' is not one of"),
}


# The two headline mistakes run in the quick suite, the rest with the slow tests.
QUICK = ("top-level", "nested")


@pytest.mark.parametrize(
    "name", [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow) for n in sorted(MISTAKES)]
)
def test_mistake_stops_before_any_job(tmp_path, name):
    config, message = MISTAKES[name]
    rc, out, results = snakemake(tmp_path, *config)
    assert rc != 0
    assert message in out, out
    assert not results.exists()


def test_mistake_in_a_config_file_names_the_file(tmp_path):
    path = config_file(tmp_path, "features:\n  n_mel: 64\n")
    rc, out, results = snakemake(tmp_path, configfile=path)
    assert rc != 0 and not results.exists()
    assert f"'n_mel' in features ({path}); did you mean 'n_mels'" in out


def test_one_label_folder_is_refused(tmp_path, tone):
    for i in range(3):
        tone(f"music/rock/r{i}.wav", duration_s=1.0)
    rc, out, results = snakemake(tmp_path, f"dataset={{source: folder, path: {tmp_path}/music}}")
    assert rc != 0 and not results.exists()
    assert "at least two labels" in out and "rock" in out


def test_numbers_as_text_on_the_command_line_run(tmp_path):
    rc, out, _ = snakemake(
        tmp_path,
        "split={fractions: {train: 0.7, val: 0.15, test: 0.15}}",
        "training={epochs: 2, seeds: [0, 1]}",
        "-n",
    )
    assert rc == 0, out
    assert "Error" not in out


@pytest.mark.parametrize("preset", sorted((REPO / "presets").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_presets_use_known_keys_and_values(preset):
    """Every preset under presets/ passes the strict check; its training keys build."""
    from divconq.train.run import TrainConfig

    config = yaml.safe_load(preset.read_text())
    assert shared_config.unknown_keys(config, SCHEMA) == []
    training = {**CONFIG["training"], **config.get("training", {})}
    for exp in (config.get("experiments") or {}).values():
        merged = experiment_training(training, exp.get("model", "small"), exp.get("training"))
        keys = {k: v for k, v in merged.items() if k not in shared_config.TRAINING_RESOURCE_KEYS}
        TrainConfig.from_dict(keys)
        assert exp.get("model", "small") in PRESETS
