"""Chords of a mode and their voicing around a pitch centre."""

from __future__ import annotations


def _chord(mode: tuple[int, ...], degree: int, kind: str) -> list[int]:
    """Semitones above the key's tonic of a chord on scale ``degree``, root first."""
    root = mode[degree % 7] + 12 * (degree // 7)
    if kind == "power":
        return [root, root + 7, root + 12]
    if kind == "dom7":
        return [root, root + 4, root + 7, root + 10]
    size = {"triad": 3, "seventh": 4, "ninth": 5}[kind]
    return [mode[(degree + 2 * i) % 7] + 12 * ((degree + 2 * i) // 7) for i in range(size)]


def _place(pitch: int, center: int) -> int:
    """Move ``pitch`` by octaves into [center - 6, center + 6)."""
    return center - 6 + (pitch - (center - 6)) % 12


def _voicing(tones: list[int], tonic: int, center: int, kind: str) -> list[int]:
    if kind == "power":
        root = _place(tonic + tones[0], center)
        return [root + d - tones[0] for d in tones]
    return sorted(_place(tonic + d, center) for d in tones)
