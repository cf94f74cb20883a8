"""The predictor: one model, or an ensemble of seed models, that classifies whole files.

:class:`Predictor` loads the model folder(s) (:func:`divconq.evaluate.inference.load_model_dir`),
scores a file's windows through the streaming pipeline
(:func:`divconq.predict.pipeline.scores_of_stream`) and turns the window scores into
a track prediction by a rule of :mod:`divconq.evaluate.rules` (:func:`track_values`): a
:class:`FilePrediction`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from divconq.data.audio import stream
from divconq.data.features import FeatureParams, track_features
from divconq.evaluate import rules
from divconq.predict.folders import ModelDirError, model_dirs
from divconq.predict.pipeline import scores_of_stream
from divconq.shared.inputs import EMBEDDING_INPUTS, WHOLE_TRACK_INPUTS

__all__ = ["FilePrediction", "Predictor", "track_values"]


@dataclass
class FilePrediction:
    """The prediction for one file.

    Attributes
    ----------
    file : str
        The file as named (relative paths stay relative).
    class_names : list of str
    rule : str
        Track rule, a name of :data:`divconq.evaluate.rules.RULES` (``clip`` for a clip model).
    start_s : np.ndarray, float64, shape (n_windows,)
        Window starts, seconds (one row at 0 for a clip model).
    window_s : float
        Window length, seconds (``clip_s`` for a clip model).
    scores : np.ndarray, float64, shape (n_windows, n_classes)
        Softmax scores per window (averaged over the models of an ensemble).
    duration_s : float
        Decoded length, seconds.
    padded : bool
        The file was shorter than one window and was padded with silence.
    label : str
        Predicted class.
    values : np.ndarray, float64, shape (n_classes,)
        Track scores shown to the user, see :func:`track_values`.
    seconds : float
        Wall time spent on this file.
    """

    file: str
    class_names: list
    rule: str
    start_s: np.ndarray
    window_s: float
    scores: np.ndarray
    duration_s: float
    padded: bool
    label: str = ""
    values: np.ndarray = field(default=None, repr=False)
    seconds: float = 0.0

    @property
    def n_windows(self) -> int:
        return int(len(self.start_s))

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` best classes by the rule, with their shown scores."""
        order = self._order()[:k]
        return [(self.class_names[i], float(self.values[i])) for i in order]

    def _order(self):
        ranking = rules.get(self.rule).score(np.asarray(self.scores, dtype=np.float64))
        # Stable on ties: argsort of the negated ranking keeps class order.
        return np.argsort(-ranking, kind="stable")


def track_values(scores: np.ndarray, rule: str) -> tuple[int, np.ndarray]:
    """Track prediction and readable per-class track scores under a rule.

    The prediction is :func:`divconq.evaluate.evaluation.predict_track` (the evaluation
    stage's own code). The shown scores are the rule's display values (see
    :mod:`divconq.evaluate.rules`): they rank the classes as the rule does but read as
    probabilities (they sum to 1), e.g. the mean window score for ``sum``.

    Parameters
    ----------
    scores : np.ndarray, shape (n_windows, n_classes)
    rule : str
        A rule of :data:`divconq.evaluate.rules.RULES`, or ``clip`` (a clip model's single score).

    Returns
    -------
    index : int
    values : np.ndarray, float64, shape (n_classes,)

    Raises
    ------
    divconq.evaluate.rules.UnknownRuleError
        For any other rule name.
    """
    from divconq.evaluate.evaluation import predict_track

    rule_ = rules.get(rule)
    scores = np.asarray(scores, dtype=np.float64)
    return predict_track(scores, rule_.name), rule_.display(scores)


class Predictor:
    """One model, or the ensemble of an experiment's seed models, ready to classify files.

    Parameters
    ----------
    model : str, Path or list of them
        Model folder, experiment folder or list of model folders (see :func:`model_dirs`).
    batch_size : int
        Windows per model call. On CPU the time per window is the same from 16
        to 256 (measured with the ``article`` preset), but memory is not: the
        first conv block's activations alone take 3.3 MB per window, so 256
        windows peak near 3 GB and 32 under 1 GB. Features of a few dozen
        windows wait at a time (52 kB each).
    warmup : bool
        Run each model once on dummy windows, so that the first file does not
        pay for building the model's inference function.
    feature_threads : int, optional
        Threads computing features (default: the CPU count, at most 4). Numpy's
        FFT releases the GIL: two threads halve the feature time on two cores.

    Attributes
    ----------
    dirs : list of Path
    bundles : list of divconq.evaluate.inference.Bundle
    params : FeatureParams or divconq.data.embeddings.EmbeddingParams
        The models' stored feature parameters (all models must agree).
    class_names : list of str
    input : str
        ``snippets``, ``clip`` or ``embeddings``.
    """

    def __init__(
        self, model, batch_size: int = 32, warmup: bool = True, feature_threads: int | None = None
    ):
        from divconq.evaluate import inference

        self.dirs = model_dirs(model)
        self.bundles = []
        for d in self.dirs:
            try:
                self.bundles.append(inference.load_model_dir(d))
            except (FileNotFoundError, ValueError) as err:  # the message names the part
                raise ModelDirError(str(err)) from err
            except Exception as err:  # e.g. a truncated model.keras
                raise ModelDirError(f"cannot load model {d}: {type(err).__name__}: {err}") from err
        first = self.bundles[0]
        for d, b in zip(self.dirs[1:], self.bundles[1:], strict=True):
            same = (
                b.params == first.params
                and list(b.class_names) == list(first.class_names)
                and b.input == first.input
            )
            if not same:
                raise ModelDirError(
                    f"the models of {model} disagree: {d} has other feature parameters, "
                    f"classes or input than {self.dirs[0]}; an ensemble needs them equal"
                )
        self.params: FeatureParams = first.params
        self.class_names = [str(c) for c in first.class_names]
        self.input = first.input
        self.batch_size = max(1, int(batch_size))
        if feature_threads is None:
            feature_threads = min(4, os.cpu_count() or 1)
        self.feature_threads = max(1, int(feature_threads))
        if warmup:
            self.warmup()

    def warmup(self) -> None:
        """Score dummy inputs of two batch sizes: Keras then traces its inference
        function once with a free batch dimension and never again."""
        p = self.params
        if self.input in EMBEDDING_INPUTS:
            from divconq.data.embeddings import load_network
            from divconq.models import musicnn

            # The network's weights come from an installed package: a missing one
            # fails here, before any file, naming the package and its install command.
            musicnn.weights_info(p.model)
            load_network(p.model)
            shape = (p.width, 1)
        elif self.input == "musicnn_mel":
            # The fine-tuned network is in the model folder: no package needed.
            from divconq.models.musicnn import N_MELS, PATCH_FRAMES

            shape = (N_MELS, PATCH_FRAMES)
        else:
            shape = (p.n_mels, p.n_clip_frames if self.input == "clip" else p.n_frames)
        for n in (1, 2):
            x = np.zeros((n, *shape), dtype=np.float32)
            if self.input == "clip":
                self.score_clip(x[0])
            else:
                self.score_windows(x)

    def score_windows(self, mel_db: np.ndarray) -> np.ndarray:
        """Softmax scores of windows, averaged over the models (float64, (n, n_classes))."""
        from divconq.evaluate import inference

        total = None
        for b in self.bundles:
            s = np.asarray(inference.score_windows(b, mel_db, batch_size=self.batch_size))
            total = s.astype(np.float64) if total is None else total + s
        return total / len(self.bundles)

    def score_clip(self, clip_mel_db: np.ndarray) -> np.ndarray:
        """Softmax scores of a whole-clip input, averaged over the models (float64, (1, n))."""
        from divconq.evaluate import inference

        total = 0.0
        for b in self.bundles:
            s = np.asarray(inference.score_clip(b, clip_mel_db), dtype=np.float64)
            total = total + s.reshape(1, -1)
        return total / len(self.bundles)

    def scores_of_stream(self, pieces) -> tuple[np.ndarray, np.ndarray, int]:
        """Window starts and scores of mono audio at ``params.sample_rate``, given piece by piece.

        See :func:`divconq.predict.pipeline.scores_of_stream` (decoding, features and
        scoring overlap; memory stays bounded). A clip model scores the first
        ``clip_s`` seconds as one input; an embedding model embeds the patches of the
        whole track with the pretrained network
        (:func:`divconq.data.embeddings.track_embeddings`, the embedding stage's code); a
        fine-tuned network's model scores the network's log-mel patches of the
        whole track (:func:`divconq.data.embeddings.patch_log_mels`).

        Returns
        -------
        start_s : np.ndarray, float64, shape (n_windows,)
        scores : np.ndarray, float64, shape (n_windows, n_classes)
        n_samples : int
            Track length, samples.
        """
        p = self.params
        if self.input == "clip":
            y = np.concatenate([np.asarray(x, dtype=np.float32) for x in pieces])
            feats = track_features(y[: p.clip_samples], p, clip=True)
            return np.zeros(1), self.score_clip(feats.clip_mel_db), len(y)
        if self.input in EMBEDDING_INPUTS:
            from divconq.data.embeddings import track_embeddings

            y = np.concatenate([np.asarray(x, dtype=np.float32) for x in pieces])
            emb = track_embeddings(y, p)
            values = emb.layers[p.layer]
            if self.input == "embedding_mean":
                # The mean over every patch, as the evaluation stage reads it.
                mean = values.mean(axis=0, dtype=np.float64).astype(np.float32)
                return np.zeros(1), self.score_windows(mean[None, :, None]), len(y)
            return emb.start_s, self.score_windows(values[:, :, None]), len(y)
        if self.input == "musicnn_mel":
            from divconq.data.embeddings import FRAME_RATE, patch_log_mels

            # The training files' patches, cut by the same code (mel, time as stored).
            y = np.concatenate([np.asarray(x, dtype=np.float32) for x in pieces])
            patches, starts = patch_log_mels(y, p)[:2]
            scores = self.score_windows(patches.transpose(0, 2, 1))
            return starts.astype(np.float64) / FRAME_RATE, scores, len(y)
        # Looked up at each call, so that a replaced score_windows is used.
        return scores_of_stream(
            pieces,
            p,
            lambda mel_db: self.score_windows(mel_db),
            self.batch_size,
            self.feature_threads,
        )

    def predict_audio(self, y: np.ndarray, name: str = "", rule: str = rules.DEFAULT):
        """Classify mono audio at ``params.sample_rate``; returns a :class:`FilePrediction`."""
        rules.get(rule, clip=False)  # an unknown rule fails before any work
        t0 = time.perf_counter()
        pred = self._prediction(name, rule, *self.scores_of_stream([y]))
        pred.seconds = time.perf_counter() - t0
        return pred

    def _window_s(self, n_samples: int) -> float:
        """Seconds one score stands for: a window, the clip, or the whole track."""
        p = self.params
        if self.input == "clip":
            return p.clip_s
        if self.input == "embedding_mean":
            return max(n_samples, p.snippet_samples) / p.sample_rate
        return p.snippet_s

    def _prediction(self, name, rule, start_s, scores, n_samples) -> FilePrediction:
        kind = "clip" if self.input in WHOLE_TRACK_INPUTS else rule
        index, values = track_values(scores, kind)
        p = self.params
        return FilePrediction(
            file=name,
            class_names=self.class_names,
            rule=kind,
            start_s=start_s,
            window_s=self._window_s(n_samples),
            scores=scores,
            duration_s=n_samples / p.sample_rate,
            padded=n_samples < p.snippet_samples,
            label=self.class_names[index],
            values=values,
        )

    def predict_file(self, path, rule: str = rules.DEFAULT) -> FilePrediction:
        """Decode and classify one file; raises :class:`~divconq.shared.errors.AudioError`.

        ``rule`` is a name of :data:`divconq.evaluate.rules.RULES` (an unknown one raises
        :class:`~divconq.evaluate.rules.UnknownRuleError` before decoding).
        """
        rules.get(rule, clip=False)
        t0 = time.perf_counter()
        # Decoding goes on while the first windows are scored (see scores_of_stream).
        pieces = stream(path, sr=self.params.sample_rate)
        pred = self._prediction(str(path), rule, *self.scores_of_stream(pieces))
        pred.seconds = time.perf_counter() - t0
        return pred
