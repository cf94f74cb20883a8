"""Pretrained musicnn networks (Pons & Serra 2019) rebuilt in Keras 3.

The trained weights come from the PyPI wheel ``musicnn==0.1.0`` (ISC licence), installed
without its dependencies (``pip install --no-deps musicnn==0.1.0``; ``make install``
does it): it pins numpy < 1.17 and its code is TensorFlow 1, so divconq never imports
it and reads only its TF1 checkpoint files, variable by variable, by name.

Four checkpoints (:data:`CHECKPOINTS`): the musically motivated CNN ``musicnn`` and the
``vgg`` baseline, each trained on the Million Song Dataset (``msd_*``) and on
MagnaTagATune (``mtt_*``) to predict 50 tags from 3-s patches of a log-mel spectrogram.

The pipeline, as musicnn's own ``extractor``:

1. :func:`log_mel`: 16 kHz audio -> log-compressed mel power, (n_frames, 96);
2. :func:`patches`: cut into patches of 187 frames (3 s), (n_patches, 187, 96);
3. :func:`load`: the Keras network with the checkpoint's weights (:func:`build` +
   :func:`load_weights`);
4. :func:`embed`: the layers asked for, one row per patch.

``tests/test_musicnn.py`` runs the checkpoints' own TF1 graphs (their ``.meta`` files)
next to the rebuilt networks and checks that every layer agrees (1e-4 + 1e-5 x value).

Where this differs from musicnn 0.1.0's own code, the checkpoints' graphs decide:

- MSD_vgg was trained with other poolings than those of musicnn's ``models.py``
  (which its extractor applies to it): see ``_VGG_POOLS``.
- ``log_mel`` computes the log in float32, as musicnn did under numpy < 1.17 (numpy 2
  would compute it in float16 and overflow).
- ``penultimate`` is the 200-unit dense layer's ReLU output (``model/dense/Relu``), not
  its batch-normalized version that musicnn's extractor calls ``penultimate``.

References
----------
J. Pons and X. Serra, "musicnn: pre-trained convolutional neural networks for music
audio tagging", late-breaking/demo session, ISMIR 2019. arXiv:1909.06654.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from divconq.shared.errors import PretrainedWeightsMissing

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "CHECKPOINTS",
    "HOP",
    "MSD_LABELS",
    "MTT_LABELS",
    "N_FFT",
    "N_MELS",
    "PATCH_FRAMES",
    "SAMPLE_RATE",
    "Checkpoint",
    "build",
    "checkpoint_dir",
    "embed",
    "load",
    "load_weights",
    "log_mel",
    "patch_starts",
    "patches",
    "repeat_pad",
    "weights_info",
]

#: Audio rate of the networks' front end, Hz.
SAMPLE_RATE = 16000
#: STFT size, samples (32 ms).
N_FFT = 512
#: STFT hop, samples (16 ms): 62.5 frames per second.
HOP = 256
#: Mel bands.
N_MELS = 96
#: Frames of one input patch: 3 s, as the networks were trained.
PATCH_FRAMES = 187

#: The wheel that carries the checkpoints, and the version they were checked against.
PACKAGE = "musicnn"
PACKAGE_VERSION = "0.1.0"
INSTALL_COMMAND = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"
CITATION = (
    "J. Pons and X. Serra, 'musicnn: pre-trained convolutional neural networks for music "
    "audio tagging', late-breaking/demo session, 20th International Society for Music "
    "Information Retrieval Conference (ISMIR 2019), Delft. arXiv:1909.06654"
)

# The tag vocabularies, in the order of the networks' outputs: copied from
# musicnn/configuration.py of musicnn 0.1.0 (ISC licence, (c) Jordi Pons).
MTT_LABELS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
    "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
    "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
    "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
    "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip
MSD_LABELS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
    "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
    "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip

# Layers each architecture offers, with their width for a 187 x 96 patch:
# musicnn: pool = max and mean over time of the 753 mid-end features (the graph's
#   model/concat_2, flattened as the graph does: max_0, mean_0, max_1, mean_1, ...);
#   penultimate = the 200-unit dense layer after its ReLU and before its batch norm
#   (model/dense/Relu; musicnn's extractor calls the batch-normalized one "penultimate");
#   tags = sigmoid of the 50 logits (model/Sigmoid).
# vgg: pool = pool5 flattened (2 x 1 x 128 = 256, model/Flatten/flatten/Reshape);
#   tags (model/Sigmoid). vgg has no dense layer before its output.
_LAYERS = {
    "musicnn": {"pool": 1506, "penultimate": 200, "tags": 50},
    "vgg": {"pool": 256, "tags": 50},
}


@dataclass(frozen=True)
class Checkpoint:
    """One pretrained network of the musicnn wheel.

    Attributes
    ----------
    directory : str
        Folder of the checkpoint in the installed package (``MSD_musicnn``, ...).
    architecture : str
        ``"musicnn"`` or ``"vgg"``.
    dataset : str
        Training set: ``"MSD"`` (Million Song Dataset) or ``"MTT"`` (MagnaTagATune).
    tags : tuple of str
        Names of the 50 outputs of the ``tags`` layer, in order.
    layers : Mapping[str, int]
        The layers :func:`build` can output, with their width (numbers per patch).
    """

    directory: str
    architecture: str
    dataset: str
    tags: tuple[str, ...]
    layers: Mapping[str, int] = field(hash=False)


def _checkpoint(directory: str) -> Checkpoint:
    dataset, architecture = directory.split("_")
    return Checkpoint(
        directory=directory,
        architecture=architecture,
        dataset=dataset,
        tags=MSD_LABELS if dataset == "MSD" else MTT_LABELS,
        layers=MappingProxyType(dict(_LAYERS[architecture])),
    )


#: The pretrained networks by name.
CHECKPOINTS = MappingProxyType(
    {d.lower(): _checkpoint(d) for d in ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")}
)

# TF1 variable scopes of each architecture, in the order the original code creates
# them (tf.compat.v1.layers numbers unnamed layers per type: conv2d, conv2d_1, ...).
# The Keras layers carry these names, which makes them the weight mapping.
_SCOPES = {
    "musicnn": (
        # front end: input BN, two timbral (7 x 38, 7 x 67) and three temporal
        # (128, 64, 32 frames) convolutions, each followed by a BN
        "batch_normalization",
        "conv2d", "batch_normalization_1",
        "conv2d_1", "batch_normalization_2",
        "conv2d_2", "batch_normalization_3",
        "conv2d_3", "batch_normalization_4",
        "conv2d_4", "batch_normalization_5",
        # mid end: three 7-frame convolutions over all features
        "conv2d_5", "batch_normalization_6",
        "conv2d_6", "batch_normalization_7",
        "conv2d_7", "batch_normalization_8",
        # back end
        "batch_normalization_9", "dense", "batch_normalization_10", "dense_1",
    ),
    "vgg": (
        "batch_normalization",
        "1CNN", "batch_normalization_1",
        "2CNN", "batch_normalization_2",
        "3CNN", "batch_normalization_3",
        "4CNN", "batch_normalization_4",
        "5CNN", "batch_normalization_5",
        "dense",
    ),
}  # fmt: skip
# Scopes past the pool layer: left out of a model that outputs only ``pool``.
_HEAD_SCOPES = {
    "musicnn": ("batch_normalization_9", "dense", "batch_normalization_10", "dense_1"),
    "vgg": ("dense",),
}

# tf.compat.v1.layers.batch_normalization's defaults (Keras' are the same).
_BN_EPSILON = 1e-3
_BN_MOMENTUM = 0.99
# Training-only variables in the checkpoints: Adam's slots and power accumulators.
_OPTIMIZER_VARIABLE = re.compile(r"(^|/)(Adam(_\d+)?|beta[12]_power|global_step)$")
# musicnn's filter counts: 1.6 x 128 timbral, 1.6 x 32 temporal, 64 mid-end; vgg: 128.
_TIMBRAL_FILTERS = int(1.6 * 128)
_TEMPORAL_FILTERS = int(1.6 * 32)
_MIDEND_FILTERS = 64
_DENSE_UNITS = 200
_VGG_FILTERS = 128
# vgg's max pooling after each of its five convolutions: (pool size, strides), both
# (time, mel), as in the checkpoints' own graphs (their .meta files). MTT_vgg's are
# those of musicnn 0.1.0's models.py; MSD_vgg was trained with other ones (4 x 1 then
# 1 x 4, not overlapping), which musicnn's extractor does not use: it runs MSD_vgg's
# weights through MTT_vgg's poolings. Both give 2 x 1 x 128 at pool5.
_VGG_POOLS = {
    "MTT": (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)),
            ((4, 4), (4, 4))),
    "MSD": (((4, 1), (4, 1)), ((1, 4), (1, 4)), ((2, 2), (2, 2)), ((2, 2), (2, 2)),
            ((4, 4), (4, 4))),
}  # fmt: skip


def _spec(name: str) -> Checkpoint:
    try:
        return CHECKPOINTS[name]
    except KeyError:
        raise ValueError(
            f"unknown musicnn checkpoint {name!r}; choose one of {', '.join(CHECKPOINTS)}"
        ) from None


def _distribution() -> metadata.Distribution:
    """The installed wheel's metadata (found without importing the package)."""
    try:
        return metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        raise PretrainedWeightsMissing(
            f"the pretrained musicnn weights are not installed: they come with the Python "
            f"package {PACKAGE}=={PACKAGE_VERSION}; install it with "
            f"`{INSTALL_COMMAND}` (`make install` does it)"
        ) from None


def checkpoint_dir(name: str) -> Path:
    """Folder of an installed checkpoint.

    Parameters
    ----------
    name : str
        A key of :data:`CHECKPOINTS`.

    Returns
    -------
    Path
        ``<site-packages>/musicnn/<directory>``; the checkpoint's prefix is this folder
        with a trailing separator (the files are ``.index``, ``.data-00000-of-00001``
        and ``.meta``: an empty file stem).

    Raises
    ------
    PretrainedWeightsMissing
        The wheel is not installed, or its folder lacks the checkpoint.
    """
    spec = _spec(name)
    path = Path(_distribution().locate_file(PACKAGE)) / spec.directory
    if not (path / ".index").is_file():
        raise PretrainedWeightsMissing(
            f"the musicnn checkpoint {name} is missing from {path}; reinstall the weights "
            f"with `{INSTALL_COMMAND} --force-reinstall`"
        )
    return path


def _checkpoint_prefix(name: str) -> str:
    return str(checkpoint_dir(name)) + os.sep


def weights_info(name: str) -> dict:
    """Provenance of a checkpoint's weights, for file attributes and the docs.

    Returns
    -------
    dict
        ``package`` ("musicnn"), ``version`` (installed), ``checkpoint`` (folder),
        ``license`` ("ISC"), ``license_file`` (path of the wheel's licence text, or
        None), ``citation``.
    """
    dist = _distribution()
    license_file = None
    for file in dist.files or ():
        if file.name.upper().startswith("LICENSE"):
            license_file = str(dist.locate_file(file))
            break
    return {
        "package": PACKAGE,
        "version": dist.version,
        "checkpoint": str(checkpoint_dir(name)),
        "license": "ISC",
        "license_file": license_file,
        "citation": CITATION,
    }


# --- front end --------------------------------------------------------------------


def log_mel(y: np.ndarray) -> np.ndarray:
    """The networks' input representation of a signal: musicnn's ``batch_data``.

    ``librosa.feature.melspectrogram`` with musicnn's parameters (n_fft 512, hop 256,
    96 Slaney mel bands, power 2, centered frames with zero padding), rounded to
    float16 as musicnn stored it, then ``log10(10000 x + 1)``.

    Parameters
    ----------
    y : np.ndarray, float32, shape (n_samples,)
        Mono audio at :data:`SAMPLE_RATE` (16 kHz), full scale 1.

    Returns
    -------
    np.ndarray, float32, shape (1 + n_samples // 256, 96)
        (time, mel): 62.5 frames per second.
    """
    from divconq.shared.melspec import melspectrogram_power

    power = melspectrogram_power(y, SAMPLE_RATE, N_FFT, HOP, N_MELS).T
    # musicnn rounds the power to float16 (its training data were stored so), then
    # computes np.log10(10000 * x + 1) with numpy < 1.17, whose value-based casting
    # promotes a float16 array times the int 10000 to float32. numpy >= 2 keeps float16
    # and overflows to inf for power above 6.55 (common in music), so the float32
    # arithmetic of the original is written out.
    rounded = power.astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000) * rounded + np.float32(1))


def patch_starts(n_frames: int, hop_frames: int = PATCH_FRAMES) -> np.ndarray:
    """First frames of the patches of a log-mel, as musicnn's ``batch_data``.

    Parameters
    ----------
    n_frames : int
        Frames of the log-mel.
    hop_frames : int
        Frames between patch starts (musicnn's default: no overlap, 187).

    Returns
    -------
    np.ndarray, int64, shape (n_patches,)
        ``range(0, n_frames - 187 + 1, hop_frames)``: the last frames that do not fill
        a patch are left out. A log-mel shorter than one patch gives one patch at 0
        (:func:`patches` repeats it up to 187 frames).
    """
    if hop_frames < 1:
        raise ValueError(f"hop_frames must be at least 1, not {hop_frames}")
    if n_frames < 1:
        raise ValueError("a log-mel without frames has no patches")
    if n_frames < PATCH_FRAMES:
        return np.zeros(1, dtype=np.int64)
    return np.arange(0, n_frames - PATCH_FRAMES + 1, hop_frames, dtype=np.int64)


def patches(mel: np.ndarray, hop_frames: int = PATCH_FRAMES) -> np.ndarray:
    """Cut a log-mel into the networks' input patches.

    A log-mel shorter than one patch is repeated along time up to 187 frames, one
    patch: musicnn's training did so with short tracks (``pad_short: repeat-pad`` in
    the checkpoints' ``config.json``), where zero padding would add silence the
    networks never saw in training.

    Parameters
    ----------
    mel : np.ndarray, float32, shape (n_frames, 96)
        :func:`log_mel` of a track.
    hop_frames : int
        Frames between patch starts (:func:`patch_starts`).

    Returns
    -------
    np.ndarray, float32, shape (n_patches, 187, 96)
    """
    mel = np.asarray(mel, dtype=np.float32)
    if mel.ndim != 2 or mel.shape[1] != N_MELS:
        raise ValueError(f"a log-mel has shape (n_frames, {N_MELS}), not {mel.shape}")
    starts = patch_starts(len(mel), hop_frames)
    mel = repeat_pad(mel)
    return mel[starts[:, None] + np.arange(PATCH_FRAMES)]


def repeat_pad(mel: np.ndarray) -> np.ndarray:
    """A log-mel shorter than one patch repeated along time up to 187 frames.

    musicnn's ``pad_short: repeat-pad``; an empty log-mel becomes silence (zeros).
    A log-mel of a patch or more is returned as is.

    Parameters
    ----------
    mel : np.ndarray, float32, shape (n_frames, 96)

    Returns
    -------
    np.ndarray, float32, shape (max(n_frames, 187), 96)
    """
    if len(mel) >= PATCH_FRAMES:
        return mel
    if len(mel) == 0:
        return np.zeros((PATCH_FRAMES, N_MELS), np.float32)
    reps = -(-PATCH_FRAMES // len(mel))
    return np.tile(mel, (reps, 1))[:PATCH_FRAMES]


# --- network ----------------------------------------------------------------------


def _layer_names(name: str, layers: Iterable[str] | str | None) -> tuple[str, ...]:
    """The layers asked for, checked against those the checkpoint offers."""
    offered = tuple(_spec(name).layers)
    if layers is None:
        return offered
    if isinstance(layers, str):
        layers = (layers,)
    layers = tuple(dict.fromkeys(layers))
    unknown = [layer for layer in layers if layer not in offered]
    if unknown or not layers:
        raise ValueError(
            f"musicnn checkpoint {name} offers the layers {', '.join(offered)}; "
            f"not {', '.join(map(repr, unknown)) or 'none'}"
        )
    return layers


def _batch_norm(scope: str):
    import keras

    return keras.layers.BatchNormalization(epsilon=_BN_EPSILON, momentum=_BN_MOMENTUM, name=scope)


def _conv_bn_max(x, conv: str, bn: str, filters: int, kernel: tuple, padding: str):
    """Conv2D + ReLU, batch norm, max over the whole mel axis: (batch, time, filters)."""
    import keras

    h = keras.layers.Conv2D(filters, kernel, padding=padding, activation="relu", name=conv)(x)
    return keras.ops.max(_batch_norm(bn)(h), axis=2)


def _musicnn(x, spec: Checkpoint, head: bool, trainable: bool) -> dict:
    """musicnn's graph (``build_musicnn`` of musicnn/models.py) on (batch, 187, 96)."""
    from keras import layers as kl
    from keras import ops

    # Front end on the batch-normalized (batch, time, mel, 1) spectrogram.
    h = _batch_norm("batch_normalization")(ops.expand_dims(x, -1))
    # Timbral blocks: 7 frames x 40 % / 70 % of the bands, 'valid' after padding time
    # by 3 frames on each side (the original's 'same' in time only).
    h_pad = kl.ZeroPadding2D(((3, 3), (0, 0)))(h)
    front = [
        _conv_bn_max(h_pad, "conv2d", "batch_normalization_1", _TIMBRAL_FILTERS,
                     (7, int(0.4 * N_MELS)), "valid"),
        _conv_bn_max(h_pad, "conv2d_1", "batch_normalization_2", _TIMBRAL_FILTERS,
                     (7, int(0.7 * N_MELS)), "valid"),
    ]  # fmt: skip
    # Temporal blocks: 128, 64 and 32 frames x 1 band, 'same'.
    for i, length in enumerate((128, 64, 32)):
        front.append(
            _conv_bn_max(h, f"conv2d_{2 + i}", f"batch_normalization_{3 + i}",
                         _TEMPORAL_FILTERS, (length, 1), "same")
        )  # fmt: skip
    frontend = ops.concatenate(front, axis=-1)  # (batch, 187, 561)

    # Mid end: 7-frame convolutions spanning the whole feature axis of (batch, time,
    # features, 1), time padded by 3 on each side, as the original. (A Conv1D with the
    # features as channels is the same product, but was slower here and further from
    # the original's sums: 1.8e-4 against 2.6e-5 on MTT's pool layer.) The original
    # then transposes the filters into the feature axis: a squeeze of the unit axis.
    def midend_conv(inputs, i):
        padded = kl.ZeroPadding2D(((3, 3), (0, 0)))(ops.expand_dims(inputs, -1))
        kernel = (7, inputs.shape[-1])
        conv = kl.Conv2D(_MIDEND_FILTERS, kernel, activation="relu", name=f"conv2d_{5 + i}")
        h = _batch_norm(f"batch_normalization_{6 + i}")(conv(padded))
        return ops.squeeze(h, axis=2)  # (batch, time, filters)

    c1 = midend_conv(frontend, 0)
    r2 = kl.Add()([midend_conv(c1, 1), c1])
    r3 = kl.Add()([midend_conv(r2, 2), r2])
    midend = ops.concatenate([frontend, c1, r2, r3], axis=-1)  # (batch, 187, 753)

    # Back end: max and mean over time, concatenated on a last axis and flattened as
    # the original ([max, mean] per feature: the order its batch norm was trained on).
    pooled = ops.stack([ops.max(midend, axis=1), ops.mean(midend, axis=1)], axis=-1)
    outputs = {"pool": ops.reshape(pooled, (-1, 2 * midend.shape[-1]))}
    if not head:
        return outputs
    h = _batch_norm("batch_normalization_9")(outputs["pool"])
    if trainable:
        h = kl.Dropout(0.5)(h)
    outputs["penultimate"] = kl.Dense(_DENSE_UNITS, activation="relu", name="dense")(h)
    h = _batch_norm("batch_normalization_10")(outputs["penultimate"])
    if trainable:
        h = kl.Dropout(0.5)(h)
    logits = kl.Dense(len(MSD_LABELS), name="dense_1")(h)
    outputs["tags"] = kl.Activation("sigmoid", name="tags")(logits)
    return outputs


def _vgg(x, spec: Checkpoint, head: bool, trainable: bool) -> dict:
    """The vgg baseline's graph (``vgg`` of musicnn/models.py) on (batch, 187, 96)."""
    from keras import layers as kl
    from keras import ops

    h = _batch_norm("batch_normalization")(ops.expand_dims(x, -1))
    for i, (pool, strides) in enumerate(_VGG_POOLS[spec.dataset], start=1):
        h = kl.Conv2D(_VGG_FILTERS, (3, 3), padding="same", activation="relu", name=f"{i}CNN")(h)
        h = _batch_norm(f"batch_normalization_{i}")(h)
        h = kl.MaxPooling2D(pool, strides)(h)
    outputs = {"pool": kl.Flatten()(h)}  # (batch, 2 * 1 * 128)
    if not head:
        return outputs
    h = kl.Dropout(0.5)(outputs["pool"]) if trainable else outputs["pool"]
    logits = kl.Dense(len(MSD_LABELS), name="dense")(h)
    outputs["tags"] = kl.Activation("sigmoid", name="tags")(logits)
    return outputs


def build(name: str, layer_outputs: Iterable[str] | None = None, trainable: bool = False):
    """The Keras network of a checkpoint, with fresh (untrained) weights.

    Parameters
    ----------
    name : str
        A key of :data:`CHECKPOINTS`.
    layer_outputs : iterable of str, optional
        Layers to output, among ``CHECKPOINTS[name].layers`` (``pool``, ``penultimate``
        (musicnn only), ``tags``); all of them by default.
    trainable : bool
        False: frozen, batch norms in inference mode. True: for fine-tuning, with the
        original's dropout (0.5) before each dense layer of the back end (vgg's 0.25
        dropout after its first four poolings is left out).

    Returns
    -------
    keras.Model
        Input float32 (batch, 187, 96) log-mel patches (:func:`patches`); output a dict
        ``{layer: (batch, width)}``. Layers with weights are named by their TF1
        variable scopes (``conv2d``, ``batch_normalization_3``, ``1CNN``, ``dense``...).

    Raises
    ------
    ValueError
        A layer the checkpoint does not offer (``penultimate`` of a vgg).
    """
    import keras

    spec = _spec(name)
    layers = _layer_names(name, layer_outputs)
    x = keras.Input(shape=(PATCH_FRAMES, N_MELS), dtype="float32", name="log_mel")
    graph = _musicnn if spec.architecture == "musicnn" else _vgg
    # The back end's layers only when an output needs them (load_weights then leaves
    # their checkpoint variables out).
    outputs = graph(x, spec, layers != ("pool",), trainable)
    model = keras.Model(x, {layer: outputs[layer] for layer in layers}, name=name)
    model.trainable = trainable
    return model


def _checkpoint_reader(name: str):
    import tensorflow as tf

    # tf.train.load_checkpoint would take the prefix "<dir>/" for a folder and look
    # for a "checkpoint" index file, whose paths are the author's; the reader takes
    # the prefix as it is.
    return tf.compat.v1.train.NewCheckpointReader(_checkpoint_prefix(name))


def load_weights(model, name: str):
    """Assign a checkpoint's trained values to a network of :func:`build`, by TF1 name.

    Every variable of a Keras layer named by a TF1 scope gets ``<scope>/<variable>``
    (``kernel``, ``bias``, ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``).

    Parameters
    ----------
    model : keras.Model
        ``build(name, ...)``.
    name : str
        A key of :data:`CHECKPOINTS`.

    Returns
    -------
    keras.Model
        ``model``, its weights assigned in place.

    Raises
    ------
    ValueError
        A Keras variable without its checkpoint variable or with another shape, or a
        checkpoint variable left unused (besides the optimizer's, and the back end's
        when the model stops at ``pool``).
    PretrainedWeightsMissing
        The wheel is not installed.
    """
    arch = _spec(name).architecture
    reader = _checkpoint_reader(name)
    network = {
        key for key in reader.get_variable_to_shape_map() if not _OPTIMIZER_VARIABLE.search(key)
    }
    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in _SCOPES[arch]:
            raise ValueError(f"layer {layer.name!r} of the network is no {arch} checkpoint scope")
        for variable in layer.weights:
            key = f"{layer.name}/{variable.name.split('/')[-1].split(':')[0]}"
            if key not in network:
                raise ValueError(f"checkpoint {name} has no variable {key}")
            value = reader.get_tensor(key)
            if value.shape != tuple(variable.shape):
                raise ValueError(
                    f"checkpoint variable {key} has shape {value.shape}, "
                    f"the network's {tuple(variable.shape)}"
                )
            variable.assign(value)
            used.add(key)
    built = {layer.name for layer in model.layers}
    left = sorted(
        key
        for key in network - used
        if not (key.rsplit("/", 1)[0] in _HEAD_SCOPES[arch] and key.rsplit("/", 1)[0] not in built)
    )
    if left:
        raise ValueError(f"checkpoint {name}: variables the network does not use: {left}")
    return model


def load(name: str, layers: Iterable[str] | None = None, trainable: bool = False):
    """A pretrained network: :func:`build` then :func:`load_weights`.

    Frozen networks are cached per process (one per checkpoint and set of layers);
    a trainable one is built anew each call, since training changes it.

    Parameters
    ----------
    name : str
        A key of :data:`CHECKPOINTS`.
    layers : iterable of str, optional
        Layers to output (all those the checkpoint offers by default).
    trainable : bool
        See :func:`build`.

    Returns
    -------
    keras.Model
    """
    layers = _layer_names(name, layers)
    if trainable:
        return load_weights(build(name, layers, trainable=True), name)
    return _load_frozen(name, layers)


@functools.cache
def _load_frozen(name: str, layers: tuple):
    return load_weights(build(name, layers, trainable=False), name)


def embed(patches: np.ndarray, model, batch_size: int = 64) -> dict:
    """Run log-mel patches through a network, a batch at a time.

    Parameters
    ----------
    patches : np.ndarray, float32, shape (n_patches, 187, 96)
        :func:`patches` of a track.
    model : keras.Model
        :func:`load` (or :func:`build`) of a checkpoint.
    batch_size : int
        Patches per call: bounds memory (musicnn: ~25 MB of activations a patch, so
        ~1.8 GB at 64 besides the ~0.6 GB of TensorFlow and the weights; vgg less).

    Returns
    -------
    dict of str to np.ndarray, float32, shape (n_patches, width)
        One array per output layer of ``model``.
    """
    patches = np.asarray(patches, dtype=np.float32)
    if patches.ndim != 3 or patches.shape[1:] != (PATCH_FRAMES, N_MELS):
        raise ValueError(
            f"patches have shape (n_patches, {PATCH_FRAMES}, {N_MELS}), not {patches.shape}"
        )
    widths = {layer: int(t.shape[-1]) for layer, t in model.output.items()}
    parts: dict[str, list] = {layer: [] for layer in widths}
    for b in range(0, len(patches), batch_size):
        # predict_on_batch runs one compiled function (eager calls go op by op).
        out = model.predict_on_batch(patches[b : b + batch_size])
        for layer in widths:
            parts[layer].append(np.asarray(out[layer], dtype=np.float32))
    return {
        layer: np.concatenate(parts[layer]) if parts[layer] else np.zeros((0, w), np.float32)
        for layer, w in widths.items()
    }
