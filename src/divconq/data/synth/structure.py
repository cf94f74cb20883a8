"""Song structure: sections (intro, verse, chorus, ...) and melodic motifs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from divconq.data.synth.recipes import _Recipe


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
