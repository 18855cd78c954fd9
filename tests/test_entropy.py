"""Entropy coding (quantize/entropy.py): exact roundtrips, achieved rate vs empirical entropy."""
import numpy as np
import pytest

from neurocodec.quantize import entropy as E


def test_index_roundtrip_and_rate_close_to_entropy():
    rng = np.random.default_rng(0)
    k = 64
    probs = [rng.dirichlet(np.full(k, 0.4)) for _ in range(4)]
    idx = np.stack([rng.choice(k, 20000, p=p) for p in probs], axis=1)
    stream = E.encode_indices(idx, k)
    assert np.array_equal(E.decode_indices(stream, *idx.shape, k), idx)
    h = E.empirical_entropy_per_position(idx, k)
    rate = stream.n_bits / idx.size
    assert h <= rate <= 1.03 * h, (h, rate)
    # a single shared model cannot exploit the per-position statistics
    shared = E.encode_indices(idx, k, per_position=False)
    assert np.array_equal(E.decode_indices(shared, *idx.shape, k, per_position=False), idx)
    assert shared.n_bits > stream.n_bits


@pytest.mark.parametrize("k", [2, 3, 5, 256])
def test_small_and_degenerate_alphabets_roundtrip(k):
    rng = np.random.default_rng(k)
    idx = rng.integers(0, k, (300, 3))
    idx[:100] = 0  # long runs of one symbol
    s = E.encode_indices(idx, k)
    assert np.array_equal(E.decode_indices(s, *idx.shape, k), idx)


def test_times_roundtrip_and_rate():
    rng = np.random.default_rng(1)
    isi = 24 + rng.geometric(1 / 150, 20000)
    t = np.cumsum(isi)
    s = E.encode_times(t)
    assert np.array_equal(E.decode_times(s, len(t)), t)
    h = E.empirical_entropy(isi)
    assert s.n_bits / len(t) <= 1.05 * h


def test_coefficients_roundtrip_and_estimate():
    rng = np.random.default_rng(2)
    q = np.round(rng.laplace(0, 3, (2000, 12)) * np.linspace(4, 0.1, 12)).astype(np.int64)
    s = E.encode_coefficients(q)
    assert np.array_equal(E.decode_coefficients(s, *q.shape), q)
    est = E.coefficient_rate_estimate(q)
    assert abs(s.n_bits - est) / est < 0.03


def test_bad_inputs():
    with pytest.raises(E.EntropyCodingError):
        E.encode_indices(np.array([[0, 5]]), 4)
    with pytest.raises(E.EntropyCodingError):
        E.encode_indices(np.array([[0.5, 1.0]]), 4)
    with pytest.raises(E.EntropyCodingError):
        E.encode_times(np.array([5, 5, 7]))
    with pytest.raises(E.EntropyCodingError):
        E.encode_times(np.array([-1, 3]))
    with pytest.raises(E.EntropyCodingError):
        E.empirical_entropy(np.array([0.5]))
    with pytest.raises(E.EntropyCodingError):
        E.ArithmeticDecoder(b"\x00", 100)
