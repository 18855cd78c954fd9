"""The in-memory recording container used across neurocodec."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .validate import check_finite, check_fs, check_nonempty, check_shape


@dataclass
class Recording:
    """Multichannel recording: ``data`` is float64 (n_channels, n_samples) in ``units``.

    ``annotations`` is optional, e.g. MIT-BIH beats: {"sample": int array, "symbol": list[str]}.
    """

    data: np.ndarray
    fs: float
    units: str
    channel_names: list[str]
    source: str
    annotations: dict | None = field(default=None)

    def __post_init__(self):
        what = f"recording {self.source}"
        data = check_shape(check_nonempty(self.data, what), 2, what)
        self.data = check_finite(data, what).astype(np.float64, copy=False)
        self.fs = check_fs(self.fs, f"{what}: sampling rate")
        self.channel_names = [str(c) for c in self.channel_names]
        if len(self.channel_names) != self.data.shape[0]:
            raise ValueError(f"{what}: {len(self.channel_names)} channel names for "
                             f"{self.data.shape[0]} channels")

    @property
    def n_channels(self) -> int:
        return self.data.shape[0]

    @property
    def n_samples(self) -> int:
        return self.data.shape[1]

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs
