"""Slicing arithmetic and equality of the features with librosa."""

import librosa
import numpy as np
import pytest
from conftest import write_tone

from divconq.data.audio import load
from divconq.data.features import (
    FeatureParams,
    read_hdf5,
    snippet_mask,
    track_features,
    window_starts,
    write_hdf5,
)
from divconq.shared.melspec import mel_filterbank

P = FeatureParams()
SR = P.sample_rate

# Stated tolerance: float32 FFTs against librosa's float32 STFT agree to well
# under 1e-3 dB (measured: ~1e-5 dB); the test allows 1e-3 dB.
TOLERANCE_DB = 1e-3


def signal(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.1 * np.sin(t))) + 0.05 * rng.standard_normal(
        len(t)
    )
    return y.astype(np.float32)


def librosa_logmel(y, params=P):
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=params.sample_rate,
        n_fft=params.n_fft,
        hop_length=params.hop_length,
        n_mels=params.n_mels,
    )
    return librosa.power_to_db(mel)


def test_reference_shape_is_100_by_130():
    assert P.snippet_samples == 66150
    assert P.n_frames == 130
    assert P.n_clip_frames == 1292


@pytest.mark.parametrize(
    "seconds, n_windows, n_snippets",
    [(30, 28, 14), (29.99, 27, 14), (2, 1, 1), (3, 1, 1), (600, 598, 14), (10, 8, 4)],
)
def test_slicing_arithmetic(seconds, n_windows, n_snippets):
    starts = window_starts(int(round(seconds * SR)), P)
    mask = snippet_mask(len(starts), P)
    assert len(starts) == n_windows
    assert mask.sum() == n_snippets
    assert np.all(np.diff(starts) == SR)  # windows every 1 s: 2 s overlap


def test_training_snippets_every_two_seconds_first_fourteen():
    starts = window_starts(30 * SR, P) / SR
    mask = snippet_mask(len(starts), P)
    np.testing.assert_array_equal(starts[mask], np.arange(0, 28, 2))


def test_random_selection_is_seeded_per_track_and_on_the_snippet_grid():
    params = FeatureParams(snippet_selection="random", selection_seed=3)
    a = snippet_mask(598, params, "rock/x")
    assert a.sum() == 14
    np.testing.assert_array_equal(a, snippet_mask(598, params, "rock/x"))
    assert not np.array_equal(a, snippet_mask(598, params, "rock/y"))
    assert np.all(np.flatnonzero(a) % 2 == 0)


def test_snippet_hop_must_be_multiple_of_window_hop():
    with pytest.raises(ValueError, match="whole multiple"):
        FeatureParams(snippet_hop_s=1.5, window_hop_s=1.0)


def test_mel_filterbank_equals_librosa():
    ref = librosa.filters.mel(sr=SR, n_fft=2048, n_mels=100)
    np.testing.assert_allclose(mel_filterbank(SR, 2048, 100), ref, atol=1e-7)


def test_every_window_equals_librosa():
    y = signal(12.5)
    y[3 * SR : 5 * SR] = 0  # silence inside a window exercises the top_db floor
    feats = track_features(y, P, "a/b")
    assert feats.mel_db.shape == (10, 100, 130)
    for i, start in enumerate(feats.start_s):
        s = int(round(start * SR))
        ref = librosa_logmel(y[s : s + P.snippet_samples])
        assert np.abs(feats.mel_db[i] - ref).max() < TOLERANCE_DB


def test_clip_equals_librosa_on_the_first_30_seconds():
    y = signal(31)
    feats = track_features(y, P)
    ref = librosa_logmel(y[: P.clip_samples])
    assert feats.clip_mel_db.shape == (100, 1292)
    assert np.abs(feats.clip_mel_db - ref).max() < TOLERANCE_DB


def test_short_track_is_padded_not_dropped():
    y = signal(1.0)
    feats = track_features(y, P)
    assert feats.padded
    assert feats.mel_db.shape == (1, 100, 130)
    assert feats.is_snippet.tolist() == [True]
    padded = np.concatenate([y, np.zeros(P.snippet_samples - len(y), np.float32)])
    assert np.abs(feats.mel_db[0] - librosa_logmel(padded)).max() < TOLERANCE_DB


def test_ten_minute_track_windows():
    feats = track_features(signal(600, seed=1), P, clip=False)
    assert feats.mel_db.shape == (598, 100, 130)
    assert feats.is_snippet.sum() == 14
    assert feats.clip_mel_db is None


def test_hdf5_round_trip_is_self_describing(tmp_path):
    y = signal(30)
    feats = track_features(y, P, "blues/blues.00001")
    path = tmp_path / "x" / "blues.00001.h5"
    write_hdf5(path, feats, P, track="blues/blues.00001", label="blues", source_path="in.wav")
    back, params, attrs = read_hdf5(path, clip=True)
    assert params == P
    np.testing.assert_array_equal(back.mel_db, feats.mel_db)
    np.testing.assert_array_equal(back.is_snippet, feats.is_snippet)
    np.testing.assert_array_equal(back.clip_mel_db, feats.clip_mel_db)
    assert attrs["label"] == "blues" and attrs["source_path"] == "in.wav"
    for key in ("numpy_version", "h5py_version", "libsndfile_version", "divconq_version"):
        assert key in attrs
    assert not list(path.parent.glob(".*part"))


def test_load_resamples_and_mixes_down_like_librosa(tone):
    path = tone("st.wav", duration_s=2.0, sr=44100, channels=2)
    y = load(path, sr=SR)
    ref, _ = librosa.load(path, sr=SR, mono=True)
    assert y.dtype == np.float32 and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, atol=1e-4)


@pytest.mark.parametrize("name, sr, channels", [("s.wav", 48000, 2), ("m.mp3", 44100, 1)])
def test_stream_pieces_make_up_load(tmp_path, name, sr, channels):
    """``stream`` (decoding read by read, resampling as it goes) and ``load`` give the
    same samples, over many decoder reads; ``probe`` counts them without keeping them."""
    from divconq.data.audio import BLOCK_FRAMES, probe, stream
    from divconq.data.mp3 import to_mp3

    seconds = 3.2 * BLOCK_FRAMES / sr
    path = write_tone(tmp_path / "src.wav", duration_s=seconds, sr=sr, channels=channels)
    if name.endswith(".mp3"):
        to_mp3(path, tmp_path / name)
        path = tmp_path / name
    pieces = list(stream(path, sr=SR))
    assert len(pieces) >= 4 and all(p.dtype == np.float32 and p.ndim == 1 for p in pieces)
    y = load(path, sr=SR)
    np.testing.assert_array_equal(np.concatenate(pieces), y)
    info = probe(path)
    assert info.channels == channels and info.sample_rate == sr
    assert info.duration_s == pytest.approx(len(y) / SR, abs=1e-3)
    stereo = load(path, sr=SR, mono=False)
    assert stereo.shape == (len(y), channels)


def test_frame_windows_views_evenly_spaced_windows_and_pads_the_end():
    from divconq.data.features import frame_windows

    y = np.arange(100, dtype=np.float32)
    even = frame_windows(y, np.array([0, 30, 60]), 40)  # the last one runs past the end
    expected = np.stack([np.r_[y, np.zeros(40)][s : s + 40] for s in (0, 30, 60)])
    np.testing.assert_array_equal(even, expected)
    assert not even.flags.owndata  # a view, not 3 copies
    uneven = frame_windows(y, np.array([5, 10, 50]), 20)
    np.testing.assert_array_equal(uneven, np.stack([y[s : s + 20] for s in (5, 10, 50)]))
    np.testing.assert_array_equal(frame_windows(y[:7], np.array([0]), 10)[0], np.r_[y[:7], 0, 0, 0])
