"""Aggregation of the per-seed evaluations into the accuracy tables.

Input: the ``metrics.json`` of every ``results/eval/<experiment>/seed<N>/`` (see
:mod:`divconq.evaluate.evaluation`). Output:

``accuracy_per_seed.csv``
    Long table, one row per experiment x seed x level x split: ``experiment``,
    ``seed``, ``input``, ``level``, ``split``, ``accuracy``, ``macro_f1``, ``n``
    (samples behind the number: snippets, tracks).
``accuracy.csv``
    One row per experiment x level x split: ``n_seeds``, ``mean``, ``sd``
    (ddof 1), ``min``, ``max``, ``ci_low`` / ``ci_high`` (95 % t interval of the
    mean). Rows with ``level`` = :data:`DIFF_LEVEL` are the per-seed paired
    difference track (sum) - snippet, with also ``t``, ``p_ttest`` (paired
    t-test), ``wilcoxon``, ``p_wilcoxon`` (exact Wilcoxon signed-rank, two-sided)
    and a ``note``. Accuracies are fractions in [0, 1].
``accuracy.md`` (and ``accuracy.html``, the same as a web page for the report)
    The same in percent, for humans.

Levels: ``snippet`` (pooled training-style snippets, the article's snippet
level), ``window_per_track`` (all windows' accuracy averaged per track),
``track_<rule>`` for each track rule of :mod:`divconq.evaluate.rules` (``sum`` is the
article's), and ``track_clip`` for whole-clip models.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from divconq.evaluate import rules
from divconq.shared.fileio import number
from divconq.shared.inputs import WHOLE_TRACK_INPUTS

#: Level name of the paired difference rows.
DIFF_LEVEL = "track_sum-snippet"
#: What each level means, for the markdown table and the report, in table order:
#: the window levels, then one track level per rule of :mod:`divconq.evaluate.rules`.
LEVEL_LABELS = {
    "snippet": "snippet (training-style snippets pooled)",
    "window_per_track": "window, accuracy averaged per track (all 1-s-hop windows)",
    **{f"track_{r.name}": r.label for r in (*rules.RULES.values(), rules.CLIP)},
    DIFF_LEVEL: "paired difference track (sum) - snippet",
}
#: Level names, in table order.
LEVELS = tuple(level for level in LEVEL_LABELS if level != DIFF_LEVEL)
SPLITS = ("val", "test")
#: Published reference: track level beats snippet level by this many points (mean of 10 runs).
REFERENCE_GAIN_POINTS = 12.2

COLUMNS = [
    "experiment",
    "input",
    "level",
    "split",
    "n_seeds",
    "mean",
    "sd",
    "min",
    "max",
    "ci_low",
    "ci_high",
    "t",
    "p_ttest",
    "wilcoxon",
    "p_wilcoxon",
    "note",
]


def per_seed_rows(metrics: dict) -> list[dict]:
    """Long rows (level x split) of one ``metrics.json`` dict."""
    rows = []
    base = {
        "experiment": metrics.get("experiment"),
        "seed": metrics.get("seed"),
        "input": metrics.get("input", "snippets"),
    }
    for split, res in metrics["splits"].items():
        levels = {}
        if base["input"] not in WHOLE_TRACK_INPUTS:
            levels["snippet"] = res["snippet"]
            levels["window_per_track"] = {
                **res["window_per_track"],
                "n": res.get("n_tracks"),
            }
        for rule, m in res["track"].items():
            levels[f"track_{rule}"] = m
        for level, m in levels.items():
            rows.append(
                {
                    **base,
                    "level": level,
                    "split": split,
                    "accuracy": number(m.get("accuracy")),
                    "macro_f1": number(m.get("macro_f1")),
                    "n": m.get("n"),
                }
            )
    return rows


def load_per_seed(metric_files) -> pd.DataFrame:
    """Long per-seed table from ``metrics.json`` files (see the module docstring)."""
    rows = []
    for path in metric_files:
        with open(path) as f:
            metrics = json.load(f)
        if metrics.get("experiment") is None or metrics.get("seed") is None:
            # Fall back on the directory layout eval/<experiment>/seed<N>/metrics.json.
            parent = Path(path).parent
            metrics.setdefault("experiment", parent.parent.name)
            metrics["experiment"] = metrics["experiment"] or parent.parent.name
            if metrics.get("seed") is None:
                metrics["seed"] = int(parent.name.removeprefix("seed"))
        rows.extend(per_seed_rows(metrics))
    cols = ["experiment", "seed", "input", "level", "split", "accuracy", "macro_f1", "n"]
    df = pd.DataFrame(rows, columns=cols)
    return _sort(df, ["seed"])


def _sort(df: pd.DataFrame, extra=()) -> pd.DataFrame:
    order = {lvl: i for i, lvl in enumerate((*LEVELS, DIFF_LEVEL))}
    split_order = {s: i for i, s in enumerate(SPLITS)}
    key = {
        "level": lambda s: s.map(lambda v: order.get(v, len(order))),
        "split": lambda s: s.map(lambda v: split_order.get(v, len(split_order))),
    }
    experiments = list(dict.fromkeys(df["experiment"]))
    key["experiment"] = lambda s: s.map(experiments.index)
    by = ["experiment", "level", "split", *extra]
    return df.sort_values(by, key=lambda s: key[s.name](s) if s.name in key else s).reset_index(
        drop=True
    )


def t_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided t confidence interval of the mean; NaN with fewer than 2 values."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n < 2:
        return math.nan, math.nan
    mean = float(x.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return mean - half, mean + half


def describe(values) -> dict:
    """Summary of per-seed values (NaN ignored).

    Returns ``n_seeds``, ``mean``, ``sd`` (ddof 1), ``min``, ``max``, ``ci_low``, ``ci_high``.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    n = len(x)
    lo, hi = t_interval(x)
    return {
        "n_seeds": n,
        "mean": float(x.mean()) if n else math.nan,
        "sd": float(x.std(ddof=1)) if n > 1 else math.nan,
        "min": float(x.min()) if n else math.nan,
        "max": float(x.max()) if n else math.nan,
        "ci_low": lo,
        "ci_high": hi,
    }


def paired_test(a, b, decimals: int = 12) -> dict:
    """Paired comparison of ``a - b`` (one value per seed).

    Differences are rounded to ``decimals`` so that floating-point noise does not
    hide zeros and ties from the signed-rank test.

    Returns
    -------
    dict
        :func:`describe` of the differences, plus ``t`` and ``p_ttest``
        (``scipy.stats.ttest_rel``), ``wilcoxon`` and ``p_wilcoxon``
        (``scipy.stats.wilcoxon(method="exact")``, zero differences dropped) and
        ``note`` (why a number is NaN). With fewer than 2 pairs every test is NaN.
    """
    from scipy import stats

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    d = np.round(a - b, decimals)
    out = {**describe(d), "t": math.nan, "p_ttest": math.nan}
    out.update(wilcoxon=math.nan, p_wilcoxon=math.nan, note="")
    notes = []
    n = len(d)
    if n < 2:
        notes.append(f"{n} paired seed(s): no spread, no test")
    elif np.all(d == d[0]):
        notes.append("all differences equal: t-test undefined")
    else:
        res = stats.ttest_rel(a, b)
        out.update(t=float(res.statistic), p_ttest=float(res.pvalue))
    if n >= 2:
        if np.all(d == 0):
            notes.append("all differences zero: Wilcoxon undefined")
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = stats.wilcoxon(d, method="exact")
            out.update(wilcoxon=float(res.statistic), p_wilcoxon=float(res.pvalue))
            if np.count_nonzero(d) < 6:
                notes.append(
                    f"{np.count_nonzero(d)} non-zero differences: smallest possible "
                    f"Wilcoxon p is {2 / 2 ** np.count_nonzero(d):.3g}"
                )
            if len(np.unique(np.abs(d[d != 0]))) < np.count_nonzero(d):
                notes.append("tied differences: exact Wilcoxon p is approximate")
    out["note"] = "; ".join(notes)
    return out


def summarize(per_seed: pd.DataFrame, diff=("track_sum", "snippet")) -> pd.DataFrame:
    """The ``accuracy.csv`` table from the long per-seed table.

    Parameters
    ----------
    per_seed : pd.DataFrame
        From :func:`load_per_seed`.
    diff : (str, str)
        Levels whose per-seed paired difference ``diff[0] - diff[1]`` is tested.

    Returns
    -------
    pd.DataFrame
        Columns :data:`COLUMNS`.
    """
    rows = []
    for (exp, level, split), g in per_seed.groupby(["experiment", "level", "split"], sort=False):
        rows.append(
            {
                "experiment": exp,
                "input": g["input"].iloc[0],
                "level": level,
                "split": split,
                **describe(g["accuracy"]),
            }
        )
    for (exp, split), g in per_seed.groupby(["experiment", "split"], sort=False):
        wide = g.pivot_table(index="seed", columns="level", values="accuracy", dropna=False)
        if diff[0] not in wide or diff[1] not in wide:
            continue
        level = DIFF_LEVEL if tuple(diff) == ("track_sum", "snippet") else f"{diff[0]}-{diff[1]}"
        rows.append(
            {
                "experiment": exp,
                "input": g["input"].iloc[0],
                "level": level,
                "split": split,
                **paired_test(wide[diff[0]], wide[diff[1]]),
            }
        )
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["note"] = df["note"].fillna("")
    return _sort(df) if len(df) else df


# ---------------------------------------------------------------------------
# Tables for humans: one display DataFrame per table, rendered as Markdown and HTML


def _pct(x, signed=False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def paired_text(d: dict) -> str:
    """A :func:`paired_test` result as ``+6.1 (+2.0 to +10.1)``: the mean difference and
    its 95 % CI in percentage points (the benchmark scripts' Markdown tables)."""
    return f"{_pct(d['mean'], True)} ({_pct(d['ci_low'], True)} to {_pct(d['ci_high'], True)})"


def _p(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NaN"
    return f"{x:.3g}"


def accuracy_display(table: pd.DataFrame) -> pd.DataFrame:
    """The accuracy rows of :func:`summarize`'s table as shown: one row per experiment
    and level, per split ``mean ± SD`` and ``[min, max]`` in percent (strings;
    levels as Markdown code spans)."""
    acc = table[table["level"] != DIFF_LEVEL]
    splits = [s for s in SPLITS if s in set(acc["split"])] + sorted(set(acc["split"]) - set(SPLITS))
    columns = ["experiment", "level", "n"]
    for s in splits:
        columns += [f"{s} mean ± SD", f"{s} [min, max]"]
    rows = []
    for (exp, level), g in acc.groupby(["experiment", "level"], sort=False):
        by = g.set_index("split")
        ns = sorted({int(n) for n in g["n_seeds"]})
        cells = [str(exp), f"`{level}`", "/".join(map(str, ns))]
        for s in splits:
            if s in by.index:
                r = by.loc[s]
                sd = "" if math.isnan(r["sd"]) else f" ± {_pct(r['sd'])}"
                cells += [f"{_pct(r['mean'])}{sd}", f"[{_pct(r['min'])}, {_pct(r['max'])}]"]
            else:
                cells += ["–", "–"]
        rows.append(cells)
    return pd.DataFrame(rows, columns=columns)


def difference_display(table: pd.DataFrame) -> pd.DataFrame:
    """The paired difference rows of :func:`summarize`'s table as shown (percentage
    points, p-values to 3 significant digits; strings)."""
    rows = []
    for _, r in table[table["level"] == DIFF_LEVEL].iterrows():
        ci = (
            "–"
            if math.isnan(r["ci_low"])
            else f"[{_pct(r['ci_low'], True)}, {_pct(r['ci_high'], True)}]"
        )
        rows.append(
            [str(r["experiment"]), str(r["split"]), str(int(r["n_seeds"])), _pct(r["mean"], True)]
            + [ci, _p(r["p_ttest"]), _p(r["p_wilcoxon"]), str(r["note"] or "")]
        )
    columns = ["experiment", "split", "n", "mean", "95 % CI", "t-test p", "Wilcoxon p", "note"]
    return pd.DataFrame(rows, columns=columns)


def _document(table: pd.DataFrame) -> list[tuple[str, object]]:
    """The accuracy page as blocks ``(kind, content)``: ``h1``/``h2``/``p`` with a
    string, ``ul`` with a list of strings, ``table`` with a display DataFrame.
    Text uses Markdown code spans (`` `x` ``)."""
    diff = difference_display(table)
    levels = [f"`{k}`: {v}" for k, v in LEVEL_LABELS.items() if k != DIFF_LEVEL]
    return [
        ("h1", "Accuracy over seeds"),
        ("p", "Accuracy in %: mean ± SD over seeds, [min, max], n = number of seeds. Levels:"),
        ("ul", levels),
        ("table", accuracy_display(table)),
        ("h2", "Paired difference track (sum) − snippet, per seed"),
        (
            "p",
            "Percentage points; 95 % CI: t interval of the mean difference; p: two-sided "
            "paired t-test and exact Wilcoxon signed-rank test over seeds. "
            f"Published reference: +{REFERENCE_GAIN_POINTS} points (mean of 10 runs).",
        ),
        ("table", diff) if len(diff) else ("p", "No experiment has both snippet and track levels."),
    ]


#: Display columns aligned left (the others hold numbers and align right).
_TEXT_COLUMNS = ("experiment", "level", "split", "note")


def to_markdown(table: pd.DataFrame) -> str:
    """Human-readable Markdown of :func:`summarize`'s table (percent, 1 decimal)."""
    parts = []
    for kind, content in _document(table):
        if kind == "table":
            # Cells are shown as formatted: no number parsing ("+5.0" stays "+5.0").
            align = ["left" if c in _TEXT_COLUMNS else "right" for c in content.columns]
            text = content.to_markdown(
                index=False, tablefmt="pipe", disable_numparse=True, colalign=align
            )
        elif kind == "ul":
            text = "\n".join(f"- {item}" for item in content)
        else:
            text = {"h1": "# ", "h2": "## ", "p": ""}[kind] + content
        parts.append(text)
    return "\n\n".join(parts) + "\n"


def _inline_html(text: str) -> str:
    """Escaped text with Markdown code spans as ``<code>``."""
    from html import escape

    text = escape(text)
    while text.count("`") >= 2:
        text = text.replace("`", "<code>", 1).replace("`", "</code>", 1)
    return text


def to_html(table: pd.DataFrame) -> str:
    """Standalone HTML page of the tables of :func:`to_markdown` (for the Snakemake report)."""
    out = []
    for kind, content in _document(table):
        if kind == "table":
            formatters = dict.fromkeys(content.columns, _inline_html)
            html = content.to_html(index=False, escape=False, border=0, formatters=formatters)
            out.append(html)
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in content) + "</ul>")
        else:
            out.append(f"<{kind}>{_inline_html(content)}</{kind}>")
    style = (
        "body{font-family:sans-serif;font-size:14px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
        "td{text-align:right}td:first-child,td:nth-child(2){text-align:left}"
    )
    body = "\n".join(out)
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Accuracy over seeds</title>'
        f"<style>{style}</style></head><body>\n{body}\n</body></html>\n"
    )


def aggregate(metric_files, out_csv, out_md, out_per_seed=None, out_html=None) -> pd.DataFrame:
    """Write the tables from ``metrics.json`` files.

    Parameters
    ----------
    metric_files : list of str or Path
    out_csv, out_md : str or Path
        ``accuracy.csv`` and ``accuracy.md``.
    out_per_seed, out_html : str or Path, optional
        ``accuracy_per_seed.csv`` and ``accuracy.html`` (the markdown as HTML).

    Returns
    -------
    pd.DataFrame
        The ``accuracy.csv`` table.
    """
    per_seed = load_per_seed(metric_files)
    table = summarize(per_seed)
    for path in (out_csv, out_md, out_per_seed, out_html):
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False)
    Path(out_md).write_text(to_markdown(table))
    if out_per_seed is not None:
        per_seed.to_csv(out_per_seed, index=False)
    if out_html is not None:
        Path(out_html).write_text(to_html(table))
    return table
