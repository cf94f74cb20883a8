"""Accuracy tables of a k-fold cross-validation: per fold and pooled over folds.

The per-run evaluation is the same as for any split (:mod:`divconq.evaluate.evaluation`); only the
tables differ from :func:`divconq.evaluate.aggregate.aggregate`:

``accuracy_per_seed.csv``
    :func:`divconq.evaluate.aggregate.load_per_seed`'s long table plus ``fold``: one row per
    experiment x fold x seed x level x split.
``accuracy.csv``
    :data:`divconq.evaluate.aggregate.COLUMNS` plus ``fold``: first, per experiment, the rows pooled
    over folds (``fold`` = :data:`POOLED`: mean, SD, CI over all fold x seed runs, and the
    paired track (sum) - snippet test over them; ``n_seeds`` counts runs), then one block per
    fold (over that fold's seeds). Rows of a fold hold its own test and val tracks, so the
    pooled test rows cover every track once per seed.
``accuracy.md``, ``accuracy.html``
    The same rendered by :func:`divconq.evaluate.aggregate.to_markdown` / ``to_html``, with the
    experiment column naming the fold (``snippets_3s, fold 0``) or ``pooled``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from divconq.evaluate.aggregate import COLUMNS, load_per_seed, summarize, to_html, to_markdown

#: ``fold`` of the rows pooled over folds.
POOLED = "pooled"


def folds_of(metric_files) -> list[int] | None:
    """The fold of each ``.../fold<k>/seed<N>/metrics.json``; None when no path has a fold.

    The evaluation folders of a k-fold run are ``eval/<experiment>/fold<k>/seed<N>/``; those of
    any other split ``eval/<experiment>/seed<N>/``. A mix of both is an error.
    """
    folds = []
    for path in metric_files:
        name = Path(path).parent.parent.name
        folds.append(int(name[4:]) if re.fullmatch(r"fold\d+", name) else None)
    if all(k is None for k in folds):
        return None
    if any(k is None for k in folds):
        odd = [str(p) for p, k in zip(metric_files, folds, strict=True) if k is None]
        raise ValueError(f"metrics of k-fold and other runs mixed: {', '.join(odd[:5])}")
    return folds


def load_per_run(metric_files, folds) -> pd.DataFrame:
    """Long per-run table of a k-fold run: :func:`load_per_seed` rows plus ``fold``.

    Parameters
    ----------
    metric_files : list of str or Path
        ``metrics.json`` of every (experiment, fold, seed) run.
    folds : list of int
        The fold of each file, in the same order.

    Returns
    -------
    pandas.DataFrame
        One file's rows after another, in the order given.
    """
    if len(metric_files) != len(folds):
        raise ValueError(f"{len(metric_files)} metrics files but {len(folds)} folds")
    frames = [
        load_per_seed([f]).assign(fold=int(k)) for f, k in zip(metric_files, folds, strict=True)
    ]
    df = pd.concat(frames, ignore_index=True)
    df = df[["experiment", "fold", *[c for c in df.columns if c not in ("experiment", "fold")]]]
    return df


def summarize_folds(per_run: pd.DataFrame) -> pd.DataFrame:
    """``accuracy.csv`` of a k-fold run from :func:`load_per_run`'s table.

    Pooled rows treat every (fold, seed) as one run: the paired test pairs each run's
    track (sum) and snippet accuracy, as :func:`divconq.evaluate.aggregate.summarize` pairs seeds.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`divconq.evaluate.aggregate.COLUMNS` with ``fold`` (:data:`POOLED` or the fold
        number as text) after ``split``.
    """
    pooled = per_run.assign(seed=per_run["fold"].astype(str) + "/" + per_run["seed"].astype(str))
    blocks = []
    for exp in dict.fromkeys(per_run["experiment"]):
        blocks.append(summarize(pooled[pooled["experiment"] == exp]).assign(fold=POOLED))
        runs = per_run[per_run["experiment"] == exp]
        for k in sorted(runs["fold"].unique()):
            blocks.append(summarize(runs[runs["fold"] == k]).assign(fold=str(k)))
    columns = [*COLUMNS[:4], "fold", *COLUMNS[4:]]
    return pd.concat(blocks, ignore_index=True)[columns]


def fold_labelled(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`summarize_folds`'s table with the fold in the experiment name, for rendering."""
    named = table["experiment"].astype(str) + [
        ", pooled over folds" if f == POOLED else f", fold {f}" for f in table["fold"]
    ]
    return table.assign(experiment=named).drop(columns="fold")


def aggregate_folds(
    metric_files, out_csv, out_md, out_per_seed=None, out_html=None, folds=None
) -> pd.DataFrame:
    """Write the k-fold tables (see the module docstring) from ``metrics.json`` files.

    Parameters
    ----------
    metric_files : list of str or Path
    folds : list of int, optional
        The fold of each metrics file; default: from the paths (:func:`folds_of`).
    out_csv, out_md, out_per_seed, out_html : str or Path
        As :func:`divconq.evaluate.aggregate.aggregate`.

    Returns
    -------
    pandas.DataFrame
        The ``accuracy.csv`` table.
    """
    per_run = load_per_run(metric_files, folds_of(metric_files) if folds is None else folds)
    table = summarize_folds(per_run)
    for path in (out_csv, out_md, out_per_seed, out_html):
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False)
    n_folds = per_run["fold"].nunique()
    note = (
        f"k-fold cross-validation, {n_folds} folds: each fold's rows are over its seeds; "
        "the rows pooled over folds are over every fold x seed run (n counts runs), and so "
        "is their paired difference."
    )
    title, _, rest = to_markdown(fold_labelled(table)).partition("\n")
    Path(out_md).write_text(f"{title}\n\n{note}\n{rest}")
    if out_per_seed is not None:
        per_run.to_csv(out_per_seed, index=False)
    if out_html is not None:
        Path(out_html).write_text(to_html(fold_labelled(table)))
    return table
