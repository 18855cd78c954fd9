"""Reconstruction metrics and threshold-crossing analysis, checked against hand computations."""
import numpy as np
import pytest

from neurocodec.metrics import (DEFAULT_THRESHOLDS, correlation, crossing_analysis, mse,
                                sndr_db, snr_db, summarize_crossings)

X = np.array([1.0, 2.0, 3.0, 4.0])
Y = np.array([1.0, 2.0, 3.0, 5.0])


def test_hand_values():
    assert mse(X, Y) == pytest.approx(0.25)
    assert snr_db(X, Y) == pytest.approx(10 * np.log10(1.25 / 0.25))
    assert snr_db(X, Y) == pytest.approx(6.98970004, abs=1e-8)
    assert sndr_db(X, Y) == pytest.approx(20 * np.log10(np.sqrt(30.0) / 1.0))  # 14.7712 dB
    assert sndr_db(X, Y) == pytest.approx(14.7712125, abs=1e-6)
    # dx.dy = 6.5, |dx|^2 = 5, |dy|^2 = 8.75
    assert correlation(X, Y) == pytest.approx(6.5 / np.sqrt(5 * 8.75))


def test_rows():
    x2 = np.vstack([X, [0.0, 0.0, 2.0, 2.0]])
    y2 = np.vstack([Y, [0.0, 1.0, 2.0, 2.0]])
    np.testing.assert_allclose(sndr_db(x2, y2), [20 * np.log10(np.sqrt(30)), 20 * np.log10(np.sqrt(8))])
    np.testing.assert_allclose(mse(x2, y2, axis=-1), [0.25, 0.25])
    assert mse(x2, y2) == pytest.approx(0.25)
    np.testing.assert_allclose(snr_db(x2, y2, axis=-1), [10 * np.log10(5), 10 * np.log10(4)])
    r = correlation(x2, y2)
    assert r.shape == (2,) and r[1] == pytest.approx(np.corrcoef(x2[1], y2[1])[0, 1])


def test_perfect_reconstruction_is_inf():
    assert snr_db(X, X) == np.inf and sndr_db(X, X) == np.inf
    assert mse(X, X) == 0.0 and correlation(X, X) == pytest.approx(1.0)
    np.testing.assert_array_equal(sndr_db(np.vstack([X, X]), np.vstack([X, Y])) == np.inf, [True, False])


def test_metric_errors():
    with pytest.raises(ValueError, match="shape mismatch"):
        mse(X, X[:3])
    with pytest.raises(ValueError, match="contains 1 NaN"):
        snr_db(X, np.array([1.0, np.nan, 3.0, 4.0]))
    with pytest.raises(ValueError, match="empty"):
        sndr_db(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="Inf"):
        correlation(np.array([1.0, np.inf]), np.array([1.0, 2.0]))


def test_default_thresholds():
    assert len(DEFAULT_THRESHOLDS) == 18 and 0.5 not in DEFAULT_THRESHOLDS
    assert DEFAULT_THRESHOLDS[0] == 0.05 and DEFAULT_THRESHOLDS[-1] == 0.95
    assert 0.15 in DEFAULT_THRESHOLDS and 0.7 in DEFAULT_THRESHOLDS  # no float drift


def test_crossings_by_hand():
    #             0    1    2    3    4    5    6
    orig = [0.1, 0.8, 0.2, 0.9, 0.9, 0.1, 0.75]
    dec = [0.1, 0.8, 0.2, 0.2, 0.9, 0.1, 0.6]
    # t=0.7 rising: orig at 1, 3, 6; decoded at 1, 4 (index 4 is orig's 3 shifted by one)
    # t=0.3 falling: orig at 2, 5; decoded at 2, 5
    rows = crossing_analysis(orig, dec, thresholds=[0.3, 0.7])
    assert rows[0] == {"threshold": 0.3, "crossings_original": 2, "crossings_decoded": 2,
                       "preserved": 2, "preserved_pct": 100.0}
    assert rows[1]["crossings_original"] == 3 and rows[1]["crossings_decoded"] == 2
    assert rows[1]["preserved"] == 1
    assert rows[1]["preserved_pct"] == pytest.approx(100 / 3)
    assert summarize_crossings(rows) == pytest.approx(100 * 3 / 5)


def test_crossing_boundaries_and_direction():
    # rising at t: x[i-1] < t <= x[i]; touching t from below counts, staying at t does not
    rows = crossing_analysis([0.6, 0.7, 0.7, 0.65, 0.7], [0.6, 0.6, 0.6, 0.6, 0.6], [0.7])
    assert rows[0]["crossings_original"] == 2 and rows[0]["preserved"] == 0
    # a falling edge through 0.7 and a rising edge through 0.3 are not counted
    rows = crossing_analysis([0.9, 0.1, 0.9], [0.9, 0.1, 0.9], [0.3, 0.7])
    assert [r["crossings_original"] for r in rows] == [1, 1]


def test_crossings_within_rows_only():
    seg = np.array([[0.1, 0.2, 0.9], [0.95, 0.5, 0.2]])
    rows = crossing_analysis(seg, seg, [0.3, 0.92])
    assert rows[0]["crossings_original"] == 1  # row 1: 0.5 -> 0.2 falls through 0.3
    assert rows[1]["crossings_original"] == 0  # 0.9 (row 0 end) -> 0.95 (row 1 start) ignored
    flat = crossing_analysis(seg.ravel(), seg.ravel(), [0.92])
    assert flat[0]["crossings_original"] == 1


def test_crossings_no_crossings_and_errors():
    rows = crossing_analysis(np.full(5, 0.2), np.full(5, 0.2), [0.7])
    assert np.isnan(rows[0]["preserved_pct"]) and np.isnan(summarize_crossings(rows))
    with pytest.raises(ValueError, match="!= 0.5"):
        crossing_analysis(X / 5, X / 5, [0.5])
    with pytest.raises(ValueError, match="shape mismatch"):
        crossing_analysis(np.zeros(4), np.zeros(5))
    assert len(crossing_analysis(np.linspace(0, 1, 50), np.linspace(0, 1, 50))) == 18
