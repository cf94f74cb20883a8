"""Batch normalization through TensorFlow's fused kernel, for training.

Keras 3 computes a training-mode batch norm from ``tf.nn.moments`` and
element-wise ops: several passes over each feature map, and with oneDNN on, the
largest single cost of a training step of the ``small`` model (about a third,
more than its convolutions). TensorFlow's fused kernel (``FusedBatchNormV3``,
oneDNN's batch norm on CPUs, cuDNN's on GPUs) does the same in one pass and
makes a whole training step ~1.2x faster on CPUs (``docs/performance.md``, "Where the
training time goes").

Only training uses this layer. The exported ``model.keras`` holds Keras' own
``BatchNormalization`` with the same weights (:func:`divconq.train.run.export`),
so a CRNN's model folder loads anywhere Keras does, without divconq (a
``band_stats`` model also holds :class:`divconq.models.band_stats.BandStatistics`).
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="divconq")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` whose training pass runs the fused kernel.

    Same weights, same inference and the same moving-statistics update as the
    Keras layer (moving variance from the biased batch variance); the
    normalized outputs agree to float32 rounding. Inputs other than 4-D maps
    normalized over their last axis, masks, frozen layers, renormalization and
    inference fall back to the Keras code.
    """

    def _fusable(self, inputs, training, mask) -> bool:
        return (
            bool(training)
            and self.trainable
            and mask is None
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        # Computed in float32 like the Keras layer (float16 statistics overflow).
        x = tf.cast(inputs, tf.float32)
        channels = x.shape[-1]
        scale = self.gamma if self.scale else tf.ones((channels,), tf.float32)
        offset = self.beta if self.center else tf.zeros((channels,), tf.float32)
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, scale, offset, epsilon=self.epsilon, data_format="NHWC", is_training=True
        )
        # The kernel returns the unbiased (n - 1) batch variance for the moving
        # average; Keras averages the biased one.
        n = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
        variance = variance * (n - 1.0) / tf.maximum(n, 1.0)
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return tf.cast(y, self.compute_dtype)
