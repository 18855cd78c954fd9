"""Keras layers of the `vq_cae` model: the vector quantizer and the codeword argmin.

``VectorQuantizer`` (training graph): latent z (batch, L, D) -> nearest codeword of a K x D
codebook, per latent vector, with

* nearest-code search as argmin_k (||c_k||^2 - 2 z.c_k)  (||z||^2 is the same for every k);
* straight-through gradient: the output is z + stop_gradient(c_idx - z), so d out / d z = I;
* commitment loss beta * ||z - sg(c)||^2 and, unless EMA, codebook loss ||sg(z) - c||^2
  (both means over the batch's latent elements), added with ``add_loss``;
* ``ema=True``: the codebook is not trained by gradients but set to exponential moving
  averages of the assigned encoder outputs (van den Oord et al. 2017, appendix; Laplace
  smoothing of the counts);
* ``code_bits``/``code_integer``: the codebook is fake-quantized (QKeras quantized_bits,
  alpha=1, straight-through) to the same fixed-point format as the encoder output, so the
  hardware's integer codebook is exactly the one used in training.

``CodewordArgmin`` (hardware graph): scores (batch, L, K) -> index (batch, L) of the smallest
score, lowest index on ties. It is the last layer of the encoder that goes to hardware; the
hls4ml conversion maps it to a custom HLS layer (see quantize/vq_reference.py).
"""
from __future__ import annotations

import numpy as np

from neurocodec.train.backend import keras

_k = keras()


def _quantizer(code_bits, code_integer):
    if code_bits is None:
        return None
    from qkeras import quantized_bits

    return quantized_bits(int(code_bits), int(code_integer), alpha=1)


@_k.utils.register_keras_serializable(package="neurocodec")
class VectorQuantizer(_k.layers.Layer):
    def __init__(self, num_codes: int, code_dim: int, beta: float = 0.25, ema: bool = False,
                 decay: float = 0.99, epsilon: float = 1e-5, code_bits: int | None = None,
                 code_integer: int = 0, **kwargs):
        super().__init__(**kwargs)
        if num_codes < 2 or code_dim < 1:
            raise ValueError(f"need num_codes >= 2 and code_dim >= 1, got {num_codes}, {code_dim}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.num_codes = int(num_codes)
        self.code_dim = int(code_dim)
        self.beta = float(beta)
        self.ema = bool(ema)
        self.decay = float(decay)
        self.epsilon = float(epsilon)
        self.code_bits = None if code_bits is None else int(code_bits)
        self.code_integer = int(code_integer)
        self._q = _quantizer(self.code_bits, self.code_integer)

    def build(self, input_shape):
        if int(input_shape[-1]) != self.code_dim:
            raise ValueError(f"latent vectors have dimension {input_shape[-1]}, codebook {self.code_dim}")
        self.codebook = self.add_weight(
            name="codebook", shape=(self.num_codes, self.code_dim),
            initializer=_k.initializers.RandomUniform(-0.5, 0.5), trainable=not self.ema)
        # 1.0: quantize; 0.0: pass z through unchanged (autoencoder warm-up before the
        # codebook is initialized from the encoder outputs)
        self.active = self.add_weight(name="active", shape=(), initializer="ones", trainable=False)
        if self.ema:
            self.ema_count = self.add_weight(name="ema_count", shape=(self.num_codes,),
                                             initializer="ones", trainable=False)
            self.ema_sum = self.add_weight(name="ema_sum", shape=(self.num_codes, self.code_dim),
                                           initializer="zeros", trainable=False)
        super().build(input_shape)

    def quantized_codebook(self):
        """Codebook as used in the forward pass (fake-quantized when code_bits is set)."""
        return self.codebook if self._q is None else self._q(self.codebook)

    def _scores(self, flat, codes):
        import tensorflow as tf

        return tf.reduce_sum(codes * codes, axis=1)[None, :] - 2.0 * tf.matmul(flat, codes, transpose_b=True)

    def nearest(self, z):
        """Indices (batch, L) of the nearest codewords (argmin of the scores)."""
        import tensorflow as tf

        flat = tf.reshape(z, (-1, self.code_dim))
        idx = tf.argmin(self._scores(flat, self.quantized_codebook()), axis=1, output_type=tf.int32)
        return tf.reshape(idx, tf.shape(z)[:-1])

    def call(self, z, training=None):
        import tensorflow as tf

        codes = self.quantized_codebook()
        flat = tf.reshape(z, (-1, self.code_dim))
        idx = tf.argmin(self._scores(flat, codes), axis=1, output_type=tf.int32)
        q = tf.gather(codes, idx)
        commitment = tf.reduce_mean(tf.square(flat - tf.stop_gradient(q)))
        if self.ema:
            loss = self.beta * commitment
            if training is None:
                training = _k.backend.learning_phase()

            def _update():
                onehot = tf.one_hot(idx, self.num_codes, dtype=flat.dtype)
                count = self.decay * self.ema_count + (1 - self.decay) * tf.reduce_sum(onehot, 0)
                total = tf.reduce_sum(count)
                smoothed = (count + self.epsilon) / (total + self.num_codes * self.epsilon) * total
                sums = self.decay * self.ema_sum + (1 - self.decay) * tf.matmul(onehot, flat, transpose_a=True)
                with tf.control_dependencies([self.ema_count.assign(count), self.ema_sum.assign(sums)]):
                    return tf.identity(self.codebook.assign(sums / smoothed[:, None]))

            from tf_keras.src.utils import control_flow_util

            # no EMA update while the quantizer is inactive (warm-up)
            on = tf.logical_and(tf.cast(training, tf.bool), self.active > 0.5)
            control_flow_util.smart_cond(on, _update, lambda: tf.identity(self.codebook))
        else:
            loss = tf.reduce_mean(tf.square(tf.stop_gradient(flat) - q)) + self.beta * commitment
        self.add_loss(self.active * loss)
        self.add_metric(commitment, name="commitment")
        out = flat + self.active * tf.stop_gradient(q - flat)  # straight-through estimator
        return tf.reshape(out, tf.shape(z))

    def set_active(self, active: bool) -> None:
        self.active.assign(1.0 if active else 0.0)

    def set_codebook(self, values) -> None:
        """Replace the codebook (and, with EMA, the running statistics consistently)."""
        values = np.asarray(values, np.float32)
        self.codebook.assign(values)
        if self.ema:
            self.ema_count.assign(np.ones(self.num_codes, np.float32))
            self.ema_sum.assign(values)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(num_codes=self.num_codes, code_dim=self.code_dim, beta=self.beta, ema=self.ema,
                   decay=self.decay, epsilon=self.epsilon, code_bits=self.code_bits,
                   code_integer=self.code_integer)
        return cfg


@_k.utils.register_keras_serializable(package="neurocodec")
class CodewordArgmin(_k.layers.Layer):
    """(batch, L, K) scores -> (batch, L) float indices of the minimum (lowest index on ties)."""

    def call(self, scores):
        import tensorflow as tf

        k = tf.shape(scores)[-1]
        best = tf.reduce_min(scores, axis=-1, keepdims=True)
        ar = tf.range(k, dtype=tf.int32)
        # lowest index among the minima: ties broken exactly as the HLS loop and numpy argmin
        idx = tf.reduce_min(tf.where(scores <= best, ar, k), axis=-1)
        return tf.cast(idx, scores.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def get_config(self):
        return super().get_config()


def codebook_usage(indices, num_codes: int) -> dict:
    """Fraction of used codes and perplexity (2**entropy) of an index array."""
    idx = np.asarray(indices).ravel()
    counts = np.bincount(idx, minlength=num_codes)
    p = counts[counts > 0] / max(1, idx.size)
    return {"used": float(np.count_nonzero(counts) / num_codes),
            "perplexity": float(2 ** (-(p * np.log2(p)).sum())) if idx.size else 0.0}


__all__ = ["VectorQuantizer", "CodewordArgmin", "codebook_usage"]
