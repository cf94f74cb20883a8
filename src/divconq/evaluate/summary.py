"""What a run did and found, on one page of the Snakemake report (``tables/summary.html``).

The data set (tracks and minutes per label, files left out and why), every experiment's
test track accuracy beside the selection procedure's, the chosen experiment and why,
and the first suspect labels: what a user reads before any table.
"""

from __future__ import annotations

from html import escape

import pandas as pd

__all__ = ["summary_html"]

_STYLE = (
    "body{font-family:sans-serif;font-size:14px;max-width:60em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
)


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, escape=True)


def summary_html(selection: dict, tracks: pd.DataFrame, rejected: pd.DataFrame,
                 suspects: pd.DataFrame, top: int = 10) -> str:  # fmt: skip
    """The summary page.

    Parameters
    ----------
    selection : dict
        ``selection.json`` (:func:`divconq.evaluate.selection.selection_report`).
    tracks, rejected : pandas.DataFrame
        The inventory's ``tracks.csv`` (``label``, ``duration_s``) and ``rejected.csv``
        (``path``, ``reason``).
    suspects : pandas.DataFrame
        :func:`divconq.evaluate.selection.suspects`.
    top : int
        Suspects shown.

    Returns
    -------
    str
        A standalone HTML page.
    """
    per_label = (
        tracks.groupby("label")
        .agg(tracks=("label", "size"), minutes=("duration_s", lambda s: round(s.sum() / 60, 1)))
        .reset_index()
    )
    test = selection["test"]
    low, high = test["interval_95"]
    how = (
        f"{len(selection['folds'])}-fold cross-validation, chosen per fold on that fold's"
        " validation tracks (nested)"
        if selection["kfold"]
        else "one train/validation/test split, chosen on the validation tracks"
    )
    figures = pd.DataFrame(
        [{"": "selection procedure", "test track accuracy": test["procedure_track_accuracy"]}]
        + [
            {"": e, "test track accuracy": v}
            for e, v in test["per_experiment_track_accuracy"].items()
        ]
    )
    figures["test track accuracy"] = (100 * figures["test track accuracy"]).map("{:.1f} %".format)
    shown = suspects.head(top).copy()
    for c in ("p_predicted", "p_label", "margin"):
        if c in shown:
            shown[c] = shown[c].map("{:.2f}".format)
    parts = [
        "<h1>What this run did and found</h1>",
        f"<h2>Data set: {len(tracks)} tracks, {tracks['duration_s'].sum() / 60:.1f} minutes,"
        f" {per_label.shape[0]} labels</h2>",
        _table(per_label),
        f"<p>{len(rejected)} file(s) left out (<code>inventory/rejected.csv</code>)</p>",
    ]
    if len(rejected):
        parts.append(_table(rejected.head(top)))
    parts += [
        f"<h2>Chosen: {escape(selection['chosen'])}</h2>",
        f"<p>By validation {escape(selection['criterion'])}"
        + (", the cheapest within one standard error of the best" if selection["one_se"] else "")
        + f"; {how}. The procedure's test track accuracy is "
        f"{100 * test['procedure_track_accuracy']:.1f} % (95 % interval over "
        f"{test['n_tracks']} test tracks {100 * low:.1f}-{100 * high:.1f} %). The chosen "
        "models and their card: <code>models/best/</code>; <code>divconq predict FILE</code>"
        " uses them.</p>",
        _table(figures),
        f"<h2>Suspect labels: {len(suspects)} track(s) the models file elsewhere</h2>",
        "<p>Held-out predictions that disagree with the given label, most confident first"
        " (<code>tables/suspects.csv</code>); often mislabeled files.</p>",
        _table(shown) if len(shown) else "<p>None.</p>",
    ]
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Summary</title>'
        f"<style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )
