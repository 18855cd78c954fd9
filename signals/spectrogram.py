"""Fixed-size log-power spectrogram images (the input of the 2-D spectrogram CAE).

``log_spectrogram(x, fs)`` turns a segment (or a batch of segments) into an image of
``n_freq`` frequency rows x ``n_time`` time columns holding the one-sided power spectral density
in dB (10 log10 of units**2 / Hz). Frames are Hann-windowed, mean-removed and spaced evenly over
the segment (the first frame starts at sample 0 and the last ends at the last sample), so the
image size does not depend on the segment length. Row ``k`` is the frequency
``k * fs / nfft`` (see ``spectrogram_frequencies``):

- full band (``fmax=None``): ``nfft = 2 * n_freq``, rows cover 0 .. fs/2 - fs/nfft
  (the Nyquist bin is dropped), e.g. 0..252 Hz in 4 Hz steps for fs=512, n_freq=64;
- limited band (``fmax``): ``nfft = ceil(n_freq * fs / fmax)`` (zero-padded FFT), rows cover
  0 .. < fmax, e.g. fmax=60 Hz, fs=512 -> nfft=547, 0..58.96 Hz in 0.936 Hz steps.

The PSD is scaled like ``scipy.signal.welch(..., scaling='density')``: summing a column over
frequency times ``fs / nfft`` gives the frame's variance (Parseval), so a unit-amplitude sinusoid
integrates to 0.5. ``to_unit_range`` maps dB images to [0, 1] with a fixed dB window.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import RecordingError
from .validate import check_fs, check_signal


def spectrogram_nfft(fs: float, n_freq: int = 64, fmax: float | None = None) -> int:
    """FFT length that puts ``n_freq`` bins in [0, fmax) (full band when ``fmax`` is None)."""
    fs = check_fs(fs)
    if int(n_freq) < 2:
        raise RecordingError(f"n_freq must be >= 2, got {n_freq}")
    if fmax is None:
        return 2 * int(n_freq)
    fmax = float(fmax)
    if not 0 < fmax <= fs / 2:
        raise RecordingError(f"fmax must be in (0, fs/2 = {fs / 2:g}] Hz, got {fmax:g}")
    return int(math.ceil(int(n_freq) * fs / fmax - 1e-9))


def spectrogram_frequencies(fs: float, n_freq: int = 64, fmax: float | None = None) -> np.ndarray:
    """Centre frequency (Hz) of each image row."""
    return np.arange(int(n_freq)) * check_fs(fs) / spectrogram_nfft(fs, n_freq, fmax)


def spectrogram_frame_starts(n_samples: int, nperseg: int, n_time: int) -> np.ndarray:
    """Start sample of each of the ``n_time`` evenly spaced frames."""
    if n_samples < nperseg:
        raise RecordingError(f"segment has {n_samples} samples, shorter than one spectrogram "
                             f"frame of {nperseg}")
    return np.round(np.linspace(0, n_samples - nperseg, int(n_time))).astype(np.int64)


def log_spectrogram(x, fs: float, n_freq: int = 64, n_time: int = 64,
                    nperseg: int | None = None, fmax: float | None = None,
                    floor_db: float = -150.0) -> np.ndarray:
    """Log-power spectrogram image(s) in dB.

    x: 1-D segment (samples,) -> (n_freq, n_time); 2-D batch (n_segments, samples) ->
    (n_segments, n_freq, n_time). ``nperseg`` (frame length, default ``2 * n_freq``) must not
    exceed the FFT length or the segment. Powers below ``floor_db`` are clipped to it (log of 0).
    """
    fs = check_fs(fs)
    x = check_signal(x, "signal for spectrogram")
    single = x.ndim == 1
    x = x[np.newaxis] if single else x
    n_time = int(n_time)
    if n_time < 1:
        raise RecordingError(f"n_time must be >= 1, got {n_time}")
    nfft = spectrogram_nfft(fs, n_freq, fmax)
    nperseg = int(nperseg) if nperseg is not None else 2 * int(n_freq)
    if not 2 <= nperseg <= nfft:
        raise RecordingError(f"nperseg must be in [2, nfft={nfft}], got {nperseg}")
    starts = spectrogram_frame_starts(x.shape[1], nperseg, n_time)
    frames = x[:, starts[:, None] + np.arange(nperseg)[None, :]]  # (n, n_time, nperseg)
    frames = frames - frames.mean(axis=-1, keepdims=True)
    n = np.arange(nperseg)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / nperseg)  # periodic Hann (scipy 'hann')
    spec = np.fft.rfft(frames * window, n=nfft, axis=-1)[..., : int(n_freq)]
    psd = (spec.real**2 + spec.imag**2) / (fs * np.sum(window**2))
    psd[..., 1:] *= 2.0  # one-sided; bin n_freq-1 is below Nyquist in both modes
    db = 10.0 * np.log10(np.maximum(psd, 10.0 ** (floor_db / 10.0)))
    db = np.swapaxes(db, 1, 2)  # (n, n_freq, n_time)
    return db[0] if single else db


def to_unit_range(db, db_min: float, db_max: float) -> np.ndarray:
    """Map dB values linearly from [db_min, db_max] to [0, 1], clipping outside."""
    if not db_max > db_min:
        raise RecordingError(f"db_max ({db_max}) must exceed db_min ({db_min})")
    db = np.asarray(db, np.float64)
    return np.clip((db - db_min) / (db_max - db_min), 0.0, 1.0)
