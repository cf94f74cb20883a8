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
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

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

# Power of two, so that a phase wraps with a bit mask; 4096 points keep the
# nearest-neighbour lookup error of the 64th harmonic below 1 % of a cycle.
_TABLE = 4096
_MAX_HARMONICS = 64
# Harmonic counts a wavetable is built with; a note uses the largest one below Nyquist.
_HARMONIC_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
# Room after the last bar for notes and reverb tails that ring past the end.
_TAIL_S = 2.5

_MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "harmonic": (0, 2, 3, 5, 7, 8, 11),
}
_MELODY_SCALES = {
    "blues": (0, 3, 5, 6, 7, 10),
    "penta_major": (0, 2, 4, 7, 9),
    "penta_minor": (0, 3, 5, 7, 10),
}
_VELOCITY = {"X": 1.0, "x": 0.7, "o": 0.35}
_DRUMS = ("kick", "snare", "rim", "clap", "hat", "ohat", "ride")


@dataclass(frozen=True)
class _Timbre:
    """A pitched instrument: a harmonic spectrum played through an envelope.

    Times in seconds, ``vibrato`` in semitones, ``detune`` in cents.
    """

    tilt: float = 1.0  # harmonic k has amplitude k**-tilt (0: buzzy, 3: nearly a sine)
    odd: float = 0.0  # 1 removes the even harmonics (clarinet, organ, square)
    peak: float = 0.0  # harmonic number of a resonance boost (0: none)
    fm_ratio: float = 0.0  # whole-number modulator ratio of a baked-in FM spectrum
    fm_index: float = 0.0
    attack: float = 0.01
    decay: float = 0.3  # time constant of the fall towards the sustain level
    sustain: float = 0.5
    release: float = 0.05
    bright: float = 0.0  # extra brightness (less tilt) at the onset, fading with the decay
    vibrato: float = 0.0
    detune: float = 0.0  # a second oscillator: chorus, string ensemble

    def __post_init__(self):
        # Recipes write whole numbers (peak=4); floats everywhere let every field
        # be interpolated and jittered alike.
        for f in fields(self):
            object.__setattr__(self, f.name, float(getattr(self, f.name)))


@dataclass(frozen=True)
class _Kit:
    """Drum-kit sound parameters (Hz, seconds, colors in 0..1 from dark to bright)."""

    kick_hi: float = 120.0
    kick_lo: float = 50.0
    kick_decay: float = 0.25
    snare_tone: float = 200.0
    snare_decay: float = 0.15
    snare_color: float = 0.6
    hat_decay: float = 0.05
    hat_color: float = 0.7
    cymbal_decay: float = 1.2

    def __post_init__(self):
        # Recipes write whole numbers (kick_hi=110); floats everywhere let every field
        # be interpolated and jittered alike.
        for f in fields(self):
            object.__setattr__(self, f.name, float(getattr(self, f.name)))


@dataclass(frozen=True)
class _Recipe:
    """Everything that makes a genre; a track draws its own variant of it."""

    name: str
    tempo: float  # bpm
    tempo_sd: float
    beats: int = 4
    spb: int = 4  # grid steps per beat: 4 (16ths) or 3 (triplets, shuffle feel)
    swing: float = 0.0  # delay of off-beat 8ths, in steps
    swing16: float = 0.0  # delay of off-beat 16ths, in steps
    rubato: float = 0.0  # relative sd of the bar duration
    drums: tuple[tuple[str, str], ...] = ()  # (drum, pattern): X accent, x hit, o ghost
    crash: bool = True
    ghost: float = 0.0  # probability of an extra ghost snare per step
    fill: float = 0.5  # probability of a drum fill closing a section
    kit: _Kit = field(default_factory=_Kit)
    modes: tuple[str, ...] = ("major",)
    melody: str = ""  # melody scale ("" = the mode itself)
    progressions: tuple[tuple[int, ...], ...] = ((0, 3, 4, 0),)  # scale degree per bar
    chord: str = "triad"  # triad, seventh, ninth, dom7, power
    comp: str = "pad"  # pad, stab, arp, chug, strum, jazz
    comp_pattern: str = "x...x...x...x..."
    bass: str = "root8"  # root8, rootfifth, walking, boogie, octave, sub, reggae, long, follow
    lead_density: float = 0.35  # chance a note starts on a free step
    lead_len: float = 2.0  # mean note length, steps
    lead_leap: float = 0.2
    lead_var: float = 0.2  # chance a motif note changes when repeated
    motif_bars: int = 2
    lead_center: int = 69  # MIDI
    comp_center: int = 60
    bass_center: int = 40
    lead: _Timbre = field(default_factory=_Timbre)
    comp_t: _Timbre = field(default_factory=_Timbre)
    bass_t: _Timbre = field(default_factory=_Timbre)
    drive: tuple[float, float, float] = (0.0, 0.0, 0.0)  # overdrive of bass, comp, lead
    mix: tuple[float, float, float, float] = (0.0, -2.0, -4.0, -3.0)  # dB drums bass comp lead
    lowpass: float = 9000.0  # Hz
    tilt_db: float = 0.0  # dB per octave above 1 kHz
    reverb: float = 0.15  # wet/dry amplitude ratio
    room: float = 1.0  # reverb decay time (RT60), s
    crackle: float = 0.0  # vinyl clicks per second


_T = _Timbre
_RECIPES: tuple[_Recipe, ...] = (
    _Recipe(
        "blues",
        tempo=84,
        tempo_sd=10,
        spb=3,
        drums=(("kick", "X.....x....."), ("snare", "...X.....X.."), ("hat", "x.xx.xx.xx.x")),
        crash=False,
        ghost=0.04,
        kit=_Kit(110, 55, 0.3, 190, 0.18, 0.4, 0.06, 0.6, 1.2),
        modes=("mixolydian",),
        melody="blues",
        progressions=((0, 0, 0, 0, 3, 3, 0, 0, 4, 3, 0, 4), (0, 3, 0, 0, 3, 3, 0, 0, 4, 3, 0, 4)),
        chord="dom7",
        comp="pad",
        bass="boogie",
        lead_density=0.4,
        lead_len=2.0,
        lead_center=67,
        comp_center=58,
        bass_center=40,
        lead=_T(
            tilt=1.1, attack=0.005, decay=0.5, sustain=0.35, release=0.08, bright=0.5, vibrato=0.3
        ),
        comp_t=_T(
            tilt=0.6, odd=0.6, attack=0.01, decay=1.0, sustain=0.9, release=0.05, vibrato=0.05
        ),
        bass_t=_T(tilt=1.8, attack=0.005, decay=0.25, sustain=0.4, release=0.05),
        drive=(0.0, 0.0, 2.0),
        lowpass=7000,
    ),
    _Recipe(
        "classical",
        tempo=78,
        tempo_sd=14,
        beats=3,
        rubato=0.06,
        drums=(),
        crash=False,
        fill=0.0,
        modes=("major", "harmonic"),
        progressions=((0, 3, 4, 0), (0, 5, 3, 4), (0, 1, 4, 0), (5, 3, 4, 0)),
        chord="triad",
        comp="arp",
        comp_pattern="x.x.x.x.x.x.",
        bass="long",
        lead_density=0.3,
        lead_len=4.0,
        lead_leap=0.1,
        lead_center=74,
        comp_center=62,
        bass_center=43,
        lead=_T(tilt=1.0, peak=4, attack=0.09, decay=0.8, sustain=0.85, release=0.15, vibrato=0.18),
        comp_t=_T(tilt=2.2, attack=0.003, decay=0.6, sustain=0.0, release=0.3, bright=0.6),
        bass_t=_T(tilt=1.2, peak=3, attack=0.12, decay=1.0, sustain=0.85, release=0.2, vibrato=0.1),
        mix=(-6.0, -4.0, -2.0, 0.0),
        lowpass=8000,
        tilt_db=-1.5,
        reverb=0.5,
        room=2.2,
    ),
    _Recipe(
        "country",
        tempo=112,
        tempo_sd=12,
        drums=(
            ("kick", "X.......X......."),
            ("snare", "o.o.X.o.o.o.X.o."),
            ("hat", "x.x.x.x.x.x.x.x."),
        ),
        crash=False,
        kit=_Kit(100, 55, 0.2, 220, 0.1, 0.3, 0.04, 0.5, 1.0),
        modes=("major",),
        melody="penta_major",
        progressions=((0, 0, 3, 3, 4, 4, 0, 0), (0, 3, 0, 4), (0, 0, 3, 0, 4, 3, 0, 0)),
        chord="triad",
        comp="arp",
        comp_pattern="xxxxxxxxxxxxxxxx",
        bass="rootfifth",
        lead_density=0.4,
        lead_len=1.5,
        lead_center=72,
        comp_center=67,
        bass_center=40,
        lead=_T(
            tilt=0.9,
            peak=5,
            attack=0.002,
            decay=0.25,
            sustain=0.15,
            release=0.05,
            bright=1.0,
            vibrato=0.05,
        ),
        comp_t=_T(tilt=0.8, attack=0.001, decay=0.12, sustain=0.0, release=0.03, bright=1.0),
        bass_t=_T(tilt=2.2, attack=0.005, decay=0.3, sustain=0.2, release=0.05),
        mix=(-2.0, -2.0, -5.0, -3.0),
        lowpass=10000,
    ),
    _Recipe(
        "disco",
        tempo=120,
        tempo_sd=4,
        drums=(
            ("kick", "X...X...X...X..."),
            ("snare", "....X.......X..."),
            ("clap", "....x.......x..."),
            ("hat", "x...x...x...x..."),
            ("ohat", "..x...x...x...x."),
        ),
        kit=_Kit(140, 50, 0.35, 200, 0.15, 0.6, 0.04, 0.9, 1.2),
        modes=("dorian", "minor"),
        progressions=((0, 3), (0, 0, 3, 3), (1, 4), (0, 5, 1, 4)),
        chord="seventh",
        comp="stab",
        comp_pattern="x..x..x...x..x..",
        bass="octave",
        lead_density=0.3,
        lead_len=3.0,
        lead_center=72,
        comp_center=62,
        bass_center=40,
        lead=_T(
            tilt=1.0, attack=0.03, decay=0.5, sustain=0.8, release=0.1, vibrato=0.08, detune=12
        ),
        comp_t=_T(
            tilt=0.5,
            fm_ratio=1,
            fm_index=1.8,
            attack=0.002,
            decay=0.3,
            sustain=0.1,
            release=0.05,
            bright=0.6,
        ),
        bass_t=_T(tilt=1.0, attack=0.002, decay=0.12, sustain=0.3, release=0.03, bright=0.8),
        lowpass=12000,
        tilt_db=1.0,
    ),
    _Recipe(
        "hiphop",
        tempo=90,
        tempo_sd=6,
        swing16=0.25,
        drums=(
            ("kick", "X.....x..x.X...."),
            ("snare", "....X.......X..."),
            ("hat", "xoxoxoxoxoxoxoxo"),
        ),
        crash=False,
        kit=_Kit(90, 42, 0.6, 180, 0.22, 0.45, 0.035, 0.55, 1.0),
        modes=("minor",),
        melody="penta_minor",
        progressions=((0, 5), (0, 0, 5, 4), (0, 3)),
        chord="seventh",
        comp="pad",
        bass="sub",
        lead_density=0.25,
        lead_len=2.0,
        lead_var=0.03,
        motif_bars=1,
        lead_center=70,
        comp_center=60,
        bass_center=36,
        lead=_T(
            tilt=1.5, fm_ratio=1, fm_index=0.7, attack=0.005, decay=0.8, sustain=0.2, release=0.2
        ),
        comp_t=_T(tilt=2.5, attack=0.2, decay=1.0, sustain=0.9, release=0.3, detune=8),
        bass_t=_T(tilt=6.0, attack=0.003, decay=0.7, sustain=0.3, release=0.1),
        mix=(0.0, 0.0, -8.0, -6.0),
        lowpass=4500,
        crackle=6.0,
    ),
    _Recipe(
        "jazz",
        tempo=150,
        tempo_sd=30,
        spb=3,
        drums=(("kick", "o.....o....."), ("ride", "x..x.xx..x.x"), ("hat", "...x.....x..")),
        crash=False,
        ghost=0.12,
        kit=_Kit(80, 50, 0.3, 240, 0.12, 0.35, 0.05, 0.6, 0.9),
        modes=("major", "dorian"),
        progressions=((1, 4, 0, 0), (1, 4, 0, 5), (0, 5, 1, 4), (2, 5, 1, 4)),
        chord="ninth",
        comp="jazz",
        bass="walking",
        lead_density=0.55,
        lead_len=1.3,
        lead_leap=0.25,
        lead_var=0.4,
        lead_center=65,
        comp_center=60,
        bass_center=40,
        lead=_T(
            tilt=0.9,
            odd=0.35,
            peak=3,
            attack=0.03,
            decay=0.5,
            sustain=0.75,
            release=0.06,
            bright=0.3,
            vibrato=0.12,
        ),
        comp_t=_T(tilt=1.6, attack=0.002, decay=0.45, sustain=0.05, release=0.15, bright=0.7),
        bass_t=_T(tilt=2.6, peak=2, attack=0.006, decay=0.35, sustain=0.05, release=0.05),
        mix=(-4.0, -2.0, -3.0, 0.0),
        lowpass=9000,
        reverb=0.3,
        room=1.4,
    ),
    _Recipe(
        "metal",
        tempo=165,
        tempo_sd=20,
        drums=(
            ("kick", "XxXxXxXxXxXxXxXx"),
            ("snare", "....X.......X..."),
            ("ride", "x.x.x.x.x.x.x.x."),
        ),
        kit=_Kit(160, 60, 0.12, 230, 0.2, 0.85, 0.07, 1.0, 1.5),
        modes=("phrygian", "minor"),
        melody="",
        progressions=((0, 0, 1, 0), (0, 0, 5, 6), (0, 1, 0, 4)),
        chord="power",
        comp="chug",
        comp_pattern="x.xxx.xxx.xxx.xx",
        bass="follow",
        lead_density=0.3,
        lead_len=2.0,
        lead_center=64,
        comp_center=47,
        bass_center=35,
        lead=_T(tilt=0.7, attack=0.003, decay=0.7, sustain=0.6, release=0.05, vibrato=0.25),
        comp_t=_T(tilt=0.8, attack=0.002, decay=0.3, sustain=0.5, release=0.03),
        bass_t=_T(tilt=1.0, attack=0.003, decay=0.2, sustain=0.5, release=0.03),
        drive=(2.0, 8.0, 6.0),
        mix=(-2.0, -4.0, 0.0, -3.0),
        lowpass=11000,
        tilt_db=1.5,
    ),
    _Recipe(
        "pop",
        tempo=108,
        tempo_sd=10,
        drums=(
            ("kick", "X.......X.x....."),
            ("snare", "....X.......X..."),
            ("clap", "....X.......X..."),
            ("hat", "x.x.x.x.x.x.x.x."),
        ),
        kit=_Kit(130, 50, 0.3, 200, 0.2, 0.7, 0.04, 0.8, 1.2),
        modes=("major",),
        progressions=((0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4)),
        chord="triad",
        comp="pad",
        bass="root8",
        lead_density=0.4,
        lead_len=2.0,
        lead_center=72,
        comp_center=62,
        bass_center=40,
        lead=_T(tilt=1.8, peak=2, attack=0.02, decay=0.4, sustain=0.7, release=0.08, vibrato=0.1),
        comp_t=_T(tilt=1.0, attack=0.15, decay=1.0, sustain=0.8, release=0.25, detune=15),
        bass_t=_T(tilt=1.3, attack=0.004, decay=0.2, sustain=0.6, release=0.04),
        lowpass=11000,
        tilt_db=0.5,
    ),
    _Recipe(
        "reggae",
        tempo=76,
        tempo_sd=6,
        swing=0.35,
        drums=(
            ("kick", "........X......."),
            ("rim", "........X......."),
            ("hat", "x.x.x.x.x.x.x.x."),
        ),
        crash=False,
        kit=_Kit(90, 50, 0.35, 350, 0.08, 0.4, 0.05, 0.6, 1.0),
        modes=("minor", "major"),
        melody="penta_minor",
        progressions=((0, 3), (0, 6), (0, 0, 3, 4)),
        chord="triad",
        comp="stab",
        comp_pattern="..x...x...x...x.",
        bass="reggae",
        lead_density=0.3,
        lead_len=2.0,
        lead_center=67,
        comp_center=62,
        bass_center=38,
        lead=_T(tilt=1.1, odd=0.7, attack=0.03, decay=0.5, sustain=0.8, release=0.05, vibrato=0.05),
        comp_t=_T(tilt=1.0, attack=0.002, decay=0.06, sustain=0.0, release=0.02, bright=0.8),
        bass_t=_T(tilt=3.5, attack=0.01, decay=0.5, sustain=0.7, release=0.06),
        mix=(-2.0, 0.0, -4.0, -4.0),
        lowpass=8000,
        reverb=0.35,
        room=1.5,
    ),
    _Recipe(
        "rock",
        tempo=128,
        tempo_sd=12,
        drums=(
            ("kick", "X.....x.X.x....."),
            ("snare", "....X.......X..."),
            ("hat", "x.x.x.x.x.x.x.x."),
        ),
        kit=_Kit(120, 55, 0.25, 210, 0.2, 0.7, 0.06, 0.8, 1.2),
        modes=("mixolydian", "major"),
        melody="penta_minor",
        progressions=((0, 6, 3, 0), (0, 3, 4, 3), (0, 5, 3, 4)),
        chord="power",
        comp="chug",
        comp_pattern="x.x.x.x.x.x.x.x.",
        bass="root8",
        lead_density=0.35,
        lead_len=2.0,
        lead_center=67,
        comp_center=50,
        bass_center=40,
        lead=_T(tilt=0.9, attack=0.004, decay=0.6, sustain=0.45, release=0.06, vibrato=0.2),
        comp_t=_T(tilt=0.9, attack=0.003, decay=0.35, sustain=0.4, release=0.04),
        bass_t=_T(tilt=1.5, attack=0.004, decay=0.25, sustain=0.45, release=0.04),
        drive=(0.0, 3.0, 3.5),
        lowpass=10000,
        tilt_db=0.5,
    ),
)


# --------------------------------------------------------------------------- names


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


# --------------------------------------------------------------------------- recipes


def _lerp_dataclass(a, b, w: float, exclude: tuple[str, ...] = ()):
    """Interpolate the float fields of two instances of one frozen dataclass."""
    changes = {}
    for f in fields(a):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if f.name in exclude or not isinstance(va, float):
            continue
        changes[f.name] = (1 - w) * va + w * vb
    return replace(a, **changes)


def _jitter_dataclass(rng: np.random.Generator, a, rel: float, exclude: tuple[str, ...] = ()):
    """Multiply every float field by a log-normal factor of relative sd ``rel``."""
    changes = {}
    for f in fields(a):
        v = getattr(a, f.name)
        if f.name in exclude or not isinstance(v, float):
            continue
        changes[f.name] = float(v * np.exp(rng.normal(0.0, rel)))
    return replace(a, **changes)


def _clean_timbre(t: _Timbre) -> _Timbre:
    # FM spectra are only periodic (hence a wavetable) for whole-number ratios.
    ratio = float(round(t.fm_ratio)) if t.fm_index > 0.05 else 0.0
    return replace(
        t,
        fm_ratio=max(ratio, 1.0) if ratio else 0.0,
        odd=float(np.clip(t.odd, 0, 1)),
        sustain=float(np.clip(t.sustain, 0, 1)),
        attack=float(np.clip(t.attack, 0.001, 0.5)),
        release=float(np.clip(t.release, 0.01, 0.5)),
    )


def _clean_kit(k: _Kit) -> _Kit:
    return replace(
        k,
        kick_decay=float(np.clip(k.kick_decay, 0.05, 1.0)),
        snare_decay=float(np.clip(k.snare_decay, 0.03, 0.4)),
        snare_color=float(np.clip(k.snare_color, 0.0, 1.0)),
        hat_decay=float(np.clip(k.hat_decay, 0.015, 0.1)),
        hat_color=float(np.clip(k.hat_color, 0.0, 1.0)),
        cymbal_decay=float(np.clip(k.cymbal_decay, 0.4, 2.5)),
    )


def _random_pattern(rng: np.random.Generator, steps: int, density: float, first: bool) -> str:
    hits = rng.random(steps) < density
    hits[0] = hits[0] or first
    accents = rng.random(steps) < 0.5
    return "".join(("X" if a else "x") if h else "." for h, a in zip(hits, accents, strict=True))


@lru_cache(maxsize=64)
def _recipe(g: int) -> _Recipe:
    """Recipe of genre ``g``: a base one, or beyond 10 a stable mix of parts of them.

    Derived recipes depend only on ``g`` (not on the dataset seed), so ``genre12``
    is the same style in every dataset.
    """
    if g < len(_RECIPES):
        return _RECIPES[g]
    rng = np.random.default_rng([0x5EED, g])
    pick = [_RECIPES[int(i)] for i in rng.integers(0, len(_RECIPES), 8)]
    rhythm, harmony, comp, bass, lead, kit, tone, feel = pick
    spb = int(rng.choice([3, 4]))
    steps = 4 * spb
    if rng.random() < 0.5 and rhythm.drums:
        drums = rhythm.drums
    else:
        drums = (
            ("kick", _random_pattern(rng, steps, 0.25, True)),
            ("snare", _random_pattern(rng, steps, 0.12, False)),
            (str(rng.choice(["hat", "ride"])), _random_pattern(rng, steps, 0.6, True)),
        )
    w = float(rng.uniform(0.3, 0.7))
    return replace(
        feel,
        name=f"genre{g}",
        tempo=float(rng.uniform(70, 170)),
        tempo_sd=float(rng.uniform(4, 15)),
        beats=4,
        spb=spb,
        swing=float(rng.uniform(0, 0.4)) if spb == 4 else 0.0,
        swing16=0.0,
        drums=drums,
        crash=bool(rng.random() < 0.5),
        kit=_lerp_dataclass(kit.kit, rhythm.kit, w),
        modes=harmony.modes,
        melody=harmony.melody,
        progressions=harmony.progressions,
        chord=harmony.chord,
        comp=comp.comp,
        comp_pattern=comp.comp_pattern,
        comp_center=comp.comp_center,
        comp_t=_clean_timbre(_lerp_dataclass(comp.comp_t, tone.comp_t, w)),
        drive=(bass.drive[0], comp.drive[1], lead.drive[2]),
        bass=bass.bass,
        bass_center=bass.bass_center,
        bass_t=bass.bass_t,
        lead=_clean_timbre(_lerp_dataclass(lead.lead, tone.lead, w)),
        lead_center=int(rng.integers(62, 76)),
        lead_density=float(rng.uniform(0.2, 0.5)),
        lead_len=float(rng.uniform(1.3, 4.0)),
        lowpass=float(rng.uniform(4500, 12000)),
        tilt_db=float(rng.uniform(-1.5, 1.5)),
        reverb=float(rng.uniform(0.1, 0.5)),
        crackle=float(rng.choice([0.0, 0.0, 4.0])),
    )


# --------------------------------------------------------------------------- sounds


def _fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n, a size pocketfft transforms quickly."""
    best = 1 << int(np.ceil(np.log2(max(n, 1))))
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


@lru_cache(maxsize=512)
def _wavetable(t: _Timbre, nh: int, bright: bool) -> np.ndarray:
    """One period of the timbre with ``nh`` harmonics, peak 1; float32, shape (_TABLE,)."""
    k = np.arange(1, nh + 1, dtype=np.float64)
    tilt = t.tilt - (t.bright if bright else 0.0)
    amp = k ** -max(tilt, 0.0)
    if t.fm_ratio > 0:
        ph = np.arange(_TABLE) / _TABLE
        index = t.fm_index * (2.0 if bright else 1.0)
        fm = np.sin(2 * np.pi * ph + index * np.sin(2 * np.pi * t.fm_ratio * ph))
        spec = np.fft.rfft(fm)[1 : nh + 1] * amp
    else:
        spec = -1j * amp
    spec = spec.astype(np.complex128)
    spec[1::2] *= 1.0 - t.odd
    if t.peak > 0:
        spec *= 1.0 + 3.0 * np.exp(-0.5 * ((k - t.peak) / 1.2) ** 2)
    full = np.zeros(_TABLE // 2 + 1, dtype=np.complex128)
    full[1 : nh + 1] = spec
    table = np.fft.irfft(full, _TABLE)
    return (table / (np.abs(table).max() + 1e-12)).astype(np.float32)


def _band_noise(rng: np.random.Generator, n: int, lo: float, hi: float, sr: int) -> np.ndarray:
    """White noise band-passed to [lo, hi] Hz with soft edges; float64, shape (n,)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    gain = 1.0 / (1.0 + (lo / np.maximum(f, 1.0)) ** 4) / (1.0 + (f / hi) ** 4)
    y = np.fft.irfft(spec * gain, n)
    return y / (np.abs(y).max() + 1e-12)


def _drum_sounds(rng: np.random.Generator, kit: _Kit, sr: int) -> dict[str, np.ndarray]:
    """One-shot samples of a kit, each float32 with peak 1."""

    def decay(n, tau):
        return np.exp(-np.arange(n) / (tau * sr))

    out = {}
    n = int(min(kit.kick_decay * 5, 2.0) * sr)
    t = np.arange(n) / sr
    sweep = 0.035
    phase = (
        2
        * np.pi
        * (kit.kick_lo * t + (kit.kick_hi - kit.kick_lo) * sweep * (1 - np.exp(-t / sweep)))
    )
    click = _band_noise(rng, n, 1500, 6000, sr) * decay(n, 0.003)
    out["kick"] = np.sin(phase) * decay(n, kit.kick_decay) + 0.3 * click

    n = int(kit.snare_decay * 6 * sr)
    t = np.arange(n) / sr
    tone = (
        np.sin(2 * np.pi * kit.snare_tone * t) + 0.5 * np.sin(2 * np.pi * 1.6 * kit.snare_tone * t)
    ) * decay(n, 0.04)
    hi = 3000 + 7000 * kit.snare_color
    noise = _band_noise(rng, n, 800 + 1200 * kit.snare_color, hi, sr) * decay(n, kit.snare_decay)
    out["snare"] = 0.5 * tone + noise

    n = int(0.08 * sr)
    t = np.arange(n) / sr
    out["rim"] = np.sin(2 * np.pi * 1.7 * kit.snare_tone * 2 * t) * decay(
        n, 0.012
    ) + 0.6 * _band_noise(rng, n, 2000, 8000, sr) * decay(n, 0.008)

    n = int(0.35 * sr)
    burst = np.zeros(n)
    for k, delay in enumerate((0.0, 0.011, 0.022)):
        i = int(delay * sr)
        burst[i:] += (0.7 + 0.15 * k) * decay(n - i, 0.006 if k < 2 else 0.12)
    out["clap"] = _band_noise(rng, n, 900, 4000, sr) * burst

    metal_f = np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0]) * (1 + kit.hat_color)
    n_open = int(0.6 * sr)
    t = np.arange(n_open) / sr
    metal = np.sign(np.sin(2 * np.pi * metal_f[:, None] * t)).sum(0)
    lo = 4000 + 3000 * kit.hat_color
    hiss = _band_noise(rng, n_open, lo, 16000, sr)
    spec = np.fft.rfft(metal)
    f = np.fft.rfftfreq(n_open, 1.0 / sr)
    metal = np.fft.irfft(spec / (1 + (lo / np.maximum(f, 1)) ** 4), n_open)
    metal /= np.abs(metal).max() + 1e-12
    hat = 0.5 * metal + hiss
    n = min(n_open, int(kit.hat_decay * 6 * sr))
    out["hat"] = hat[:n] * decay(n, kit.hat_decay)
    out["ohat"] = hat * decay(n_open, 0.25)

    n = int(min(kit.cymbal_decay * 3, 3.0) * sr)
    t = np.arange(n) / sr
    bell = np.sin(2 * np.pi * np.array([[1330.0], [2950.0], [4470.0]]) * t).sum(0)
    ride_noise = _band_noise(rng, n, 3000, 12000, sr)
    out["ride"] = (0.4 * bell * decay(n, 0.3) + ride_noise) * decay(n, kit.cymbal_decay / 3)
    out["crash"] = _band_noise(rng, n, 2500, 16000, sr) * decay(n, kit.cymbal_decay / 2)

    for name, f0 in (("tom1", 190.0), ("tom2", 140.0), ("tom3", 100.0)):
        n = int(0.5 * sr)
        t = np.arange(n) / sr
        out[name] = np.sin(2 * np.pi * f0 * (t + 0.02 * (1 - np.exp(-t / 0.02)))) * decay(n, 0.12)
    return {k: (v / (np.abs(v).max() + 1e-12)).astype(np.float32) for k, v in out.items()}


class _Voice:
    """A pitched instrument of one track; caches rendered notes by (pitch, length)."""

    def __init__(self, timbre: _Timbre, sr: int):
        self.t = timbre
        self.sr = sr
        self._notes: dict[tuple[int, int], np.ndarray] = {}

    def note(self, midi: int, n: int) -> np.ndarray:
        """A note of MIDI pitch ``midi`` held ``n`` samples, plus its release; float32."""
        key = (int(midi), int(n))
        y = self._notes.get(key)
        if y is None:
            y = self._render(*key)
            self._notes[key] = y
        return y

    def _render(self, midi: int, n_hold: int) -> np.ndarray:
        t, sr = self.t, self.sr
        n_rel = max(1, int(t.release * sr))
        n = n_hold + n_rel
        f0 = 440.0 * 2.0 ** ((midi - 69) / 12.0)
        nh = max(h for h in _HARMONIC_STEPS if h == 1 or h * f0 < 0.45 * sr)
        time = np.arange(n) / sr
        phase = f0 * time
        if t.vibrato > 0:
            # Closed-form phase of a sinusoidal frequency modulation: no cumulative sum.
            rate = 5.5
            depth = (2.0 ** (t.vibrato / 12.0) - 1.0) * f0
            phase = phase + depth / (2 * np.pi * rate) * (1 - np.cos(2 * np.pi * rate * time))
        lo = _wavetable(t, nh, False)
        idx = (phase * _TABLE).astype(np.int64) & (_TABLE - 1)
        y = lo[idx]
        if t.bright > 0:
            hi = _wavetable(t, nh, True)
            w = np.exp(-time / max(t.decay / 3, 0.005)).astype(np.float32)
            y = y + w * (hi[idx] - y)
        if t.detune > 0:
            ratio = 2.0 ** (t.detune / 1200.0)
            idx2 = (phase * ratio * _TABLE + _TABLE // 3).astype(np.int64) & (_TABLE - 1)
            y = 0.6 * (y + lo[idx2])
        env = t.sustain + (1 - t.sustain) * np.exp(-time / max(t.decay, 1e-3))
        n_att = max(1, int(t.attack * sr))
        env[:n_att] *= np.linspace(0.0, 1.0, n_att, endpoint=False)
        env[n_hold:] *= np.linspace(1.0, 0.0, n_rel)
        return (y * env).astype(np.float32)


def _add(bus: np.ndarray, start: int, y: np.ndarray, gain: float) -> None:
    """Mix ``y`` into ``bus`` at sample ``start``, cropping at either end."""
    if start < 0:
        y = y[-start:]
        start = 0
    end = min(len(bus), start + len(y))
    if end > start:
        bus[start:end] += gain * y[: end - start]


@lru_cache(maxsize=512)
def _hits(pattern: str, steps: int) -> tuple[tuple[int, float], ...]:
    """(step, velocity) of a pattern, stretched onto a bar of ``steps`` steps."""
    n = len(pattern)
    return tuple(
        (int(round(i * steps / n)) % steps, _VELOCITY[c])
        for i, c in enumerate(pattern)
        if c in _VELOCITY
    )


# --------------------------------------------------------------------------- harmony


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


# --------------------------------------------------------------------------- structure


@dataclass
class _Section:
    kind: str
    bars: int
    drums: str  # full, light (cymbals only), none
    bass: bool
    comp: bool
    lead: bool
    gain: float  # linear
    fill: bool
    borrow: dict[str, int]  # element -> genre whose version this section plays
    progression: int
    density: float
    motifs: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)


_NEXT = {
    "intro": (("verse", 0.8), ("chorus", 0.2)),
    "verse": (("verse", 0.25), ("chorus", 0.5), ("break", 0.15), ("bridge", 0.1)),
    "chorus": (("verse", 0.45), ("chorus", 0.15), ("break", 0.2), ("bridge", 0.2)),
    "break": (("chorus", 0.5), ("verse", 0.5)),
    "bridge": (("chorus", 0.7), ("verse", 0.3)),
    "outro": (("outro", 1.0),),
}
_ELEMENTS = ("drums", "bass", "comp", "lead", "harmony")


def _plan(rng, rec: _Recipe, g: int, n_genres: int, n_bars: int, bar_s: float, d: float):
    """Sections covering ``n_bars`` bars."""
    sections: list[_Section] = []
    kinds = ("intro", "verse", "chorus", "break", "bridge")
    kind = str(rng.choice(kinds, p=(0.3, 0.3, 0.25, 0.1, 0.05)))
    total = 0
    p_borrow = 0.08 + 0.6 * d
    while total < n_bars:
        target_s = rng.uniform(4.5, 10.0)
        bars = int(np.clip(round(target_s / bar_s), 1, 8))
        has_drums = bool(rec.drums)
        drums = "full" if has_drums else "none"
        bass = comp = lead = True
        gain_db = {"intro": -4, "verse": -2, "chorus": 0, "break": -6, "bridge": -3}.get(kind, -4)
        density = 1.0
        if kind == "intro":
            drums = (
                str(rng.choice(["none", "light", "full"], p=(0.4, 0.3, 0.3)))
                if has_drums
                else "none"
            )
            lead = rng.random() < 0.3
            bass = rng.random() < 0.6
        elif kind == "verse":
            density = 0.7
            lead = rng.random() < 0.8
        elif kind == "chorus":
            density = 1.3
        elif kind == "break":
            drums = str(rng.choice(["none", "light"], p=(0.7, 0.3))) if has_drums else "none"
            bass = rng.random() < 0.5
            lead = rng.random() < 0.5
            comp = not (bass or lead) or rng.random() < 0.6
        if not has_drums:
            # Classical-like genres vary by instrumentation instead of drums.
            lead = lead and rng.random() < 0.85
            comp = comp or not lead
        borrow: dict[str, int] = {}
        p = p_borrow * (2.0 if kind in ("break", "bridge") else 1.0)
        if n_genres > 1 and rng.random() < min(p, 0.95):
            n_el = 1 + int(rng.binomial(3, 0.5 * d))
            for el in rng.choice(_ELEMENTS, size=n_el, replace=False):
                other = int(rng.integers(0, n_genres - 1))
                borrow[str(el)] = other + (other >= g)
            if "drums" in borrow and drums == "none":
                drums = "full"
        sections.append(
            _Section(
                kind=kind,
                bars=bars,
                drums=drums,
                bass=bool(bass),
                comp=bool(comp),
                lead=bool(lead),
                gain=float(10 ** ((gain_db + rng.normal(0, 1 + 2 * d)) / 20)),
                fill=bool(rng.random() < rec.fill),
                borrow=borrow,
                progression=int(rng.integers(0, 1 << 16)),
                density=density,
            )
        )
        total += bars
        kind = str(rng.choice([k for k, _ in _NEXT[kind]], p=[w for _, w in _NEXT[kind]]))
    return sections


def _motif(rng, rec: _Recipe, steps: int, density: float) -> list[tuple[int, int, int]]:
    """A melodic motif: (step from motif start, length in steps, scale degree)."""
    total = steps * rec.motif_bars
    notes = []
    deg = int(rng.integers(0, 5))
    s = 0
    while s < total:
        on_beat = s % rec.spb == 0
        if rng.random() < rec.lead_density * density * (1.5 if on_beat else 0.7):
            length = int(min(total - s, rng.geometric(1.0 / max(rec.lead_len, 1.0))))
            notes.append((s, length, deg))
            if rng.random() < rec.lead_leap:
                deg += int(rng.choice([-4, -3, 3, 4, 5]))
            else:
                deg += int(rng.choice([-2, -1, -1, 0, 1, 1, 2]))
            deg = int(np.clip(deg, -4, 9))
            s += length
        else:
            s += 1
    return notes


# --------------------------------------------------------------------------- rendering


class _Track:
    """Draws one track's variant of its genre and renders it."""

    def __init__(self, g, index, n_genres, duration_s, sr, difficulty, seed):
        self.g = g
        self.n_genres = n_genres
        self.sr = sr
        self.d = d = float(np.clip(difficulty, 0.0, 1.0))
        self.n = int(round(duration_s * sr))
        self.rng = rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([int(seed), int(g), int(index)]))
        )
        rec = _recipe(g)
        self.rec = rec

        # Shared tempos: at high difficulty a track may take another genre's tempo.
        tempo_rec = rec
        if rng.random() < 0.35 * d:
            tempo_rec = _recipe(int(rng.integers(0, n_genres)))
        bpm = tempo_rec.tempo + rng.normal(0, tempo_rec.tempo_sd * (0.6 + 0.8 * d))
        self.bpm = float(np.clip(bpm, 55, 220))
        self.key = int(rng.integers(0, 12))
        self.mode = _MODES[str(rng.choice(rec.modes))]

        # Timbres drift towards a random other genre's (shared timbres), and jitter.
        def variant(t: _Timbre, role: str) -> _Timbre:
            other = getattr(_recipe(int(rng.integers(0, n_genres))), role)
            t = _lerp_dataclass(t, other, float(rng.uniform(0, d)), exclude=("fm_ratio",))
            return _clean_timbre(_jitter_dataclass(rng, t, 0.1 + 0.35 * d))

        self.timbres = {
            role: variant(getattr(rec, role), role) for role in ("lead", "comp_t", "bass_t")
        }
        kit = _lerp_dataclass(
            rec.kit, _recipe(int(rng.integers(0, n_genres))).kit, float(rng.uniform(0, 0.6 * d))
        )
        self.kit = _clean_kit(_jitter_dataclass(rng, kit, 0.08 + 0.2 * d))
        self.drive = tuple(float(x * np.exp(rng.normal(0, 0.3))) for x in rec.drive)
        self.mix = tuple(float(m + rng.uniform(-1, 1) * (2 + 5 * d)) for m in rec.mix)
        self.lowpass = float(rec.lowpass * np.exp(rng.normal(0, 0.15 + 0.5 * d)))
        self.tilt_db = float(rec.tilt_db + rng.normal(0, 0.5 + 2.0 * d))
        self.reverb = float(rec.reverb * np.exp(rng.normal(0, 0.3 + 0.4 * d)))
        self.room = float(rec.room * np.exp(rng.normal(0, 0.2)))
        self.snr_db = float(rng.uniform(35 - 28 * d, 47 - 28 * d))
        self.noise_color = float(rng.uniform(-2.0, 0.0))
        self.crackle = rec.crackle * float(rng.uniform(0.5, 1.5)) + (
            float(rng.uniform(0, 6)) if rng.random() < 0.3 * d else 0.0
        )
        self.humanize = 0.003 + 0.008 * d
        self.ghost = rec.ghost + 0.04 * d * float(rng.random())

        self.drums = _drum_sounds(rng, self.kit, sr)
        self._voices: dict[tuple[str, int], _Voice] = {}
        self._motif_rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([int(seed), int(g), int(index), 1]))
        )

    def voice(self, role: str, genre: int) -> _Voice:
        key = (role, genre)
        if key not in self._voices:
            if genre == self.g:
                t = self.timbres[role]
            else:
                t = getattr(_recipe(genre), role)
            self._voices[key] = _Voice(t, self.sr)
        return self._voices[key]

    def render(self) -> np.ndarray:
        rec, rng, sr, d = self.rec, self.rng, self.sr, self.d
        steps = rec.beats * rec.spb
        step_s = 60.0 / self.bpm / rec.spb
        bar_s = steps * step_s
        n_bars = int(np.ceil(self.n / sr / (bar_s * (1 - 3 * rec.rubato)))) + 1
        sections = _plan(rng, rec, self.g, self.n_genres, n_bars, bar_s, d)

        n_bus = self.n + int(_TAIL_S * sr)
        buses = {
            name: np.zeros(n_bus, dtype=np.float32) for name in ("drums", "bass", "comp", "lead")
        }
        t0 = -float(rng.uniform(0, bar_s))  # the excerpt starts anywhere in a bar
        bar_counter = 0
        for sec in sections:
            h = _recipe(sec.borrow.get("harmony", self.g))
            progs = h.progressions
            prog = progs[sec.progression % len(progs)]
            mode = self.mode if h is rec else _MODES[h.modes[0]]
            for b in range(sec.bars):
                if t0 > self.n / sr:
                    break
                sd = step_s * (1 + rec.rubato * float(np.clip(rng.normal(), -2.5, 2.5)))
                degree = prog[bar_counter % len(prog)]
                next_degree = prog[(bar_counter + 1) % len(prog)]
                bar = dict(t0=t0, step=sd, steps=steps, last=b == sec.bars - 1, first=b == 0, b=b)
                self._drums(buses["drums"], sec, bar)
                chord = _chord(mode, degree, h.chord)
                nxt = _chord(mode, next_degree, h.chord)
                if sec.bass:
                    self._bass(buses["bass"], sec, bar, chord, nxt)
                if sec.comp:
                    self._comp(buses["comp"], sec, bar, chord, h.chord)
                if sec.lead:
                    self._lead(buses["lead"], sec, bar, chord, mode, h)
                t0 += steps * sd
                bar_counter += 1
        return self._master(buses)

    # ---- timing

    def _time(self, bar: dict, step: float, humanize: bool = True) -> float:
        rec = self.rec
        s_int = int(step)
        t = bar["t0"] + step * bar["step"]
        if rec.spb == 4:
            t += bar["step"] * (rec.swing * (s_int % 4 == 2) + rec.swing16 * (s_int % 2 == 1))
        if humanize:
            t += self.rng.normal(0, self.humanize)
        return t

    def _sample(self, t: float) -> int:
        return int(round(t * self.sr))

    # ---- parts

    def _drums(self, bus, sec: _Section, bar: dict) -> None:
        if sec.drums == "none":
            return
        rng = self.rng
        g = sec.borrow.get("drums", self.g)
        patterns = _recipe(g).drums
        steps = bar["steps"]
        fill_from = (
            steps - self.rec.spb * (1 + int(rng.random() < 0.4))
            if (sec.fill and bar["last"] and sec.drums == "full")
            else steps
        )
        gain = sec.gain * (0.8 if sec.drums == "light" else 1.0)
        for name, pattern in patterns:
            if sec.drums == "light" and name not in ("hat", "ride", "ohat"):
                continue
            sound = self.drums[name]
            for s, vel in _hits(pattern, steps):
                if s >= fill_from and name in ("snare", "rim", "clap", "kick"):
                    continue
                v = vel * gain * float(np.exp(rng.normal(0, 0.1)))
                _add(bus, self._sample(self._time(bar, s)), sound, v)
        if sec.drums == "full":
            if self.ghost > 0:
                for s in np.flatnonzero(rng.random(min(steps, fill_from)) < self.ghost):
                    _add(bus, self._sample(self._time(bar, s)), self.drums["snare"], 0.25 * gain)
            if bar["first"] and _recipe(g).crash and sec.kind in ("chorus", "verse", "bridge"):
                _add(bus, self._sample(self._time(bar, 0)), self.drums["crash"], 0.8 * gain)
            if fill_from < steps:
                toms = rng.random() < 0.5
                for i, s in enumerate(range(fill_from, steps)):
                    frac = (i + 1) / (steps - fill_from)
                    name = ("tom1", "tom2", "tom3")[min(2, int(3 * frac))] if toms else "snare"
                    _add(
                        bus,
                        self._sample(self._time(bar, s)),
                        self.drums[name],
                        gain * (0.5 + 0.5 * frac),
                    )

    def _bass(self, bus, sec: _Section, bar: dict, chord: list[int], nxt: list[int]) -> None:
        rng = self.rng
        g = sec.borrow.get("bass", self.g)
        r = _recipe(g)
        voice = self.voice("bass_t", g)
        steps, spb = bar["steps"], self.rec.spb
        tonic = self.key + r.bass_center - 6 - (r.bass_center - 6 - self.key) % 12
        root = _place(tonic + chord[0], r.bass_center)
        nroot = _place(tonic + nxt[0], r.bass_center)
        third = chord[1] - chord[0] if len(chord) > 1 else 4
        fifth = 7
        notes: list[tuple[float, float, int, float]] = []  # step, length, pitch, velocity
        half = max(1, spb // 2)
        style = r.bass
        if style == "root8":
            for s in range(0, steps, half):
                p = root + (12 if s == steps - half and rng.random() < 0.3 else 0)
                notes.append((s, half * 0.9, p, 1.0 if s % spb == 0 else 0.75))
        elif style == "follow":
            for s, v in _hits(r.comp_pattern, steps):
                notes.append((s, 0.8, root - 12 if root > 40 else root, v))
        elif style == "octave":
            for i, s in enumerate(range(0, steps, half)):
                notes.append((s, half * 0.7, root + 12 * (i % 2), 0.9))
        elif style == "rootfifth":
            for beat in range(self.rec.beats):
                p = root if beat % 2 == 0 else root + fifth - (12 if root + fifth > 47 else 0)
                if beat == self.rec.beats - 1 and rng.random() < 0.4:
                    p = nroot - 2
                notes.append((beat * spb, spb * 0.8, p, 1.0))
        elif style == "walking":
            line = [root, root + third, root + fifth]
            for beat in range(self.rec.beats):
                if beat == self.rec.beats - 1:
                    p = nroot + int(rng.choice([-1, 1]))
                elif beat == 0:
                    p = root
                else:
                    p = int(rng.choice(line)) + int(rng.choice([0, 0, 2, -2]))
                notes.append((beat * spb, spb * 0.95, p, 0.9 + 0.1 * (beat == 0)))
        elif style == "boogie":
            figure = (0, third, 7, 9, 10, 9, 7, third)
            second = 2 if spb == 3 else 3 * spb // 4
            for beat in range(self.rec.beats):
                for j, off in enumerate((0, second)):
                    p = root + figure[(2 * beat + j) % len(figure)]
                    notes.append(
                        (
                            beat * spb + off,
                            (second if j == 0 else spb - second) * 0.9,
                            p,
                            1.0 if j == 0 else 0.7,
                        )
                    )
        elif style == "sub":
            hits = [s for s, _ in _hits(dict(r.drums).get("kick", "X..."), steps)]
            hits = sorted(set(hits)) or [0]
            for i, s in enumerate(hits):
                end = hits[i + 1] if i + 1 < len(hits) else steps
                notes.append((s, (end - s) * 0.95, root, 1.0))
        elif style == "reggae":
            figure = ((2, 2, 0), (4, 2, 7), (7, 1, 12), (8, 3, 10), (12, 2, 7), (14, 2, 0))
            for s, length, iv in figure:
                notes.append((s * steps / 16, length * steps / 16, root + iv - 12 * (iv > 7), 0.9))
        else:  # long
            notes.append((0, steps * 0.5, root, 1.0))
            notes.append(
                (
                    steps * 0.5,
                    steps * 0.5,
                    root + (fifth if rng.random() < 0.5 else 0) - (12 if root + fifth > 50 else 0),
                    0.9,
                )
            )
        gain = sec.gain
        for s, length, p, v in notes:
            n = max(1, int(length * bar["step"] * self.sr))
            _add(bus, self._sample(self._time(bar, s)), voice.note(p, n), v * gain)

    def _comp(self, bus, sec: _Section, bar: dict, chord: list[int], kind: str) -> None:
        rng = self.rng
        g = sec.borrow.get("comp", self.g)
        r = _recipe(g)
        voice = self.voice("comp_t", g)
        steps = bar["steps"]
        tonic = self.key
        center = r.comp_center
        if r.comp == "chug" and kind != "power":
            kind = "power"
            chord = [chord[0], chord[0] + 7, chord[0] + 12]
        tones = _voicing(chord, tonic, center, kind)
        step_n = bar["step"] * self.sr
        gain = sec.gain / np.sqrt(len(tones))
        style = r.comp
        if style == "pad":
            n = int(steps * step_n)
            for p in tones:
                _add(bus, self._sample(self._time(bar, 0)), voice.note(p, n), gain)
        elif style in ("stab", "chug", "strum"):
            hits = _hits(r.comp_pattern, steps)
            for i, (s, v) in enumerate(hits):
                if style == "chug":
                    length = 0.6 if v < 1 else 1.5
                elif style == "stab":
                    length = 1.0
                else:
                    nxt = hits[i + 1][0] if i + 1 < len(hits) else steps
                    length = max(1, nxt - s)
                n = max(1, int(length * step_n))
                t = self._time(bar, s)
                for j, p in enumerate(tones):
                    offset = 0.012 * j if style == "strum" else 0.0
                    _add(bus, self._sample(t + offset), voice.note(p, n), v * gain)
        elif style == "arp":
            ladder = tones + [p + 12 for p in tones]
            up_down = ladder + ladder[-2:0:-1]
            hits = _hits(r.comp_pattern, steps)
            n = max(1, int(2 * step_n))
            for i, (s, v) in enumerate(hits):
                p = up_down[(i + bar["b"] * len(hits)) % len(up_down)]
                _add(bus, self._sample(self._time(bar, s)), voice.note(p, n), v * gain * 1.6)
        else:  # jazz comping: sparse, syncopated stabs
            spb = self.rec.spb
            for beat in range(self.rec.beats):
                if rng.random() < 0.4:
                    s = beat * spb + int(rng.choice([0, spb - 1]))
                    n = max(1, int(rng.integers(1, 4) * step_n))
                    _add(bus, self._sample(self._time(bar, s)), voice.note(tones[0], n), 0.8 * gain)
                    for p in tones[1:]:
                        _add(bus, self._sample(self._time(bar, s)), voice.note(p, n), 0.8 * gain)

    def _lead(self, bus, sec: _Section, bar: dict, chord: list[int], mode, h: _Recipe) -> None:
        g = sec.borrow.get("lead", self.g)
        r = _recipe(g)
        voice = self.voice("lead", g)
        steps = bar["steps"]
        motif_bars = r.motif_bars
        i_motif = bar["b"] % motif_bars
        if g not in sec.motifs:
            # A separate stream, so the drawn motif does not shift the other draws.
            sec.motifs[g] = _motif(self._motif_rng, r, steps, sec.density)
        scale = _MELODY_SCALES.get(h.melody, mode)
        n_scale = len(scale)
        tonic = self.key + r.lead_center - 6 - (r.lead_center - 6 - self.key) % 12
        chord_pcs = {(c + self.key) % 12 for c in chord}
        rng = self.rng
        for s, length, deg in sec.motifs[g]:
            s -= i_motif * steps
            if not 0 <= s < steps:
                continue
            if rng.random() < r.lead_var:
                deg += int(rng.choice([-1, 1]))
            p = tonic + scale[deg % n_scale] + 12 * (deg // n_scale)
            if s % self.rec.spb == 0 and rng.random() < 0.7:
                for delta in (0, -1, 1, -2, 2):
                    if (p + delta) % 12 in chord_pcs:
                        p += delta
                        break
            n = max(1, int(min(length, steps - s + 2) * bar["step"] * self.sr))
            v = 0.8 + 0.2 * (s % self.rec.spb == 0)
            _add(bus, self._sample(self._time(bar, s)), voice.note(p, n), v * sec.gain)

    # ---- mix

    def _master(self, buses: dict[str, np.ndarray]) -> np.ndarray:
        rng, sr = self.rng, self.sr
        mix = np.zeros_like(buses["drums"])
        drives = {"bass": self.drive[0], "comp": self.drive[1], "lead": self.drive[2]}
        for (name, bus), level_db in zip(buses.items(), self.mix, strict=True):
            rms = float(np.sqrt(np.mean(bus[: self.n] ** 2)))
            if rms < 1e-9:
                continue
            bus = bus / rms
            drive = drives.get(name, 0.0)
            if drive > 0.3:
                bus = np.tanh(bus * (drive / 3.0)).astype(np.float32)
                bus /= float(np.sqrt(np.mean(bus[: self.n] ** 2))) + 1e-9
            mix += bus * np.float32(10 ** (level_db / 20))
        if self.crackle > 0:
            k = rng.poisson(self.crackle * self.n / sr)
            pos = rng.integers(0, self.n, k)
            np.add.at(mix, pos, (rng.standard_normal(k) * 4).astype(np.float32))

        # One FFT pass: EQ, reverb (convolution with decaying noise) and the noise floor.
        n_ir = int(min(self.room, 3.0) * sr)
        m = _fast_len(len(mix) + n_ir)
        spec = np.fft.rfft(mix, m)
        f = np.fft.rfftfreq(m, 1.0 / sr)
        ir = rng.standard_normal(n_ir) * np.exp(-np.arange(n_ir) / (self.room / 6.9 * sr))
        ir *= np.sqrt(1.0 / np.sum(ir**2))
        eq = (1.0 / np.sqrt(1.0 + (f / self.lowpass) ** 4)) / np.sqrt(
            1.0 + (30.0 / np.maximum(f, 1.0)) ** 4
        )
        eq *= 10 ** (self.tilt_db * np.log2(np.maximum(f, 1000.0) / 1000.0) / 20)
        spec *= eq * (1.0 + self.reverb * np.fft.rfft(ir, m))
        power = float(np.sum(np.abs(spec[1:]) ** 2))
        color = np.maximum(f, 20.0) ** (self.noise_color / 2)
        noise = (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))) * color
        noise *= np.sqrt(power / 10 ** (self.snr_db / 10) / float(np.sum(np.abs(noise) ** 2)))
        y = np.fft.irfft(spec + noise, m)[: self.n]
        y *= float(rng.uniform(0.5, 0.95)) / (np.abs(y).max() + 1e-12)
        return np.clip(y, -1.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- public API


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

    The file appears atomically (written under a temporary name in the same
    folder, then renamed), so a killed job never leaves a truncated WAV that
    Snakemake or a later reader would take for a finished one.

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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, y, int(sample_rate), subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
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
