"""Baselines (metrics/baselines.py) reach the requested bit budget; sorting accuracy metrics."""
import numpy as np
import pytest

from neurocodec.metrics.baselines import BASELINES, BaselineError
from neurocodec.metrics.sorting import SortingError, sort_spikes, sorting_scores


def _spikes(n=600, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(64)
    units = rng.integers(0, 3, n)
    shapes = np.stack([-np.exp(-0.5 * ((t - 21) / w) ** 2) + 0.3 * np.exp(-0.5 * ((t - 30) / (3 * w)) ** 2)
                       for w in (1.5, 2.5, 4.0)])
    gains = np.array([[1.0, 0.6, 0.3, 0.1], [0.2, 1.0, 0.5, 0.2], [0.1, 0.3, 0.7, 1.0]])
    x = 100 * shapes[units][:, :, None] * gains[units][:, None, :] + rng.normal(0, 5, (n, 64, 4))
    return x, units


@pytest.mark.parametrize("name", ["PCA", "DWT", "CS"])
def test_baselines_reach_requested_cr(name):
    x, _ = _spikes(300)
    raw = x.size * 16
    for cr in (32, 128):
        target = raw / cr
        res = BASELINES[name]().fit(x[:300]).code(x, target)
        assert res.payload_bits <= target, (name, cr, res.payload_bits, target)
        assert res.payload_bits >= 0.8 * target, (name, cr, res.payload_bits, target)
        assert res.reconstruction.shape == x.shape and np.all(np.isfinite(res.reconstruction))
        err = np.sum((x - res.reconstruction) ** 2) / np.sum(x ** 2)
        assert err < (0.5 if cr == 32 else 1.0), (name, cr, err)


def test_baseline_bad_input():
    x, _ = _spikes(50)
    with pytest.raises(BaselineError):
        BASELINES["DWT"]().code(x, 10)  # below the side information
    with pytest.raises(BaselineError):
        BASELINES["PCA"]().fit(x).code(x[:, :32], 1000)
    bad = x.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(BaselineError):
        BASELINES["CS"]().code(bad, 5000)


def test_sorting_accuracy():
    x, units = _spikes(900, seed=1)
    cl = sort_spikes(x, 3)
    sc = sorting_scores(cl, units)
    assert sc["accuracy"] > 0.97 and sc["si_accuracy"] > 0.9
    perm = np.array([2, 0, 1])[units]  # cluster names do not matter
    assert sorting_scores(perm, units)["accuracy"] == 1.0
    labels = units.copy()
    labels[:10] = -1  # false detections: ignored by accuracy, fp for si_accuracy
    sc2 = sorting_scores(units, labels, n_true_per_unit=np.bincount(units) + 5)
    assert sc2["accuracy"] == 1.0 and sc2["si_accuracy"] < 1.0
    with pytest.raises(SortingError):
        sorting_scores(cl[:5], units)
    with pytest.raises(SortingError):
        sort_spikes(x[:2], 3)
