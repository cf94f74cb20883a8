"""Rendering of one track: draws its variant of the genre, plays every section, masters."""

from __future__ import annotations

import numpy as np

from divconq.data.synth.harmony import _chord, _place, _voicing
from divconq.data.synth.recipes import (
    _MELODY_SCALES,
    _MODES,
    _clean_kit,
    _clean_timbre,
    _jitter_dataclass,
    _lerp_dataclass,
    _Recipe,
    _recipe,
    _Timbre,
)
from divconq.data.synth.sounds import _add, _drum_sounds, _fast_len, _hits, _Voice
from divconq.data.synth.structure import _motif, _plan, _Section

# Room after the last bar for notes and reverb tails that ring past the end.
_TAIL_S = 2.5


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
