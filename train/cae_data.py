"""Recording -> normalized 1024-sample segments for the cae, split 80/20 contiguously."""
from dataclasses import dataclass

import numpy as np

from neurocodec.signals import load_recording
from neurocodec.signals.scaling import MinMaxScaling, apply_scaling, fit_minmax
from neurocodec.signals.segment import segment, train_val_split


@dataclass
class CaeData:
    train: np.ndarray  # (n, length) normalized to [0, 1]
    val: np.ndarray  # (n, length), contiguous windows at the end of each channel
    scaling: MinMaxScaling  # per channel, fitted on the training part only
    fs: float
    units: str
    source: str
    channels: list[int]
    val_per_channel: int


def prepare_cae_data(data, segment_length=1024, val_fraction=0.2, channels=None, max_seconds=None) -> CaeData:
    """Load `data` (dataset name or file path), keep `channels`, optionally the first
    `max_seconds`, fit min-max per channel on the first (1 - val_fraction) of the samples,
    normalize, cut contiguous segments and split them contiguously per channel."""
    rec = load_recording(data)
    x = rec.data
    channels = list(range(x.shape[0])) if channels is None else list(channels)
    bad = [c for c in channels if not 0 <= c < x.shape[0]]
    if bad:
        raise ValueError(f"channel(s) {bad} out of range: {rec.source} has {x.shape[0]} channels")
    x = x[channels]
    if max_seconds is not None:
        x = x[:, : int(max_seconds * rec.fs)]
    n_windows = x.shape[1] // segment_length
    if n_windows < 2:
        raise ValueError(
            f"{rec.source}: {x.shape[1]} samples per channel give {n_windows} segment(s) of "
            f"{segment_length}; need at least 2 (one for training, one for validation)"
        )
    x = x[:, : n_windows * segment_length]
    n_val = max(1, int(round(val_fraction * n_windows)))
    split_sample = (n_windows - n_val) * segment_length
    scaling = fit_minmax(x[:, :split_sample])
    xn = apply_scaling(x, scaling, clip=True)
    segments = segment(xn, segment_length)
    train, val = train_val_split(segments, val_fraction=val_fraction, n_channels=len(channels))
    return CaeData(train, val, scaling, float(rec.fs), rec.units, str(rec.source), channels, n_val)
