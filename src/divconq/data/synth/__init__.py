"""Deterministic synthetic music in the shape of GTZAN.

GTZAN cannot be downloaded here, so the workflow's embedded default dataset is
generated: ``<root>/<label>/<label>.<NNNNN>.wav``, 22050 Hz mono 16-bit PCM,
30 s per track, 10 genres named after GTZAN's.

Each genre is a *recipe*: tempo, meter and swing, drum patterns played on a
synthesized kit (kick, snare, rim, clap, hats, ride, crash, toms), harmony
(mode, chord progressions, chord type), an accompaniment style (pads, stabs,
arpeggios, power-chord chugs, jazz comping), a bass-line style (walking,
boogie, octaves, 808, one-drop...) and three instrument timbres (harmonic
spectra, FM, envelopes, vibrato, overdrive). A track is a sequence of sections
(intro, verse, chorus, break, bridge, outro) with their own level and
instrumentation, drum fills, breaks where the drums stop, and passages that
borrow one element from another genre, so that a 3-s snippet is sometimes
ambiguous while the whole track is not. ``difficulty`` (0..1) scales the
within-genre variation, the overlap between genres, the noise and the number
of ambiguous passages.

Everything is pure numpy (wavetable synthesis, FFT filtering) because one
Snakemake job per track imports this module: scipy or librosa would cost more
than the synthesis. A track depends only on ``(seed, genre, index)`` and the
explicit parameters, never on what else was generated before.

This package is test data, apart from the method's modules. It holds the public API
(:func:`synthesize_track`, :func:`write_track`, :func:`write_dataset`, :func:`genre_names`,
:func:`track_name`) and its parts: :mod:`~divconq.data.synth.names`,
:mod:`~divconq.data.synth.recipes`, :mod:`~divconq.data.synth.sounds`,
:mod:`~divconq.data.synth.harmony`, :mod:`~divconq.data.synth.structure`
and :mod:`~divconq.data.synth.render`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from divconq.data.synth.names import GENRES, _genre_index, genre_names, track_name
from divconq.data.synth.render import _Track
from divconq.shared.fileio import atomic_path

__all__ = [
    "GENRES",
    "genre_names",
    "synthesize_track",
    "track_name",
    "write_dataset",
    "write_track",
]


def synthesize_track(
    label: str,
    index: int,
    *,
    n_genres: int = 10,
    duration_s: float = 30.0,
    sample_rate: int = 22050,
    difficulty: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """Audio of one synthetic track.

    Parameters
    ----------
    label : str
        Genre, one of ``genre_names(n_genres)``.
    index : int
        Track number within the genre, >= 0.
    n_genres : int
        Genres in the dataset; other genres' elements are borrowed only from these.
    duration_s : float
        Length, seconds.
    sample_rate : int
        Hz.
    difficulty : float
        0 (clean, stereotyped genres) to 1 (varied, overlapping, noisy genres).
    seed : int
        Dataset seed, >= 0.

    Returns
    -------
    np.ndarray, float32, shape (round(duration_s * sample_rate),)
        Mono samples in [-1, 1]; identical for identical arguments, whatever
        else was generated before.
    """
    g = _genre_index(label, n_genres)
    if index < 0 or seed < 0:
        raise ValueError("index and seed must be >= 0")
    n = int(round(duration_s * sample_rate))
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    track = _Track(
        g,
        int(index),
        int(n_genres),
        float(duration_s),
        int(sample_rate),
        float(difficulty),
        int(seed),
    )
    return track.render()


def write_track(
    path,
    label: str,
    index: int,
    *,
    n_genres: int = 10,
    duration_s: float = 30.0,
    sample_rate: int = 22050,
    difficulty: float = 0.5,
    seed: int = 0,
) -> Path:
    """Synthesize one track and write it as a 16-bit PCM mono WAV.

    The file appears atomically (:func:`divconq.shared.fileio.atomic_path`: written under a
    hidden temporary name in the same folder, then renamed), so a killed job never leaves
    a truncated WAV that Snakemake or a later reader would take for a finished one.

    Parameters
    ----------
    path : str or Path
        Output ``.wav``; parent folders are created.
    label, index, n_genres, duration_s, sample_rate, difficulty, seed
        As :func:`synthesize_track`.

    Returns
    -------
    Path
    """
    import soundfile as sf

    path = Path(path)
    y = synthesize_track(
        label,
        index,
        n_genres=n_genres,
        duration_s=duration_s,
        sample_rate=sample_rate,
        difficulty=difficulty,
        seed=seed,
    )
    with atomic_path(path) as tmp:
        sf.write(tmp, y, int(sample_rate), subtype="PCM_16", format="WAV")
    return path


def write_dataset(
    root,
    *,
    genres: int = 10,
    tracks_per_genre: int = 20,
    duration_s: float = 30.0,
    sample_rate: int = 22050,
    difficulty: float = 0.5,
    seed: int = 0,
) -> list[Path]:
    """Write a whole dataset: ``<root>/<label>/<label>.<NNNNN>.wav``.

    Parameters
    ----------
    root : str or Path
    genres : int
        Number of genres (see :func:`genre_names`).
    tracks_per_genre : int
    duration_s, sample_rate, difficulty, seed
        As :func:`synthesize_track`.

    Returns
    -------
    list of Path, length genres * tracks_per_genre
        Sorted by genre, then index.
    """
    root = Path(root)
    paths = []
    for label in genre_names(genres):
        for i in range(tracks_per_genre):
            paths.append(
                write_track(
                    root / label / f"{track_name(label, i)}.wav",
                    label,
                    i,
                    n_genres=genres,
                    duration_s=duration_s,
                    sample_rate=sample_rate,
                    difficulty=difficulty,
                    seed=seed,
                )
            )
    return paths
