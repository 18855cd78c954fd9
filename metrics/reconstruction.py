"""Reconstruction quality: MSE, SNR (CAE report definition), SNDR, Pearson correlation.

``x`` is the original, ``y`` the reconstruction, same shape (1-D, or 2-D with one signal per
row). A perfect reconstruction gives +inf for SNR/SNDR.
"""
from __future__ import annotations

import numpy as np

from neurocodec.signals.validate import check_same_shape


def _pair(x, y):
    x, y = check_same_shape(x, y, ("original", "reconstruction"))
    if x.ndim > 2:
        raise ValueError(f"expected 1-D or 2-D (rows = signals) input, got shape {x.shape}")
    return x, y


def _db(num, den, factor):
    """factor*log10(num/den) with +inf where den == 0 (perfect reconstruction)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den == 0, np.inf, factor * np.log10(num / np.where(den == 0, 1, den)))
    return out[()] if out.ndim == 0 else out


def mse(x, y, axis=None):
    """Mean squared error over all elements (``axis=-1``: per row)."""
    x, y = _pair(x, y)
    return np.mean((x - y) ** 2, axis=axis)


def snr_db(x, y, axis=None):
    """10*log10(var(x) / mean((x - y)**2)): signal variance over error power (CAE report).

    Over all elements by default; ``axis=-1`` gives one value per row.
    """
    x, y = _pair(x, y)
    return _db(np.var(x, axis=axis), np.mean((x - y) ** 2, axis=axis), 10.0)


def sndr_db(x, y):
    """20*log10(||x|| / ||x - y||), per row for 2-D input (scalar for 1-D)."""
    x, y = _pair(x, y)
    return _db(np.linalg.norm(x, axis=-1), np.linalg.norm(x - y, axis=-1), 20.0)


def correlation(x, y):
    """Pearson correlation per row (scalar for 1-D); nan where a row is constant."""
    x, y = _pair(x, y)
    dx = x - x.mean(axis=-1, keepdims=True)
    dy = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt(np.sum(dx**2, axis=-1) * np.sum(dy**2, axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(den > 0, np.sum(dx * dy, axis=-1) / np.where(den > 0, den, 1), np.nan)
    return r[()] if r.ndim == 0 else r
