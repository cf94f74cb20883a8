"""Which training samples make each batch of an epoch, and their loss weights.

No TensorFlow here: the Keras sequence in :mod:`divconq.train.keras_loop` only
gathers the batches this module names. Everything depends on (seed, epoch)
alone, so a run resumed at epoch ``e`` sees the same batches as an
uninterrupted one.
"""

from __future__ import annotations

import numpy as np

#: Extra words of the random-generator seeds (keep each stream apart).
ORDER_STREAM = 0x5EED
DRAW_STREAM = 0xD2A3


class WindowDraw:
    """A fresh, seeded choice of each track's windows every epoch.

    Parameters
    ----------
    starts, counts : np.ndarray, int, shape (n_tracks,)
        First sample and number of windows of each track in the sample array
        (:func:`divconq.train.data.track_runs`).
    cap : int
        Most windows of one track per epoch; a track with fewer gives all of them.
    seed : int
    """

    def __init__(self, starts, counts, cap: int, seed: int):
        self.starts = np.asarray(starts, dtype=np.int64)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.cap = int(cap)
        self.seed = int(seed)
        #: Samples per epoch (the same every epoch).
        self.size = int(np.minimum(self.counts, self.cap).sum())

    def indices(self, epoch: int) -> np.ndarray:
        """Sorted sample indices of epoch ``epoch``, shape (size,)."""
        rng = np.random.default_rng([self.seed, int(epoch), DRAW_STREAM])
        parts = []
        for start, count in zip(self.starts, self.counts, strict=True):
            if count <= self.cap:
                parts.append(np.arange(start, start + count))
            else:
                parts.append(start + np.sort(rng.choice(count, self.cap, replace=False)))
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def balance_weights(groups: np.ndarray) -> np.ndarray:
    """Sample weights that give every group the same total weight, mean 1.

    Parameters
    ----------
    groups : np.ndarray, int, shape (n,)
        Group (class or track) of each sample.

    Returns
    -------
    np.ndarray, float32, shape (n,)
    """
    groups = np.asarray(groups)
    if len(groups) == 0:
        return np.zeros(0, np.float32)
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    w = 1.0 / sizes[inverse]
    return (w * (len(w) / w.sum())).astype(np.float32)


class EpochOrder:
    """Seeded per-epoch order of the samples, batch by batch.

    Parameters
    ----------
    n : int
        Samples in the array.
    batch_size : int
    shuffle : bool
        A permutation seeded by (seed, epoch); else the array order.
    seed : int
    draw : WindowDraw, optional
        Each epoch uses only the samples it draws (default: all ``n``).
    groups : np.ndarray, int, shape (n,), optional
        Balance the loss over these groups (:func:`balance_weights` over the
        epoch's samples); None: no sample weights.
    """

    def __init__(self, n, batch_size, shuffle, seed, draw=None, groups=None):
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.draw = draw
        self.groups = None if groups is None else np.asarray(groups)
        self.epoch = 0
        self._epoch_of = None
        self._order = np.arange(self.n)
        self._weights = None

    @property
    def size(self) -> int:
        """Samples per epoch."""
        return self.n if self.draw is None else self.draw.size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _update(self) -> None:
        if self._epoch_of == self.epoch:
            return
        pool = np.arange(self.n) if self.draw is None else self.draw.indices(self.epoch)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch, ORDER_STREAM])
            pool = pool[rng.permutation(len(pool))]
        self._order = pool
        if self.groups is not None:
            self._weights = np.zeros(self.n, np.float32)
            self._weights[pool] = balance_weights(self.groups[pool])
        self._epoch_of = self.epoch

    def order(self) -> np.ndarray:
        """Sample order of the current epoch, shape (size,)."""
        if self.shuffle or self.draw is not None:
            self._update()
        return self._order

    def batch_indices(self, i: int) -> np.ndarray:
        idx = self.order()[i * self.batch_size : (i + 1) * self.batch_size]
        # Sorted within the batch: a forward gather through memory (same batch, same gradient).
        return np.sort(idx) if self.shuffle else idx

    def weights(self, idx: np.ndarray) -> np.ndarray | None:
        """Sample weights of samples ``idx`` in the current epoch (None: unweighted)."""
        if self.groups is None:
            return None
        self._update()
        return self._weights[idx]
