"""Threshold-crossing preservation between an original and a decoded normalised signal.

Signals are min-max normalised to [0, 1] (mid-level 0.5). Convention, following the CAE
report's analysis of crossings above/below the mid-level:

* threshold t > 0.5: count RISING crossings, at index i when x[i-1] < t <= x[i];
* threshold t < 0.5: count FALLING crossings, at index i when x[i-1] > t >= x[i];
* t == 0.5 has no defined direction and is rejected.

A crossing is *preserved* when the decoded signal crosses the same threshold in the same
direction at exactly the same index (a shift of one sample is not preserved). For 2-D input
each row (segment) is analysed separately: no crossing spans two rows.
"""
from __future__ import annotations

import numpy as np

from neurocodec.signals.validate import check_same_shape

DEFAULT_THRESHOLDS = np.array([t for t in np.round(np.arange(0.05, 0.951, 0.05), 2) if t != 0.5])


def crossing_mask(x, threshold: float) -> np.ndarray:
    """Boolean array, True at index i where row x crosses ``threshold`` (convention above)."""
    x = np.atleast_2d(np.asarray(x, np.float64))
    t = float(threshold)
    if not 0.0 < t < 1.0 or t == 0.5:
        raise ValueError(f"threshold must be in (0, 1) and != 0.5, got {threshold}")
    prev, cur = x[:, :-1], x[:, 1:]
    hit = (prev < t) & (t <= cur) if t > 0.5 else (prev > t) & (t >= cur)
    return np.concatenate([np.zeros((x.shape[0], 1), bool), hit], axis=1)


def crossing_analysis(original, decoded, thresholds=DEFAULT_THRESHOLDS) -> list[dict]:
    """One dict per threshold: threshold, crossings_original, crossings_decoded, preserved,
    preserved_pct (100 * preserved / crossings_original, nan if the original has none)."""
    x, y = check_same_shape(original, decoded, ("original", "decoded"))
    if x.ndim > 2:
        raise ValueError(f"expected 1-D or 2-D (rows = segments) input, got shape {x.shape}")
    rows = []
    for t in np.atleast_1d(thresholds):
        mx, my = crossing_mask(x, t), crossing_mask(y, t)
        n_orig, kept = int(mx.sum()), int((mx & my).sum())
        rows.append({"threshold": float(t), "crossings_original": n_orig,
                     "crossings_decoded": int(my.sum()), "preserved": kept,
                     "preserved_pct": 100.0 * kept / n_orig if n_orig else float("nan")})
    return rows


def summarize_crossings(rows: list[dict]) -> float:
    """Overall preserved %: sum(preserved) / sum(crossings_original) * 100 (nan if none)."""
    total = sum(r["crossings_original"] for r in rows)
    return 100.0 * sum(r["preserved"] for r in rows) / total if total else float("nan")
