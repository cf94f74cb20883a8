"""Load a trained model directory and turn log-mel windows into class scores.

This is the one place that reads ``results/models/<experiment>/seed<N>/``
(``model.keras`` and ``preprocessing.json``, see ``docs/architecture.md``) and
applies the model: evaluation (:mod:`divconq.evaluate.evaluation`) and ``divconq predict``
(:mod:`divconq.predict`) both go through :func:`load_model_dir` and
:func:`score_windows` / :func:`score_clip`, and so use exactly the preprocessing
of training (:mod:`divconq.train.run`): the stored per-mel-band mean and standard
deviation of the training split, ``(x - mean) / std`` in float32, then the
(mel, time) -> (time, mel, 1) transpose.

At load time each convolution followed by batch normalization is merged into one
convolution with a bias (:func:`fold_batch_norm`): the same function in inference
mode, ~20 % less CPU time per window, scores within ~1e-7 of the unmerged model.
Evaluation and prediction both score with the merged model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from divconq.data.features import FeatureParams
from divconq.shared.inputs import EMBEDDING_INPUTS, INPUTS, PRETRAINED_INPUTS
from divconq.shared.sysinfo import prefer_onednn

# TensorFlow reads this once, when it is first imported: oneDNN's kernels on any AVX2
# CPU, where TensorFlow would otherwise pick its ~3x slower Eigen ones (sysinfo).
prefer_onednn()

#: Files of a model directory.
MODEL_FILE = "model.keras"
PREPROCESSING_FILE = "preprocessing.json"
#: Keys ``preprocessing.json`` must have.
REQUIRED_KEYS = ("class_names", "features", "input", "normalization")


@dataclass
class Bundle:
    """A loaded model with everything needed to feed it.

    Attributes
    ----------
    path : Path
        The model directory.
    model : keras.Model
        Input (batch, time, mel, 1), output (batch, n_classes) softmax scores.
    params : FeatureParams or divconq.data.embeddings.EmbeddingParams
        The feature (or embedding) parameters the model was trained on.
    class_names : list of str
        Class of each output, in order.
    input : str
        ``snippets`` (3-s windows of ``mel_db``), ``clip`` (``clip_mel_db``),
        ``embeddings`` (a pretrained network's vector of each 3-s patch) or
        ``embedding_mean`` (their mean over the track) or ``musicnn_mel`` (the
        network's log-mel of each 3-s patch, for a model that holds the fine-tuned
        network; :mod:`divconq.shared.inputs`).
    mean, std : np.ndarray, float32, shape (n_mels,) or (width,)
        Per-mel-band (per-dimension) normalization (training split statistics).
    info : dict
        The whole ``preprocessing.json``.
    """

    path: Path
    model: object
    params: FeatureParams
    class_names: list
    input: str
    mean: np.ndarray
    std: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def window_shape(self) -> tuple[int, int]:
        """(bands, frames) of one scored window as stored: (n_mels, n_frames), or
        (width, 1) for an embedding (a one-frame "spectrogram"), (96, 187) for a
        network log-mel patch."""
        if self.input in EMBEDDING_INPUTS:
            return (self.params.width, 1)
        if self.input == "musicnn_mel":
            from divconq.models.musicnn import N_MELS, PATCH_FRAMES

            return (N_MELS, PATCH_FRAMES)
        return (self.params.n_mels, self.params.n_frames)


def read_preprocessing(path) -> dict:
    """Read and check a model directory's ``preprocessing.json``.

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    ValueError
        If it is not JSON or lacks a required key.
    """
    path = Path(path)
    pre = path / PREPROCESSING_FILE if path.is_dir() else path
    if not pre.is_file():
        raise FileNotFoundError(f"model directory {pre.parent} has no {PREPROCESSING_FILE}")
    try:
        info = json.loads(pre.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{pre} is not valid JSON: {err}") from err
    missing = [k for k in REQUIRED_KEYS if k not in info]
    if missing:
        raise ValueError(f"{pre} lacks {', '.join(missing)}")
    if info["input"] not in INPUTS:
        raise ValueError(f"{pre}: input must be one of {INPUTS}, not {info['input']!r}")
    norm = info["normalization"]
    if "mean" not in norm or "std" not in norm:
        raise ValueError(f"{pre}: normalization needs mean and std")
    return info


def _folded_pairs(model) -> dict:
    """Conv2D layer name -> the BatchNormalization layer that alone reads its output."""
    import keras

    pairs = {}
    for bn in model.layers:
        if not isinstance(bn, keras.layers.BatchNormalization) or len(bn._inbound_nodes) != 1:
            continue
        conv = bn.input._keras_history.operation
        foldable = (
            type(conv) is keras.layers.Conv2D
            and len(conv._inbound_nodes) == 1
            and len(conv._outbound_nodes) == 1
            and conv.get_config()["activation"] == "linear"
            and conv.data_format == "channels_last"
            and bn.axis in (-1, 3)
        )
        if foldable:
            pairs[conv.name] = bn
    return pairs


def _float64(variable) -> np.ndarray:
    return variable.numpy().astype(np.float64)


def fold_batch_norm(model):
    """Merge each Conv2D -> BatchNormalization pair into one Conv2D with a bias.

    In inference mode batch normalization is a per-channel affine map,
    ``(x - mean) / sqrt(var + eps) * gamma + beta``, so it folds into the
    convolution before it: kernel ``* s`` and bias ``(bias - mean) * s + beta``
    with ``s = gamma / sqrt(var + eps)`` (computed in float64). The merged
    convolution also lets oneDNN fuse the bias and the activation into the
    convolution. Pairs are folded only where the convolution has no activation
    and feeds nothing but the normalization; other layers are copied as they are.

    Parameters
    ----------
    model : keras.Model
        A functional model (the CRNN presets of :mod:`divconq.models.presets`).

    Returns
    -------
    keras.Model
        A new model for inference only, without the folded normalization
        layers, or ``model`` itself when nothing folds.
    """
    import keras

    pairs = _folded_pairs(model)
    if not pairs:
        return model
    folded_bn = {bn.name for bn in pairs.values()}

    def clone(layer):
        config = layer.get_config()
        if layer.name in pairs:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    def call(layer, *args, **kwargs):
        # A folded normalization is left out of the new graph altogether.
        return args[0] if layer.name in folded_bn else layer(*args, **kwargs)

    new = keras.models.clone_model(model, clone_function=clone, call_function=call)
    for layer in new.layers:
        source = model.get_layer(layer.name)
        if layer.name not in pairs:
            layer.set_weights(source.get_weights())
            continue
        bn = pairs[layer.name]
        kernel = _float64(source.kernel)
        bias = _float64(source.bias) if source.use_bias else 0.0
        mean, var = _float64(bn.moving_mean), _float64(bn.moving_variance)
        gamma = _float64(bn.gamma) if bn.scale else 1.0
        beta = _float64(bn.beta) if bn.center else 0.0
        scale = gamma / np.sqrt(var + bn.epsilon)
        layer.set_weights(
            [(kernel * scale).astype(np.float32), ((bias - mean) * scale + beta).astype(np.float32)]
        )
    return new


def set_threads(threads: int) -> None:
    """Limit TensorFlow to ``threads`` intra-op threads (and one inter-op thread).

    Scoring jobs are mostly single-threaded (TensorFlow's import, HDF5 reads), so
    on a small machine two one-thread jobs side by side finish sooner than one job
    with every core. Must run before TensorFlow starts its runtime; later calls
    are ignored.
    """
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime is already running: keep its threads
        pass


def check_model_file(path) -> None:
    """Verify a model folder's ``model.keras`` before Keras reads it.

    The file is a zip archive whose every member carries a CRC-32: reading them
    all (a few MB, milliseconds) catches a truncated or bit-rotted file, which
    Keras would otherwise report as an obscure error deep in its loader.

    Raises
    ------
    divconq.shared.errors.DamagedFileError
        Naming the file and how to rebuild it (delete the model folder, rerun).
    """
    import shlex
    import zipfile

    from divconq.shared.errors import DamagedFileError

    path = Path(path)
    model_file = path / MODEL_FILE
    hint = (
        "delete the model folder and rerun the workflow to retrain it: "
        f"rm -r -- {shlex.quote(str(path))} && snakemake --cores all"
    )
    try:
        with zipfile.ZipFile(model_file) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise DamagedFileError(model_file, f"not a readable Keras archive: {err}", hint) from err
    if bad is not None:
        raise DamagedFileError(model_file, f"CRC-32 mismatch in its member {bad}", hint)


def load_keras(path):
    """Load a model folder's verified ``model.keras`` in Keras' safe mode, uncompiled.

    Raises
    ------
    divconq.shared.errors.DamagedFileError
        If the file is truncated or damaged (:func:`check_model_file`).
    ValueError
        If Keras' safe mode refuses the model (it holds Python code, e.g. a
        ``Lambda`` layer), naming the folder and why, or Keras cannot load it.
    """
    path = Path(path)
    check_model_file(path)
    import keras

    from divconq.models.presets import register_layers

    register_layers()

    try:
        return keras.saving.load_model(path / MODEL_FILE, compile=False, safe_mode=True)
    except Exception as err:
        if "safe_mode" in str(err):
            raise ValueError(
                f"model folder {path}: refused to load {MODEL_FILE}: it holds Python code "
                "(a Lambda layer or custom function), which Keras' safe mode does not run "
                "because loading it could execute arbitrary code; divconq's presets never "
                "need it, so retrain the model with a preset"
            ) from err
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(
            f"model folder {path}: Keras cannot load {MODEL_FILE} ({type(err).__name__}: {first})"
        ) from err


def load_model_dir(path, fold: bool = True) -> Bundle:
    """Load a model directory for scoring.

    Parameters
    ----------
    path : str or Path
        ``results/models/<experiment>/seed<N>``.
    fold : bool
        Merge batch normalization into the convolutions (:func:`fold_batch_norm`).

    Returns
    -------
    Bundle

    Raises
    ------
    FileNotFoundError
        If the directory, ``model.keras`` or ``preprocessing.json`` is missing
        (the message names the missing part).
    ValueError
        If ``preprocessing.json`` is malformed or does not match the model, or
        Keras' safe mode refuses the model (see :func:`load_keras`).
    divconq.shared.errors.DamagedFileError
        If ``model.keras`` is truncated or damaged (a ``ValueError`` too).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"model directory {path} does not exist")
    missing = [f for f in (MODEL_FILE, PREPROCESSING_FILE) if not (path / f).is_file()]
    if missing:
        raise FileNotFoundError(f"model directory {path} has no {' and no '.join(missing)}")
    info = read_preprocessing(path)
    if info["input"] in PRETRAINED_INPUTS:
        from divconq.data.embeddings import EmbeddingParams

        params = EmbeddingParams.from_dict(info["features"])
        n_bands, frames = params.width, 1
        if info["input"] == "musicnn_mel":
            from divconq.models.musicnn import N_MELS, PATCH_FRAMES

            n_bands, frames = N_MELS, PATCH_FRAMES
    else:
        params = FeatureParams.from_dict(info["features"])
        n_bands = params.n_mels
        frames = params.n_clip_frames if info["input"] == "clip" else params.n_frames
    mean = np.asarray(info["normalization"]["mean"], dtype=np.float32)
    std = np.asarray(info["normalization"]["std"], dtype=np.float32)
    if mean.shape != (n_bands,) or std.shape != (n_bands,):
        raise ValueError(
            f"{path / PREPROCESSING_FILE}: normalization has {mean.size} means and {std.size} "
            f"stds for {n_bands} bands"
        )

    model = load_keras(path)
    if fold:
        model = fold_batch_norm(model)
    n_out = int(model.output_shape[-1])
    class_names = [str(c) for c in info["class_names"]]
    if n_out != len(class_names):
        raise ValueError(
            f"{path}: the model has {n_out} outputs but preprocessing.json names "
            f"{len(class_names)} classes"
        )
    shape = tuple(model.input_shape[1:])
    if shape[1:] != (n_bands, 1) or shape[0] not in (None, frames):
        raise ValueError(
            f"{path}: model input {shape} does not fit {info['input']} features "
            f"({frames}, {n_bands}, 1)"
        )
    return Bundle(path, model, params, class_names, info["input"], mean, std, info)


def prepare(bundle: Bundle, mel_db: np.ndarray) -> np.ndarray:
    """Normalize and transpose (n, mel, time) log-mels into model input (n, time, mel, 1).

    The arithmetic is that of :func:`divconq.train.run.normalize_inplace`:
    float32 ``(x - mean) / std`` per mel band.
    """
    x = np.asarray(mel_db, dtype=np.float32)
    n_bands = bundle.window_shape[0]
    if x.ndim != 3 or x.shape[1] != n_bands:
        raise ValueError(f"expected log-mels of shape (n, {n_bands}, n_frames), got {x.shape}")
    x = (x - bundle.mean[None, :, None]) / bundle.std[None, :, None]
    return np.ascontiguousarray(x.transpose(0, 2, 1))[..., None]


def _predict(bundle: Bundle, mel_db: np.ndarray, batch_size: int) -> np.ndarray:
    n = len(mel_db)
    out = np.empty((n, bundle.n_classes), dtype=np.float32)
    batch_size = max(1, int(batch_size))
    # Only one normalized batch exists at a time: memory is bounded whatever the track length.
    for start in range(0, n, batch_size):
        x = prepare(bundle, mel_db[start : start + batch_size])
        out[start : start + len(x)] = np.asarray(bundle.model.predict_on_batch(x))
    return out


def score_windows(bundle: Bundle, mel_db: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Softmax scores of 3-s windows.

    Parameters
    ----------
    bundle : Bundle
        A snippet or embedding model (``bundle.input`` ``snippets``, ``embeddings``
        or ``embedding_mean``).
    mel_db : np.ndarray, float32, shape (n_windows, n_mels, n_frames)
        Windows as stored in the per-track HDF5 (``mel_db``); for an embedding
        model the patches' embeddings, shape (n_windows, width, 1); for a
        fine-tuned network its log-mel patches, shape (n_windows, 96, 187).
    batch_size : int
        Windows per model call (bounds memory: ~52 kB per window).

    Returns
    -------
    np.ndarray, float32, shape (n_windows, n_classes)
    """
    if bundle.input == "clip":
        raise ValueError(f"{bundle.path} is a clip model; use score_clip")
    mel_db = np.asarray(mel_db)
    if mel_db.ndim != 3 or mel_db.shape[1:] != bundle.window_shape:
        raise ValueError(
            f"expected windows of shape (n, {bundle.window_shape[0]}, {bundle.window_shape[1]}), "
            f"got {mel_db.shape}"
        )
    if bundle.input == "musicnn_mel":
        from divconq.data.embeddings import BATCH

        # The network's activations are ~25 MB a patch: the embedding stage's batches.
        batch_size = min(batch_size, BATCH)
    return _predict(bundle, mel_db, batch_size)


def score_clip(bundle: Bundle, clip_mel_db: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Softmax scores of whole-clip inputs.

    Parameters
    ----------
    bundle : Bundle
        A clip model (``bundle.input == "clip"``).
    clip_mel_db : np.ndarray, float32, shape (n_mels, n_clip_frames) or (n, n_mels, n_clip_frames)
        ``clip_mel_db`` of one track, or of several.

    Returns
    -------
    np.ndarray, float32, shape (1, n_classes) or (n, n_classes)
    """
    if bundle.input != "clip":
        raise ValueError(f"{bundle.path} is a {bundle.input} model; use score_windows")
    x = np.asarray(clip_mel_db)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (bundle.params.n_mels, bundle.params.n_clip_frames):
        raise ValueError(
            f"expected a clip of shape ({bundle.params.n_mels}, {bundle.params.n_clip_frames}), "
            f"got {np.shape(clip_mel_db)}"
        )
    return _predict(bundle, x, batch_size)
