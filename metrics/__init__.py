"""Codec quality metrics: reconstruction error and threshold-crossing preservation."""
from .crossings import DEFAULT_THRESHOLDS, crossing_analysis, crossing_mask, summarize_crossings
from .reconstruction import correlation, mse, sndr_db, snr_db

__all__ = ["DEFAULT_THRESHOLDS", "crossing_analysis", "crossing_mask", "summarize_crossings",
           "correlation", "mse", "sndr_db", "snr_db"]
