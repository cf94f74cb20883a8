"""The champion model: the chosen experiment's models, with a card, in one folder.

``results/models/best/`` holds copies of the model folders of the experiment that
:mod:`divconq.evaluate.selection` chose (``seed<N>/``, or ``fold<k>/seed<N>/`` after a
k-fold run: the models of every fold and seed of the experiment chosen in most folds, so
that ``divconq predict`` averages an ensemble trained on every track), ``card.json``
and a short ``README.md``: the labels and tracks per label, the experiment and why it
was chosen, its validation and test figures, its settings, the package versions and
the date. ``divconq predict`` without ``--model`` uses this folder.
"""

from __future__ import annotations

import csv
import json
import platform
import shutil
import time
from collections import Counter
from pathlib import Path

__all__ = ["card_markdown", "write_champion"]


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("divconq", "tensorflow", "tensorflow-cpu", "keras", "numpy", "musicnn"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def _labels(tracks_csv) -> dict:
    with open(tracks_csv, newline="", encoding="utf-8") as f:
        return dict(sorted(Counter(row["label"] for row in csv.DictReader(f)).items()))


def write_champion(selection_json, model_dirs: dict, tracks_csv, out, settings: dict) -> dict:
    """Copy the chosen experiment's model folders into ``out`` and write its card.

    Parameters
    ----------
    selection_json : str or Path
        ``selection.json`` (:func:`divconq.evaluate.selection.selection_report`).
    model_dirs : dict
        Experiment -> its model folders (``.../models/<experiment>/[fold<k>/]seed<N>``).
    tracks_csv : str or Path
        The inventory's ``tracks.csv`` (labels and tracks per label).
    out : str or Path
        The champion folder, written under a temporary name and renamed.
    settings : dict
        Experiment -> its settings (input, model, training), for the card.

    Returns
    -------
    dict
        The card.
    """
    from divconq.shared.fileio import write_json, write_text

    selection = json.loads(Path(selection_json).read_text())
    chosen = selection["chosen"]
    out = Path(out)
    tmp = out.with_name(f".{out.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    copied = []
    for d in map(Path, model_dirs[chosen]):
        # seed<N>, or fold<k>/seed<N>
        rel = Path(d.parent.name, d.name) if d.parent.name.startswith("fold") else Path(d.name)
        shutil.copytree(d, tmp / rel)
        copied.append(rel.as_posix())
    folds = [f for f in selection["folds"] if f["chosen"] == chosen]
    card = {
        "experiment": chosen,
        "criterion": selection["criterion"],
        "one_se": selection["one_se"],
        "why": (
            f"chosen in {len(folds)} of {len(selection['folds'])} fold(s) by validation "
            f"{selection['criterion']}"
            + (
                ", the cheapest within one standard error of the best"
                if selection["one_se"]
                else ""
            )
        ),
        "n_models": len(copied),
        "models": copied,
        "labels": _labels(tracks_csv),
        "validation": [{"fold": f["fold"], **f["validation"][chosen]} for f in folds],
        "test_track_accuracy": selection["test"]["procedure_track_accuracy"],
        "test_interval_95": selection["test"]["interval_95"],
        "test_tracks": selection["test"]["n_tracks"],
        "test_note": (
            "nested k-fold: each fold's test tracks scored by the experiment chosen on that "
            "fold's validation tracks"
            if selection["kfold"]
            else "the test split, read once after the choice"
        ),
        "settings": settings.get(chosen, {}),
        "versions": _versions(),
        "date": time.strftime("%Y-%m-%d"),
    }
    write_json(tmp / "card.json", card)
    write_text(tmp / "README.md", card_markdown(card))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return card


def card_markdown(card: dict) -> str:
    """The card as a short README."""
    low, high = card["test_interval_95"]
    labels = ", ".join(f"{k} ({v})" for k, v in card["labels"].items())
    return "\n".join(
        [
            f"# Champion model: {card['experiment']}",
            "",
            f"- Why: {card['why']}.",
            f"- Models: {card['n_models']} ({', '.join(card['models'])}); `divconq predict`"
            " averages their scores.",
            f"- Labels and tracks per label: {labels}.",
            f"- Test track accuracy: {100 * card['test_track_accuracy']:.1f} % (95 % interval"
            f" over {card['test_tracks']} test tracks {100 * low:.1f}-{100 * high:.1f} %;"
            f" {card['test_note']}).",
            f"- Settings: `{json.dumps(card['settings'], sort_keys=True)}`.",
            f"- Versions: {', '.join(f'{k} {v}' for k, v in card['versions'].items())}.",
            f"- Date: {card['date']}.",
            "",
            "Use: `divconq predict FILE` (this folder is the default model).",
            "",
        ]
    )
