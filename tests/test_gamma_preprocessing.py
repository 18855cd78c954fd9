"""gamma_cnn pre-processing, paired-data format, split and synthetic generator."""
import numpy as np
import pytest

from neurocodec.signals import envelopes as E
from neurocodec.signals.emg_synthetic import SyntheticConfig, generate_recordings, synthetic_dataset
from neurocodec.signals.errors import RecordingError
from neurocodec.signals.paired_data import (PairedDataset, PairedRecording, build_dataset,
                                            fit_normalization, load_paired_dir, load_paired_npz,
                                            save_paired_npz, split_groups_of_five)


@pytest.mark.parametrize("causal", [True, False])
def test_envelope_of_sinusoid_is_its_rms(causal):
    fs, A = 10000.0, 3.0
    t = np.arange(int(2 * fs)) / fs
    x = A * np.sin(2 * np.pi * 1000 * t) + 5.0 * np.sin(2 * np.pi * 2 * t)  # slow drift is removed
    env = E.neural_envelope(x, fs, causal=causal)
    assert env.shape == (200,)
    steady = env[50:150]
    np.testing.assert_allclose(steady, A / np.sqrt(2), rtol=0.02)


def test_emg_envelope_of_constant_amplitude_noise():
    rng = np.random.default_rng(0)
    fs = 2000.0
    emg = 2.0 * rng.standard_normal(int(20 * fs))
    env = E.emg_envelope(emg, fs, lowpass_hz=2.0, highpass_hz=None)
    assert env.shape == (2000,)
    assert abs(env[500:].mean() - 2.0 * np.sqrt(2 / np.pi)) < 0.05


def _impulse_response_onset(fn, n, t_change):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, n))
    y1 = fn(x)
    x2 = x.copy()
    x2[:, t_change:] += 10 * rng.standard_normal((2, n - t_change))
    return y1, fn(x2)


@pytest.mark.parametrize("which", ["neural", "emg"])
def test_preprocessing_is_causal(which):
    fs = 2000.0
    n, t_change = 8000, 4321
    fn = (lambda x: E.neural_envelope(x, fs)) if which == "neural" else (lambda x: E.emg_envelope(x, fs, 3.0))
    y1, y2 = _impulse_response_onset(fn, n, t_change)
    k_last = int(np.floor((t_change - 1) / fs * 100))  # last 100 Hz sample before the change
    # FFT smoothing: identical up to rounding (1e-14) before the change, different after it
    np.testing.assert_allclose(y1[:, : k_last + 1], y2[:, : k_last + 1], rtol=0, atol=1e-9)
    assert np.all(np.abs(y1[:, k_last + 5 :] - y2[:, k_last + 5 :]).max(axis=1) > 1e-3)


def test_downsample_non_integer_ratio_and_errors():
    x = np.arange(1000.0)
    y = E.downsample(x, 2441.4, 100.0)
    assert y[0] == 0 and np.all(np.diff(y) > 0)
    assert np.all(y / 2441.4 <= np.arange(len(y)) / 100.0 + 1e-9)
    with pytest.raises(RecordingError, match="higher rate"):
        E.downsample(x, 50.0, 100.0)


def test_bad_inputs_raise():
    x = np.random.default_rng(0).standard_normal((2, 4000))
    x[1, 7] = np.nan
    with pytest.raises(RecordingError, match="NaN"):
        E.neural_envelope(x, 2000.0)
    with pytest.raises(RecordingError, match="cut-off"):
        E.emg_envelope(np.ones(4000), 2000.0, lowpass_hz=60.0)
    with pytest.raises(RecordingError, match="positive"):
        E.neural_envelope(np.ones(100), -1)


def test_trials_and_loss_mask():
    env = np.random.default_rng(0).random((3, 1234))
    tr = E.cut_trials(env)
    assert tr.shape == (3, 400, 3)
    np.testing.assert_allclose(tr[1, :, 2], env[2, 400:800], rtol=1e-6)
    m = E.loss_mask(400)
    assert m[:100].sum() == 0 and np.all(m[100:] == 1)
    with pytest.raises(RecordingError, match="outside"):
        E.cut_trials(env, starts_s=[0.0, 10.0])
    with pytest.raises(RecordingError, match="warm-up"):
        E.loss_mask(50)


def _small_cfg(**kw):
    base = dict(n_sessions=2, trials_per_session=10, n_channels=6, n_latents=3, fs_neural=1000.0, seed=3)
    base.update(kw)
    return SyntheticConfig(**base)


def test_paired_format_roundtrip_and_dataset(tmp_path):
    recs = generate_recordings(_small_cfg())
    for r in recs:
        save_paired_npz(r, tmp_path / f"{r.session}.npz")
    loaded = load_paired_dir(tmp_path)
    assert [r.session for r in loaded] == [r.session for r in recs]
    np.testing.assert_array_equal(loaded[0].neural, recs[0].neural)
    ds = build_dataset(loaded)
    assert ds.x.shape == (20, 400, 6) and ds.y.shape == (20, 400)
    ds.save(tmp_path / "d.npz")
    ds2 = PairedDataset.load(tmp_path / "d.npz")
    np.testing.assert_array_equal(ds2.x, ds.x)
    # same generator through the one-session-at-a-time path
    ds3 = synthetic_dataset(_small_cfg())
    np.testing.assert_allclose(ds3.x, ds.x, rtol=1e-5, atol=1e-6)
    assert set(ds3.truth) >= {"activation", "latent0"}


def test_paired_loader_errors(tmp_path):
    np.savez(tmp_path / "bad.npz", neural=np.zeros((2, 10)))
    with pytest.raises(RecordingError, match="missing key"):
        load_paired_npz(tmp_path / "bad.npz")
    r = generate_recordings(_small_cfg(n_sessions=1))[0]
    r2 = PairedRecording(r.neural[:4], r.fs_neural, r.emg, r.fs_emg, "other")
    with pytest.raises(RecordingError, match="neural channels"):
        build_dataset([r, r2])
    neural = r.neural.copy()
    neural[0, 5] = np.nan
    with pytest.raises(RecordingError, match="NaN"):
        PairedRecording(neural, r.fs_neural, r.emg, r.fs_emg)


def test_split_groups_of_five_and_normalisation():
    ds = synthetic_dataset(_small_cfg(trials_per_session=12))
    sp = split_groups_of_five(ds, seed=0)
    assert len(sp["A"]) == len(sp["B"]) == 4 and len(sp["train"]) == 16
    assert not set(sp["A"]) & set(sp["B"]) and not set(sp["train"]) & set(sp["A"])
    for s in range(2):
        for g in range(2):  # every complete group of five: 3 train, 1 A, 1 B
            grp = set(np.flatnonzero((ds.session == s) & (ds.trial // 5 == g)))
            assert len(grp & set(sp["A"])) == 1 and len(grp & set(sp["B"])) == 1
    norm = fit_normalization(ds, sp["train"])
    d = norm.apply(ds)
    tr = d.subset(sp["train"])
    np.testing.assert_allclose(tr.x[:, 100:].reshape(-1, 6)[tr.session.repeat(300) == 0].mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(norm.y_to_raw(d.y[:3], d.session[:3]), ds.y[:3], rtol=1e-4, atol=1e-5)


def test_synthetic_emg_depends_on_neural_activity():
    ds = synthetic_dataset(_small_cfg(n_sessions=1))
    assert np.all(np.isfinite(ds.x)) and ds.x.min() >= 0
    lags = [0, 5, 10, 15, 20, 25]  # the neural activity leads the EMG
    X = np.concatenate([ds.x[:, 100 - lag : 400 - lag].reshape(-1, 6) for lag in lags]
                       + [np.ones((len(ds.x) * 300, 1))], axis=1)
    y = ds.y[:, 100:].ravel()
    r2_lin = 1 - (y - X @ np.linalg.lstsq(X, y, rcond=None)[0]).var() / y.var()
    X2 = np.concatenate([X, X[:, :-1] ** 2], axis=1)
    r2_quad = 1 - (y - X2 @ np.linalg.lstsq(X2, y, rcond=None)[0]).var() / y.var()
    assert r2_lin > 0.4  # a lagged linear fit explains much of the EMG ...
    assert r2_quad > r2_lin + 0.05  # ... and the relation is nonlinear
    # ground truth activation drives the EMG envelope
    assert np.corrcoef(ds.truth["activation"].ravel(), ds.y.ravel())[0, 1] > 0.7
