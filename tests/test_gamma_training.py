"""gamma_cnn training protocol: loss falls, gamma_cnn > linear, shuffled control ~0, quantized
R^2 within 0.02 of float, CLI writes a complete model folder."""
import json

import numpy as np
import pytest

import neurocodec  # noqa: F401
from neurocodec.signals.emg_synthetic import SyntheticConfig, synthetic_dataset
from neurocodec.train import gamma_cnn as G
from neurocodec.train import gamma_training as T

T.set_threads(1)
QUICK = T.TrainConfig(epochs=40, restarts=1, eval_every=5, learning_rate=1e-2)


@pytest.fixture(scope="module")
def small_data():
    cfg = SyntheticConfig(n_sessions=2, trials_per_session=15, n_channels=8, n_latents=3, fs_neural=1000.0, seed=1)
    return synthetic_dataset(cfg)


def _spec(kind):
    return G.DecoderSpec(kind=kind, n_channels=8, n_sessions=2, feature_units=(8, 6, 6))


def test_metrics():
    y = np.random.default_rng(0).standard_normal((3, 200))
    assert T.scores(y, y, 100) == {"r2": 1.0, "r": pytest.approx(1.0)}
    s = T.scores(y, np.zeros_like(y) + y[:, 100:].mean(), 100)
    assert s["r2"] == pytest.approx(0.0, abs=1e-12) and s["r"] == 0.0
    # the warm-up is not scored
    p = y.copy()
    p[:, :100] = 1e6
    assert T.scores(y, p, 100)["r2"] == 1.0


def test_short_training_loss_falls(small_data):
    d, split, _ = T.prepare(small_data)
    cfg = T.TrainConfig(epochs=12, restarts=1, eval_every=1, learning_rate=1e-2)
    run = T.run_protocol(_spec("gamma_cnn"), d, split, cfg, log=lambda *a: None)
    loss = run["history"][0]["loss"]
    assert len(loss) == 12 and loss[-1] < 0.6 * loss[0]


def test_gamma_beats_linear_shuffled_near_zero_quantized_close(small_data):
    d, split, _ = T.prepare(small_data)
    gamma = T.run_protocol(_spec("gamma_cnn"), d, split, QUICK, log=lambda *a: None)
    linear = T.run_protocol(_spec("linear"), d, split, QUICK, log=lambda *a: None)
    ds_sh, split_sh, _ = T.prepare(T.time_shuffled(small_data, seed=0))
    shuffled = T.run_protocol(_spec("gamma_cnn"), ds_sh, split_sh, QUICK, log=lambda *a: None)
    g, lin, sh = gamma["scores"], linear["scores"], shuffled["scores"]
    assert g["r2"] > lin["r2"] + 0.1, (g, lin)
    assert g["r"] > lin["r"]
    assert abs(sh["r2"]) < 0.15 and abs(sh["r"]) < 0.15, sh
    q = T.quantized_scores(gamma, _spec("gamma_cnn"), d, split)
    assert abs(q["r2"] - g["r2"]) < 0.02, (q, g)


def test_time_shuffle_keeps_values_per_session(small_data):
    sh = T.time_shuffled(small_data, seed=0)
    for s in range(2):
        a = np.sort(small_data.x[small_data.session == s].reshape(-1, 8), axis=0)
        b = np.sort(sh.x[sh.session == s].reshape(-1, 8), axis=0)
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(sh.x, small_data.x)
    np.testing.assert_array_equal(sh.y, small_data.y)


def test_cli_writes_model_folder(tmp_path):
    out = tmp_path / "m"
    rc = T.main(["--sessions", "2", "--trials", "5", "--epochs", "2", "--restarts", "1", "--out", str(out),
                 "--kind", "linear"])
    assert rc == 0
    for f in ("config.json", "weights.h5", "metrics.json", "history.json", "int_decoder.json",
              "test_vectors.npz", "prediction.png"):
        assert (out / f).is_file(), f
    m = json.loads((out / "metrics.json").read_text())
    assert set(m) == {"float", "quantized"}
    model, spec, cfg = T.load_trained(out)
    assert spec.kind == "linear" and cfg["family"] == "gamma_cnn"
    dec = G.load_int_decoder(out)
    with np.load(out / "test_vectors.npz") as z:
        np.testing.assert_array_equal(G.run_int(z["input_codes"], dec), z["output_codes"])
    assert not (tmp_path / "m.tmp").exists()


def test_cli_rejects_bad_data(tmp_path):
    with pytest.raises(ValueError, match="file not found"):
        T.main(["--sessions", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()


def test_cli_trains_on_paired_files(tmp_path):
    from neurocodec.signals.emg_synthetic import generate_recordings
    from neurocodec.signals.paired_data import save_paired_npz

    cfg = SyntheticConfig(n_sessions=2, trials_per_session=5, n_channels=4, n_latents=2, fs_neural=1000.0, seed=5)
    for rec in generate_recordings(cfg):
        save_paired_npz(rec, tmp_path / "data" / f"{rec.session}.npz")
    out = tmp_path / "m"
    assert T.main(["--sessions", str(tmp_path / "data"), "--epochs", "1", "--restarts", "1", "--out", str(out)]) == 0
    cfg_saved = json.loads((out / "config.json").read_text())
    assert cfg_saved["data"] == "paired_files" and cfg_saved["spec"]["n_channels"] == 4
    assert cfg_saved["session_names"] == ["synthetic_s0", "synthetic_s1"]
