"""Genre recipes: timbres, drum kits and the tempo, harmony and style of each genre.

The ten base recipes are GTZAN-like; beyond ten genres, :func:`_recipe` mixes parts of them.
Tracks vary a recipe with :func:`_lerp_dataclass` and :func:`_jitter_dataclass`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import lru_cache

import numpy as np

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
