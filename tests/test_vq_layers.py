"""VectorQuantizer / CodewordArgmin (train/vq_layers.py): nearest code, straight-through gradient."""
import numpy as np
import pytest

import neurocodec  # noqa: F401  (sets TF_USE_LEGACY_KERAS)
from neurocodec.train.vq_layers import CodewordArgmin, VectorQuantizer, codebook_usage


def _layer(k=16, d=3, **kw):
    vq = VectorQuantizer(k, d, **kw)
    vq.build((None, 5, d))
    rng = np.random.default_rng(0)
    vq.set_codebook(rng.normal(0, 1, (k, d)))
    return vq


def test_nearest_code_matches_brute_force():
    import tensorflow as tf

    vq = _layer(ema=False)
    z = np.random.default_rng(1).normal(0, 1, (40, 5, 3)).astype(np.float32)
    idx = vq.nearest(tf.constant(z)).numpy()
    cb = vq.codebook.numpy()
    d = ((z[:, :, None, :] - cb[None, None]) ** 2).sum(-1)
    assert np.array_equal(idx, d.argmin(-1))
    out = vq(tf.constant(z), training=False).numpy()
    np.testing.assert_allclose(out, cb[idx], atol=1e-6)


def test_straight_through_gradient_and_losses():
    import tensorflow as tf

    vq = _layer(ema=False, beta=0.5)
    z = tf.Variable(np.random.default_rng(2).normal(0, 1, (8, 5, 3)).astype(np.float32))
    w = tf.constant(np.random.default_rng(3).normal(0, 1, (8, 5, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        out = vq(z, training=True)
        y = tf.reduce_sum(out * w)
    g = tape.gradient(y, z).numpy()
    np.testing.assert_allclose(g, w.numpy(), atol=1e-6)  # d out / d z = identity
    q = vq.codebook.numpy()[vq.nearest(z).numpy()]
    mse = np.mean((z.numpy() - q) ** 2)
    np.testing.assert_allclose(float(vq.losses[-1]), (1 + 0.5) * mse, rtol=1e-5)
    # inactive (warm-up): identity, no loss
    vq.set_active(False)
    np.testing.assert_allclose(vq(z, training=True).numpy(), z.numpy(), atol=1e-7)


def test_ema_moves_codes_to_assigned_means():
    import tensorflow as tf

    vq = _layer(k=4, d=2, ema=True, decay=0.5)
    vq.set_codebook(np.array([[0, 0], [10, 10], [-10, 10], [10, -10]], np.float32))
    z = np.array([[[1.0, 1.0], [9.0, 11.0]]], np.float32)
    for _ in range(30):
        vq(tf.constant(z), training=True)
    cb = vq.codebook.numpy()
    np.testing.assert_allclose(cb[0], [1, 1], atol=0.05)
    np.testing.assert_allclose(cb[1], [9, 11], atol=0.05)


def test_quantized_codebook_is_on_grid():
    vq = _layer(code_bits=10, code_integer=2)
    cb = vq.quantized_codebook().numpy() * 2**7
    assert np.array_equal(cb, np.round(cb))


def test_argmin_lowest_index_on_ties():
    s = np.array([[[3.0, 1.0, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0], [5.0, 4.0, 3.0, 3.0]]], np.float32)
    out = CodewordArgmin()(s).numpy()
    assert out.tolist() == [[1.0, 0.0, 2.0]]
    assert codebook_usage([0, 0, 1, 1], 4) == {"used": 0.5, "perplexity": 2.0}


def test_bad_arguments():
    with pytest.raises(ValueError):
        VectorQuantizer(1, 3)
    with pytest.raises(ValueError):
        VectorQuantizer(8, 3, decay=1.5)
    vq = VectorQuantizer(8, 3)
    with pytest.raises(ValueError):
        vq.build((None, 4, 5))
