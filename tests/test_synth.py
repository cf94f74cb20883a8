"""The synthetic GTZAN-shaped dataset: determinism, format, and genre differences."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from divconq.data import synth

SR = 22050


def _track(label, index=0, **kwargs):
    kwargs.setdefault("duration_s", 3.0)
    return synth.synthesize_track(label, index, **kwargs)


def test_genre_names():
    assert synth.GENRES == (
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
    assert synth.genre_names(3) == ["blues", "classical", "country"]
    assert synth.genre_names(10) == list(synth.GENRES)
    assert synth.genre_names(12)[10:] == ["genre10", "genre11"]
    with pytest.raises(ValueError):
        synth.genre_names(0)


def test_track_name():
    assert synth.track_name("blues", 7) == "blues.00007"
    assert synth.track_name("genre12", 12345) == "genre12.12345"


@pytest.mark.parametrize("label", synth.GENRES)
def test_shape_dtype_range(label):
    y = _track(label, 1)
    assert y.dtype == np.float32
    assert y.shape == (3 * SR,)
    assert np.all(np.isfinite(y))
    assert np.abs(y).max() <= 1.0
    # Not silence, and not clipped flat.
    assert 0.01 < float(y.std()) < 0.6


def test_odd_durations_and_rates():
    assert _track("jazz", duration_s=1.2345).shape == (round(1.2345 * SR),)
    assert _track("jazz", duration_s=2.0, sample_rate=8000).shape == (16000,)
    assert _track("jazz", duration_s=0.01).shape == (round(0.01 * SR),)


def test_derived_genres():
    a = _track("genre10", n_genres=12)
    b = _track("genre11", n_genres=12)
    assert a.shape == b.shape == (3 * SR,)
    assert not np.array_equal(a, b)
    with pytest.raises(ValueError):
        _track("genre10", n_genres=10)
    with pytest.raises(ValueError):
        _track("rock", n_genres=3)


def test_deterministic():
    a = _track("reggae", 4, seed=3, difficulty=0.7)
    b = _track("reggae", 4, seed=3, difficulty=0.7)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, _track("reggae", 5, seed=3, difficulty=0.7))
    assert not np.array_equal(a, _track("reggae", 4, seed=4, difficulty=0.7))
    assert not np.array_equal(a, _track("reggae", 4, seed=3, difficulty=0.2))


def test_order_independent():
    ref = _track("pop", 2, seed=1)
    # Generating other tracks first (filling the module's caches) changes nothing.
    for label in ("metal", "classical", "pop"):
        _track(label, 9, seed=1)
        _track(label, 2, seed=7)
    assert np.array_equal(ref, _track("pop", 2, seed=1))


def test_write_track(tmp_path):
    path = tmp_path / "out" / "blues" / "blues.00003.wav"
    got = synth.write_track(path, "blues", 3, duration_s=4.0)
    assert got == path
    info = sf.info(str(path))
    assert info.samplerate == SR
    assert info.channels == 1
    assert info.subtype == "PCM_16"
    assert info.format == "WAV"
    assert info.frames == 4 * SR
    # Only the finished file is left: the temporary one was renamed.
    assert [p.name for p in path.parent.iterdir()] == ["blues.00003.wav"]
    data, _ = sf.read(str(path), dtype="float32")
    ref = _track("blues", 3, duration_s=4.0)
    assert np.abs(data - ref).max() < 2.0 / 32768


def test_write_dataset(tmp_path):
    paths = synth.write_dataset(tmp_path, genres=2, tracks_per_genre=2, duration_s=1.0)
    rel = [p.relative_to(tmp_path).as_posix() for p in paths]
    assert rel == [
        "blues/blues.00000.wav",
        "blues/blues.00001.wav",
        "classical/classical.00000.wav",
        "classical/classical.00001.wav",
    ]
    assert all(sf.info(str(p)).frames == SR for p in paths)


def _centroid(y):
    """Mean spectral centroid (Hz) over 1024-sample frames."""
    frames = y[: len(y) // 1024 * 1024].reshape(-1, 1024) * np.hanning(1024)
    power = np.abs(np.fft.rfft(frames, axis=1)).sum(0)
    return float(np.sum(power * np.fft.rfftfreq(1024, 1 / SR)) / power.sum())


def _low_share(y):
    """Share of the energy below 150 Hz."""
    power = np.abs(np.fft.rfft(y)) ** 2
    return float(power[np.fft.rfftfreq(len(y), 1 / SR) < 150].sum() / power.sum())


def test_genres_differ():
    # At difficulty 0 the recipes' defining traits show up in simple statistics:
    # classical (strings, no drums) is darker than distorted metal, and hiphop
    # (808 bass, dull samples) has more sub-bass than metal. Medians over a few
    # tracks keep one unusual track (e.g. an intro without bass) from deciding.
    def stats(label, fn):
        return np.median([fn(_track(label, i, duration_s=5.0, difficulty=0.0)) for i in range(5)])

    assert stats("classical", _centroid) * 1.5 < stats("metal", _centroid)
    assert stats("hiphop", _low_share) > stats("metal", _low_share) + 0.2


def test_cli_writes_several_tracks_of_a_genre(tmp_path):
    """The workflow's per-genre job: one process, one WAV per --index value."""
    import subprocess
    import sys

    outs = [tmp_path / "rock" / "rock.00003.wav", tmp_path / "rock" / "rock.00004.wav"]
    args = ["--label", "rock", "--n-genres", "10", "--duration", "2", "--sample-rate", "8000"]
    cmd = [sys.executable, "-m", "divconq.cli", "synth", *map(str, outs), *args]
    done = subprocess.run([*cmd, "--index", "3", "4"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for path, index in zip(outs, (3, 4), strict=True):
        y, sr = sf.read(path, dtype="float32")
        want = synth.synthesize_track("rock", index, duration_s=2, sample_rate=8000)
        assert sr == 8000
        np.testing.assert_allclose(y, want, atol=1 / 2**15)
    bad = subprocess.run([*cmd, "--index", "3"], capture_output=True, text=True)
    assert bad.returncode != 0 and "2 outputs but 1 --index values" in bad.stderr
