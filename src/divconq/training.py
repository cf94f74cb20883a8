"""Train one model (one experiment, one seed) on the training split.

:func:`train` reads the split manifest (``results/split/manifest.csv``) and the
per-track HDF5 files, and writes a model directory
(``results/models/<experiment>/seed<N>/``, see ``docs/architecture.md``):

``model.keras``
    The weights of the epoch with the lowest validation loss (Keras 3 native
    format, an inference model without optimizer).
``history.csv``
    One row per epoch: ``epoch`` (from 0), ``loss``, ``accuracy``, ``precision``,
    ``recall``, the ``val_`` versions, ``lr`` (learning rate used during the epoch)
    and ``time_s``.
``preprocessing.json``
    Class names, the HDF5 files' :class:`~divconq.features.FeatureParams`, the
    input kind, the per-mel-band normalization, experiment, seed and preset.
``training.json``
    Run facts: epochs run, best epoch, early stop, snippet counts, devices,
    threads, timings, resumes.

Data
----
Training samples are the ``mel_db[is_snippet]`` windows of the ``train`` tracks
(``input: snippets``) or their ``clip_mel_db`` (``input: clip``); validation the
same of the ``val`` tracks. All of a split is loaded once into one float32 array
(time, mel, 1) per sample (GTZAN: ~11k snippets, 572 MB), normalized in place
with the per-mel-band mean and standard deviation of the *training* samples
only, and batched by :func:`array_sequence` (a seeded permutation per epoch, one
small gather per batch): no second copy of the data set exists.

Reproducibility and resumption
------------------------------
A run is seeded (``keras.utils.set_random_seed`` and TensorFlow op determinism),
and the batch order depends only on (seed, epoch). After every epoch the full
training state (the model with its optimizer, the early-stopping and
learning-rate schedule counters, the best validation loss and its weights, the
history) is written to a *state directory* next to the output,
``results/models/<experiment>/seed<N>.resume/``. Snakemake deletes the outputs
of a failed or killed job, but not this folder: when the rule runs again the
training continues after the last finished epoch. The state carries a
fingerprint of everything that shapes the run (data, model, training
parameters); a state that does not match is discarded. The folder is removed
once the model directory is complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from divconq.features import FeatureParams, read_params
from divconq.split import read_manifest, spectrogram_path

log = logging.getLogger(__name__)

#: Version of the resume state layout; a state of another version is discarded.
STATE_VERSION = 1
#: Snippets per chunk when computing statistics and normalizing (bounds temporaries).
CHUNK = 512
#: A mel band whose training std is below this is left unscaled (std stored as 1).
MIN_STD = 1e-6
#: Metrics of every epoch, in history.csv order (train, then ``val_``).
METRICS = ("loss", "accuracy", "precision", "recall")


@dataclass
class TrainConfig:
    """Training hyper-parameters (the ``training`` section of the config).

    The article's values: Adam with learning rate 1e-4, batch 32, categorical
    cross-entropy, early stopping and learning-rate reduction on the validation
    loss, the best model by validation loss kept.

    Attributes
    ----------
    epochs : int
        Most epochs.
    patience : int
        Early stopping: epochs without a lower validation loss before stopping.
    lr_patience : int
        ReduceLROnPlateau: epochs without improvement before the rate is cut.
    lr_factor : float
        ReduceLROnPlateau factor.
    min_lr : float
        Floor of the learning rate.
    learning_rate : float
        Adam's initial learning rate.
    batch_size : int
    mixed_precision : bool
        ``mixed_float16`` compute (GPUs with tensor cores); the softmax stays float32.
    threads : int or None
        TensorFlow intra-op threads (None: TensorFlow's choice).
    deterministic : bool
        TensorFlow op determinism (same history for the same seed on the same machine).
    verbose : int
        Keras progress output (0 silent, 2 one line per epoch).
    """

    epochs: int = 30
    patience: int = 5
    lr_patience: int = 2
    lr_factor: float = 0.5
    min_lr: float = 1e-6
    learning_rate: float = 1e-4
    batch_size: int = 32
    mixed_precision: bool = False
    threads: int | None = None
    deterministic: bool = True
    verbose: int = 0

    @classmethod
    def from_dict(cls, d: dict | None) -> TrainConfig:
        """Build from a dict (the config's ``training`` section); unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in names})

    def shaping(self) -> dict:
        """The fields that change the trained model (not threads or verbosity)."""
        d = asdict(self)
        for k in ("threads", "verbose"):
            d.pop(k)
        return d


# ---------------------------------------------------------------------------
# Data


@dataclass
class SplitData:
    """The samples of one split, in memory.

    Attributes
    ----------
    x : np.ndarray, float32, shape (n, time, mel, 1)
    y : np.ndarray, int64, shape (n,)
        Class index of each sample.
    tracks : list of str
        Track id of each sample.
    """

    x: np.ndarray
    y: np.ndarray
    tracks: list


def class_names_of(manifest: pd.DataFrame) -> list[str]:
    """Sorted labels of the manifest; every one must have training tracks."""
    names = sorted(manifest["label"].astype(str).unique())
    train_labels = set(manifest.loc[manifest["split"] == "train", "label"].astype(str))
    missing = [n for n in names if n not in train_labels]
    if missing:
        raise ValueError(f"classes without training tracks: {', '.join(missing)}")
    return names


def load_split(
    manifest,
    split: str,
    class_names: list[str],
    input: str = "snippets",
    base_dir=None,
) -> tuple[SplitData, FeatureParams | None]:
    """Load every training sample of one split into one float32 array.

    Parameters
    ----------
    manifest : str, Path or pd.DataFrame
        ``results/split/manifest.csv``.
    split : str
        ``train``, ``val`` or ``test``.
    class_names : list of str
        Label order (the class index of a sample is its label's position).
    input : str
        ``snippets``: ``mel_db[is_snippet]`` of each track; ``clip``: ``clip_mel_db``.
    base_dir : str or Path, optional
        Folder relative ``spectrogram`` paths are tried against if they do not exist
        as given (they are relative to the workflow's working directory).

    Returns
    -------
    SplitData
        ``x`` has shape (n, n_frames, n_mels, 1): the HDF5's (mel, time) transposed.
    FeatureParams or None
        The feature parameters of the files (None for an empty split).

    Raises
    ------
    ValueError
        If files disagree on their feature parameters or shapes.
    """
    import h5py

    if input not in ("snippets", "clip"):
        raise ValueError(f"input must be 'snippets' or 'clip', not {input!r}")
    df = read_manifest(manifest)
    rows = df[df["split"] == split].sort_values("track")
    index = {name: i for i, name in enumerate(class_names)}
    # Pass 1: counts and shapes from the metadata only (no spectrogram is read).
    counts, params, shape, paths = [], None, None, []
    for h5_path in rows["spectrogram"]:
        p = spectrogram_path(h5_path, base_dir)
        paths.append(p)
        with h5py.File(p, "r") as h5:
            file_params = read_params(h5.attrs)
            if input == "clip":
                if "clip_mel_db" not in h5:
                    raise ValueError(f"{p} has no clip_mel_db (needed by input: clip)")
                n, s = 1, h5["clip_mel_db"].shape
            else:
                n, s = int(h5["is_snippet"][()].sum()), h5["mel_db"].shape[1:]
        if params is None:
            params, shape = file_params, tuple(s)
        elif file_params != params or tuple(s) != shape:
            raise ValueError(
                f"{p} has other feature parameters or shapes than the first file of the "
                f"{split} split; rebuild the spectrograms"
            )
        counts.append(n)
    total = int(sum(counts))
    if shape is None:
        return SplitData(np.zeros((0, 1, 1, 1), np.float32), np.zeros(0, np.int64), []), None
    n_mels, n_frames = shape
    # Pass 2: one preallocated array, filled track by track (one track in flight).
    x = np.empty((total, n_frames, n_mels, 1), dtype=np.float32)
    y = np.empty(total, dtype=np.int64)
    sample_tracks = []
    i = 0
    for track, label, p, n in zip(rows["track"], rows["label"], paths, counts, strict=True):
        if str(label) not in index:
            raise ValueError(f"track {track}: label {label!r} is not a known class")
        with h5py.File(p, "r") as h5:
            if input == "clip":
                x[i, :, :, 0] = h5["clip_mel_db"][()].T
            else:
                mask = h5["is_snippet"][()]
                x[i : i + n, :, :, 0] = h5["mel_db"][()][mask].transpose(0, 2, 1)
        y[i : i + n] = index[str(label)]
        sample_tracks.extend([str(track)] * n)
        i += n
    return SplitData(x, y, sample_tracks), params


def band_statistics(x: np.ndarray, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Per-mel-band mean and standard deviation over all samples and frames.

    Two passes over chunks (float64 accumulators), so no full-size temporary is made.

    Parameters
    ----------
    x : np.ndarray, float32, shape (n, time, mel, 1)

    Returns
    -------
    mean, std : np.ndarray, float64, shape (mel,)
        ``std`` below :data:`MIN_STD` (a constant band) is replaced by 1.
    """
    n, t, m = x.shape[0], x.shape[1], x.shape[2]
    if n == 0:
        raise ValueError("no training samples to compute the normalization from")
    total = np.zeros(m, dtype=np.float64)
    for s in range(0, n, chunk):
        total += x[s : s + chunk, :, :, 0].sum(axis=(0, 1), dtype=np.float64)
    mean = total / (n * t)
    sq = np.zeros(m, dtype=np.float64)
    for s in range(0, n, chunk):
        d = x[s : s + chunk, :, :, 0].astype(np.float64) - mean
        sq += np.einsum("ntm,ntm->m", d, d)
    std = np.sqrt(sq / (n * t))
    std[std < MIN_STD] = 1.0
    return mean, std


def normalize_inplace(x: np.ndarray, mean, std, chunk: int = CHUNK) -> np.ndarray:
    """``x = (x - mean) / std`` per mel band, in place, float32.

    The same float32 arithmetic as :func:`divconq.inference.prepare`.

    Parameters
    ----------
    x : np.ndarray, float32, shape (n, time, mel, 1)
    mean, std : array-like, shape (mel,)
    """
    m32 = np.asarray(mean, dtype=np.float32)[None, None, :, None]
    s32 = np.asarray(std, dtype=np.float32)[None, None, :, None]
    for s in range(0, len(x), chunk):
        block = x[s : s + chunk]
        block -= m32
        block /= s32
    return x


def one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    """float32 one-hot labels."""
    out = np.zeros((len(y), n_classes), dtype=np.float32)
    out[np.arange(len(y)), y] = 1.0
    return out


class _EpochOrder:
    """Seeded per-epoch permutation of ``n`` samples, batch by batch."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int):
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.epoch = 0
        self._order_epoch = None
        self._order = np.arange(self.n)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """Sample order of the current epoch."""
        if self.shuffle and self._order_epoch != self.epoch:
            rng = np.random.default_rng([self.seed, self.epoch, 0x5EED])
            self._order = rng.permutation(self.n)
            self._order_epoch = self.epoch
        return self._order

    def batch_indices(self, i: int) -> np.ndarray:
        idx = self.order()[i * self.batch_size : (i + 1) * self.batch_size]
        # Sorted within the batch: a forward gather through memory (same batch, same gradient).
        return np.sort(idx) if self.shuffle else idx


_SEQUENCE_CLASS = None


def array_sequence(x, y, batch_size: int, shuffle: bool = True, seed: int = 0):
    """Batches of in-memory arrays as a ``keras.utils.PyDataset``.

    The order of epoch ``e`` is a permutation seeded by ``(seed, e)`` only, so a
    resumed run sees the same batches as an uninterrupted one; call
    ``set_epoch(e)`` before each epoch (the training callback does). Each batch
    is one fancy-index gather of ``batch_size`` samples: the data set itself is
    never copied.

    Parameters
    ----------
    x : np.ndarray, shape (n, ...)
    y : np.ndarray, shape (n, n_classes)
    batch_size : int
    shuffle : bool
    seed : int
    """
    global _SEQUENCE_CLASS
    if _SEQUENCE_CLASS is None:
        import keras

        class ArraySequence(keras.utils.PyDataset):
            def __init__(self, x, y, batch_size, shuffle, seed):
                super().__init__(workers=1, use_multiprocessing=False)
                self.x, self.y = x, y
                self.sampler = _EpochOrder(len(x), batch_size, shuffle, seed)

            def __len__(self):
                return math.ceil(len(self.x) / self.sampler.batch_size)

            def set_epoch(self, epoch):
                self.sampler.set_epoch(epoch)

            def __getitem__(self, i):
                idx = self.sampler.batch_indices(i)
                return self.x[idx], self.y[idx]

        _SEQUENCE_CLASS = ArraySequence
    return _SEQUENCE_CLASS(x, y, batch_size, shuffle, seed)


# ---------------------------------------------------------------------------
# TensorFlow setup


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
    import keras
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
    """Adam, categorical cross-entropy; accuracy, precision and recall."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="categorical_crossentropy",
        metrics=[
            "accuracy",
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
        ],
    )


# ---------------------------------------------------------------------------
# Resumable callbacks


def _plain(v):
    """JSON-able float/int/None from a numpy or Python scalar."""
    if v is None:
        return None
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return int(v)
    v = float(v)
    return v if math.isfinite(v) else (None if math.isnan(v) else v)


def _make_callbacks():
    """The callback classes (defined lazily: they subclass Keras classes)."""
    import keras

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
            return {k: _plain(getattr(self, k, None)) for k in self.STATE}

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

    class ResumeCheckpoint(keras.callbacks.Callback):
        """After each epoch: history row, best weights, full model, state file.

        Must be the last of the training callbacks so that the others have
        updated their counters (and the learning rate) for this epoch.
        The state file is replaced atomically and written last, so it always
        names complete files; files it no longer names are removed.
        """

        def __init__(self, state_dir, state: dict, sequences, monitor: str):
            super().__init__()
            self.state_dir = Path(state_dir)
            self.state = state
            self.sequences = sequences
            self.monitor = monitor
            self.stateful = []
            self._lr = None
            self._t0 = None

        def on_epoch_begin(self, epoch, logs=None):
            for seq in self.sequences:
                seq.set_epoch(epoch)
            reseed_layers(self.model, self.state.get("seed", 0), epoch)
            self._lr = _plain(self.model.optimizer.learning_rate.numpy())
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            row = {"epoch": int(epoch)}
            for key in (*METRICS, *(f"val_{m}" for m in METRICS)):
                if key in logs:
                    row[key] = _plain(logs[key])
            row["lr"] = self._lr
            row["time_s"] = round(time.perf_counter() - self._t0, 3)
            st = self.state
            st["history"] = [r for r in st["history"] if r["epoch"] < epoch] + [row]
            current = logs.get(self.monitor)
            best = st.get("best_value")
            improved = current is not None and (best is None or float(current) < best)
            if improved or st.get("best_weights") is None:
                name = f"best-{epoch:04d}.weights.h5"
                self.model.save_weights(self.state_dir / name)
                st.update(best_epoch=int(epoch), best_weights=name)
                st["best_value"] = _plain(current) if improved else best
            name = f"checkpoint-{epoch:04d}.keras"
            self.model.save(self.state_dir / name)
            st.update(
                epoch=int(epoch),
                checkpoint=name,
                stopped=bool(self.model.stop_training),
                callbacks={type(c).__name__: c.get_state() for c in self.stateful},
            )
            write_json_atomic(self.state_dir / "state.json", st)
            keep = {"state.json", st["checkpoint"], st.get("best_weights")}
            for f in self.state_dir.iterdir():
                if f.name not in keep:
                    f.unlink() if f.is_file() else shutil.rmtree(f, ignore_errors=True)

    return ResumableEarlyStopping, ResumableReduceLROnPlateau, ResumeCheckpoint


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


def write_json_atomic(path, obj) -> None:
    """Write JSON under a temporary name, fsync, and rename over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def fingerprint(obj) -> str:
    """Stable hash of a JSON-able object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def load_state(state_dir, expected_fingerprint: str) -> dict | None:
    """The resume state in ``state_dir`` if it is complete and matches, else None."""
    path = Path(state_dir) / "state.json"
    if not path.is_file():
        return None
    try:
        st = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        log.warning("unreadable resume state %s (%s): starting over", path, err)
        return None
    if st.get("version") != STATE_VERSION or st.get("fingerprint") != expected_fingerprint:
        log.warning("resume state %s is from another configuration: starting over", path)
        return None
    needed = [st.get("checkpoint"), st.get("best_weights")]
    if any(n is None or not (Path(state_dir) / n).is_file() for n in needed):
        log.warning("resume state %s names missing files: starting over", path)
        return None
    return st


# ---------------------------------------------------------------------------
# Training


def default_state_dir(out_dir) -> Path:
    """``results/models/<exp>/seed<N>`` -> ``results/models/<exp>/seed<N>.resume``."""
    out_dir = Path(out_dir)
    return out_dir.with_name(out_dir.name + ".resume")


def train(
    manifest,
    out_dir,
    *,
    experiment: str = "snippets_3s",
    seed: int = 0,
    preset: str = "small",
    input: str = "snippets",
    config: TrainConfig | dict | None = None,
    state_dir=None,
    base_dir=None,
    callbacks=(),
) -> dict:
    """Train one model and write its model directory (see the module docstring).

    Parameters
    ----------
    manifest : str, Path or pd.DataFrame
        ``results/split/manifest.csv``.
    out_dir : str or Path
        ``results/models/<experiment>/seed<N>``; created.
    experiment : str
        Name stored in ``preprocessing.json``.
    seed : int
        Seeds weights, dropout and batch order.
    preset : str
        :data:`divconq.model.PRESETS` name.
    input : str
        ``snippets`` or ``clip``.
    config : TrainConfig or dict, optional
        Hyper-parameters (the config's ``training`` section).
    state_dir : str or Path, optional
        Resume state folder (default: ``<out_dir>.resume`` next to ``out_dir``).
    base_dir : str or Path, optional
        See :func:`load_split`.
    callbacks : sequence of keras.callbacks.Callback
        Extra callbacks, run after the checkpointing one (tests use this to
        interrupt a run).

    Returns
    -------
    dict
        The contents of ``training.json``.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    state_dir = Path(state_dir) if state_dir is not None else default_state_dir(out_dir)

    # Data first (no TensorFlow needed): fail early on bad inputs.
    df = read_manifest(manifest)
    class_names = class_names_of(df)
    t0 = time.perf_counter()
    train_data, params = load_split(df, "train", class_names, input, base_dir)
    val_data, val_params = load_split(df, "val", class_names, input, base_dir)
    if params is None or len(train_data.x) == 0:
        raise ValueError("the manifest has no training samples")
    if val_params is not None and val_params != params:
        raise ValueError("train and val spectrograms have different feature parameters")
    mean, std = band_statistics(train_data.x)
    normalize_inplace(train_data.x, mean, std)
    if len(val_data.x):
        normalize_inplace(val_data.x, mean, std)
    load_s = time.perf_counter() - t0
    log.info(
        "%s seed %d: %d train and %d val samples of %s, loaded in %.1f s",
        experiment,
        seed,
        len(train_data.x),
        len(val_data.x),
        "x".join(map(str, train_data.x.shape[1:])),
        load_s,
    )

    preprocessing = {
        "class_names": class_names,
        "features": params.to_dict(),
        "input": input,
        "normalization": {"mean": mean.tolist(), "std": std.tolist()},
        "experiment": experiment,
        "seed": int(seed),
        "preset": preset,
    }
    split_rows = df[df["split"].isin(["train", "val"])].sort_values(["split", "track"])
    fp = fingerprint(
        {
            "version": STATE_VERSION,
            "preprocessing": preprocessing,
            "training": cfg.shaping(),
            "tracks": split_rows[["track", "label", "split"]].values.tolist(),
            "n_train": len(train_data.x),
            "n_val": len(val_data.x),
        }
    )

    env = configure_tensorflow(seed, cfg.threads, cfg.deterministic, cfg.mixed_precision)
    import keras

    from divconq.model import build_model

    n_classes = len(class_names)
    y_train = one_hot(train_data.y, n_classes)
    train_seq = array_sequence(train_data.x, y_train, cfg.batch_size, shuffle=True, seed=seed)
    has_val = len(val_data.x) > 0
    if has_val:
        val_batch = cfg.batch_size if input == "clip" else max(cfg.batch_size, 128)
        val_seq = array_sequence(
            val_data.x, one_hot(val_data.y, n_classes), val_batch, shuffle=False
        )
    else:
        log.warning("no validation samples: early stopping and checkpoints monitor the loss")
        val_seq = None
    monitor = "val_loss" if has_val else "loss"

    state_dir.mkdir(parents=True, exist_ok=True)
    state = load_state(state_dir, fp)
    resumes = 0
    if state is None:
        for f in state_dir.iterdir():
            f.unlink() if f.is_file() else shutil.rmtree(f, ignore_errors=True)
        model = build_model(preset, n_classes, train_data.x.shape[1:])
        compile_model(model, cfg.learning_rate)
        state = {
            "version": STATE_VERSION,
            "fingerprint": fp,
            "seed": int(seed),
            "epoch": -1,
            "history": [],
            "best_value": None,
            "best_epoch": None,
            "best_weights": None,
            "stopped": False,
            "callbacks": {},
            "resumes": 0,
        }
        initial_epoch = 0
    else:
        resumes = int(state.get("resumes", 0)) + 1
        state["resumes"] = resumes
        initial_epoch = int(state["epoch"]) + 1
        log.info(
            "resuming %s seed %d at epoch %d of %d (state of %s)",
            experiment,
            seed,
            initial_epoch + 1,
            cfg.epochs,
            state_dir,
        )
        model = keras.saving.load_model(state_dir / state["checkpoint"], compile=True)

    es_cls, lr_cls, ckpt_cls = _make_callbacks()
    saved = state.get("callbacks", {})
    early = es_cls(
        monitor=monitor,
        patience=cfg.patience,
        restore=saved.get("ResumableEarlyStopping"),
    )
    plateau = lr_cls(
        monitor=monitor,
        factor=cfg.lr_factor,
        patience=cfg.lr_patience,
        min_lr=cfg.min_lr,
        restore=saved.get("ResumableReduceLROnPlateau"),
    )
    ckpt = ckpt_cls(state_dir, state, [train_seq], monitor)
    ckpt.stateful = [early, plateau]

    t_fit = time.perf_counter()
    if initial_epoch < cfg.epochs and not state.get("stopped"):
        model.fit(
            train_seq,
            validation_data=val_seq,
            epochs=cfg.epochs,
            initial_epoch=initial_epoch,
            callbacks=[early, plateau, ckpt, *callbacks],
            verbose=cfg.verbose,
        )
    fit_s = time.perf_counter() - t_fit

    # The inference model: float32, no optimizer, best weights.
    keras.mixed_precision.set_global_policy("float32")
    final = build_model(preset, n_classes, train_data.x.shape[1:])
    final.load_weights(state_dir / state["best_weights"])
    out_dir.mkdir(parents=True, exist_ok=True)
    final.save(out_dir / "model.keras")
    history = pd.DataFrame(state["history"])
    history.to_csv(out_dir / "history.csv", index=False)
    (out_dir / "preprocessing.json").write_text(json.dumps(preprocessing, indent=1) + "\n")
    epochs_run = len(state["history"])
    info = {
        "experiment": experiment,
        "seed": int(seed),
        "preset": preset,
        "input": input,
        "n_params": int(final.count_params()),
        "n_train": len(train_data.x),
        "n_val": len(val_data.x),
        "epochs_run": epochs_run,
        "best_epoch": state["best_epoch"],
        f"best_{monitor}": state["best_value"],
        "early_stopped": bool(state.get("stopped")),
        "resumes": resumes,
        "load_s": round(load_s, 3),
        "fit_s_this_run": round(fit_s, 3),
        "epoch_s_total": round(float(history["time_s"].sum()) if epochs_run else 0.0, 3),
        "total_s_this_run": round(time.perf_counter() - t_start, 3),
        "training": asdict(cfg),
        **env,
        "tensorflow_version": _tf_version(),
        "keras_version": keras.__version__,
        "fingerprint": fp,
    }
    (out_dir / "training.json").write_text(json.dumps(info, indent=1) + "\n")
    shutil.rmtree(state_dir, ignore_errors=True)
    log.info(
        "%s seed %d: %d epochs, best %s %.4f at epoch %s, %.1f s",
        experiment,
        seed,
        epochs_run,
        monitor,
        state["best_value"] if state["best_value"] is not None else float("nan"),
        state["best_epoch"],
        info["total_s_this_run"],
    )
    return info


def _tf_version() -> str:
    import tensorflow as tf

    return tf.__version__
