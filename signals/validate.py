"""Small input checks shared by loaders, signal processing and metrics."""
from __future__ import annotations

import numpy as np

from .errors import RecordingError


def check_nonempty(x, what: str = "data") -> np.ndarray:
    """Raise if ``x`` has no elements."""
    x = np.asarray(x)
    if x.size == 0:
        raise RecordingError(f"{what} is empty (shape {x.shape})")
    return x


def check_finite(x, what: str = "data") -> np.ndarray:
    """Raise if ``x`` contains NaN or +-Inf (the message gives the counts)."""
    x = np.asarray(x)
    if x.dtype.kind in "fc":
        n_nan = int(np.count_nonzero(np.isnan(x)))
        n_inf = int(np.count_nonzero(np.isinf(x)))
        if n_nan or n_inf:
            parts = [f"{n} {kind} values" for n, kind in ((n_nan, "NaN"), (n_inf, "Inf")) if n]
            raise RecordingError(f"{what} contains {' and '.join(parts)}")
    elif x.dtype.kind not in "biu":
        raise RecordingError(f"{what} must be numeric, got dtype {x.dtype}")
    return x


def check_shape(x, ndim: int, what: str = "data") -> np.ndarray:
    """Raise unless ``x`` has exactly ``ndim`` dimensions."""
    x = np.asarray(x)
    if x.ndim != ndim:
        layout = " (channels, samples)" if ndim == 2 else ""
        raise RecordingError(f"{what}: expected {ndim}-D{layout}, got shape {x.shape}")
    return x


def check_fs(fs, what: str = "sampling rate") -> float:
    """Return ``fs`` as float; raise unless finite and > 0."""
    try:
        value = float(fs)
    except (TypeError, ValueError):
        raise RecordingError(f"{what} must be a number, got {fs!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise RecordingError(f"{what} must be positive, got {fs!r}")
    return value


def check_signal(x, what: str = "signal") -> np.ndarray:
    """Numeric, non-empty, finite, 1-D or 2-D array as float64."""
    x = check_finite(check_nonempty(x, what), what)
    if x.ndim not in (1, 2):
        raise RecordingError(f"{what}: expected 1-D or 2-D (channels, samples), got shape {x.shape}")
    return x.astype(np.float64, copy=False)


def as_2d(x, what: str = "signal") -> np.ndarray:
    """Checked signal as (channels, samples); a 1-D signal becomes one row."""
    x = check_signal(x, what)
    return x[np.newaxis, :] if x.ndim == 1 else x


def check_same_shape(x, y, names=("x", "y")) -> tuple[np.ndarray, np.ndarray]:
    """Checked float arrays of identical shape."""
    x = check_finite(check_nonempty(x, names[0]), names[0]).astype(np.float64, copy=False)
    y = check_finite(check_nonempty(y, names[1]), names[1]).astype(np.float64, copy=False)
    if x.shape != y.shape:
        raise RecordingError(f"shape mismatch: {names[0]} {x.shape} vs {names[1]} {y.shape}")
    return x, y
