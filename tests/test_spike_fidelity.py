"""Spike-fidelity metrics on the real locust tetrode recording: exact values where they are
known (identity, a dropped spike, an inserted one) and the rate axis."""
import numpy as np
import pytest

from neurocodec.metrics.spike_fidelity import (
    ADC_BITS, MetricError, bit_cr, detect, fidelity, lfp_snr_db, mad_sigma, match_count, snr_db, spike_band,
    spike_fidelity,
)
from neurocodec.signals import load_recording


@pytest.fixture(scope="module")
def locust():
    rec = load_recording("locust")
    return rec.data[:, :60000], rec.fs  # 4 s of the real tetrode


def test_bit_cr_counts_every_byte():
    assert ADC_BITS == 16
    assert bit_cr(4, 1000, 8000) == 1.0  # 64,000 raw bits in 64,000 transmitted bits
    assert bit_cr(4, 1000, 250) == 32.0
    with pytest.raises(MetricError):
        bit_cr(4, 1000, 0)


def test_identity_is_perfect_and_counts_real_spikes(locust):
    x, fs = locust
    f = fidelity(x, x.copy(), fs, n_bytes=1000)
    assert f["spike_recall"] == 1.0 and f["spike_precision"] == 1.0
    assert f["snr_db"] == float("inf") and f["spike_sndr_db"] == float("inf")
    assert 100 < f["n_spikes_original"] < 2000  # real spikes at 4.5 x MAD in 4 s of 4 channels
    assert f["n_spikes_decoded"] == f["n_spikes_original"]


def test_removed_spike_costs_recall_and_window_sndr(locust):
    x, fs = locust
    bp = spike_band(x, fs)
    times = detect(bp, fs, mad_sigma(bp))
    n = sum(len(t) for t in times)
    y = x.copy()
    t0 = int(times[0][len(times[0]) // 2])
    # a spike-band-free copy of the neighbourhood: the spike disappears, the LFP stays
    from neurocodec.metrics.spike_fidelity import lowpass

    y[0, t0 - 30:t0 + 30] = lowpass(x, fs)[0, t0 - 30:t0 + 30]
    f = spike_fidelity(x, y, fs)
    assert f["n_spikes_original"] == n
    assert f["n_spikes_matched"] <= n - 1 and f["spike_recall"] < 1.0
    assert f["spike_precision"] == 1.0 or f["n_spikes_decoded"] < n
    assert 0 < f["spike_sndr_db"] < 60
    assert snr_db(x, y) > 20  # one spike among millions of samples: whole-band SNR barely moves


def test_inserted_spike_costs_precision(locust):
    x, fs = locust
    bp = spike_band(x, fs)
    sigma = mad_sigma(bp)
    times = detect(bp, fs, sigma)
    quiet = np.setdiff1d(np.arange(5000, 55000, 600), np.concatenate([np.arange(t - 300, t + 300) for t in times[1]]))
    y = x.copy()
    k = np.arange(-7, 8)
    for t in quiet[:5]:  # five big negative spikes where channel 1 has none
        y[1, t + k] -= 12 * sigma[1] * np.exp(-(k / 3.0) ** 2)
    f = spike_fidelity(x, y, fs)
    assert f["spike_recall"] == 1.0
    assert f["n_spikes_decoded"] - f["n_spikes_original"] >= 5
    assert f["spike_precision"] < 1.0


def test_match_count_is_one_to_one():
    a = np.array([10, 20, 30])
    assert match_count(a, np.array([11, 12, 29]), 2) == 2  # 11 and 12 both near 10: only one counts
    assert match_count(a, np.array([]), 2) == 0
    assert match_count(a, a + 3, 2) == 0


def test_lfp_snr_ignores_spike_band_error(locust):
    x, fs = locust
    y = x - spike_band(x, fs)  # decoded without its spike band
    assert lfp_snr_db(x, y, fs) > 8 > snr_db(x, y)
    assert spike_fidelity(x, y, fs)["spike_recall"] == 0.0


def test_slow_recordings_have_no_spike_metrics():
    rec = load_recording("mitbih100")
    x = rec.data[:, :20000]
    f = fidelity(x, x + 0.01, rec.fs)
    assert f["spike_recall"] is None and f["spike_sndr_db"] is None
    assert np.isfinite(f["snr_db"]) and f["lfp_snr_db"] == pytest.approx(f["snr_db"])


def test_shape_mismatch_is_refused():
    with pytest.raises(MetricError):
        snr_db(np.zeros((2, 10)), np.zeros((2, 11)))
