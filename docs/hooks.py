"""MkDocs hook: generated pages and tables for the divconq documentation.

Two kinds of placeholder, written as HTML comments so that GitHub shows nothing
for them:

``<!-- config-reference -->``
    The configuration reference, generated from
    ``workflow/schemas/config.schema.yaml``: every key with its type, default and
    description. A key without a description stops the build
    (:class:`SchemaDocError` names the key).

``<!-- results-table FILE key=value ... -->``
    A table rendered from a CSV snapshot under ``docs/results/`` (written by
    ``docs/scripts/snapshot_results.py``, ``make docs-results``), so a rerun of
    the experiments updates the pages. Options: ``kind`` (``levels``, the default:
    experiments x levels; ``paired``: the track (sum) - snippet rows; ``folds``:
    one level per fold), ``split`` (default ``test``), ``experiments`` and
    ``levels`` (comma-separated, in the order shown), ``level`` (kind ``folds``).

The module imports only the standard library and PyYAML, so the tests import it
without MkDocs (``tests/test_docs.py``).
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import yaml

DOCS_DIR = Path(__file__).resolve().parent
REPO_DIR = DOCS_DIR.parent
SCHEMA_PATH = REPO_DIR / "workflow" / "schemas" / "config.schema.yaml"
RESULTS_DIR = DOCS_DIR / "results"

CONFIG_MARKER = "<!-- config-reference -->"
RESULTS_MARKER = re.compile(r"<!--\s*results-table\s+(?P<args>[^>]*?)\s*-->")


class SchemaDocError(ValueError):
    """The schema cannot be documented (e.g. a key without a description)."""


class ResultsTableError(ValueError):
    """A results-table placeholder names a missing file, experiment or level."""


# ----------------------------------------------------------------------------
# Configuration reference
# ----------------------------------------------------------------------------


def _text(value: str) -> str:
    """Schema text as one Markdown table cell (no pipes, tags or emphasis)."""
    text = " ".join(str(value).split())
    for old, new in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        text = text.replace(old, new)
    return text.replace("_", "\\_").replace("*", "\\*")


def _code(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return "`" + text.replace("|", "\\|") + "`"


def _type_of(node: dict) -> str:
    """Type, allowed values and bounds of a schema node, in words."""
    if "oneOf" in node or "anyOf" in node:
        return " or ".join(_type_of(sub) for sub in node.get("oneOf", node.get("anyOf")))
    kind = node.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array" and isinstance(node.get("items"), dict):
        kind = f"list of {_type_of(node['items'])}"
    parts = [kind]
    if "enum" in node:
        parts.append("one of " + ", ".join(_code(v) for v in node["enum"]))
    bounds = (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
        ("minItems", "items >="),
    )
    for key, sign in bounds:
        if key in node:
            parts.append(f"{sign} {node[key]}")
    if "pattern" in node:
        parts.append(f"matching {_code(node['pattern'])}")
    return ", ".join(parts)


def _type_cell(node: dict) -> str:
    return _type_of(node).replace("|", "\\|")


def _default_of(node: dict) -> str:
    if "default" not in node:
        return "-"
    default = node["default"]
    if default == {} and node.get("type") == "object":
        return "(its keys' defaults)"
    return _code(default)


def schema_keys(schema: dict, prefix: str = ""):
    """Every key of ``schema``, depth first: ``(dotted path, node)``.

    Properties of objects, the entries of a free-form mapping
    (``additionalProperties``, written ``<name>``) and the items of arrays of
    objects (``[]``) are all walked.
    """
    for name, node in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield path, node
        yield from _children(node, path)


def _children(node: dict, path: str):
    if not isinstance(node, dict):
        return
    if node.get("properties"):
        yield from schema_keys(node, path)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and extra.get("properties"):
        yield from schema_keys(extra, f"{path}.<name>")
    items = node.get("items")
    if isinstance(items, dict) and items.get("properties"):
        yield from schema_keys(items, f"{path}[]")


def config_reference(schema: dict) -> str:
    """Markdown reference of every key of the workflow config schema.

    One section per top-level key, a table of that key and all keys below it
    (dotted paths). Raises :class:`SchemaDocError` naming the first key that has no
    description.
    """
    out = []
    for top, top_node in (schema.get("properties") or {}).items():
        rows = [(top, top_node), *_children(top_node, top)]
        for path, node in rows:
            if not isinstance(node, dict) or not str(node.get("description", "")).strip():
                raise SchemaDocError(
                    f"config schema {SCHEMA_PATH.name}: key '{path}' has no description; "
                    "every key must say what it does"
                )
        out.append(f"### `{top}`\n")
        out.append(_text(top_node["description"]) + "\n")
        if top_node.get("additionalProperties") and not top_node.get("properties"):
            out.append(
                f"Each entry `{top}.<name>` is one of your own; the default is\n\n"
                f"```yaml\n{yaml.safe_dump({top: top_node.get('default')}, sort_keys=False)}```\n"
            )
        out.append("| key | type | default | description |")
        out.append("|---|---|---|---|")
        for path, node in rows:
            out.append(
                f"| `{path}` | {_type_cell(node)} | {_default_of(node)} "
                f"| {_text(node['description'])} |"
            )
        out.append("")
    required = schema.get("required")
    if required:
        out.append(
            "Required at the top level (the embedded `config.yaml` sets them): "
            + ", ".join(_code(k) for k in required)
            + "."
        )
    return "\n".join(out) + "\n"


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


# ----------------------------------------------------------------------------
# Result tables
# ----------------------------------------------------------------------------

LEVEL_NAMES = {
    "snippet": "snippet",
    "window_per_track": "window, per-track mean",
    "track_sum": "track sum",
    "track_mean_log": "track mean_log",
    "track_vote": "track vote",
    "track_max": "track max",
    "track_clip": "one input per track",
}


def read_snapshot(name: str, results_dir: Path = RESULTS_DIR) -> tuple[dict, list[dict]]:
    """``(header, rows)`` of a snapshot CSV; header lines are ``# key: value``."""
    path = results_dir / name
    if not path.is_file():
        raise ResultsTableError(
            f"results table: {path} does not exist; run `make docs-results` "
            "(docs/scripts/snapshot_results.py) to write it"
        )
    header, lines = {}, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                key, _, value = line[1:].partition(":")
                header[key.strip()] = value.strip()
            elif line.strip():
                lines.append(line)
    return header, list(csv.DictReader(lines))


def _num(row: dict, key: str) -> float:
    value = row.get(key, "")
    return float(value) if value not in ("", None) else math.nan


def _pct(value: float, sign: bool = False) -> str:
    if math.isnan(value):
        return ""
    return f"{100 * value:+.1f}" if sign else f"{100 * value:.1f}"


def _p(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3g}"


def _parse_args(text: str) -> tuple[str, dict]:
    parts = text.split()
    if not parts:
        raise ResultsTableError("results table: the placeholder names no file")
    options = {}
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        if not eq:
            raise ResultsTableError(f"results table {parts[0]}: option {part!r} is not key=value")
        options[key] = value
    return parts[0], options


def results_table(name: str, results_dir: Path = RESULTS_DIR, **options: str) -> str:
    """Markdown table of one snapshot (see the module docstring for the options)."""
    header, rows = read_snapshot(name, results_dir)
    kind = options.get("kind", "levels")
    split = options.get("split", "test")
    if rows and "fold" in rows[0] and kind != "folds":
        rows = [r for r in rows if r["fold"] == "pooled"]
    rows = [r for r in rows if r["split"] == split]
    present = list(dict.fromkeys(r["experiment"] for r in rows))
    experiments = options["experiments"].split(",") if "experiments" in options else present
    for exp in experiments:
        if exp not in present:
            raise ResultsTableError(
                f"results table {name}: no experiment {exp!r} on split {split!r} "
                f"(it holds {', '.join(present) or 'nothing'})"
            )
    index = {(r["experiment"], r["level"], r.get("fold", "")): r for r in rows}

    if kind == "levels":
        all_levels = [lv for lv in LEVEL_NAMES if any(r["level"] == lv for r in rows)]
        levels = options["levels"].split(",") if "levels" in options else all_levels
        out = [
            "| experiment | seeds | " + " | ".join(LEVEL_NAMES.get(lv, lv) for lv in levels) + " |",
            "|---|---:|" + "---:|" * len(levels),
        ]
        for exp in experiments:
            cells, seeds = [], ""
            for lv in levels:
                row = index.get((exp, lv, "pooled" if "fold" in rows[0] else ""))
                if row is None:
                    cells.append("")
                    continue
                seeds = row["n_seeds"]
                cells.append(f"{_pct(_num(row, 'mean'))} ± {_pct(_num(row, 'sd'))}")
            out.append(f"| {exp} | {seeds} | " + " | ".join(cells) + " |")
    elif kind == "paired":
        out = [
            "| experiment | runs | track sum - snippet (points) | 95 % CI "
            "| t-test p | Wilcoxon p |",
            "|---|---:|---:|---|---:|---:|",
        ]
        fold = "pooled" if "fold" in rows[0] else ""
        for exp in experiments:
            row = index.get((exp, "track_sum-snippet", fold))
            if row is None:
                raise ResultsTableError(f"results table {name}: no paired row for {exp!r}")
            out.append(
                f"| {exp} | {row['n_seeds']} | {_pct(_num(row, 'mean'), True)} "
                f"| [{_pct(_num(row, 'ci_low'), True)}, {_pct(_num(row, 'ci_high'), True)}] "
                f"| {_p(_num(row, 'p_ttest'))} | {_p(_num(row, 'p_wilcoxon'))} |"
            )
    elif kind == "folds":
        level = options.get("level", "track_sum")
        folds = sorted({r["fold"] for r in rows if r["fold"] != "pooled"}, key=int)
        out = [
            "| experiment | pooled | " + " | ".join(f"fold {k}" for k in folds) + " |",
            "|---|---:|" + "---:|" * len(folds),
        ]
        for exp in experiments:
            cells = []
            for fold in ["pooled", *folds]:
                row = index.get((exp, level, fold))
                cells.append(
                    "" if row is None else f"{_pct(_num(row, 'mean'))} ± {_pct(_num(row, 'sd'))}"
                )
            out.append(f"| {exp} | " + " | ".join(cells) + " |")
    else:
        raise ResultsTableError(f"results table {name}: unknown kind {kind!r}")

    source = header.get("source", "?")
    date = header.get("snapshot", "?")
    what = (
        "Paired difference per run, percentage points"
        if kind == "paired"
        else "Accuracy in %, mean ± SD over runs"
    )
    out.append("")
    out.append(
        f"*{what}; {split} split. From `{source}`, "
        f"snapshot of {date} (`make docs-results` refreshes it).*"
    )
    return "\n".join(out) + "\n"


def render_results(markdown: str, results_dir: Path = RESULTS_DIR) -> str:
    """Replace every results-table placeholder of ``markdown`` by its table."""

    def table(match: re.Match) -> str:
        name, options = _parse_args(match.group("args"))
        return results_table(name, results_dir, **options)

    return RESULTS_MARKER.sub(table, markdown)


# ----------------------------------------------------------------------------
# MkDocs entry point
# ----------------------------------------------------------------------------


def on_page_markdown(markdown: str, page=None, config=None, files=None, **kwargs) -> str:
    """Fill the placeholders of one page (nothing is written into docs/)."""
    if CONFIG_MARKER in markdown:
        markdown = markdown.replace(CONFIG_MARKER, config_reference(load_schema()))
    if "results-table" in markdown:
        markdown = render_results(markdown)
    return markdown
