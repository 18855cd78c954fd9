"""Frechet distance between two Gaussians fitted to feature sets (the FID formula).

    FD = ||mu1 - mu2||^2 + trace(S1 + S2 - 2 (S1 S2)^(1/2))

``frechet_distance(mu1, s1, mu2, s2)`` takes the moments, ``frechet_distance_from_samples(a, b)``
fits them to (n, d) sample arrays (rows = samples). Identical distributions give ~0; two
Gaussians with equal covariance give ||mu1 - mu2||^2. Like FID, the sample estimate is biased
upwards for small n (compare numbers only at equal n and feature dimension).
"""
from __future__ import annotations

import numpy as np

from neurocodec.signals.errors import RecordingError
from neurocodec.signals.validate import check_finite, check_nonempty


class FrechetError(RecordingError):
    """Invalid input to a Frechet-distance computation."""


def _as_samples(x, what: str) -> np.ndarray:
    x = check_finite(check_nonempty(x, what), what)
    if x.ndim == 1:
        x = x[:, np.newaxis]
    if x.ndim != 2:
        raise FrechetError(f"{what}: expected (n_samples, n_features), got shape {x.shape}")
    if x.shape[0] < 2:
        raise FrechetError(f"{what}: need at least 2 samples to estimate a covariance, "
                           f"got {x.shape[0]}")
    return x.astype(np.float64, copy=False)


def gaussian_moments(x) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) of (n, d) samples."""
    x = _as_samples(x, "features")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    trace((S1 S2)^(1/2)) is computed as trace((S1^(1/2) S2 S1^(1/2))^(1/2)), which has the same
    eigenvalues but is symmetric PSD, so singular or rank-deficient covariances are exact
    (no complex round-off, no eps regularisation needed).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise FrechetError(f"inconsistent shapes: mu1 {mu1.shape}, sigma1 {s1.shape}, "
                           f"mu2 {mu2.shape}, sigma2 {s2.shape}")
    for name, a in (("mu1", mu1), ("sigma1", s1), ("mu2", mu2), ("sigma2", s2)):
        check_finite(a, name)
    r1 = _sqrtm_psd(s1)
    covmean_eigs = np.linalg.eigvalsh((r1 @ s2 @ r1 + (r1 @ s2 @ r1).T) / 2)
    tr_covmean = float(np.sum(np.sqrt(np.clip(covmean_eigs, 0.0, None))))
    diff = mu1 - mu2
    fd = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(fd, 0.0)


def frechet_distance_from_samples(a, b) -> float:
    """Frechet distance between Gaussians fitted to sample sets a (n1, d) and b (n2, d)."""
    a, b = _as_samples(a, "first sample set"), _as_samples(b, "second sample set")
    if a.shape[1] != b.shape[1]:
        raise FrechetError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    return frechet_distance(*gaussian_moments(a), *gaussian_moments(b))
