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


def si_objects(duration_s: float = 60.0, fs: float = 24000.0, num_channels: int = 4,
               num_units: int = 10, noise_level: float = SI_DEFAULT_NOISE_UV, seed: int = 0,
               firing_rate_hz: float = 15.0, num_columns: int = 2, pitch_um: float = 20.0):
    """SpikeInterface (recording, sorting) of the generator (for running SpikeInterface sorters).

    ``num_columns`` / ``pitch_um``: probe layout (generate_multi_columns_probe): 2 columns at
    20 um is SpikeInterface's default (a 2x2 tetrode-like square for 4 channels), 1 column a
    linear probe."""
    if not duration_s > 0 or num_channels < 1 or num_units < 1 or noise_level < 0 or num_columns < 1:
        raise RecordingError(f"invalid SpikeInterface generator setup: duration={duration_s}, channels="
                             f"{num_channels}, units={num_units}, noise={noise_level}, columns={num_columns}")
    try:
        from spikeinterface.core import generate_ground_truth_recording
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise RecordingError("spikeinterface is not installed (pip install spikeinterface==0.105.3)") from exc

    return generate_ground_truth_recording(
        durations=[float(duration_s)], sampling_frequency=float(fs), num_channels=int(num_channels),
        num_units=int(num_units), seed=int(seed),
        generate_probe_kwargs={"num_columns": int(num_columns), "xpitch": float(pitch_um),
                               "ypitch": float(pitch_um), "contact_shapes": "circle",
                               "contact_shape_params": {"radius": 6}},
        generate_sorting_kwargs={"firing_rates": float(firing_rate_hz), "refractory_period_ms": 4.0},
        noise_kwargs={"noise_levels": float(noise_level), "strategy": "on_the_fly"},
    )


def si_ground_truth(duration_s: float = 60.0, fs: float = 24000.0, num_channels: int = 4,
                    num_units: int = 10, noise_level: float = SI_DEFAULT_NOISE_UV, seed: int = 0,
                    firing_rate_hz: float = 15.0, num_columns: int = 2, pitch_um: float = 20.0) -> SiGroundTruth:
    """Generate a ground-truth recording with SpikeInterface (see module docstring)."""
    rec, sorting = si_objects(duration_s, fs, num_channels, num_units, noise_level, seed, firing_rate_hz,
                              num_columns, pitch_um)
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


def run_si_sorter(sorter: str, folder, **gt_kwargs) -> dict:
    """Run a SpikeInterface internal sorter (``tridesclous2``, ``spykingcircus2``) on the
    generator's recording and compare it with the ground truth (SpikeInterface's
    compare_sorter_to_ground_truth, 0.4 ms match window): mean per-unit accuracy
    tp / (tp + fn + fp), recall, precision and the unit counts."""
    import shutil

    import spikeinterface.comparison as scmp
    import spikeinterface.sorters as ss

    rec, gt_sorting = si_objects(**gt_kwargs)
    folder = str(folder)
    shutil.rmtree(folder, ignore_errors=True)
    rec = rec.save(folder=folder + "_recording", overwrite=True)  # on-the-fly noise is not serializable
    sorting = ss.run_sorter(sorter, rec, folder=folder, remove_existing_folder=True, verbose=False)
    cmp = scmp.compare_sorter_to_ground_truth(gt_sorting, sorting, exhaustive_gt=True)
    perf = cmp.get_performance()
    return {"sorter": sorter, "accuracy": float(perf["accuracy"].mean()), "recall": float(perf["recall"].mean()),
            "precision": float(perf["precision"].mean()), "n_units_found": int(len(sorting.unit_ids)),
            "n_units_true": int(len(gt_sorting.unit_ids))}


__all__ = ["SI_DEFAULT_NOISE_UV", "SiGroundTruth", "run_si_sorter", "si_ground_truth", "si_objects", "spikes_from_si"]
