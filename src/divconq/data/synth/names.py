"""Genre labels and track file names of the synthetic dataset."""

from __future__ import annotations

GENRES: tuple[str, ...] = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)


def genre_names(n: int) -> list[str]:
    """Class labels of an ``n``-genre dataset.

    Parameters
    ----------
    n : int
        Number of genres, at least 1.

    Returns
    -------
    list of str, length n
        GTZAN's names first (``GENRES``); beyond 10, ``genre10``, ``genre11``, ...
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"need at least one genre, not {n}")
    return list(GENRES[:n]) + [f"genre{i}" for i in range(len(GENRES), n)]


def track_name(label: str, index: int) -> str:
    """File stem of a track, GTZAN style: ``track_name("blues", 7) == "blues.00007"``."""
    return f"{label}.{int(index):05d}"


def _genre_index(label: str, n_genres: int) -> int:
    names = genre_names(n_genres)
    if label not in names:
        raise ValueError(f"unknown genre {label!r} for a {n_genres}-genre dataset: {names}")
    return names.index(label)
