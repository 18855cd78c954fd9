"""Custom tf-keras layers of the `gamma_cnn` decoder.

``GammaConv1D``: causal convolution whose kernel, one per (input, output) channel pair, is a
Gamma function of the softplus-shifted lag (lag in taps of 10 ms at 100 Hz)::

    s      = softplus(lag - t0)                     lag = 0 .. n_taps-1 (0 = current sample)
    g(lag) = alpha * beta**theta * s**(theta-1) * exp(-beta * s) / Gamma(theta)

with trainable area ``alpha`` (any sign), delay ``t0 = exp(log_t0)`` and inverse time constant
``beta = exp(log_beta)`` (both stored as exponents so they stay positive) and fixed sharpness
``theta = 10``. The normalisation keeps the area (sum over lags) equal to alpha whatever beta
is; the peak sits near ``t0 + (theta - 1) / beta``. The (n_taps, in, out) kernel is rebuilt from
the parameters at every call and applied with ``n_taps - 1`` zeros of padding in front only, so
output t depends on inputs <= t (causal).

``SessionDense``: a length-1 convolution (channel mixing) with one weight matrix and bias per
recording session, picked by an integer session input.
"""
from __future__ import annotations

import math

import numpy as np

import neurocodec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from neurocodec.train.backend import keras

THETA = 10.0
N_TAPS = 30

k = keras()


def _softplus_np(x):
    return np.logaddexp(0.0, x)


def gamma_kernel(alpha, t0, beta, n_taps: int = N_TAPS, theta: float = THETA) -> np.ndarray:
    """NumPy Gamma kernel by lag: (n_taps,) + broadcast shape of the parameters."""
    alpha, t0, beta = (np.asarray(v, np.float64) for v in (alpha, t0, beta))
    lag = np.arange(n_taps, dtype=np.float64).reshape((n_taps,) + (1,) * np.broadcast(alpha, t0, beta).ndim)
    s = _softplus_np(lag - t0)
    log_g = theta * np.log(beta) + (theta - 1) * np.log(np.maximum(s, 1e-300)) - beta * s - math.lgamma(theta)
    return alpha * np.exp(log_g)


class GammaConv1D(k.layers.Layer):
    """Causal convolution with Gamma-function kernels (see module docstring)."""

    def __init__(self, filters: int, n_taps: int = N_TAPS, theta: float = THETA, use_bias: bool = True,
                 t0_range=(1.0, 6.0), beta_range=(0.6, 1.6), **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.n_taps = int(n_taps)
        self.theta = float(theta)
        self.use_bias = bool(use_bias)
        self.t0_range = tuple(float(v) for v in t0_range)
        self.beta_range = tuple(float(v) for v in beta_range)

    def build(self, input_shape):
        import tensorflow as tf

        c_in = int(input_shape[-1])
        shape = (c_in, self.filters)
        limit = math.sqrt(6.0 / (c_in + self.filters))
        self.alpha = self.add_weight(name="alpha", shape=shape,
                                     initializer=k.initializers.RandomUniform(-limit, limit), trainable=True)
        lo, hi = (math.log(v) for v in self.t0_range)
        self.log_t0 = self.add_weight(name="log_t0", shape=shape,
                                      initializer=k.initializers.RandomUniform(lo, hi), trainable=True)
        lo, hi = (math.log(v) for v in self.beta_range)
        self.log_beta = self.add_weight(name="log_beta", shape=shape,
                                        initializer=k.initializers.RandomUniform(lo, hi), trainable=True)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros", trainable=True)
                     if self.use_bias else None)
        self._lags = tf.constant(np.arange(self.n_taps, dtype=np.float32).reshape(-1, 1, 1))
        super().build(input_shape)

    def gamma_by_lag(self):
        """(n_taps, in, out) kernel indexed by lag (lag 0 = current sample)."""
        import tensorflow as tf

        t0 = tf.exp(self.log_t0)
        beta = tf.exp(self.log_beta)
        s = tf.math.softplus(self._lags - t0)
        log_g = (self.theta * self.log_beta + (self.theta - 1) * tf.math.log(tf.maximum(s, 1e-30))
                 - beta * s - math.lgamma(self.theta))
        return self.alpha * tf.exp(log_g)

    def conv_kernel(self):
        """(n_taps, in, out) kernel in Keras cross-correlation order (tap n_taps-1 = lag 0)."""
        return self.gamma_by_lag()[::-1]

    def call(self, x):
        import tensorflow as tf

        xp = tf.pad(x, [[0, 0], [self.n_taps - 1, 0], [0, 0]])
        y = tf.nn.conv1d(xp, self.conv_kernel(), stride=1, padding="VALID")
        if self.use_bias:
            y = y + self.bias
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, n_taps=self.n_taps, theta=self.theta, use_bias=self.use_bias,
                   t0_range=self.t0_range, beta_range=self.beta_range)
        return cfg

    def kernel_numpy(self) -> np.ndarray:
        """Current Keras-order kernel (n_taps, in, out) as float64 NumPy (for sampling into
        fixed-point Conv1D weights)."""
        t0 = np.exp(self.log_t0.numpy().astype(np.float64))
        beta = np.exp(self.log_beta.numpy().astype(np.float64))
        g = gamma_kernel(self.alpha.numpy().astype(np.float64), t0, beta, self.n_taps, self.theta)
        return g[::-1]


class SessionDense(k.layers.Layer):
    """Per-session length-1 convolution: y[b, t] = x[b, t] @ W[session[b]] + bias[session[b]].

    Called on ``[x, session]`` with x (batch, T, in) and session (batch,) or (batch, 1) int."""

    def __init__(self, units: int, n_sessions: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.n_sessions = int(n_sessions)

    def build(self, input_shape):
        c_in = int(input_shape[0][-1])
        limit = math.sqrt(6.0 / (c_in + self.units))
        self.kernel = self.add_weight(name="kernel", shape=(self.n_sessions, c_in, self.units),
                                      initializer=k.initializers.RandomUniform(-limit, limit), trainable=True)
        self.bias = self.add_weight(name="bias", shape=(self.n_sessions, self.units), initializer="zeros",
                                    trainable=True)
        super().build(input_shape)

    def call(self, inputs):
        import tensorflow as tf

        x, session = inputs
        session = tf.reshape(tf.cast(session, tf.int32), [-1])
        w = tf.gather(self.kernel, session)  # (B, in, out)
        b = tf.gather(self.bias, session)  # (B, out)
        return tf.einsum("btc,bco->bto", x, w) + b[:, None, :]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.units,)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(units=self.units, n_sessions=self.n_sessions)
        return cfg

    def session_weights(self, s: int):
        """(kernel (in, out), bias (out,)) of session s as NumPy."""
        return self.kernel.numpy()[s], self.bias.numpy()[s]


def custom_objects() -> dict:
    return {"GammaConv1D": GammaConv1D, "SessionDense": SessionDense}


__all__ = ["THETA", "N_TAPS", "gamma_kernel", "GammaConv1D", "SessionDense", "custom_objects"]
