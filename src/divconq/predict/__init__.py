"""Classify any audio file with a trained model: ``divconq predict``.

A file is decoded (any format, rate and channel count :func:`divconq.data.audio.load`
reads), cut into ``snippet_s`` windows every ``window_hop_s`` over the whole
track (3-s windows with 2-s overlap by default), turned into log-mel features by
:func:`divconq.data.features.track_features` with the model's own stored
:class:`~divconq.data.features.FeatureParams` (nothing comes from the config or the
command line), scored by :mod:`divconq.evaluate.inference`, and the window scores are
aggregated into one track prediction by a rule of
:mod:`divconq.evaluate.rules` (``sum``, the article's, by default).
These are the exact functions the workflow's feature and evaluation stages use,
so a track gets the same features and the same prediction here as there
(``tests/test_predict.py`` checks both).

A long file is a pipeline: it is decoded piece by piece (:func:`divconq.data.audio.stream`),
features are computed 64 windows at a time in worker threads as soon as their
audio is in (each window is framed and transformed on its own, so a chunk gives the
very same numbers as the whole track), and the model scores the previous batch
meanwhile. Memory stays bounded: only the (n_windows, n_classes) scores are kept.

``--model`` is either one model folder (``results/models/<experiment>/seed<N>``)
or an experiment folder: then every ``seed*/`` model in it is loaded and their
window scores are averaged before the track rule is applied (an ensemble).

The work is split by job:

- :mod:`divconq.predict.folders`: what a ``--model`` path stands for (:func:`model_dirs`);
- :mod:`divconq.predict.pipeline`: the streaming window pipeline (:class:`WindowCutter`,
  :func:`segment_features`, :func:`scores_of_stream`);
- :mod:`divconq.predict.predictor`: :class:`Predictor` and :class:`FilePrediction`;
- :mod:`divconq.predict.output`: table, JSON and CSV output and the timeline plot;
- :mod:`divconq.cli.predict`: the ``divconq predict`` command itself.
"""

from divconq.predict.folders import ModelDirError, model_dirs
from divconq.predict.output import plot_paths, plot_timeline, to_csv, to_json, to_table
from divconq.predict.pipeline import (
    FEATURE_CHUNK,
    WindowCutter,
    scores_of_stream,
    segment_features,
    window_chunks,
)
from divconq.predict.predictor import FilePrediction, Predictor, track_values

__all__ = [
    "FEATURE_CHUNK",
    "FilePrediction",
    "ModelDirError",
    "Predictor",
    "WindowCutter",
    "model_dirs",
    "plot_paths",
    "plot_timeline",
    "scores_of_stream",
    "segment_features",
    "to_csv",
    "to_json",
    "to_table",
    "track_values",
    "window_chunks",
]
