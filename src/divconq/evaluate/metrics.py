"""Classification metrics of the evaluation stage: per-class precision / recall / F1
and the confusion matrix (``sklearn.metrics``), Keras' pooled precision / recall,
and window accuracy averaged per track.

scikit-learn is imported by :func:`classification_metrics` itself: evaluation jobs
load TensorFlow anyway, per-track jobs and ``divconq predict`` never need it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

__all__ = ["classification_metrics", "keras_precision_recall", "window_accuracy_per_track"]


def classification_metrics(y_true, y_pred, n_classes: int) -> dict:
    """Accuracy, per-class precision / recall / F1 and the confusion matrix (``sklearn.metrics``).

    Per class ``c``: precision = TP / (TP + FP), recall = TP / (TP + FN),
    F1 = 2 PR / (P + R). An undefined ratio (no prediction of ``c``, no sample of
    ``c``) is NaN (``zero_division=np.nan``), and so is F1 when P or R is NaN (where
    scikit-learn would say 0 for a class never predicted: kept as the tables
    always had it); F1 is 0 when P + R = 0. Macro averages skip NaN.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        Class indices.
    n_classes : int

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``precision``, ``recall``, ``f1`` (lists of n_classes
        floats), ``macro_precision``, ``macro_recall``, ``macro_f1``, ``support``
        (samples per true class) and ``confusion`` (rows: true class, columns:
        predicted class). With ``n == 0`` every number is NaN.
    """
    # Imported here: scikit-learn is for evaluation jobs (which load TensorFlow
    # anyway), not for the per-track jobs or `divconq predict`.
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    n = int(len(y_true))
    labels = np.arange(n_classes)
    if n == 0:
        nan = [math.nan] * n_classes
        confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
        precision = recall = f1 = np.array(nan)
    else:
        with warnings.catch_warnings():
            # With one class, scikit-learn warns of a single label although it is given.
            warnings.filterwarnings("ignore", "A single label was found", UserWarning)
            confusion = confusion_matrix(y_true, y_pred, labels=labels)
        precision, recall, f1, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=None, zero_division=np.nan
        )
        f1 = np.where(np.isnan(precision) | np.isnan(recall), np.nan, f1)

    def _mean(a):
        return float(np.nanmean(a)) if np.any(~np.isnan(a)) else math.nan

    return {
        "n": n,
        "accuracy": float(np.trace(confusion) / n) if n else math.nan,
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "f1": [float(v) for v in f1],
        "macro_precision": _mean(precision),
        "macro_recall": _mean(recall),
        "macro_f1": _mean(f1),
        "support": confusion.sum(axis=1).tolist(),
        "confusion": confusion.tolist(),
    }


def keras_precision_recall(scores: np.ndarray, y_true, threshold: float = 0.5) -> dict:
    """Precision and recall as Keras' ``Precision()`` / ``Recall()`` metrics compute them.

    These are the ``precision`` / ``recall`` columns of ``history.csv``: every
    (sample, class) output is a binary decision ``score > threshold`` against the
    one-hot label, pooled over classes (micro average). Reported next to the
    per-class numbers so that the training curves and the evaluation agree.
    """
    scores = np.asarray(scores, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.int64)
    if len(y_true) == 0:
        return {"keras_precision": math.nan, "keras_recall": math.nan}
    onehot = np.zeros_like(scores, dtype=bool)
    onehot[np.arange(len(y_true)), y_true] = True
    pred = scores > threshold
    tp = float(np.sum(pred & onehot))
    npred = float(pred.sum())
    return {
        "keras_precision": tp / npred if npred else 0.0,
        "keras_recall": tp / float(onehot.sum()),
    }


def window_accuracy_per_track(track_ids, y_true, y_pred) -> float:
    """Window accuracy of each track, averaged over tracks (each track weighs the same).

    Parameters
    ----------
    track_ids : array-like, shape (n_windows,)
        Track of each window.
    y_true, y_pred : array-like of int, shape (n_windows,)

    Returns
    -------
    float
        NaN without windows.
    """
    if len(track_ids) == 0:
        return math.nan
    df = pd.DataFrame(
        {"track": np.asarray(track_ids), "ok": np.asarray(y_true) == np.asarray(y_pred)}
    )
    return float(df.groupby("track", sort=False)["ok"].mean().mean())
