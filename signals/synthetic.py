"""Synthetic extracellular recordings with known spike times, for controlled tests."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import RecordingError
from .recording import Recording
from .validate import check_fs

_PRE_MS, _POST_MS = 0.8, 1.7  # template window around the negative peak


@dataclass
class SpikeTruth:
    """Ground truth: spike ``times`` (sample of the negative peak), ``units`` (index per spike),
    ``templates`` (n_units, n_channels, template_len) in uV exactly as added to the data, with
    the negative peak at column ``peak_index``."""

    times: np.ndarray
    units: np.ndarray
    templates: np.ndarray
    peak_index: int
    amplitudes_uv: np.ndarray


def _gauss(t, mu, sigma):
    return np.exp(-0.5 * ((t - mu) / sigma) ** 2)


def spike_shape(t_ms: np.ndarray, width_ms: float) -> np.ndarray:
    """3-phase extracellular spike (small positive pre-hump, sharp trough, slow repolarisation)
    with its trough at t=0 and value -1 there; ``width_ms`` is the trough's Gaussian sigma."""
    s2 = 2.5 * width_ms
    tau2 = 0.2 + 1.5 * width_ms

    def f(t):
        return (-_gauss(t, 0.0, width_ms) + 0.3 * _gauss(t, tau2, s2)
                + 0.1 * _gauss(t, -0.25, 0.1))

    fine = np.linspace(-0.3, 0.3, 6001)
    fine_v = f(fine)
    t0 = fine[np.argmin(fine_v)]
    return f(np.asarray(t_ms) + t0) / -fine_v.min()


def _band_noise(rng, shape, fs, lo=300.0, hi=6000.0):
    from scipy.signal import butter, sosfiltfilt

    hi = min(hi, 0.45 * fs)
    lo = min(lo, 0.1 * hi)
    sos = butter(3, [lo, hi], btype="bandpass", fs=fs, output="sos")
    noise = sosfiltfilt(sos, rng.standard_normal(shape), axis=-1)
    return noise / noise.std(axis=-1, keepdims=True)


def _pink_lfp(rng, n, fs, fmax=300.0):
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spec *= np.where((f >= 1.0) & (f <= fmax), 1.0 / np.maximum(f, 1.0), 0.0)
    lfp = np.fft.irfft(spec, n)
    return lfp / lfp.std()


def _spike_train(rng, rate_hz, fs, ref_samples, first, last):
    """Integer spike samples in [first, last]: Poisson with a dead time of ``ref_samples``."""
    mean_isi = fs / rate_hz
    scale = mean_isi - ref_samples
    expected = (last - first) / mean_isi
    times = np.empty(0, np.int64)
    start = first + int(np.floor(rng.exponential(mean_isi)))
    while True:
        isi = ref_samples + np.floor(rng.exponential(scale, int(expected * 1.2) + 16))
        chunk = start + np.concatenate([[0], np.cumsum(isi[:-1])]).astype(np.int64)
        times = np.concatenate([times, chunk[chunk <= last]])
        if chunk[-1] > last:
            return times
        start = int(chunk[-1] + isi[-1])


def synthetic_extracellular(duration_s: float = 10.0, fs: float = 30000.0, n_units: int = 3,
                            firing_rate_hz=10.0, noise_uv: float = 10.0,
                            spike_amplitude_uv=(80.0, 150.0), n_channels: int = 1,
                            refractory_ms: float = 2.0, seed: int = 0,
                            lfp_uv: float = 0.0) -> tuple[Recording, SpikeTruth]:
    """Simulated recording in uV: spikes of ``n_units`` units + band-limited noise.

    Each unit has its own trough width and peak amplitude (spread over ``spike_amplitude_uv``)
    and, for ``n_channels > 1``, a position giving a Gaussian amplitude profile over channels
    (1.0 on the nearest channel). Spike trains are Poisson with a ``refractory_ms`` dead time
    (mean rate ``firing_rate_hz``, scalar or one per unit). Noise is 300-6000 Hz Gaussian at
    exactly ``noise_uv`` RMS per channel; ``lfp_uv`` > 0 adds a common 1/f component (<300 Hz).
    Deterministic for a given ``seed``.
    """
    fs = check_fs(fs)
    n = int(round(float(duration_s) * fs))
    pre, post = int(round(_PRE_MS * 1e-3 * fs)), int(round(_POST_MS * 1e-3 * fs))
    length = pre + post + 1
    if n_units < 0 or n_channels < 1 or n < 2 * length:
        raise RecordingError(f"invalid synthetic setup: n_units={n_units}, n_channels="
                             f"{n_channels}, {n} samples (need >= {2 * length})")
    rates = np.broadcast_to(np.asarray(firing_rate_hz, np.float64), (n_units,))
    ref = int(np.ceil(refractory_ms * 1e-3 * fs))
    if np.any(rates <= 0) or np.any(rates * ref >= fs):
        raise RecordingError(f"firing rates {rates} must be > 0 and below 1/refractory")
    if noise_uv < 0 or lfp_uv < 0:
        raise RecordingError("noise_uv and lfp_uv must be >= 0")

    rng = np.random.default_rng(seed)
    amps = np.linspace(*spike_amplitude_uv, n_units) if n_units > 1 else \
        np.array([np.mean(spike_amplitude_uv)])[:n_units]
    widths = rng.permutation(np.linspace(0.07, 0.15, n_units)) if n_units > 1 else np.array([0.1])
    t_ms = (np.arange(length) - pre) / fs * 1e3
    chans = np.arange(n_channels)
    spread = max(1.0, n_channels / 4)
    templates = np.zeros((n_units, n_channels, length))
    for k in range(n_units):
        gains = _gauss(chans, rng.uniform(0, n_channels - 1), spread) if n_channels > 1 else \
            np.ones(1)
        templates[k] = amps[k] * (gains / gains.max())[:, None] * spike_shape(t_ms, widths[k])

    trains = [_spike_train(rng, rates[k], fs, ref, pre, n - 1 - post) for k in range(n_units)]
    times = np.concatenate(trains + [np.empty(0, np.int64)])
    units = np.concatenate([np.full(len(tr), k) for k, tr in enumerate(trains)] +
                           [np.empty(0, np.int64)]).astype(np.int64)
    order = np.argsort(times, kind="stable")
    times, units = times[order], units[order]

    data = noise_uv * _band_noise(rng, (n_channels, n), fs) if noise_uv > 0 else \
        np.zeros((n_channels, n))
    if lfp_uv > 0:
        data += lfp_uv * _pink_lfp(rng, n, fs)
    for t, u in zip(times, units):
        data[:, t - pre: t + post + 1] += templates[u]

    rec = Recording(data, fs, "uV", [f"ch{i}" for i in range(n_channels)],
                    f"synthetic_extracellular(seed={seed})")
    return rec, SpikeTruth(times, units, templates, pre, amps)
