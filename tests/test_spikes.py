"""Spike pipeline (signals/spikes.py, signals/spikeinterface_gt.py) on ground-truth data."""
import numpy as np
import pytest

from neurocodec.signals import spikes as S
from neurocodec.signals.errors import RecordingError
from neurocodec.signals.synthetic import synthetic_extracellular


def test_detection_finds_generator_spikes():
    rec, truth = synthetic_extracellular(duration_s=20, fs=30000.0, n_units=3, noise_uv=10.0, seed=3)
    sp = S.extract_spikes(rec.data, rec.fs)
    assert sp.waveforms.shape[1:] == (48, 1) and sp.window == 48 and sp.pre == 16
    sc = S.detection_scores(sp.times, truth.times, truth.units, tolerance=12)
    assert sc["precision"] > 0.97 and sc["recall"] > 0.9, sc
    # aligned on the negative peak
    assert np.mean(np.argmin(sp.waveforms[:, :, 0], axis=1) == sp.pre) > 0.99


def test_groups_of_four_channels_and_windows():
    rec, truth = synthetic_extracellular(duration_s=10, fs=24000.0, n_units=4, n_channels=8, noise_uv=5.0, seed=4)
    sp = S.extract_spikes(rec.data, rec.fs, group_size=4)
    assert sp.waveforms.shape[1:] == (64, 4) and len(sp.groups) == 2
    assert set(np.unique(sp.group)) <= {0, 1}
    assert S.default_window(24000) == 64 and S.default_window(30000) == 48
    g = S.channel_groups(6, 4)
    assert [list(x) for x in g] == [[0, 1, 2, 3], [2, 3, 4, 5]]


def test_spikeinterface_ground_truth():
    from neurocodec.signals.spikeinterface_gt import si_ground_truth, spikes_from_si

    gt = si_ground_truth(duration_s=8, noise_level=5.0, seed=7)
    sp = spikes_from_si(gt)
    assert sp.waveforms.shape[1:] == (64, 4)
    sc = S.detection_scores(sp.times, gt.times, gt.units, tolerance=12)
    assert sc["precision"] > 0.85 and sc["recall"] > 0.75, sc
    assert np.count_nonzero(sp.labels >= 0) == sc["tp"]


def test_bad_inputs():
    x = np.zeros((1, 1000))
    x[0, 10] = np.nan
    with pytest.raises(RecordingError):
        S.bandpass(x, 30000)
    with pytest.raises(RecordingError):
        S.detect_spikes(np.random.default_rng(0).normal(size=(1, 1000)), 30000, threshold=0)
    with pytest.raises(RecordingError):
        S.detect_spikes(np.zeros((1, 1000)), 30000)  # zero noise
    with pytest.raises(RecordingError):
        S.cut_windows(np.zeros((1, 100)), [95], 48, 16)
    with pytest.raises(RecordingError):
        S.channel_groups(3, 4)
    with pytest.raises(RecordingError):
        S.extract_spikes(np.zeros((1, 1000)), -5)
