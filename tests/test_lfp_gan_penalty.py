"""WGAN-GP gradient penalty (train.lfp_gan.gradient_penalty) on tiny critics with known gradients."""
import numpy as np
import pytest

import neurocodec  # noqa: F401
from neurocodec.train.spectro_cae import limit_threads

limit_threads(1)


def _linear_critic(w):
    """D(x) = sum(w * x): its input gradient is w everywhere."""
    from neurocodec.train.backend import keras

    k = keras()
    inp = k.Input(shape=w.shape)
    out = k.layers.Dense(1, use_bias=False)(k.layers.Flatten()(inp))
    model = k.Model(inp, out)
    model.set_weights([w.reshape(-1, 1).astype(np.float32)])
    return model


def test_linear_critic_penalty_is_weight_norm_minus_one_squared():
    from neurocodec.train.lfp_gan import gradient_penalty

    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 2))
    critic = _linear_critic(w)
    real = rng.standard_normal((4, 6, 2)).astype(np.float32)
    fake = rng.standard_normal((4, 6, 2)).astype(np.float32)
    expected = 10.0 * (np.linalg.norm(w) - 1.0) ** 2
    assert float(gradient_penalty(critic, real, fake, weight=10.0)) == pytest.approx(expected, rel=1e-4)
    # a unit-norm (1-Lipschitz, tight) linear critic has no penalty
    unit = _linear_critic(w / np.linalg.norm(w))
    assert float(gradient_penalty(unit, real, fake)) == pytest.approx(0.0, abs=1e-6)


def test_quadratic_critic_penalty_at_fixed_interpolation():
    """D(x) = 0.5 * sum(x^2): grad = x_hat = eps*real + (1-eps)*fake, norm computed by hand."""
    import tensorflow as tf

    from neurocodec.train.backend import keras
    from neurocodec.train.lfp_gan import gradient_penalty

    k = keras()
    inp = k.Input(shape=(5, 3))
    out = k.layers.Lambda(lambda t: 0.5 * tf.reduce_sum(tf.square(t), axis=[1, 2]))(inp)
    critic = k.Model(inp, out)
    rng = np.random.default_rng(1)
    real = rng.standard_normal((3, 5, 3)).astype(np.float32)
    fake = rng.standard_normal((3, 5, 3)).astype(np.float32)
    eps = np.array([0.0, 0.5, 1.0], np.float32).reshape(3, 1, 1)
    x_hat = eps * real + (1 - eps) * fake
    norms = np.sqrt(np.sum(x_hat.reshape(3, -1) ** 2, axis=1))
    expected = 2.0 * np.mean((norms - 1.0) ** 2)
    got = float(gradient_penalty(critic, real, fake, eps=eps, weight=2.0))
    assert got == pytest.approx(expected, rel=1e-5)


def test_penalty_is_differentiable_wrt_critic_weights():
    import tensorflow as tf

    from neurocodec.train.lfp_gan import gradient_penalty

    w = np.full((4, 1), 0.9)
    critic = _linear_critic(w)
    real = np.ones((2, 4, 1), np.float32)
    fake = np.zeros((2, 4, 1), np.float32)
    with tf.GradientTape() as tape:
        gp = gradient_penalty(critic, real, fake, weight=1.0)
    (grad,) = tape.gradient(gp, critic.trainable_variables)
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    n = np.linalg.norm(w)
    np.testing.assert_allclose(np.asarray(grad), 2 * (n - 1) * w / n, rtol=1e-4)
