"""Windowing into fixed-length segments, leakage-free train/validation split, resampling."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from .errors import RecordingError
from .validate import as_2d, check_fs, check_signal


def segment(x, length: int = 1024, hop: int | None = None) -> np.ndarray:
    """Cut a 1-D or (channels, samples) signal into (n_segments, length) windows.

    Windows start every ``hop`` samples (default ``length``: contiguous, non-overlapping); the
    tail shorter than a window is dropped. Rows are channel-major: all windows of channel 0
    in time order, then channel 1, ... (``n_segments = n_channels * windows_per_channel``).
    """
    x = as_2d(x, "signal to segment")
    length, hop = int(length), int(hop if hop is not None else length)
    if length < 1 or hop < 1:
        raise RecordingError(f"length and hop must be >= 1, got length={length}, hop={hop}")
    if x.shape[1] < length:
        raise RecordingError(f"signal has {x.shape[1]} samples, shorter than one window "
                             f"of {length}")
    windows = np.lib.stride_tricks.sliding_window_view(x, length, axis=1)[:, ::hop]
    return np.ascontiguousarray(windows.reshape(-1, length))


def train_val_split(segments, val_fraction: float = 0.2, n_channels: int = 1, gap: int = 0,
                    return_indices: bool = False):
    """Contiguous split of channel-major ``segments`` (as made by ``segment``).

    Within each channel block the first segments go to training and the last
    ``round(val_fraction * per_channel)`` (at least 1) to validation; no shuffling. With
    overlapping windows pass ``gap = ceil(length / hop) - 1`` to drop the segments that would
    share samples across the boundary. Returns ``(train, val)`` arrays, or row indices.
    """
    segments = np.asarray(segments)
    n = segments.shape[0]
    if not 0.0 < float(val_fraction) < 1.0:
        raise RecordingError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if n_channels < 1 or n % n_channels:
        raise RecordingError(f"{n} segments cannot be split into {n_channels} channel blocks")
    per = n // n_channels
    n_val = max(1, int(round(val_fraction * per)))
    n_train = per - n_val - int(gap)
    if n_train < 1:
        raise RecordingError(f"too few segments per channel ({per}) for val_fraction="
                             f"{val_fraction} and gap={gap}")
    starts = np.arange(n_channels)[:, None] * per
    train_idx = (starts + np.arange(n_train)).ravel()
    val_idx = (starts + np.arange(per - n_val, per)).ravel()
    if return_indices:
        return train_idx, val_idx
    return segments[train_idx], segments[val_idx]


def resample(x, fs_in: float, fs_out: float) -> np.ndarray:
    """Polyphase resampling along the last axis (scipy.signal.resample_poly)."""
    from scipy.signal import resample_poly

    fs_in, fs_out = check_fs(fs_in, "fs_in"), check_fs(fs_out, "fs_out")
    x = check_signal(x, "signal to resample")
    ratio = (Fraction(fs_out) / Fraction(fs_in)).limit_denominator(10000)
    if ratio == 1:
        return x.copy()
    return resample_poly(x, ratio.numerator, ratio.denominator, axis=-1)
