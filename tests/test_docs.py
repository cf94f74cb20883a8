"""The documentation's generated pages: every config key is on the reference page.

Fast (no MkDocs build, no TensorFlow): imports only the hook module, docs/hooks.py, by
path. `make docs` runs the full build in strict mode.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def load_hooks():
    spec = importlib.util.spec_from_file_location("divconq_docs_hooks", REPO / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = load_hooks()


def all_keys(node: dict, prefix: str = "") -> list[str]:
    """Every key of a JSON schema, walked here independently of the hook."""
    keys = []
    for name, child in (node.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        keys.append(path)
        keys += all_keys(child, path)
        extra = child.get("additionalProperties")
        if isinstance(extra, dict):
            keys += all_keys(extra, f"{path}.<name>")
        items = child.get("items")
        if isinstance(items, dict):
            keys += all_keys(items, f"{path}[]")
    return keys


def test_every_schema_key_is_on_the_configuration_page():
    schema = hooks.load_schema()
    page = hooks.config_reference(schema)
    keys = all_keys(schema)
    assert "experiments.<name>.model" in keys  # the per-experiment keys are walked
    assert "experiments.<name>.embedding.layer" in keys
    assert "dataset.synthetic.difficulty" in keys
    missing = [k for k in keys if f"| `{k}` |" not in page]
    assert not missing, f"keys missing from the configuration page: {missing}"


def test_the_page_shows_types_defaults_and_descriptions():
    page = hooks.config_reference(hooks.load_schema())
    row = next(line for line in page.splitlines() if line.startswith("| `training.epochs` |"))
    assert "integer" in row and "`10`" in row and "most epochs" in row


def test_a_key_without_description_fails():
    schema = copy.deepcopy(hooks.load_schema())
    entry = schema["properties"]["experiments"]["additionalProperties"]["properties"]
    entry["new_key"] = {"type": "integer", "default": 1}
    with pytest.raises(hooks.SchemaDocError, match=r"experiments\.<name>\.new_key"):
        hooks.config_reference(schema)


def test_results_placeholder_renders_a_table(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "accuracy.csv").write_text(
        "# source: results/run/tables/accuracy.csv\n# snapshot: 2026-01-01\n"
        "experiment,level,split,n_seeds,mean,sd\n"
        "a,track_sum,test,10,0.639,0.052\n"
        "a,window_per_track,test,10,0.472,0.019\n"
    )
    text = hooks.render_results(
        "before\n<!-- results-table run/accuracy.csv levels=window_per_track,track_sum -->\n",
        tmp_path,
    )
    assert "| a | 10 | 47.2 ± 1.9 | 63.9 ± 5.2 |" in text
    assert "results/run/tables/accuracy.csv" in text and "2026-01-01" in text
    with pytest.raises(hooks.ResultsTableError, match="'b'"):
        hooks.render_results("<!-- results-table run/accuracy.csv experiments=b -->", tmp_path)


def test_every_module_is_on_an_api_page():
    root = Path(__file__).resolve().parents[1]
    package = root / "src" / "divconq"
    modules = set()
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] in ("__init__", "__main__") and len(parts) > 2:
            continue  # a stage's docstring-only __init__, or `python -m` glue
        modules.add(".".join(p for p in parts if p != "__init__"))
    modules.discard("divconq")  # the package itself holds only __version__
    pages = "\n".join(p.read_text() for p in (root / "docs" / "api").glob("*.md"))
    documented = {line.split()[1] for line in pages.splitlines() if line.startswith("::: ")}
    assert sorted(modules - documented) == []
