"""Batch augmentation of normalized log-mel snippets (numpy, no TensorFlow).

Each is off by default and set by a ``training`` key (:class:`TrainConfig`):
random gain, SpecAugment-style time and frequency masking, and mixup, applied
in that order to one batch with a generator seeded by (seed, epoch, batch), so
a resumed run draws the same augmentations as an uninterrupted one.

The batch is already normalized per mel band, ``(x_db - mean) / std``; a gain of
``g`` dB on the log-mel is therefore ``g / std`` per band here, and a masked
region is set to 0, the training mean of its band.
"""

from __future__ import annotations

import numpy as np

from divconq.train.config import TrainConfig

AUGMENT_STREAM = 0xA06


def batch_rng(seed: int, epoch: int, batch: int) -> np.random.Generator:
    """The generator of one batch's augmentations."""
    return np.random.default_rng([int(seed), int(epoch), int(batch), AUGMENT_STREAM])


def _mask(x: np.ndarray, axis: int, n_masks: int, max_width: int, rng) -> None:
    """Zero ``n_masks`` stripes of 0..max_width along ``axis`` (1 time, 2 mel) per sample."""
    size = x.shape[axis]
    widths = rng.integers(0, min(max_width, size) + 1, size=(len(x), n_masks))
    starts = (rng.random((len(x), n_masks)) * (size - widths + 1)).astype(np.int64)
    for i in range(len(x)):
        for w, s in zip(widths[i], starts[i], strict=True):
            if axis == 1:
                x[i, s : s + w] = 0.0
            else:
                x[i, :, s : s + w] = 0.0


def augment_batch(x, y, w, cfg: TrainConfig, rng, gain_scale):
    """Augment one batch in place where possible.

    Parameters
    ----------
    x : np.ndarray, float32, shape (b, time, mel, 1)
        Normalized samples (a copy: modified in place).
    y : np.ndarray, float32, shape (b, n_classes)
        One-hot labels.
    w : np.ndarray, float32, shape (b,), or None
        Sample weights.
    cfg : TrainConfig
    rng : np.random.Generator
        :func:`batch_rng` of this batch.
    gain_scale : np.ndarray, float32, shape (mel,)
        ``1 / std`` of the normalization: one dB of gain in normalized units.

    Returns
    -------
    x, y, w
        The batch; ``y`` and ``w`` are mixed too under mixup.
    """
    b = len(x)
    if cfg.gain_db > 0:
        g = rng.uniform(-cfg.gain_db, cfg.gain_db, size=b).astype(np.float32)
        x += g[:, None, None, None] * np.asarray(gain_scale, np.float32)[None, None, :, None]
    if cfg.time_masks and cfg.time_mask_frames:
        _mask(x, 1, cfg.time_masks, cfg.time_mask_frames, rng)
    if cfg.freq_masks and cfg.freq_mask_bands:
        _mask(x, 2, cfg.freq_masks, cfg.freq_mask_bands, rng)
    if cfg.mixup_alpha > 0:
        lam = rng.beta(cfg.mixup_alpha, cfg.mixup_alpha, size=b).astype(np.float32)
        partner = rng.permutation(b)
        # x + (1 - lam) (x[partner] - x), in place: no full-size float temporaries but one.
        other = x[partner]
        other -= x
        other *= (1 - lam)[:, None, None, None]
        x += other
        y = lam[:, None] * y + (1 - lam[:, None]) * y[partner]
        if w is not None:
            w = lam * w + (1 - lam) * w[partner]
    return x, y, w
