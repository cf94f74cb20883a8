"""Per-mel-band statistics of a snippet over time: the input of the ``band_stats`` model.

A snippet's timbre summary: for each mel band, the mean level, its standard
deviation over time and the mean absolute frame-to-frame change (spectral flux of
that band). On real music with a few hundred training tracks a small network on
these 3 x 100 numbers generalizes from track to track at least as well as a
CRNN, which has the capacity to memorize the training tracks' melodies and
rhythms (``docs/realmusic.md``).

The statistics are a Keras layer inside the model, not a separate feature file,
so training, evaluation and ``divconq predict`` share one code path: the model
still takes the normalized ``(time, mel, 1)`` windows every other preset takes.
Loading a saved model needs this module imported (:func:`divconq.evaluate.inference.load_keras`
does it); the layer is registered as ``divconq>BandStatistics``.
"""

from __future__ import annotations

import keras
from keras import ops

#: Added to the variance before the square root (a silent band has zero variance).
EPSILON = 1e-5


@keras.saving.register_keras_serializable(package="divconq")
class BandStatistics(keras.layers.Layer):
    """Mean, standard deviation and mean absolute change of each mel band over time.

    Input ``(batch, time, mel, 1)`` (normalized log-mel windows, as the CRNNs
    take), output ``(batch, 3 * mel)``: the ``mel`` means, then the ``mel``
    standard deviations, then the ``mel`` mean absolute differences between
    consecutive frames, all in the units of the input (normalized dB).
    """

    def call(self, inputs):
        x = inputs[..., 0]
        mean = ops.mean(x, axis=1)
        std = ops.sqrt(ops.var(x, axis=1) + EPSILON)
        flux = ops.mean(ops.abs(x[:, 1:] - x[:, :-1]), axis=1)
        return ops.concatenate([mean, std, flux], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 3 * input_shape[2])
