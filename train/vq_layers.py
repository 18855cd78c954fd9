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
    """Residual (multi-stage) vector quantizer; ``stages=1`` is the plain VQ-VAE quantizer.

    Stage s quantizes the residual r_s = z - sum_{t<s} c_t[idx_t] with its own K x D codebook
    (stage 0's codebook is ``codebook``, the one the hardware's first search holds). Training
    uses quantizer dropout (SoundStream): each spike keeps a random number n in [1, stages] of
    stages, so one model decodes at every rate 1..stages; ``set_stages_used`` fixes n for
    inference."""

    def __init__(self, num_codes: int, code_dim: int, beta: float = 0.25, ema: bool = False,
                 decay: float = 0.99, epsilon: float = 1e-5, code_bits: int | None = None,
                 code_integer: int = 0, stages: int = 1, **kwargs):
        super().__init__(**kwargs)
        if num_codes < 2 or code_dim < 1:
            raise ValueError(f"need num_codes >= 2 and code_dim >= 1, got {num_codes}, {code_dim}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        if int(stages) < 1:
            raise ValueError(f"need stages >= 1, got {stages}")
        self.num_codes = int(num_codes)
        self.code_dim = int(code_dim)
        self.beta = float(beta)
        self.ema = bool(ema)
        self.decay = float(decay)
        self.epsilon = float(epsilon)
        self.code_bits = None if code_bits is None else int(code_bits)
        self.code_integer = int(code_integer)
        self.stages = int(stages)
        self._q = _quantizer(self.code_bits, self.code_integer)

    def build(self, input_shape):
        if int(input_shape[-1]) != self.code_dim:
            raise ValueError(f"latent vectors have dimension {input_shape[-1]}, codebook {self.code_dim}")
        s, k, d = self.stages, self.num_codes, self.code_dim
        self.codebooks = self.add_weight(
            name="codebooks", shape=(s, k, d),
            initializer=_k.initializers.RandomUniform(-0.5, 0.5), trainable=not self.ema)
        # 1.0: quantize; 0.0: pass z through unchanged (autoencoder warm-up before the
        # codebook is initialized from the encoder outputs)
        self.active = self.add_weight(name="active", shape=(), initializer="ones", trainable=False)
        # stages used outside training (rate of the evaluation); training draws them at random
        self.stages_used = self.add_weight(name="stages_used", shape=(), trainable=False,
                                           initializer=_k.initializers.Constant(float(s)))
        self.dropout = self.add_weight(name="dropout", shape=(), initializer="ones", trainable=False)
        if self.ema:
            self.ema_count = self.add_weight(name="ema_count", shape=(s, k), initializer="ones", trainable=False)
            self.ema_sum = self.add_weight(name="ema_sum", shape=(s, k, d), initializer="zeros", trainable=False)
        super().build(input_shape)

    @property
    def codebook(self):
        """Stage-0 codebook (K, D) (float, before fake quantization)."""
        return self.codebooks[0]

    def quantized_codebooks(self):
        """All codebooks (stages, K, D) as used in the forward pass (fake-quantized if code_bits)."""
        return self.codebooks if self._q is None else self._q(self.codebooks)

    def quantized_codebook(self):
        """Stage-0 codebook as used in the forward pass."""
        return self.quantized_codebooks()[0]

    @staticmethod
    def _scores(flat, codes):
        import tensorflow as tf

        return tf.reduce_sum(codes * codes, axis=1)[None, :] - 2.0 * tf.matmul(flat, codes, transpose_b=True)

    def nearest(self, z, stages: int | None = None):
        """Indices of the nearest codewords: (batch, L) for stage 0 (``stages=None``), else
        (batch, stages, L) of the residual search."""
        import tensorflow as tf

        cbs = self.quantized_codebooks()
        r = tf.reshape(z, (-1, self.code_dim))
        out = []
        for s in range(1 if stages is None else int(stages)):
            idx = tf.argmin(self._scores(r, cbs[s]), axis=1, output_type=tf.int32)
            r = r - tf.gather(cbs[s], idx)
            out.append(tf.reshape(idx, tf.shape(z)[:-1]))
        return out[0] if stages is None else tf.stack(out, axis=1)

    def call(self, z, training=None):
        import tensorflow as tf

        if training is None:
            training = _k.backend.learning_phase()
        training = tf.cast(training, tf.bool)
        cbs = self.quantized_codebooks()
        shape = tf.shape(z)
        flat = tf.reshape(z, (-1, self.code_dim))
        per_spike = tf.reduce_prod(shape[1:-1])
        # number of stages kept per spike (training: uniform in [1, stages] if dropout is on)
        n_spk = shape[0]
        drawn = tf.random.uniform((n_spk,), 1, self.stages + 1, dtype=tf.int32)
        full = tf.fill((n_spk,), tf.cast(tf.round(self.stages_used), tf.int32))
        use_drop = tf.logical_and(training, self.dropout > 0.5)
        keep_spk = tf.where(use_drop, drawn, tf.where(training, tf.fill((n_spk,), self.stages), full))
        keep = tf.repeat(keep_spk, per_spike)  # per latent vector
        r = flat
        q = tf.zeros_like(flat)
        idxs, masks = [], []
        for s in range(self.stages):
            idx = tf.argmin(self._scores(r, cbs[s]), axis=1, output_type=tf.int32)
            c = tf.gather(cbs[s], idx)
            m = tf.cast(keep > s, flat.dtype)[:, None]
            q = q + m * c
            idxs.append(idx)
            masks.append(m)
            r = r - c
        commitment = tf.reduce_mean(tf.square(flat - tf.stop_gradient(q)))
        if self.ema:
            loss = self.beta * commitment

            def _update():
                counts, sums = [], []
                res = flat
                for s in range(self.stages):
                    onehot = tf.one_hot(idxs[s], self.num_codes, dtype=flat.dtype) * masks[s]
                    cnt = self.decay * self.ema_count[s] + (1 - self.decay) * tf.reduce_sum(onehot, 0)
                    sm = self.decay * self.ema_sum[s] + (1 - self.decay) * tf.matmul(onehot, res, transpose_a=True)
                    counts.append(cnt)
                    sums.append(sm)
                    res = res - tf.gather(cbs[s], idxs[s])
                count = tf.stack(counts)
                sums = tf.stack(sums)
                total = tf.reduce_sum(count, axis=1, keepdims=True)
                smoothed = (count + self.epsilon) / (total + self.num_codes * self.epsilon) * total
                with tf.control_dependencies([self.ema_count.assign(count), self.ema_sum.assign(sums)]):
                    return tf.identity(self.codebooks.assign(sums / smoothed[:, :, None]))

            from tf_keras.src.utils import control_flow_util

            # no EMA update while the quantizer is inactive (warm-up)
            on = tf.logical_and(training, self.active > 0.5)
            control_flow_util.smart_cond(on, _update, lambda: tf.identity(self.codebooks))
        else:
            cb_loss = tf.reduce_mean(tf.square(tf.stop_gradient(flat) - q))
            loss = cb_loss + self.beta * commitment
        self.add_loss(self.active * loss)
        self.add_metric(commitment, name="commitment")
        out = flat + self.active * tf.stop_gradient(q - flat)  # straight-through estimator
        return tf.reshape(out, shape)

    def set_active(self, active: bool) -> None:
        self.active.assign(1.0 if active else 0.0)

    def set_stages_used(self, n: int) -> None:
        if not 1 <= int(n) <= self.stages:
            raise ValueError(f"stages_used must be in [1, {self.stages}], got {n}")
        self.stages_used.assign(float(n))

    def set_dropout(self, on: bool) -> None:
        self.dropout.assign(1.0 if on else 0.0)

    def set_codebook(self, values, stage: int | None = None) -> None:
        """Replace codebooks: (K, D) for one stage (default 0) or (stages, K, D) for all (and,
        with EMA, the running statistics consistently)."""
        values = np.asarray(values, np.float32)
        cbs = self.codebooks.numpy()
        if values.ndim == 2:
            cbs[0 if stage is None else int(stage)] = values
        else:
            cbs[...] = values
        self.codebooks.assign(cbs)
        if self.ema:
            self.ema_count.assign(np.ones((self.stages, self.num_codes), np.float32))
            self.ema_sum.assign(cbs)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(num_codes=self.num_codes, code_dim=self.code_dim, beta=self.beta, ema=self.ema,
                   decay=self.decay, epsilon=self.epsilon, code_bits=self.code_bits,
                   code_integer=self.code_integer, stages=self.stages)
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
