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
    Class names, the HDF5 files' :class:`~divconq.data.features.FeatureParams`, the
    input kind, the per-mel-band normalization, experiment, seed and preset.
``training.json``
    Run facts: epochs run, best epoch, early stop, snippet counts, devices,
    threads, timings, resumes.

:func:`train` reads as its steps: :func:`prepare_data` (no TensorFlow),
:func:`describe_run`, :func:`make_sequences`, :func:`build_or_resume`,
:func:`fit` and :func:`export`. Where the parts live:

- :mod:`divconq.train.config`: :class:`TrainConfig` (the ``training`` keys);
- :mod:`divconq.train.data`: loading a split into one float32 array, the
  train-only normalization;
- :mod:`divconq.train.sampling`: the seeded batch order of an epoch, the per-epoch
  window draw (``sampling: epoch``), the balancing sample weights;
- :mod:`divconq.train.augment`: gain, time/frequency masks and mixup of a batch;
- :mod:`divconq.train.state`: the resume state file;
- :mod:`divconq.train.keras_loop` (imported lazily, it loads TensorFlow): the
  TensorFlow set-up, the Keras sequence and the resumable callbacks.

Data
----
Training samples are the ``mel_db[is_snippet]`` windows of the ``train`` tracks
(``input: snippets``, ``sampling: snippets``), every window of them of which
each epoch draws up to ``windows_per_track`` per track (``sampling: epoch``), or
their ``clip_mel_db`` (``input: clip``), or the embeddings of their training
patches (``input: embeddings``, one ``(1, width, 1)`` sample per patch,
:mod:`divconq.data.embeddings`); validation always the fixed snippets (or clips, or
training patches) of the ``val`` tracks, so that validation losses compare across
epochs and runs.

Reproducibility and resumption
------------------------------
A run is seeded (``keras.utils.set_random_seed`` and TensorFlow op determinism),
and the window draw, batch order and augmentations depend only on (seed, epoch,
batch). After every epoch the full training state is written to a state
directory beside the output, ``results/models/<experiment>/seed<N>.resume/``
(:mod:`divconq.train.state`). Snakemake deletes the outputs of a failed or
killed job, but not this folder: when the rule runs again the training continues
after the last finished epoch. The folder is removed once the model directory is
complete.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from divconq.shared.fileio import atomic_path, write_text
from divconq.shared.inputs import PRETRAINED_INPUTS
from divconq.shared.sysinfo import describe, peak_rss_mb
from divconq.train.config import TrainConfig
from divconq.train.data import (
    DiskSamples,
    TrainingData,
    band_statistics,
    class_names_of,
    load_split,
    normalize_inplace,
    one_hot,
    prepare_data,
    track_runs,
)
from divconq.train.sampling import EpochOrder, WindowDraw
from divconq.train.state import (
    STATE_VERSION,
    clear_dir,
    default_state_dir,
    fingerprint,
    load_state,
    new_state,
)

__all__ = [
    "TrainConfig",
    "TrainingData",
    "band_statistics",
    "class_names_of",
    "load_split",
    "normalize_inplace",
    "prepare_data",
    "train",
]

log = logging.getLogger(__name__)


def describe_run(
    data: TrainingData, cfg: TrainConfig, *, experiment, seed, preset, input, head=None
):
    """Step 2: ``preprocessing.json``'s contents and the run's fingerprint.

    Parameters
    ----------
    head : dict, optional
        Fine-tuning from a trained head: its ``experiment``, ``seed`` and the
        ``sha256`` of its ``model.keras`` (:func:`read_head`).

    Returns
    -------
    preprocessing : dict
    fp : str
        Hash of everything that shapes the run (a resume state must match it).
    """
    preprocessing = {
        "class_names": data.class_names,
        "features": data.params.to_dict(),
        "input": input,
        "normalization": {"mean": data.mean.tolist(), "std": data.std.tolist()},
        "experiment": experiment,
        "seed": int(seed),
        "preset": preset,
    }
    if input in PRETRAINED_INPUTS:
        from divconq.models.musicnn import weights_info

        # Where the network comes from: in front of this head (not in the folder),
        # or where the fine-tuned network in the folder started.
        info = weights_info(data.params.model)
        preprocessing["pretrained"] = {
            "package": info["package"],
            "version": info["version"],
            "checkpoint": Path(info["checkpoint"]).name,
            "license": info["license"],
            "trainable": "all" if input == "musicnn_mel" else "head",
        }
        if head is not None:
            preprocessing["pretrained"]["head_from"] = head
    fp = fingerprint(
        {
            "version": STATE_VERSION,
            "preprocessing": preprocessing,
            "training": cfg.shaping(),
            "tracks": data.tracks.values.tolist(),
            "n_train": len(data.train.x),
            "n_val": len(data.val.x),
        }
    )
    return preprocessing, fp


def read_head(path, params, class_names: list):
    """A trained head to start fine-tuning from (``head_from``), checked against the run.

    Parameters
    ----------
    path : str or Path
        Model folder of an ``input: embeddings`` experiment (same fold and seed).
    params : divconq.data.embeddings.EmbeddingParams
        The fine-tuning run's network and layer.
    class_names : list of str

    Returns
    -------
    model : keras.Model
        The head (input the standardized embedding).
    standardization : (list, list)
        Its per-dimension ``mean`` and ``std``.
    record : dict
        ``experiment``, ``seed`` and ``sha256`` of its ``model.keras`` (for
        ``preprocessing.json`` and the run's fingerprint).

    Raises
    ------
    ValueError
        A head of another input, network, layer or classes, naming the folder.
    """
    import hashlib

    import keras

    path = Path(path)
    info = json.loads((path / "preprocessing.json").read_text())
    feats = info.get("features") or {}
    want = {"input": "embeddings", "model": params.model, "layer": params.layer}
    got = {"input": info.get("input"), "model": feats.get("model"), "layer": feats.get("layer")}
    if got != want:
        raise ValueError(f"head_from {path}: a head of {got} cannot start a fine-tuning of {want}")
    if list(info["class_names"]) != list(class_names):
        raise ValueError(f"head_from {path}: its classes {info['class_names']} are not the run's")
    model_file = path / "model.keras"
    digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
    model = keras.saving.load_model(model_file, compile=False, safe_mode=True)
    norm = info["normalization"]
    record = {"experiment": info.get("experiment"), "seed": info.get("seed"), "sha256": digest}
    return model, (norm["mean"], norm["std"]), record


def train_order(data: TrainingData, cfg: TrainConfig, seed: int) -> EpochOrder:
    """The batch order of the training samples: window draw and balancing of ``cfg``."""
    starts, counts = track_runs(data.train.tracks)
    draw = WindowDraw(starts, counts, cfg.windows_per_track, seed)
    groups = None
    if cfg.balance == "class":
        groups = data.train.y
    elif cfg.balance == "track":
        groups = np.repeat(np.arange(len(starts)), counts)
    return EpochOrder(
        len(data.train.x),
        cfg.batch_size,
        shuffle=True,
        seed=seed,
        draw=draw if cfg.sampling == "epoch" else None,
        groups=groups,
    )


def make_sequences(data: TrainingData, cfg: TrainConfig, seed: int, input: str):
    """Step 3 (Keras): the training and validation sequences and the monitored metric.

    Returns
    -------
    train_seq : divconq.train.keras_loop.ArraySequence
    val_seq : ArraySequence or None
        None without validation samples.
    monitor : str
        ``cfg.monitor`` (``val_loss`` or ``val_accuracy``), or its training
        counterpart (``loss``, ``accuracy``) without validation samples.
    """
    from divconq.train.keras_loop import ArraySequence

    n_classes = len(data.class_names)
    gain_scale = (1.0 / data.std).astype(np.float32)
    train_seq = ArraySequence(
        data.train.x,
        one_hot(data.train.y, n_classes),
        train_order(data, cfg, seed),
        augment=cfg,
        gain_scale=gain_scale,
    )
    if not len(data.val.x):
        monitor = cfg.monitor.removeprefix("val_")
        log.warning("no validation samples: callbacks and checkpoints use training %s", monitor)
        return train_seq, None, monitor
    # Small inputs score faster in larger batches; a clip or a pretrained network's
    # patch (~25 MB of activations) would cost too much memory.
    val_batch = cfg.batch_size if input in ("clip", "musicnn_mel") else max(cfg.batch_size, 128)
    val_order = EpochOrder(len(data.val.x), val_batch, shuffle=False, seed=0)
    val_seq = ArraySequence(data.val.x, one_hot(data.val.y, n_classes), val_order)
    return train_seq, val_seq, cfg.monitor


def build_or_resume(state_dir, fp: str, seed: int, build):
    """Step 4: the model and state of the last finished epoch, or a new model.

    Parameters
    ----------
    state_dir : Path
        Created if missing; emptied when its state does not match ``fp``.
    fp : str
        The run's fingerprint.
    seed : int
    build : callable
        () -> a compiled new model.

    Returns
    -------
    model : keras.Model
    state : dict
        :func:`divconq.train.state.new_state` or the loaded one (``resumes``
        counted up).
    initial_epoch : int
    """
    import keras

    state_dir.mkdir(parents=True, exist_ok=True)
    state = load_state(state_dir, fp)
    if state is None:
        clear_dir(state_dir)
        return build(), new_state(fp, seed), 0
    from divconq.models.presets import register_layers

    register_layers()

    state["resumes"] = int(state.get("resumes", 0)) + 1
    model = keras.saving.load_model(state_dir / state["checkpoint"], compile=True)
    return model, state, int(state["epoch"]) + 1


def fit(model, state, cfg, sequences, state_dir, initial_epoch, callbacks=()) -> float:
    """Step 5: train from ``initial_epoch`` to the end or an early stop; seconds spent.

    Parameters
    ----------
    sequences : tuple
        ``(train_seq, val_seq, monitor)`` of :func:`make_sequences`.
    callbacks : sequence of keras.callbacks.Callback
        Extra callbacks, run after the checkpointing one.
    """
    from divconq.train.keras_loop import make_callbacks

    train_seq, val_seq, monitor = sequences
    own = make_callbacks(cfg, monitor, state_dir, state, [train_seq])
    t0 = time.perf_counter()
    if initial_epoch < cfg.epochs and not state.get("stopped"):
        model.fit(
            train_seq,
            validation_data=val_seq,
            epochs=cfg.epochs,
            initial_epoch=initial_epoch,
            callbacks=[*own, *callbacks],
            verbose=cfg.verbose,
            # The sequence orders its batches itself, seeded by (seed, epoch); Keras'
            # own shuffle of the batch order draws from the process-wide `random`,
            # which a resumed run does not share with an uninterrupted one.
            shuffle=False,
        )
    return time.perf_counter() - t0


def export(
    out_dir, state, state_dir, build, preprocessing: dict, facts: dict, trained=None
) -> dict:
    """Step 6: the model directory from the best weights; removes the state directory.

    Parameters
    ----------
    build : callable
        () -> a new (uncompiled) float32 model of the run's architecture, as exported.
    trained : callable, optional
        () -> the same architecture with the layers the best weights were saved
        from, when they differ from ``build``'s (the fused batch norm); default
        ``build``.
    facts : dict
        Run facts for ``training.json`` (the epoch counts and best values are
        added here; a ``t_start``, :func:`time.perf_counter` at the start, becomes
        ``total_s_this_run``).

    Returns
    -------
    dict
        The contents of ``training.json``.
    """
    import keras

    from divconq.train.keras_loop import gpu_peak_mb, tf_version

    # The inference model: float32, no optimizer, best weights.
    keras.mixed_precision.set_global_policy("float32")
    best = (trained or build)()
    best.load_weights(Path(state_dir) / state["best_weights"])
    final = build()
    final.set_weights(best.get_weights())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Atomic (temporary name, then rename): a full disk or a kill never leaves a
    # half-written model under its real name.
    with atomic_path(out_dir / "model.keras") as tmp:
        final.save(tmp)
    history = pd.DataFrame(state["history"])
    write_text(out_dir / "history.csv", history.to_csv(index=False))
    write_text(out_dir / "preprocessing.json", json.dumps(preprocessing, indent=1) + "\n")
    epochs_run = len(state["history"])
    info = {
        **facts,
        "n_params": int(final.count_params()),
        "epochs_run": epochs_run,
        "best_epoch": state["best_epoch"],
        f"best_{facts['monitor']}": state["best_value"],
        "early_stopped": bool(state.get("stopped")),
        "resumes": int(state.get("resumes", 0)),
        "epoch_s_total": round(float(history["time_s"].sum()) if epochs_run else 0.0, 3),
        "tensorflow_version": tf_version(),
        # Epoch times mean little without the CPU (SIMD level, oneDNN) they ran on.
        "cpu": describe(),
        # Peak GPU memory of this process (training, then the export); {} on a CPU.
        "gpu_peak_mb": gpu_peak_mb(),
        "keras_version": keras.__version__,
    }
    if "t_start" in facts:
        info["total_s_this_run"] = round(time.perf_counter() - info.pop("t_start"), 3)
    write_text(out_dir / "training.json", json.dumps(info, indent=1) + "\n")
    shutil.rmtree(state_dir, ignore_errors=True)
    log.info(
        "%s seed %s: %d epochs, best %s %s at epoch %s",
        facts.get("experiment"),
        facts.get("seed"),
        epochs_run,
        facts["monitor"],
        state["best_value"],
        state["best_epoch"],
    )
    return info


def train(
    manifest,
    out_dir,
    *,
    experiment: str = "snippets_3s",
    seed: int = 0,
    preset: str = "small",
    input: str = "snippets",
    config: TrainConfig | dict | None = None,
    layer: str | None = None,
    embedding=None,
    head_from=None,
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
        Seeds weights, dropout, window draws, batch order and augmentations.
    preset : str
        :data:`divconq.models.presets.PRESETS` name.
    input : str
        ``snippets``, ``clip``, ``embeddings`` (the manifest's ``spectrogram``
        column then names the embedding files,
        :func:`divconq.split.manifest.feature_manifest`), ``embedding_mean``, or
        ``musicnn_mel`` to fine-tune the pretrained network with the head (the
        column names the network log-mel files, :func:`divconq.split.manifest.mel_manifest`).
    config : TrainConfig or dict, optional
        Hyper-parameters (the config's ``training`` section).
    layer : str, optional
        ``input: embeddings``: the embedding layer the head is trained on.
    embedding : divconq.data.embeddings.EmbeddingParams, optional
        ``input: musicnn_mel``: the network, the layer the head reads and the patch hops.
    head_from : str or Path, optional
        ``input: musicnn_mel``: the model folder of a head trained on the frozen
        network's embeddings (same seed and split) to start from (:func:`read_head`).
    state_dir : str or Path, optional
        Resume state folder (default: ``<out_dir>.resume`` next to ``out_dir``).
    base_dir : str or Path, optional
        See :func:`divconq.train.data.load_split`.
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
    state_dir = Path(state_dir) if state_dir is not None else default_state_dir(out_dir)
    # Samples too large for memory (cfg.in_memory_mb) go here (DiskSamples). Their files
    # are removed as soon as they are open: they stay readable, and their space is freed
    # when the run ends, however it ends (a killed run's are written again).
    samples_dir = Path(f"{out_dir}.samples")
    shutil.rmtree(samples_dir, ignore_errors=True)
    data = prepare_data(
        manifest, cfg, input, base_dir, layer=layer, embedding=embedding, samples_dir=samples_dir
    )
    shutil.rmtree(samples_dir, ignore_errors=True)
    _log_data(data, experiment, seed)
    head = standardization = record = None
    if head_from is not None:
        if input != "musicnn_mel":
            raise ValueError(f"head_from is for fine-tuning (input musicnn_mel), not {input}")
        head, standardization, record = read_head(head_from, data.params, data.class_names)
    preprocessing, fp = describe_run(
        data, cfg, experiment=experiment, seed=seed, preset=preset, input=input, head=record
    )

    from divconq.models.presets import build_finetune_model, build_model
    from divconq.train.keras_loop import compile_model, configure_tensorflow

    env = configure_tensorflow(seed, cfg.threads, cfg.deterministic, cfg.mixed_precision)
    sequences = make_sequences(data, cfg, seed, input)
    n_classes, shape = len(data.class_names), data.train.x.shape[1:]
    if input == "musicnn_mel":
        # The pretrained network and the head; Keras' batch norm (the fused one
        # would not load the checkpoint's variables by their names).
        network = partial(
            build_finetune_model,
            preset,
            n_classes,
            data.params.model,
            data.params.layer,
            standardization=standardization,
        )
        trained = final = partial(network, pretrained=False)
        network = partial(network, head=head)
    else:
        network = partial(build_model, preset, n_classes, shape, fused_batchnorm=True)
        # Trained with the fused batch-norm layer; exported with Keras' own.
        trained = network
        final = partial(build_model, preset, n_classes, shape)

    def build():
        model = network()
        compile_model(model, cfg.learning_rate)
        return model

    model, state, initial_epoch = build_or_resume(state_dir, fp, seed, build)
    if initial_epoch:
        log.info(
            "resuming %s seed %d at epoch %d of %d", experiment, seed, initial_epoch + 1, cfg.epochs
        )
    fit_s = fit(model, state, cfg, sequences, state_dir, initial_epoch, callbacks)
    facts = {
        **{k: preprocessing[k] for k in ("experiment", "seed", "preset", "input")},
        "monitor": sequences[2],
        "n_train": sequences[0].sampler.size,
        "n_train_windows": len(data.train.x),
        "n_val": len(data.val.x),
        "load_s": round(data.load_s, 3),
        "samples_on_disk": isinstance(data.train.x, DiskSamples),
        "peak_rss_mb": peak_rss_mb(),
        "fit_s_this_run": round(fit_s, 3),
        "training": asdict(cfg),
        **env,
        "fingerprint": fp,
        "t_start": t_start,
    }
    return export(out_dir, state, state_dir, final, preprocessing, facts, trained=trained)


def _log_data(data: TrainingData, experiment: str, seed: int) -> None:
    log.info(
        "%s seed %d: %d train and %d val samples of %s, loaded in %.1f s",
        experiment,
        seed,
        len(data.train.x),
        len(data.val.x),
        "x".join(map(str, data.train.x.shape[1:])),
        data.load_s,
    )
