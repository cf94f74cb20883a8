"""The Keras side of training: TensorFlow set-up, the batch sequence, resumable callbacks.

Imported lazily by :mod:`divconq.train.run` (this module imports Keras, and so
TensorFlow, at the top): reading data, checking a config or a resume state
needs neither.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from divconq.shared.fileio import plain, write_json
from divconq.shared.sysinfo import prefer_onednn
from divconq.train.augment import augment_batch, batch_rng
from divconq.train.state import clear_dir

# Before TensorFlow's first import, which reads it: oneDNN's kernels on any AVX2 CPU
# (TensorFlow's default picks its ~3x slower Eigen ones there; see divconq.shared.sysinfo).
prefer_onednn()

import keras  # noqa: E402

log = logging.getLogger(__name__)

#: Metrics of every epoch, in history.csv order (train, then ``val_``).
METRICS = ("loss", "accuracy", "precision", "recall")


def configure_tensorflow(
    seed: int, threads: int | None = None, deterministic: bool = True, mixed_precision=False
) -> dict:
    """Threads, seeds, determinism, GPU memory growth and precision policy.

    Thread counts can only be set before TensorFlow starts its runtime; if it
    already has (e.g. a second run in the same process), the setting is skipped
    with a log message.

    Returns
    -------
    dict
        ``devices`` (GPUs seen), ``threads``, ``deterministic``, ``precision``.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(min(2, int(threads)))
        except RuntimeError as err:  # runtime already initialized
            log.info("thread counts not set (%s)", err)
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError) as err:
            log.info("GPU memory growth not set (%s)", err)
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    policy = "mixed_float16" if mixed_precision else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return {
        "devices": [g.name for g in gpus] or ["CPU"],
        "threads": threads,
        "deterministic": bool(deterministic),
        "precision": policy,
    }


def compile_model(model, learning_rate: float) -> None:
    """Adam, categorical cross-entropy; accuracy, precision and recall.

    Sample weights (``balance``) weight the loss only; the metrics are unweighted.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="categorical_crossentropy",
        metrics=[
            "accuracy",
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
        ],
    )


def tf_version() -> str:
    import tensorflow as tf

    return tf.__version__


def gpu_peak_mb() -> dict:
    """Peak memory TensorFlow allocated on each GPU so far, in MiB ({} without a GPU)."""
    import tensorflow as tf

    peaks = {}
    for i, _ in enumerate(tf.config.list_logical_devices("GPU")):
        try:
            info = tf.config.experimental.get_memory_info(f"GPU:{i}")
        except (ValueError, RuntimeError):  # a device without allocator statistics
            continue
        peaks[f"GPU:{i}"] = round(info["peak"] / 2**20, 1)
    return peaks


class ArraySequence(keras.utils.PyDataset):
    """Batches of in-memory arrays, in the order of a :class:`divconq.train.sampling.EpochOrder`.

    Call ``set_epoch(e)`` before each epoch (:class:`ResumeCheckpoint` does).
    Each batch is one fancy-index gather of ``batch_size`` samples (the data set
    itself is never copied), then augmented if ``augment`` is given.

    Parameters
    ----------
    x : np.ndarray, shape (n, ...)
    y : np.ndarray, shape (n, n_classes)
    order : divconq.train.sampling.EpochOrder
    augment : TrainConfig, optional
        Its augmentation keys, applied to every batch (None: none).
    gain_scale : np.ndarray, shape (mel,), optional
        ``1 / std`` of the normalization (see :func:`divconq.train.augment.augment_batch`).
    """

    def __init__(self, x, y, order, augment=None, gain_scale=None):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y = x, y
        self.sampler = order
        self.augment = augment if augment is not None and augment.augments() else None
        self.gain_scale = gain_scale

    def __len__(self):
        return math.ceil(self.sampler.size / self.sampler.batch_size)

    def set_epoch(self, epoch):
        self.sampler.set_epoch(epoch)

    def __getitem__(self, i):
        idx = self.sampler.batch_indices(i)
        x, y, w = self.x[idx], self.y[idx], self.sampler.weights(idx)
        if self.augment is not None:
            rng = batch_rng(self.sampler.seed, self.sampler.epoch, i)
            x, y, w = augment_batch(x, y, w, self.augment, rng, self.gain_scale)
        return (x, y) if w is None else (x, y, w)


class _ResumableCounters:
    """Mixin: the ``STATE`` attributes are saved each epoch and restored on restart.

    Keras resets the counters in ``on_train_begin``; the saved values are put
    back after that (a value saved as None was unset and keeps its reset value).
    """

    STATE: tuple = ()

    def __init__(self, *args, restore=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._restore = restore

    def get_state(self) -> dict:
        return {k: plain(getattr(self, k, None), keep_inf=True) for k in self.STATE}

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for k, v in (self._restore or {}).items():
            if v is not None:
                setattr(self, k, v)


class ResumableEarlyStopping(_ResumableCounters, keras.callbacks.EarlyStopping):
    """EarlyStopping whose counters survive a restart."""

    STATE = ("wait", "best", "best_epoch", "stopped_epoch")


class ResumableReduceLROnPlateau(_ResumableCounters, keras.callbacks.ReduceLROnPlateau):
    """ReduceLROnPlateau whose counters survive a restart (the rate is the optimizer's)."""

    STATE = ("wait", "cooldown_counter", "best")


def reseed_layers(model, seed: int, epoch: int) -> int:
    """Set every layer random generator (dropout) to a state fixed by (seed, epoch).

    Keras does not save the generators' states with a model, so a resumed run
    would otherwise draw other dropout masks than an uninterrupted one. Returns
    the number of generators set.
    """
    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    for k, var in enumerate(states):
        base = (int(seed) * 1_000_003 + k * 7_919 + 12_345) % 2**31
        var.assign(np.array([base, int(epoch) << 24], dtype=var.dtype))
    return len(states)


def monitor_mode(monitor: str) -> str:
    """``max`` for an accuracy, ``min`` for a loss (Keras' ``mode`` of its callbacks)."""
    return "max" if monitor.endswith("accuracy") else "min"


def improves(current, best, mode: str) -> bool:
    """Whether ``current`` beats ``best`` (None: nothing yet) in direction ``mode``."""
    if current is None:
        return False
    if best is None:
        return True
    return float(current) > best if mode == "max" else float(current) < best


class ResumeCheckpoint(keras.callbacks.Callback):
    """After each epoch: history row, best weights, full model, state file.

    Must be the last of the training callbacks so that the others have
    updated their counters (and the learning rate) for this epoch.
    The state file is replaced atomically and written last, so it always
    names complete files; files it no longer names are removed.
    """

    def __init__(self, state_dir, state: dict, sequences, monitor: str, stateful=()):
        super().__init__()
        self.state_dir = Path(state_dir)
        self.state = state
        self.sequences = sequences
        self.monitor = monitor
        self.stateful = list(stateful)
        self._lr = None
        self._t0 = None

    def on_epoch_begin(self, epoch, logs=None):
        for seq in self.sequences:
            seq.set_epoch(epoch)
        reseed_layers(self.model, self.state.get("seed", 0), epoch)
        self._lr = plain(self.model.optimizer.learning_rate.numpy(), keep_inf=True)
        self._t0 = time.perf_counter()

    def _history_row(self, epoch, logs) -> dict:
        row = {"epoch": int(epoch)}
        for key in (*METRICS, *(f"val_{m}" for m in METRICS)):
            if key in logs:
                row[key] = plain(logs[key], keep_inf=True)
        row["lr"] = self._lr
        row["time_s"] = round(time.perf_counter() - self._t0, 3)
        return row

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        st = self.state
        st["history"] = [r for r in st["history"] if r["epoch"] < epoch]
        st["history"].append(self._history_row(epoch, logs))
        current = logs.get(self.monitor)
        best = st.get("best_value")
        improved = improves(current, best, monitor_mode(self.monitor))
        if improved or st.get("best_weights") is None:
            name = f"best-{epoch:04d}.weights.h5"
            self.model.save_weights(self.state_dir / name)
            st.update(best_epoch=int(epoch), best_weights=name)
            st["best_value"] = plain(current, keep_inf=True) if improved else best
        name = f"checkpoint-{epoch:04d}.keras"
        self.model.save(self.state_dir / name)
        st.update(
            epoch=int(epoch),
            checkpoint=name,
            stopped=bool(self.model.stop_training),
            callbacks={type(c).__name__: c.get_state() for c in self.stateful},
        )
        write_json(self.state_dir / "state.json", st, fsync=True, keep_inf=True)
        clear_dir(self.state_dir, keep={"state.json", st["checkpoint"], st.get("best_weights")})


def make_callbacks(cfg, monitor: str, state_dir, state: dict, sequences) -> list:
    """Early stopping, learning-rate schedule and the checkpoint, in that order.

    The first two start from the counters saved in ``state`` (if any).
    """
    saved = state.get("callbacks", {})
    mode = monitor_mode(monitor)
    early = ResumableEarlyStopping(
        monitor=monitor,
        mode=mode,
        patience=cfg.patience,
        restore=saved.get("ResumableEarlyStopping"),
    )
    plateau = ResumableReduceLROnPlateau(
        monitor=monitor,
        mode=mode,
        factor=cfg.lr_factor,
        patience=cfg.lr_patience,
        min_lr=cfg.min_lr,
        restore=saved.get("ResumableReduceLROnPlateau"),
    )
    ckpt = ResumeCheckpoint(state_dir, state, sequences, monitor, stateful=[early, plateau])
    return [early, plateau, ckpt]
