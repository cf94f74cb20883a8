"""Scoring the tracks' feature files with a model: the window scores of the
evaluation stage (:func:`score_tracks`), after checking that a file's features
were computed as the model's inputs were (:func:`check_params`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from divconq.data.features import CLIP_HINT
from divconq.evaluate.window_scores import WindowScores
from divconq.shared.inputs import EMBEDDING_INPUTS, WHOLE_TRACK_INPUTS
from divconq.split import spectrogram_path

__all__ = ["INPUT_PARAMS", "check_params", "score_tracks"]


#: Feature parameters that shape a model input: a file must match the model's on these.
INPUT_PARAMS = (
    "sample_rate",
    "n_fft",
    "hop_length",
    "n_mels",
    "fmin",
    "fmax",
    "top_db",
    "snippet_s",
    "clip_s",
)


def check_params(model_params, file_params, path) -> None:
    """Raise ``ValueError`` if a file's features were not computed as the model's inputs were."""
    if model_params is None or file_params is None:
        return
    a, b = model_params.to_dict(), file_params.to_dict()
    diff = [k for k in INPUT_PARAMS if k in a and k in b and a[k] != b[k]]
    if diff:
        detail = ", ".join(f"{k}: model {a[k]!r}, file {b[k]!r}" for k in diff)
        raise ValueError(f"{path}: features differ from the model's ({detail})")


def _read_embeddings(bundle, path):
    """An embedding file as windows: ``mel_db`` (n, width, 1), ``start_s``, ``is_snippet``."""
    from types import SimpleNamespace

    from divconq.data.embeddings import check_file_params, read_hdf5

    values, start_s, is_snippet, attrs = read_hdf5(path, bundle.params.layer)
    check_file_params(bundle.params, attrs, path)
    return SimpleNamespace(mel_db=values[:, :, None], start_s=start_s, is_snippet=is_snippet)


def _read_mel_patches(bundle, path):
    """A network log-mel file as windows: ``mel_db`` (n, 96, 187) patches (mel, time),
    cut at the model's patch hops, ``start_s``, ``is_snippet``."""
    from types import SimpleNamespace

    from divconq.data.embeddings import read_mel_patches

    patches, start_s, is_snippet = read_mel_patches(path, bundle.params)
    return SimpleNamespace(
        mel_db=patches.transpose(0, 2, 1), start_s=start_s, is_snippet=is_snippet
    )


def score_tracks(
    bundle,
    tracks: pd.DataFrame,
    batch_size: int = 256,
    chunk_windows: int = 4096,
    base_dir=None,
):
    """Score every window (or the clip) of each track once.

    Parameters
    ----------
    bundle : divconq.evaluate.inference.Bundle
        From :func:`divconq.evaluate.inference.load_model_dir`.
    tracks : pd.DataFrame
        ``track`` and ``spectrogram`` (path of the per-track HDF5; of the embedding
        file for an embedding model, of the network log-mel file for a fine-tuned
        one), in scoring order.
    batch_size : int
        Model batch size.
    chunk_windows : int
        Windows of several tracks are scored together up to about this many, to
        keep batches full while bounding memory.
    base_dir : str or Path, optional
        Folder that relative ``spectrogram`` paths are tried against when they do
        not exist relative to the working directory.

    Returns
    -------
    WindowScores
    """
    from divconq.data.features import read_hdf5
    from divconq.evaluate import inference

    kind = getattr(bundle, "input", "snippets")
    class_names = list(bundle.class_names)
    n_classes = len(class_names)
    ids, starts, snippets, scores = [], [], [], []
    pending, pending_n = [], 0

    def flush():
        nonlocal pending, pending_n
        if pending:
            batch = np.concatenate(pending, axis=0)
            s = np.asarray(inference.score_windows(bundle, batch, batch_size=batch_size))
            scores.append(s.reshape(len(batch), n_classes))
        pending, pending_n = [], 0

    for track, h5_path in zip(tracks["track"], tracks["spectrogram"], strict=True):
        path = spectrogram_path(h5_path, base_dir)
        if kind in EMBEDDING_INPUTS:
            feats = _read_embeddings(bundle, path)
        elif kind == "musicnn_mel":
            feats = _read_mel_patches(bundle, path)
        else:
            feats, file_params, _ = read_hdf5(path, clip=(kind == "clip"))
            check_params(getattr(bundle, "params", None), file_params, h5_path)
        if kind == "clip":
            if feats.clip_mel_db is None:
                raise ValueError(f"{h5_path} has no clip_mel_db for a clip model. {CLIP_HINT}")
            s = np.asarray(inference.score_clip(bundle, feats.clip_mel_db), dtype=np.float32)
            scores.append(s.reshape(-1, n_classes)[:1])
        elif kind == "embedding_mean":
            # The track's one input: the mean over every patch (as in training).
            mean = feats.mel_db.mean(axis=0, dtype=np.float64).astype(np.float32)
            s = inference.score_windows(bundle, mean[None], batch_size=batch_size)
            scores.append(np.asarray(s, dtype=np.float32).reshape(1, n_classes))
        if kind in WHOLE_TRACK_INPUTS:
            ids.append(track)
            starts.append(0.0)
            snippets.append(False)
            continue
        n = len(feats.start_s)
        ids.extend([track] * n)
        starts.extend(feats.start_s.tolist())
        snippets.extend(feats.is_snippet.tolist())
        pending.append(feats.mel_db)
        pending_n += n
        if pending_n >= chunk_windows:
            flush()
    flush()
    all_scores = np.concatenate(scores, axis=0) if scores else np.zeros((0, n_classes))
    return WindowScores(ids, starts, snippets, all_scores, class_names, kind)
