"""Ground-truth recordings from SpikeInterface's generator, as plain numpy + our SpikeSet.

``si_ground_truth`` wraps ``spikeinterface.core.generate_ground_truth_recording`` (templates,
Poisson spike trains, Gaussian noise of ``noise_level`` uV generated on the fly): nothing is
downloaded. For a fixed ``seed`` the probe, units, templates and spike trains are identical
across noise levels (only the noise amplitude changes), so noise levels can be compared spike
for spike. ``spikes_from_si`` runs the spike pipeline (neurocodec.signals.spikes) on it and
labels each detected spike with its ground-truth unit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import RecordingError
from .spikes import SpikeSet, extract_spikes, match_spikes

SI_DEFAULT_NOISE_UV = 5.0  # generate_ground_truth_recording's default noise_levels


@dataclass
class SiGroundTruth:
    data: np.ndarray  # (channels, samples) float64 uV
    fs: float
    times: np.ndarray  # (n,) spike sample of every true spike (template's reference sample)
    units: np.ndarray  # (n,) unit index
    positions: np.ndarray  # (channels, 2) contact positions in um
    noise_level: float
    seed: int

    @property
    def n_units(self) -> int:
        return int(self.units.max()) + 1 if self.units.size else 0


def si_ground_truth(duration_s: float = 60.0, fs: float = 24000.0, num_channels: int = 4,
                    num_units: int = 10, noise_level: float = SI_DEFAULT_NOISE_UV, seed: int = 0,
                    firing_rate_hz: float = 15.0) -> SiGroundTruth:
    """Generate a ground-truth recording with SpikeInterface (see module docstring)."""
    if not duration_s > 0 or num_channels < 1 or num_units < 1 or noise_level < 0:
        raise RecordingError(f"invalid SpikeInterface generator setup: duration={duration_s}, channels="
                             f"{num_channels}, units={num_units}, noise={noise_level}")
    try:
        from spikeinterface.core import generate_ground_truth_recording
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise RecordingError("spikeinterface is not installed (pip install spikeinterface==0.105.3)") from exc

    rec, sorting = generate_ground_truth_recording(
        durations=[float(duration_s)], sampling_frequency=float(fs), num_channels=int(num_channels),
        num_units=int(num_units), seed=int(seed),
        generate_sorting_kwargs={"firing_rates": float(firing_rate_hz), "refractory_period_ms": 4.0},
        noise_kwargs={"noise_levels": float(noise_level), "strategy": "on_the_fly"},
    )
    data = rec.get_traces().astype(np.float64).T
    sv = sorting.to_spike_vector()
    return SiGroundTruth(data, float(fs), sv["sample_index"].astype(np.int64),
                         sv["unit_index"].astype(np.int64), np.asarray(rec.get_channel_locations(), np.float64),
                         float(noise_level), int(seed))


def spikes_from_si(gt: SiGroundTruth | None = None, window: int | None = None, group_size: int | None = None,
                   threshold: float = 4.5, tolerance_ms: float = 0.5, **gt_kwargs) -> SpikeSet:
    """Spike pipeline on a SpikeInterface ground-truth recording; ``labels`` = true unit or -1."""
    if gt is None:
        gt = si_ground_truth(**gt_kwargs)
    elif gt_kwargs:
        raise RecordingError("pass either a SiGroundTruth or generator arguments, not both")
    n_ch = gt.data.shape[0]
    if group_size is None:
        group_size = 4 if n_ch >= 4 else 1
    spikes = extract_spikes(gt.data, gt.fs, window=window, group_size=group_size, threshold=threshold,
                            positions=gt.positions, source=f"spikeinterface(seed={gt.seed}, noise={gt.noise_level})")
    tol = max(1, int(round(tolerance_ms * 1e-3 * gt.fs)))
    labels = np.full(len(spikes), -1, np.int64)
    for g in range(len(spikes.groups)):
        m = spikes.group == g
        labels[m] = match_spikes(spikes.times[m], gt.times, gt.units, tol)
    spikes.labels = labels
    return spikes


__all__ = ["SI_DEFAULT_NOISE_UV", "SiGroundTruth", "si_ground_truth", "spikes_from_si"]
