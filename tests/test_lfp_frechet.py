"""Frechet distance (metrics.frechet) against hand-computed cases, and log_spectra features."""
import numpy as np
import pytest

from neurocodec.metrics.frechet import (
    FrechetError, frechet_distance, frechet_distance_from_samples, gaussian_moments,
)
from neurocodec.signals.errors import RecordingError


def _random_cov(d, seed):
    a = np.random.default_rng(seed).standard_normal((d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_identical_gaussians_are_at_zero():
    mu, s = np.array([1.0, -2.0, 0.5]), _random_cov(3, 0)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)


def test_shifted_mean_equal_covariance_is_squared_distance():
    s = _random_cov(4, 1)
    mu1, mu2 = np.zeros(4), np.array([1.0, 2.0, -2.0, 0.5])
    assert frechet_distance(mu1, s, mu2, s) == pytest.approx(np.sum((mu1 - mu2) ** 2), rel=1e-9)


def test_hand_computed_diagonal_and_1d_cases():
    # 1-D: FD(N(m1, a^2), N(m2, b^2)) = (m1 - m2)^2 + (a - b)^2
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9.0 + 1.0)
    # commuting (diagonal) covariances: sum (sqrt(s1) - sqrt(s2))^2
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 4.0, 1.0])
    assert frechet_distance(np.zeros(3), s1, np.zeros(3), s2) == pytest.approx(1.0 + 0.0 + 4.0)
    # rank-deficient covariance (a point mass vs a unit Gaussian): trace term = d
    assert frechet_distance(np.zeros(2), np.zeros((2, 2)), np.zeros(2), np.eye(2)) == \
        pytest.approx(2.0)


def test_general_case_matches_scipy_sqrtm():
    from scipy.linalg import sqrtm

    s1, s2 = _random_cov(5, 2), _random_cov(5, 3)
    mu1, mu2 = np.arange(5.0), np.ones(5)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(sqrtm(s1 @ s2)))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_from_samples():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20000, 3))
    b = rng.standard_normal((20000, 3))
    assert frechet_distance_from_samples(a, b) < 0.01
    shift = np.array([2.0, 0.0, -1.0])
    assert frechet_distance_from_samples(a, b + shift) == pytest.approx(5.0, rel=0.02)
    mu, cov = gaussian_moments(a)
    assert mu.shape == (3,) and cov.shape == (3, 3)


def test_bad_inputs_raise():
    a = np.zeros((10, 3))
    with pytest.raises(FrechetError, match="dimensions differ"):
        frechet_distance_from_samples(a, np.zeros((10, 4)))
    with pytest.raises(FrechetError, match="at least 2 samples"):
        frechet_distance_from_samples(np.zeros((1, 3)), a)
    with pytest.raises(RecordingError, match="NaN"):
        frechet_distance_from_samples(np.full((5, 3), np.nan), a)
    with pytest.raises(FrechetError, match="inconsistent shapes"):
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


def test_log_spectra_features_peak_and_shape():
    from neurocodec.train.lfp_gan import log_spectra

    fs, n = 128.0, 256
    t = np.arange(n) / fs
    x = np.stack([np.sin(2 * np.pi * 20.0 * t)] * 3, axis=1)[None]  # (1, 256, 3)
    s = log_spectra(x, n_bins=32)
    assert s.shape == (1, 32)
    band_hz = (fs / 2) / 32  # band j holds the periodogram bins in (j * 2 Hz, (j + 1) * 2 Hz]
    assert int(np.argmax(s[0])) == int(np.ceil(20.0 / band_hz)) - 1
