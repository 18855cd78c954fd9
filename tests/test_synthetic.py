"""Synthetic extracellular generator: rates, refractory period, noise level, determinism."""
import numpy as np
import pytest

from neurocodec.signals import RecordingError, synthetic_extracellular


@pytest.fixture(scope="module")
def sim():
    return synthetic_extracellular(duration_s=20.0, fs=30000.0, n_units=3, firing_rate_hz=10.0,
                                   noise_uv=10.0, seed=3)


def test_recording_metadata(sim):
    rec, truth = sim
    assert rec.data.shape == (1, 600000) and rec.fs == 30000.0 and rec.units == "uV"
    assert truth.templates.shape[:2] == (3, 1)
    assert len(truth.times) == len(truth.units)
    assert np.all(np.diff(truth.times) >= 0)


def test_spike_counts_match_rate(sim):
    _, truth = sim
    counts = np.bincount(truth.units, minlength=3)
    # Poisson count for 200 expected spikes: sd ~ 14 (less with dead time); allow ~3.5 sd
    assert np.all(np.abs(counts - 200) < 50), counts


def test_refractory_respected(sim):
    _, truth = sim
    for u in range(3):
        isi = np.diff(truth.times[truth.units == u])
        assert isi.min() >= 60  # 2 ms at 30 kHz


def test_templates_distinct_negative_peak(sim):
    _, truth = sim
    tpl = truth.templates[:, 0]
    assert np.all(tpl.argmin(axis=1) == truth.peak_index)
    np.testing.assert_allclose(-tpl.min(axis=1), [80, 115, 150])
    widths = [(t < t.min() / 2).sum() for t in tpl]  # samples below half the trough
    assert len(set(widths)) == 3
    assert tpl.shape[1] / 30000.0 > 1.5e-3


def test_spikes_present_at_true_times(sim):
    rec, truth = sim
    # the sample at each spike time sits near the template trough (noise 10 uV RMS)
    trough = truth.templates[truth.units, 0, truth.peak_index]
    resid = rec.data[0, truth.times] - trough
    assert np.median(np.abs(resid)) < 15


def test_noise_rms_on_spike_free_samples(sim):
    rec, truth = sim
    length = truth.templates.shape[-1]
    busy = np.zeros(rec.n_samples, bool)
    for t in truth.times:
        busy[t - truth.peak_index: t - truth.peak_index + length] = True
    rms = np.sqrt(np.mean(rec.data[0, ~busy] ** 2))
    assert abs(rms - 10.0) < 1.0


def test_deterministic_and_seed_dependent():
    a, ta = synthetic_extracellular(duration_s=1.0, seed=7)
    b, tb = synthetic_extracellular(duration_s=1.0, seed=7)
    c, tc = synthetic_extracellular(duration_s=1.0, seed=8)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(ta.times, tb.times)
    assert not np.array_equal(a.data, c.data)


def test_multichannel_profile_and_lfp():
    rec, truth = synthetic_extracellular(duration_s=2.0, n_channels=4, n_units=2, lfp_uv=20.0,
                                         seed=1)
    assert rec.data.shape == (4, 60000) and truth.templates.shape[:2] == (2, 4)
    peak = -truth.templates.min(axis=2)  # (units, channels)
    np.testing.assert_allclose(peak.max(axis=1), [80, 150])
    assert np.all(peak.min(axis=1) < peak.max(axis=1))  # amplitude varies across channels
    quiet, _ = synthetic_extracellular(duration_s=2.0, n_channels=4, n_units=0, seed=1)
    assert rec.data.std() > quiet.data.std()


def test_invalid_rate():
    with pytest.raises(RecordingError, match="below 1/refractory"):
        synthetic_extracellular(duration_s=1.0, firing_rate_hz=600.0, refractory_ms=2.0)
