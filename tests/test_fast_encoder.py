"""The fast encoder (quantize.fast_encoder) equals the integer reference (quantize.reference.encode_int)
bit for bit: real locust windows, trained and untrained weights of several CRs, adversarial inputs,
saturating weights, both kernel sets (numba, numpy), one and two threads; and the exactness bound
decides the arithmetic (float32 / float64 / int64)."""
import dataclasses

import numpy as np
import pytest

import neurocodec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from neurocodec.quantize.fast_encoder import FastEncoder, accumulator_bound, encode_fast, exact_dtype
from neurocodec.quantize.reference import IntEncoder, encode_int, extract_int_encoder, quantize_input

try:
    import numba  # noqa: F401

    KERNELS = ["numba", "numpy"]
except ImportError:  # pragma: no cover
    KERNELS = ["numpy"]


@pytest.fixture(scope="module")
def locust_codes(locust_data):
    from neurocodec.train.cae import CaeSpec, build_cae

    _, enc, _ = build_cae(CaeSpec(64))
    x = np.concatenate([locust_data.train, locust_data.val])
    return quantize_input(x, extract_int_encoder(enc))


def _random_encoder(cr, seed=0):
    from neurocodec.train.backend import keras
    from neurocodec.train.cae import CaeSpec, build_cae

    keras().utils.set_random_seed(seed)
    _, enc, _ = build_cae(CaeSpec(cr))
    return extract_int_encoder(enc)


def _adversarial(length, rng):
    n = length
    t = np.arange(n)
    rows = [
        np.zeros(n), np.full(n, 255), (t % 2) * 255, ((t // 2) % 2) * 255, ((t // 7) % 2) * 255,
        np.where(t < n // 2, 0, 255), np.minimum(t, 255), 255 - np.minimum(t, 255),
    ]
    rows += list(rng.integers(0, 256, (24, n)))
    rows += list(rng.choice([0, 255], (16, n)))
    return np.array(rows, dtype=np.int64)


def _saturating(ie: IntEncoder) -> IntEncoder:
    """Same layer formats, weights pushed to +-full scale with one sign per output: drives the
    accumulator and activation registers into saturation."""
    rng = np.random.default_rng(1)
    layers = []
    for layer in ie.layers:
        w = np.where(rng.random(layer.weights.shape) < 0.8, 127, -128) * np.where(
            rng.random(layer.weights.shape[-1]) < 0.5, 1, -1)
        layers.append(dataclasses.replace(layer, weights=w.astype(np.int64)))
    return IntEncoder(ie.input_bits, ie.input_frac, ie.segment_length, layers)


@pytest.mark.parametrize("kernels", KERNELS)
def test_trained_model_on_real_windows(tiny_cae_dir, locust_codes, kernels):
    from neurocodec.train import artifacts

    ie = IntEncoder.from_dict(artifacts.read_json(tiny_cae_dir / "int_encoder.json"))
    fe = FastEncoder(ie, kernels=kernels, batch=48)  # batch not dividing the window count
    assert fe.dtype == np.float32 and "float32" in fe.path
    ref = encode_int(locust_codes, ie)
    assert len(locust_codes) >= 600  # every window of 12 s x 4 channels
    for threads in (1, 2):
        np.testing.assert_array_equal(fe.encode(locust_codes, threads=threads), ref)
    # stored test vectors of the model folder (written from the reference at training time)
    tv = np.load(tiny_cae_dir / "test_vectors.npz")
    np.testing.assert_array_equal(fe.encode(tv["input_codes"]), tv["latent_codes"])


@pytest.mark.parametrize("cr", [2, 8, 32, 64, 128])
def test_cr_real_and_adversarial(cr, locust_codes):
    ie = _random_encoder(cr, seed=cr)
    codes = np.concatenate([locust_codes[:400], _adversarial(ie.segment_length, np.random.default_rng(cr))])
    ref = encode_int(codes, ie)
    for kernels in KERNELS:
        got = FastEncoder(ie, kernels=kernels, batch=37).encode(codes, threads=2)
        np.testing.assert_array_equal(got, ref)
    assert encode_fast(codes[:5], ie).dtype == np.int64


@pytest.mark.parametrize("kernels", KERNELS)
def test_saturating_weights(kernels, locust_codes):
    ie = _saturating(_random_encoder(64))
    codes = np.concatenate([locust_codes[:200], _adversarial(ie.segment_length, np.random.default_rng(3))])
    ref = encode_int(codes, ie)
    # the test exercises saturation: the second layer's activations sit at both rails
    second = encode_int(codes, ie, upto=2)
    lo, hi = -(1 << (ie.layers[1].out_bits - 1)), (1 << (ie.layers[1].out_bits - 1)) - 1
    assert (second == lo).mean() > 0.05 and (second == hi).mean() > 0.05
    np.testing.assert_array_equal(FastEncoder(ie, kernels=kernels).encode(codes), ref)


def test_bound_selects_the_arithmetic(locust_codes):
    ie = _random_encoder(64)
    codes = locust_codes[:64]
    ref = encode_int(codes, ie)
    layer = ie.layers[1]
    assert accumulator_bound(layer, 128) == int((128 * np.abs(layer.weights).sum(axis=(0, 1))
                                                 + np.abs(layer.bias << (layer.product_frac - layer.bias_frac))).max())
    assert exact_dtype(ie) == np.float32
    # 20-bit weights: beyond float32's 2**24, within float64's 2**53 -> float64 path, still exact
    wide_layers = [dataclasses.replace(ly, weights=ly.weights << 12) for ly in ie.layers]
    wide = IntEncoder(ie.input_bits, ie.input_frac, ie.segment_length, wide_layers)
    assert exact_dtype(wide) == np.float64
    with pytest.raises(ValueError, match="float32"):
        FastEncoder(wide, dtype="float32")
    fe = FastEncoder(wide)
    assert "float64" in fe.path
    np.testing.assert_array_equal(fe.encode(codes), encode_int(codes, wide))
    # beyond 2**53: the int64 reference runs, and says so
    huge_layers = [dataclasses.replace(ly, weights=ly.weights << 40) for ly in ie.layers]
    huge = IntEncoder(ie.input_bits, ie.input_frac, ie.segment_length, huge_layers)
    fe = FastEncoder(huge)
    assert exact_dtype(huge) is None and "int64 reference" in fe.path
    np.testing.assert_array_equal(fe.encode(codes), encode_int(codes, huge))
    # the per-batch scaling path on the int64 arithmetic: samples = codes / 256 scaled by [0, 1)
    samples = (codes[:8].reshape(1, -1) + 0.25) / 256.0
    np.testing.assert_array_equal(fe.encode_scaled(samples, [0.0], [1.0]), encode_int(codes[:8], huge))
    np.testing.assert_array_equal(FastEncoder(ie, dtype="float64").encode(codes), ref)


def test_comparison_catches_a_wrong_weight(locust_codes):
    """A one-LSB change of one weight changes the output: the equality tests above can fail."""
    ie = _random_encoder(64)
    layers = [dataclasses.replace(ly) for ly in ie.layers]
    w = layers[1].weights.copy()
    w[3, 5, 7] += 1
    layers[1] = dataclasses.replace(layers[1], weights=w)
    mutant = IntEncoder(ie.input_bits, ie.input_frac, ie.segment_length, layers)
    codes = locust_codes[:300]
    assert not np.array_equal(FastEncoder(mutant).encode(codes), encode_int(codes, ie))


def test_input_checks():
    ie = _random_encoder(64)
    fe = FastEncoder(ie)
    with pytest.raises(ValueError, match="outside"):
        fe.encode(np.full((2, 1024), 256))
    with pytest.raises(ValueError, match="shape"):
        fe.encode(np.zeros((2, 1000), np.int64))
    assert fe.encode(np.zeros((0, 1024), np.int64)).shape == (0, *ie.latent_shape)
    with pytest.raises(ValueError):
        FastEncoder(ie, kernels="cuda")


@pytest.mark.parametrize("kernels", KERNELS)
def test_encode_scaled_equals_the_reference_pipeline(kernels):
    """Scaling + quantization per batch inside the encoder = apply_scaling, edge padding to whole
    windows and quantize_input on the full array, then encode_int; with samples outside the
    scaling range (clipped) and a partial last window."""
    from neurocodec.signals import load_recording
    from neurocodec.signals.scaling import MinMaxScaling, apply_scaling, fit_minmax

    ie = _random_encoder(64)
    data = load_recording("locust").data[:, : 20 * 1024 + 333]
    p10, p90 = np.percentile(data, [10, 90])
    for scaling in (fit_minmax(data[:, :5000]), MinMaxScaling(np.array([p10]), np.array([p90]))):
        xn = apply_scaling(data, scaling, clip=True)
        n_w = -(-data.shape[1] // 1024)
        padded = np.pad(xn, ((0, 0), (0, n_w * 1024 - data.shape[1])), mode="edge")
        ref = encode_int(quantize_input(padded.reshape(-1, 1024), ie), ie)
        assert (xn == 0).any() and (xn == 1).any()  # clipping happens on both sides
        got = FastEncoder(ie, kernels=kernels, batch=9).encode_scaled(data, scaling.minimum, scaling.maximum, threads=2)
        np.testing.assert_array_equal(got, ref)
