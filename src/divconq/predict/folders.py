"""Model folders: what a ``--model`` path (or the workflow's ``predict.model``) stands for."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["CHAMPION", "ModelDirError", "champion_summary", "model_dirs"]

#: The model a run with selection leaves for ``divconq predict`` without ``--model``
#: (rule ``champion``), relative to the folder the command runs in.
CHAMPION = Path("results") / "models" / "best"


class ModelDirError(Exception):
    """A ``--model`` path that is not a usable model or experiment folder."""


def model_dirs(path) -> list[Path]:
    """The model folders a ``--model`` path stands for.

    Parameters
    ----------
    path : str, Path or list of them
        A model folder (holds ``model.keras`` and/or ``preprocessing.json``) or an
        experiment folder holding ``seed<N>/`` model folders (``fold<k>/seed<N>/``
        after a k-fold run); a list is expanded item by item (the workflow passes the
        configured seeds' folders).

    Returns
    -------
    list of Path
        ``[path]`` for a model folder; the ``seed*`` subfolders sorted by seed
        number for an experiment folder, fold by fold.

    Raises
    ------
    ModelDirError
        If the path is missing, or is neither kind of folder.
    """
    if isinstance(path, (list, tuple)):
        if not path:
            raise ModelDirError("no model folder given")
        return [d for p in path for d in model_dirs(p)]
    path = Path(path)
    if not path.exists():
        raise ModelDirError(f"model folder {path} does not exist")
    if not path.is_dir():
        raise ModelDirError(f"--model must be a folder, {path} is a file")
    if (path / "model.keras").exists() or (path / "preprocessing.json").exists():
        return [path]
    seeds = [p for p in path.glob("seed*") if p.is_dir()]
    folds = sorted(p for p in path.glob("fold*") if p.is_dir() and re.fullmatch(r"fold\d+", p.name))
    if not seeds and folds:
        return [d for f in sorted(folds, key=lambda p: int(p.name[4:])) for d in model_dirs(f)]
    if not seeds:
        raise ModelDirError(
            f"{path} is not a model folder (no model.keras, no preprocessing.json) "
            "nor an experiment folder (no seed*/ model folders)"
        )

    def seed_key(p: Path):
        m = re.fullmatch(r"seed(\d+)", p.name)
        return (0, int(m.group(1)), p.name) if m else (1, 0, p.name)

    return sorted(seeds, key=seed_key)


def champion_summary(path=CHAMPION) -> str:
    """One line naming the champion model of ``path`` (its ``card.json``): the
    experiment, how it was chosen and its test accuracy."""
    import json

    try:
        card = json.loads((Path(path) / "card.json").read_text())
    except (OSError, ValueError):
        return str(path)
    test = card.get("test_track_accuracy")
    figure = f", test track accuracy {100 * test:.1f} %" if test is not None else ""
    return (
        f"{path} ({card.get('experiment')}, {card.get('n_models')} models, chosen by "
        f"validation {card.get('criterion')}{figure})"
    )
