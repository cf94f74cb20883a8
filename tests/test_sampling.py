"""Per-epoch window draws, balancing weights and batch augmentation (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from divconq.train.augment import augment_batch, batch_rng
from divconq.train.config import TrainConfig
from divconq.train.data import track_runs
from divconq.train.sampling import EpochOrder, WindowDraw, balance_weights


def test_track_runs():
    starts, counts = track_runs(["a", "a", "b", "c", "c", "c"])
    assert starts.tolist() == [0, 2, 3] and counts.tolist() == [2, 1, 3]
    with pytest.raises(ValueError, match="contiguous"):
        track_runs(["a", "b", "a"])


def test_window_draw_caps_each_track_and_changes_per_epoch():
    # Three tracks of 50, 3 and 20 windows; at most 5 per track and epoch.
    starts, counts = np.array([0, 50, 53]), np.array([50, 3, 20])
    draw = WindowDraw(starts, counts, cap=5, seed=7)
    assert draw.size == 5 + 3 + 5
    e0, e1 = draw.indices(0), draw.indices(1)
    assert len(e0) == draw.size and np.all(np.diff(e0) > 0)
    for idx in (e0, e1):
        per_track = np.searchsorted(starts, idx, side="right") - 1
        assert np.bincount(per_track).tolist() == [5, 3, 5]
    assert list(range(50, 53)) == [i for i in e0 if 50 <= i < 53]  # the short track: all
    assert not np.array_equal(e0, e1)
    # Seeded by (seed, epoch) only: a new object (a resumed run) draws the same.
    assert np.array_equal(WindowDraw(starts, counts, 5, 7).indices(1), e1)
    assert not np.array_equal(WindowDraw(starts, counts, 5, 8).indices(1), e1)
    # Over many epochs every window of the long track comes up.
    seen = np.unique(np.concatenate([draw.indices(e) for e in range(120)]))
    assert set(range(50)) <= set(seen.tolist())


def test_balance_weights_even_out_groups():
    groups = np.array([0] * 6 + [1] * 2 + [2] * 4)
    w = balance_weights(groups)
    assert w.dtype == np.float32 and w.mean() == pytest.approx(1.0)
    totals = [w[groups == g].sum() for g in range(3)]
    np.testing.assert_allclose(totals, totals[0], rtol=1e-6)


def test_epoch_order_with_draw_and_weights():
    starts, counts = np.array([0, 10]), np.array([10, 2])
    draw = WindowDraw(starts, counts, cap=4, seed=0)
    groups = np.repeat([0, 1], counts)
    order = EpochOrder(12, 3, True, 0, draw=draw, groups=groups)
    assert order.size == 6
    order.set_epoch(2)
    batches = [order.batch_indices(i) for i in range(2)]
    got = np.sort(np.concatenate(batches))
    assert np.array_equal(got, draw.indices(2))
    w = order.weights(got)
    # 4 windows of track 0, 2 of track 1: each track weighs 3 in total.
    assert w[got < 10].sum() == pytest.approx(3.0) and w[got >= 10].sum() == pytest.approx(3.0)
    assert EpochOrder(12, 3, True, 0).weights(np.arange(3)) is None


def _batch(b=8, t=30, m=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (b, t, m, 1)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, b)]
    return x, y


def test_augmentation_off_is_the_identity():
    x, y = _batch()
    x2, y2, w2 = augment_batch(x.copy(), y.copy(), None, TrainConfig(), batch_rng(0, 0, 0), 1)
    assert np.array_equal(x2, x) and np.array_equal(y2, y) and w2 is None
    assert not TrainConfig().augments()


def test_gain_is_a_constant_per_sample_in_db():
    x, y = _batch()
    scale = np.linspace(0.5, 2.0, 16).astype(np.float32)  # 1 / std per band
    cfg = TrainConfig(gain_db=6.0)
    x2, _, _ = augment_batch(x.copy(), y, None, cfg, batch_rng(1, 2, 3), scale)
    shift_db = (x2 - x)[..., 0] / scale[None, None, :]
    per_sample = shift_db.reshape(len(x), -1)
    np.testing.assert_allclose(per_sample - per_sample[:, :1], 0, atol=1e-4)
    assert np.all(np.abs(per_sample[:, 0]) <= 6.0) and np.std(per_sample[:, 0]) > 0.5


def test_masks_zero_stripes_within_the_widths():
    x, y = _batch()
    cfg = TrainConfig(time_masks=2, time_mask_frames=5, freq_masks=1, freq_mask_bands=4)
    x2, y2, _ = augment_batch(x.copy(), y.copy(), None, cfg, batch_rng(0, 0, 0), 1)
    assert np.array_equal(y2, y)
    zero = x2[..., 0] == 0
    changed = x2 != x
    assert np.all(x2[changed] == 0)
    for i in range(len(x)):
        full_frames = zero[i].all(axis=1).sum()
        full_bands = zero[i].all(axis=0).sum()
        assert full_frames <= 10 and full_bands <= 4
    assert zero.any()


def test_mixup_mixes_labels_and_is_seeded_per_batch():
    x, y = _batch()
    w = np.ones(len(x), np.float32)
    cfg = TrainConfig(mixup_alpha=0.4)
    a = augment_batch(x.copy(), y.copy(), w, cfg, batch_rng(0, 1, 2), 1)
    b = augment_batch(x.copy(), y.copy(), w, cfg, batch_rng(0, 1, 2), 1)
    c = augment_batch(x.copy(), y.copy(), w, cfg, batch_rng(0, 1, 3), 1)
    for u, v in zip(a, b, strict=True):
        assert np.array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    np.testing.assert_allclose(a[1].sum(axis=1), 1.0, rtol=1e-6)
    assert a[1].max(axis=1).min() < 1.0  # some labels are mixed
    np.testing.assert_allclose(a[2], 1.0)
