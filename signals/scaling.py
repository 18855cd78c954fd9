"""Min-max normalisation to [0, 1] per channel, as in the CAE report: (x - min) / (max - min)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import RecordingError
from .validate import check_signal


@dataclass
class MinMaxScaling:
    """Per-channel range (1-D arrays, one value per channel; a single value applies to all)."""

    minimum: np.ndarray
    maximum: np.ndarray

    def __post_init__(self):
        self.minimum = np.atleast_1d(np.asarray(self.minimum, np.float64))
        self.maximum = np.atleast_1d(np.asarray(self.maximum, np.float64))
        if self.minimum.shape != self.maximum.shape or self.minimum.ndim != 1:
            raise ValueError(f"minimum {self.minimum.shape} and maximum {self.maximum.shape} "
                             "must be 1-D arrays of equal length")
        for i in np.flatnonzero(~(self.maximum > self.minimum)):
            raise ValueError(f"channel {i} is constant or inverted (min {self.minimum[i]}, "
                             f"max {self.maximum[i]})")

    def to_dict(self) -> dict:
        return {"minimum": self.minimum.tolist(), "maximum": self.maximum.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "MinMaxScaling":
        return cls(np.asarray(d["minimum"]), np.asarray(d["maximum"]))


def fit_minmax(x, axis: int | None = -1) -> MinMaxScaling:
    """Fit per channel (rows of a (channels, samples) array) or globally with ``axis=None``."""
    x = check_signal(x, "data to scale")
    if axis is None or x.ndim == 1:
        lo, hi = np.atleast_1d(x.min()), np.atleast_1d(x.max())
    elif axis in (-1, 1):
        lo, hi = x.min(axis=1), x.max(axis=1)
    else:
        raise ValueError(f"axis must be -1 (per row/channel) or None (global), got {axis}")
    for i in np.flatnonzero(hi == lo):
        raise RecordingError(f"channel {i} is constant (min == max == {lo[i]}); cannot scale")
    return MinMaxScaling(lo, hi)


def _bounds(x: np.ndarray, s: MinMaxScaling):
    if s.minimum.size == 1:
        return s.minimum[0], s.maximum[0]
    if x.ndim != 2 or x.shape[0] != s.minimum.size:
        raise ValueError(f"scaling has {s.minimum.size} channels but data has shape {x.shape}")
    return s.minimum[:, None], s.maximum[:, None]


def apply_scaling(x, s: MinMaxScaling, clip: bool = True) -> np.ndarray:
    """(x - min) / (max - min); values outside the fitted range are clipped to [0, 1]."""
    x = check_signal(x, "data to scale")
    lo, hi = _bounds(x, s)
    xn = (x - lo) / (hi - lo)
    return np.clip(xn, 0.0, 1.0) if clip else xn


def invert_scaling(xn, s: MinMaxScaling) -> np.ndarray:
    """Back to original units: xn * (max - min) + min."""
    xn = check_signal(xn, "scaled data")
    lo, hi = _bounds(xn, s)
    return xn * (hi - lo) + lo
