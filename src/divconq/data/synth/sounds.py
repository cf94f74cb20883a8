"""Sound sources: wavetables, band noise, the drum kit, pitched voices, and mixing onto a bus."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from divconq.data.synth.recipes import _Kit, _Timbre

# Power of two, so that a phase wraps with a bit mask; 4096 points keep the
# nearest-neighbour lookup error of the 64th harmonic below 1 % of a cycle.
_TABLE = 4096
_MAX_HARMONICS = 64
# Harmonic counts a wavetable is built with; a note uses the largest one below Nyquist.
_HARMONIC_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
# Velocities of the hit symbols of a drum pattern.
_VELOCITY = {"X": 1.0, "x": 0.7, "o": 0.35}


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
