"""gamma_cnn layers and models: Gamma kernel shape/area, causality, input errors."""
import numpy as np
import pytest

import neurocodec  # noqa: F401
from neurocodec.train import gamma_cnn as G
from neurocodec.train.gamma_layers import GammaConv1D, gamma_kernel


def test_gamma_kernel_peak_and_area():
    alpha, t0, beta = 0.7, 6.0, 1.2
    g = gamma_kernel(alpha, t0, beta, n_taps=400)
    assert abs(int(np.argmax(g)) - (t0 + 9 / beta)) <= 1
    assert g[0] < 1e-6 * g.max()  # nothing before the delay
    # the area stays alpha when beta changes (analytic normalisation; sampling at 1 tap adds
    # < 1% while the kernel is >= 2 taps wide, i.e. beta <= ~1.5)
    for b in (0.4, 0.8, 1.5):
        assert gamma_kernel(alpha, t0, b, n_taps=400).sum() == pytest.approx(alpha, rel=1e-2)
    # inside the 30 taps of the decoder for a kernel that fits
    assert gamma_kernel(-0.4, 2.0, 1.5).sum() == pytest.approx(-0.4, rel=1e-2)


def test_gamma_layer_kernel_matches_numpy_and_is_causal():
    import tensorflow as tf

    layer = GammaConv1D(3)
    x = np.random.default_rng(0).standard_normal((2, 80, 4)).astype(np.float32)
    y = layer(tf.constant(x)).numpy()
    assert layer.conv_kernel().shape == (30, 4, 3)
    np.testing.assert_allclose(layer.conv_kernel().numpy(), layer.kernel_numpy(), rtol=1e-4, atol=1e-7)
    # explicit causal convolution with the lag-ordered kernel
    g = layer.gamma_by_lag().numpy()
    ref = np.zeros_like(y)
    for t in range(80):
        for lag in range(min(30, t + 1)):
            ref[:, t] += x[:, t - lag] @ g[lag]
    np.testing.assert_allclose(y, ref + layer.bias.numpy(), rtol=1e-4, atol=1e-5)
    # after changing beta the sampled kernel still sums to alpha (exact in continuous time;
    # sampling + the softplus knee near t0 leave ~2% for sharp kernels)
    layer.log_t0.assign(np.full((4, 3), np.log(2.0), np.float32))
    for beta in (1.0, 2.0):
        layer.log_beta.assign(np.full((4, 3), np.log(beta), np.float32))
        np.testing.assert_allclose(layer.gamma_by_lag().numpy().sum(0), layer.alpha.numpy(), rtol=3e-2, atol=1e-6)


@pytest.mark.parametrize("kind", G.KINDS)
def test_decoders_are_causal(kind):
    spec = G.DecoderSpec(kind=kind, n_channels=5, n_sessions=2, feature_units=(4, 4, 3), temporal_units=(3, 2, 1))
    model = G.build_decoder(spec)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 120, 5)).astype(np.float32)
    y1 = G.predict(model, spec, x, [1])
    x2 = x.copy()
    x2[:, 70:] = rng.standard_normal((1, 50, 5))
    y2 = G.predict(model, spec, x2, [1])
    np.testing.assert_allclose(y1[:, :70], y2[:, :70], rtol=1e-5, atol=1e-6)
    assert np.abs(y1[:, 70:] - y2[:, 70:]).max() > 1e-6
    # sessions have their own feature layers
    assert not np.allclose(G.predict(model, spec, x, [0]), y1)
    assert y1.shape == (1, 120)
    assert spec.receptive_field == (88 if kind == "gamma_cnn" else 28 if kind == "cnn" else 30)


def test_bad_decoder_input():
    spec = G.DecoderSpec(n_channels=5, n_sessions=1, feature_units=(4, 4, 3), temporal_units=(3, 2, 1))
    model = G.build_decoder(spec)
    x = np.zeros((2, 50, 5), np.float32)
    with pytest.raises(ValueError, match="expects 5 neural channels, got 4"):
        G.predict(model, spec, x[..., :4], [0, 0])
    x[1, 3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        G.predict(model, spec, x, [0, 0])
    with pytest.raises(ValueError, match="session index"):
        G.predict(model, spec, np.zeros((1, 50, 5)), [3])
    with pytest.raises(ValueError, match="unknown decoder kind"):
        G.DecoderSpec(kind="rnn")
