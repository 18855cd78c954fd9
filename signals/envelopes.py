"""Envelope pre-processing for the `gamma_cnn` EMG decoder (neural -> EMG envelopes at 100 Hz).

Neural envelope, per channel (``neural_envelope``)::

    raw --high-pass (Butterworth)--> square --Gaussian smoothing (sigma 10 ms)--> sqrt --> 100 Hz

EMG envelope, per muscle (``emg_envelope``)::

    raw --[high-pass]--> |.| --low-pass (Butterworth, cut-off 1-5 Hz, configurable)--> 100 Hz

Both are *causal* by default, so the decoder can run on a stream: the filters are one-sided
(``sosfilt``), the Gaussian kernel is truncated at +-3 sigma and delayed by 3 sigma (30 ms), and
down-sampling keeps the last input sample at or before each output time. ``causal=False`` gives
the zero-phase offline variants (``sosfiltfilt`` and a centred Gaussian).

Trials: ``cut_trials`` cuts the 100 Hz envelopes into 4 s windows (400 samples) and
``loss_mask`` gives the per-sample weights with the first second of each trial set to 0 (the
decoder's zero-padded warm-up is excluded from the loss and from every score).
"""
from __future__ import annotations

import math

import numpy as np

from .errors import RecordingError
from .validate import as_2d, check_fs

ENVELOPE_FS = 100.0  # Hz, rate of every envelope the decoder sees
TRIAL_SECONDS = 4.0
WARMUP_SECONDS = 1.0


def _check_cutoff(fc: float, fs: float, what: str) -> float:
    fc = float(fc)
    if not np.isfinite(fc) or fc <= 0 or fc >= fs / 2:
        raise RecordingError(f"{what} cut-off {fc} Hz must be in (0, fs/2 = {fs / 2} Hz)")
    return fc


def _filter(sos: np.ndarray, x: np.ndarray, causal: bool) -> np.ndarray:
    from scipy.signal import sosfilt, sosfiltfilt

    return sosfilt(sos, x, axis=-1) if causal else sosfiltfilt(sos, x, axis=-1)


def gaussian_kernel(sigma_s: float, fs: float, truncate: float = 3.0) -> np.ndarray:
    """Unit-sum Gaussian of standard deviation ``sigma_s`` seconds sampled at ``fs``, spanning
    +-``truncate`` sigma (odd length, centre tap in the middle)."""
    fs = check_fs(fs)
    if not sigma_s > 0:
        raise RecordingError(f"Gaussian sigma must be positive, got {sigma_s}")
    half = max(1, int(math.ceil(truncate * sigma_s * fs)))
    t = np.arange(-half, half + 1) / fs
    k = np.exp(-0.5 * (t / sigma_s) ** 2)
    return k / k.sum()


def gaussian_smooth(x: np.ndarray, sigma_s: float, fs: float, causal: bool = True) -> np.ndarray:
    """Smooth along the last axis. Causal: the kernel is delayed by its half length, so y[t]
    only uses x[<= t] (a pure delay of 3 sigma). Otherwise centred (zero phase)."""
    from scipy.signal import oaconvolve

    k = gaussian_kernel(sigma_s, fs)
    half = len(k) // 2
    x2 = np.atleast_2d(x)
    if causal:
        y = oaconvolve(x2, k[None, :], mode="full", axes=-1)[:, : x2.shape[1]]
    else:
        y = oaconvolve(x2, k[None, :], mode="full", axes=-1)[:, half : half + x2.shape[1]]
    return y.reshape(np.shape(x))


def downsample(x: np.ndarray, fs_in: float, fs_out: float = ENVELOPE_FS) -> np.ndarray:
    """Causal down-sampling along the last axis: output sample j (time j / fs_out) is the last
    input sample at or before that time (plain decimation when fs_in / fs_out is an integer).
    The input must already be low-pass (envelopes are)."""
    fs_in, fs_out = check_fs(fs_in, "fs_in"), check_fs(fs_out, "fs_out")
    if fs_out > fs_in:
        raise RecordingError(f"cannot down-sample from {fs_in} Hz to a higher rate {fs_out} Hz")
    n_in = np.shape(x)[-1]
    n_out = int(math.floor((n_in - 1) * fs_out / fs_in + 1e-9)) + 1
    idx = np.floor(np.arange(n_out) * fs_in / fs_out + 1e-9).astype(np.int64)
    return np.take(x, idx, axis=-1)


def neural_envelope(raw, fs: float, highpass_hz: float = 300.0, sigma_s: float = 0.010,
                    fs_out: float = ENVELOPE_FS, causal: bool = True, order: int = 2) -> np.ndarray:
    """Multi-unit envelope of raw neural data (channels, samples) or (samples,) at ``fs``:
    high-pass, square, Gaussian smoothing (sigma 10 ms), square root, down-sample to 100 Hz.

    A sinusoid of amplitude A above the high-pass cut-off gives its RMS, A / sqrt(2)."""
    from scipy.signal import butter

    fs = check_fs(fs, "neural sampling rate")
    x = as_2d(raw, "raw neural data")
    if x.shape[1] < 2:
        raise RecordingError(f"raw neural data has only {x.shape[1]} samples")
    sos = butter(order, _check_cutoff(highpass_hz, fs, "neural high-pass"), "highpass", fs=fs, output="sos")
    power = _filter(sos, x, causal) ** 2
    smooth = gaussian_smooth(power, sigma_s, fs, causal=causal)
    env = np.sqrt(np.maximum(smooth, 0.0))
    env = downsample(env, fs, fs_out)
    return env[0] if np.ndim(raw) == 1 else env


def emg_envelope(raw, fs: float, lowpass_hz: float = 3.0, highpass_hz: float | None = 20.0,
                 fs_out: float = ENVELOPE_FS, causal: bool = True, order: int = 2) -> np.ndarray:
    """EMG envelope of raw EMG (muscles, samples) or (samples,) at ``fs``: optional high-pass
    (``highpass_hz=None`` skips it), full-wave rectification, low-pass at ``lowpass_hz``
    (1-5 Hz in the gamma_cnn protocol; any value below fs_out / 2 is accepted), 100 Hz."""
    from scipy.signal import butter

    fs = check_fs(fs, "EMG sampling rate")
    x = as_2d(raw, "raw EMG")
    if x.shape[1] < 2:
        raise RecordingError(f"raw EMG has only {x.shape[1]} samples")
    _check_cutoff(lowpass_hz, min(fs, fs_out), "EMG low-pass")
    if highpass_hz is not None:
        hp = butter(order, _check_cutoff(highpass_hz, fs, "EMG high-pass"), "highpass", fs=fs, output="sos")
        x = _filter(hp, x, causal)
    lp = butter(order, float(lowpass_hz), "lowpass", fs=fs, output="sos")
    env = _filter(lp, np.abs(x), causal)
    env = downsample(env, fs, fs_out)
    return env[0] if np.ndim(raw) == 1 else env


def trial_samples(fs: float = ENVELOPE_FS, seconds: float = TRIAL_SECONDS) -> int:
    return int(round(seconds * fs))


def cut_trials(env, fs: float = ENVELOPE_FS, seconds: float = TRIAL_SECONDS,
               starts_s=None) -> np.ndarray:
    """Envelopes (channels, samples) -> trials (n_trials, samples_per_trial, channels).

    Without ``starts_s`` the recording is cut into contiguous windows (the tail is dropped);
    otherwise one window starts at each given time (seconds), which must lie inside the data."""
    x = as_2d(env, "envelopes")
    n = trial_samples(fs, seconds)
    if starts_s is None:
        n_trials = x.shape[1] // n
        if n_trials < 1:
            raise RecordingError(f"{x.shape[1]} samples at {fs} Hz is shorter than one "
                                 f"{seconds} s trial")
        starts = np.arange(n_trials) * n
    else:
        starts = np.round(np.asarray(starts_s, np.float64) * fs).astype(np.int64)
        bad = (starts < 0) | (starts + n > x.shape[1])
        if np.any(bad):
            raise RecordingError(f"{int(bad.sum())} trial start(s) leave a {seconds} s window "
                                 f"outside the {x.shape[1] / fs:.2f} s recording")
    return np.stack([x[:, s : s + n].T for s in starts]).astype(np.float32)


def loss_mask(n_samples: int, fs: float = ENVELOPE_FS, warmup_s: float = WARMUP_SECONDS) -> np.ndarray:
    """Per-sample loss weight of one trial: 0 during the first ``warmup_s`` seconds, 1 after."""
    w = np.ones(int(n_samples), np.float32)
    w[: int(round(warmup_s * fs))] = 0.0
    if not w.any():
        raise RecordingError(f"trials of {n_samples} samples at {fs} Hz are all warm-up "
                             f"({warmup_s} s): nothing left to score")
    return w


__all__ = [
    "ENVELOPE_FS",
    "TRIAL_SECONDS",
    "WARMUP_SECONDS",
    "gaussian_kernel",
    "gaussian_smooth",
    "downsample",
    "neural_envelope",
    "emg_envelope",
    "trial_samples",
    "cut_trials",
    "loss_mask",
]
