"""Segmentation, train/validation split, resampling and min-max scaling."""
import json

import numpy as np
import pytest

from neurocodec.signals import (MinMaxScaling, RecordingError, apply_scaling, fit_minmax,
                                invert_scaling, resample, segment, train_val_split)


def test_segment_1d_contiguous_drops_tail():
    x = np.arange(10.0)
    s = segment(x, length=3)
    assert s.shape == (3, 3)
    np.testing.assert_array_equal(s, [[0, 1, 2], [3, 4, 5], [6, 7, 8]])


def test_segment_2d_channel_major_and_hop():
    x = np.vstack([np.arange(8.0), 100 + np.arange(8.0)])
    s = segment(x, length=4)
    np.testing.assert_array_equal(s, [[0, 1, 2, 3], [4, 5, 6, 7],
                                      [100, 101, 102, 103], [104, 105, 106, 107]])
    o = segment(x, length=4, hop=2)
    assert o.shape == (6, 4)
    np.testing.assert_array_equal(o[:3, 0], [0, 2, 4])
    np.testing.assert_array_equal(o[3:, 0], [100, 102, 104])


def test_segment_too_short_and_bad_args():
    with pytest.raises(RecordingError, match="shorter than one window"):
        segment(np.zeros(100), length=1024)
    with pytest.raises(RecordingError, match="length and hop"):
        segment(np.zeros(100), length=10, hop=0)
    with pytest.raises(RecordingError, match="NaN"):
        segment(np.array([0.0, np.nan, 1.0]), length=1)


def test_split_per_channel_contiguous_no_overlap():
    x = np.vstack([np.arange(100.0), 1000 + np.arange(100.0)])
    segs = segment(x, length=10)  # 10 windows per channel
    tr_idx, va_idx = train_val_split(segs, 0.2, n_channels=2, return_indices=True)
    np.testing.assert_array_equal(tr_idx, [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17])
    np.testing.assert_array_equal(va_idx, [8, 9, 18, 19])
    train, val = train_val_split(segs, 0.2, n_channels=2)
    assert not set(train.ravel()) & set(val.ravel())
    # validation of each channel comes strictly after its training data in time
    assert val[:2].min() > train[:8].max() and val[2:].min() > train[8:].max()


def test_split_gap_prevents_overlap_leakage():
    x = np.arange(100.0)
    segs = segment(x, length=10, hop=5)  # 19 overlapping windows
    train, val = train_val_split(segs, 0.2, gap=1)
    assert train.max() < val.min()
    train0, val0 = train_val_split(segs, 0.2)
    assert train0.max() >= val0.min()  # without gap the boundary windows share samples


def test_split_errors():
    with pytest.raises(RecordingError, match="cannot be split into 2 channel blocks"):
        train_val_split(np.zeros((5, 4)), 0.2, n_channels=2)
    with pytest.raises(RecordingError, match="too few segments"):
        train_val_split(np.zeros((1, 4)), 0.2)
    with pytest.raises(RecordingError, match="val_fraction"):
        train_val_split(np.zeros((10, 4)), 1.0)


def test_resample_sine():
    fs_in, fs_out = 360.0, 1000.0
    t_in = np.arange(3600) / fs_in
    y = resample(np.sin(2 * np.pi * 5 * t_in), fs_in, fs_out)
    assert y.shape == (10000,)
    t_out = np.arange(10000) / fs_out
    np.testing.assert_allclose(y[500:-500], np.sin(2 * np.pi * 5 * t_out)[500:-500], atol=1e-3)
    assert resample(np.ones((2, 30)), 15000, 5000).shape == (2, 10)
    with pytest.raises(RecordingError, match="must be positive"):
        resample(np.ones(10), -1, 5)


def test_minmax_roundtrip_and_range():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 1000)) * [[1], [50], [0.01]] + [[0], [2000], [-3]]
    s = fit_minmax(x)
    xn = apply_scaling(x, s)
    assert xn.min() == 0.0 and xn.max() == 1.0
    np.testing.assert_array_equal(xn.min(axis=1), 0.0)
    np.testing.assert_array_equal(xn.max(axis=1), 1.0)
    np.testing.assert_allclose(invert_scaling(xn, s), x, rtol=0, atol=1e-12)


def test_minmax_known_values_clip_and_json():
    s = fit_minmax(np.array([[0.0, 2.0, 4.0], [10.0, 20.0, 30.0]]))
    np.testing.assert_array_equal(s.minimum, [0, 10])
    np.testing.assert_array_equal(s.maximum, [4, 30])
    new = np.array([[-4.0, 1.0, 8.0], [15.0, 40.0, 10.0]])
    np.testing.assert_allclose(apply_scaling(new, s), [[0, 0.25, 1], [0.25, 1, 0]])
    np.testing.assert_allclose(apply_scaling(new, s, clip=False), [[-1, 0.25, 2], [0.25, 1.5, 0]])
    back = MinMaxScaling.from_dict(json.loads(json.dumps(s.to_dict())))
    np.testing.assert_array_equal(back.minimum, s.minimum)
    np.testing.assert_array_equal(back.maximum, s.maximum)


def test_minmax_global_and_1d():
    s = fit_minmax(np.array([[0.0, 1.0], [3.0, 4.0]]), axis=None)
    np.testing.assert_allclose(apply_scaling(np.array([[0.0, 1.0], [3.0, 4.0]]), s),
                               [[0, 0.25], [0.75, 1]])
    s1 = fit_minmax(np.array([2.0, 4.0, 6.0]))
    np.testing.assert_allclose(invert_scaling(np.array([0.5]), s1), [4.0])


def test_minmax_errors():
    x = np.vstack([np.arange(5.0), np.arange(5.0), np.full(5, 3.0)])
    with pytest.raises(ValueError, match="channel 2 is constant"):
        fit_minmax(x)
    s = fit_minmax(np.ones((2, 3)) * [[0], [1]] + np.arange(3))
    with pytest.raises(ValueError, match="2 channels but data has shape"):
        apply_scaling(np.zeros((3, 4)), s)
