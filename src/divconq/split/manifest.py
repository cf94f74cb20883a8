"""The split manifest (one row per track: label, split, spectrogram, counts) and the report.

This runs in whole-dataset jobs (split, training, evaluation), so pandas is fine here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from divconq.split.core import SplitError, SplitReport

MANIFEST_COLUMNS = (
    "track",
    "label",
    "split",
    "path",
    "spectrogram",
    "n_snippets",
    "n_windows",
    "duration_s",
)
#: Extra manifest columns of a k-fold split (see :mod:`divconq.split.folds`), written when present.
FOLD_COLUMNS = ("fold", "group")


def build_manifest(split_df: pd.DataFrame, counts_df: pd.DataFrame) -> pd.DataFrame:
    """Assemble the manifest from the split table and per-track counts.

    Parameters
    ----------
    split_df : pandas.DataFrame
        From :func:`make_split`: ``track``, ``label``, ``split``, ``path`` and maybe more.
    counts_df : pandas.DataFrame
        Per track: ``track`` plus ``spectrogram``, ``n_snippets``, ``n_windows``,
        ``duration_s`` (a column missing here is taken from ``split_df``). Rows of tracks
        without a split (unassigned ones) are ignored.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MANIFEST_COLUMNS`, sorted by ``split``, ``track`` (as strings, so test,
        train, val).
    """
    duplicated = sorted(counts_df.loc[counts_df["track"].duplicated(), "track"].unique())
    if duplicated:
        raise SplitError(f"counts table has duplicate track(s): {', '.join(duplicated)}")
    base = split_df[["track", "label", "split", "path"]]
    extra = [c for c in FOLD_COLUMNS if c in split_df.columns]
    # Counts win over columns of the same name in the split table: they come from the features.
    rest = [c for c in MANIFEST_COLUMNS[4:] if c not in counts_df.columns]
    absent = [c for c in rest if c not in split_df.columns]
    if absent:
        raise SplitError(f"no column(s) {', '.join(absent)} in the counts or split table")
    base = base.join(split_df[rest + extra])
    from_counts = [c for c in MANIFEST_COLUMNS[4:] if c in counts_df.columns]
    manifest = base.merge(
        counts_df[["track", *from_counts]], on="track", how="left", indicator=True
    )
    lacking = sorted(manifest.loc[manifest["_merge"] == "left_only", "track"])
    if lacking:
        raise SplitError(f"no counts for {len(lacking)} track(s): {', '.join(lacking[:20])}")
    manifest = manifest[[*MANIFEST_COLUMNS, *extra]].astype({"n_snippets": int, "n_windows": int})
    return manifest.sort_values(["split", "track"], kind="stable").reset_index(drop=True)


def write_manifest(df: pd.DataFrame, path) -> Path:
    """Write the manifest CSV (columns :data:`MANIFEST_COLUMNS`, then any of
    :data:`FOLD_COLUMNS` present), creating the folder."""
    absent = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if absent:
        raise SplitError(f"manifest lacks column(s): {', '.join(absent)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = [c for c in FOLD_COLUMNS if c in df.columns]
    df[[*MANIFEST_COLUMNS, *extra]].to_csv(path, index=False)
    return path


def read_manifest(manifest) -> pd.DataFrame:
    """The split manifest (a path or a DataFrame); ids, labels and splits stay strings."""
    if isinstance(manifest, pd.DataFrame):
        return manifest
    return pd.read_csv(manifest, dtype={"track": str, "label": str, "split": str, "group": str})


def spectrogram_path(path, base_dir=None) -> Path:
    """A manifest's ``spectrogram`` entry as a path to open.

    Relative entries are relative to the workflow's working directory; where one
    does not exist as given, ``base_dir / path`` is used if that exists.
    """
    p = Path(path)
    if base_dir is not None and not p.is_absolute() and not p.exists():
        if (Path(base_dir) / p).exists():
            return Path(base_dir) / p
    return p


def write_report(report: SplitReport, path) -> Path:
    """Write :meth:`SplitReport.to_text` to ``path`` (e.g. ``results/split/report.txt``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_text(), encoding="utf-8")
    return path


def feature_manifest(manifest, results, model: str):
    """The manifest with each track's feature file (``spectrogram`` column) replaced by
    its embedding file: what an ``input: embeddings`` run trains and is evaluated on.

    Parameters
    ----------
    manifest : str, Path or pd.DataFrame
    results : str or Path
        The workflow's results folder.
    model : str

    Returns
    -------
    pd.DataFrame
    """
    from divconq.data.embeddings import embedding_path

    df = read_manifest(manifest).copy()
    df["spectrogram"] = [str(embedding_path(results, model, t)) for t in df["track"]]
    return df


def mel_manifest(manifest, results):
    """The manifest with each track's feature file replaced by its network log-mel
    file: what a fine-tuning (``trainable: all``) run trains and is evaluated on.

    Parameters
    ----------
    manifest : str, Path or pd.DataFrame
    results : str or Path
        The workflow's results folder.

    Returns
    -------
    pd.DataFrame
    """
    from divconq.data.embeddings import mel_path

    df = read_manifest(manifest).copy()
    df["spectrogram"] = [str(mel_path(results, t)) for t in df["track"]]
    return df
