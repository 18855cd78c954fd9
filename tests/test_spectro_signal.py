"""Spectrogram images (signals.spectrogram) and class-separation metrics (metrics.separation)."""
import numpy as np
import pytest

from neurocodec.metrics.separation import SeparationError, knn_scores, silhouette, standardize
from neurocodec.signals.errors import RecordingError
from neurocodec.signals.spectrogram import (
    log_spectrogram, spectrogram_frequencies, spectrogram_nfft, to_unit_range,
)

FS = 512.0
T = np.arange(int(5 * FS)) / FS


def test_full_band_shape_axis_and_peak_bin():
    x = np.sin(2 * np.pi * 48.0 * T)
    img = log_spectrogram(x, FS, n_freq=64, n_time=64)
    f = spectrogram_frequencies(FS, 64)
    assert img.shape == (64, 64)
    assert f[1] - f[0] == pytest.approx(4.0) and f[-1] == pytest.approx(252.0)
    peak_rows = np.argmax(img, axis=0)
    assert np.all(f[peak_rows] == 48.0)  # every frame peaks at the sinusoid's bin


def test_log_power_is_parseval_scaled_density():
    amplitude = 3.0
    x = amplitude * np.sin(2 * np.pi * 100.0 * T)
    img = log_spectrogram(x, FS)
    power = 10.0 ** (img / 10.0)  # dB -> units**2 / Hz
    df = FS / spectrogram_nfft(FS, 64)
    # integrated one-sided PSD of each frame == the sinusoid's power A**2 / 2
    np.testing.assert_allclose(power.sum(axis=0) * df, amplitude**2 / 2, rtol=1e-6)
    # doubling the amplitude adds 20 log10(2) dB wherever the power is above the dB floor
    above = img > -140.0
    assert above.sum() > 64
    np.testing.assert_allclose((log_spectrogram(2 * x, FS) - img)[above], 20 * np.log10(2),
                               atol=1e-6)


def test_limited_band_rows_and_peak():
    x = np.sin(2 * np.pi * 10.0 * T) + 0.5 * np.sin(2 * np.pi * 200.0 * T)  # 200 Hz outside
    img = log_spectrogram(x, FS, n_freq=64, n_time=32, nperseg=256, fmax=60.0)
    f = spectrogram_frequencies(FS, 64, fmax=60.0)
    assert img.shape == (64, 32)
    assert f[-1] < 60.0 and spectrogram_nfft(FS, 64, 60.0) == 547
    assert abs(f[np.argmax(img.mean(axis=1))] - 10.0) <= (f[1] - f[0]) / 2


def test_batch_matches_single_and_unit_range():
    rng = np.random.default_rng(0)
    batch = rng.standard_normal((3, T.size))
    imgs = log_spectrogram(batch, FS)
    assert imgs.shape == (3, 64, 64)
    np.testing.assert_allclose(imgs[1], log_spectrogram(batch[1], FS))
    u = to_unit_range(imgs, -60.0, 0.0)
    assert u.min() >= 0.0 and u.max() <= 1.0
    with pytest.raises(RecordingError):
        to_unit_range(imgs, 0.0, 0.0)


@pytest.mark.parametrize("bad, match", [
    (np.r_[np.zeros(2000), np.nan, np.zeros(559)], "NaN"),
    (np.zeros(100), "shorter than one spectrogram frame"),
    (np.zeros(0), "empty"),
])
def test_bad_signals_raise(bad, match):
    with pytest.raises(RecordingError, match=match):
        log_spectrogram(bad, FS)


def test_bad_parameters_raise():
    x = np.ones(T.size)
    with pytest.raises(RecordingError, match="fmax"):
        log_spectrogram(x, FS, fmax=300.0)
    with pytest.raises(RecordingError, match="nperseg"):
        log_spectrogram(x, FS, nperseg=1000)
    with pytest.raises(RecordingError, match="sampling rate"):
        log_spectrogram(x, -1.0)


# ----------------------------------------------------------------------------- separation
def _clusters(n=30, gap=10.0, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0, 0], [gap, 0, 0], [0, gap, 0]], float)
    x = np.concatenate([c + rng.standard_normal((n, 3)) for c in centers])
    y = np.repeat(np.array(["ECG", "EEG", "EMG"]), n)
    g = np.tile(np.repeat(["a", "b"], n // 2), 3)
    g = np.char.add(y, g)  # two "recordings" per class
    return x, y, g


def test_separation_scores_on_separated_and_mixed_clusters():
    x, y, g = _clusters()
    xt, yt, gt = _clusters(seed=1)
    s = knn_scores(x, y, xt, yt, k=5, train_groups=g, test_groups=gt)
    assert s["accuracy"] == 1.0 and s["balanced_accuracy"] == 1.0
    assert s["other_group_balanced_accuracy"] == 1.0
    assert set(s["per_class_recall"]) == {"ECG", "EEG", "EMG"}
    assert silhouette(xt, yt) > 0.7
    shuffled = np.random.default_rng(2).permutation(yt)
    assert silhouette(xt, shuffled) < 0.1
    a, b = standardize(x, xt)
    np.testing.assert_allclose(a.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(a.std(axis=0), 1, atol=1e-12)


def test_other_group_knn_detects_recording_identity():
    # class information only in the recording offset: same-recording neighbours look perfect,
    # other-recording neighbours do not
    rng = np.random.default_rng(0)
    offsets = {"r1": 0.0, "r2": 20.0, "r3": 40.0, "r4": 60.0}
    label = {"r1": "A", "r2": "B", "r3": "B", "r4": "A"}
    groups = np.repeat(list(offsets), 20)
    x = np.array([[offsets[r]] for r in groups]) + rng.standard_normal((80, 1))
    y = np.array([label[r] for r in groups])
    s = knn_scores(x, y, x + 0.01, y, k=3, train_groups=groups, test_groups=groups)
    assert s["accuracy"] == 1.0
    assert s["other_group_accuracy"] < 0.6


def test_separation_bad_inputs():
    x, y, _ = _clusters()
    with pytest.raises(SeparationError, match="labels"):
        knn_scores(x, y[:-1], x, y)
    with pytest.raises(RecordingError, match="NaN"):
        silhouette(np.where(x > 5, np.nan, x), y)
    with pytest.raises(SeparationError, match="k must be"):
        knn_scores(x, y, x, y, k=0)
    with pytest.raises(SeparationError, match="2 <= n_classes"):
        silhouette(x, np.zeros(len(x)))
