"""Multichannel autoencoder + WGAN-GP on small real excerpts (EEGLAB 32 ch, locust tetrode)."""
import numpy as np
import pytest

import neurocodec  # noqa: F401
from neurocodec.signals.errors import RecordingError
from neurocodec.train.lfp_ae import (
    build_lfp_data, export_encoder_tflite, load_lfp_ae, normalize_windows, save_lfp_ae, spec_for,
    train_lfp_ae, windows_from_array,
)
from neurocodec.train.lfp_gan import (
    FrechetEvaluator, GanConfig, build_critic, build_generator, gaussian_noise_windows,
    init_from_autoencoder, load_generator, sample, save_gan, train_wgan_gp,
)
from neurocodec.train.spectro_cae import limit_threads

limit_threads(1)


@pytest.fixture(scope="module")
def small():
    spec = spec_for("eeglab")
    data = build_lfp_data(spec, max_seconds=60)
    ae = train_lfp_ae(data, epochs=1, log=None)
    return spec, data, ae


def test_windows_split_and_per_window_normalization(small):
    spec, data, _ = small
    assert data.train.shape[1:] == (256, 32) and len(data.test) == 41
    for x in (data.train, data.val, data.test):
        np.testing.assert_allclose(x.mean(axis=1), 0.0, atol=1e-4)
        np.testing.assert_allclose(x.std(axis=(1, 2)), 1.0, rtol=1e-4)
    a, b, c, d = data.info["split_samples"]
    assert a == 0 < b < c < d == 60 * 128  # contiguous 70 / 10 / 20 %


def test_locust_excerpt_windows():
    spec = spec_for("locust")
    data = build_lfp_data(spec, max_seconds=2.0)
    assert data.train.shape[1:] == (256, 4)
    assert spec.latent_shape == (8, 16)


def test_autoencoder_and_int8_tflite(small, tmp_path):
    spec, data, ae = small
    assert np.isfinite(ae.metrics["val_mse"])
    assert ae.metrics["compression_ratio"] == 64
    assert ae.encoder.output_shape[1:] == spec.latent_shape
    blob, agreement = export_encoder_tflite(ae, data, n_calibration=32)
    assert agreement["size_bytes"] == len(blob) > 10_000
    # the float twin reproduces QKeras up to a few activation LSBs (2**-4) after 9 layers
    assert agreement["float_twin_vs_qkeras_max_abs"] < 1.0
    assert agreement["mean_abs_error_lsb"] < 3.0
    assert agreement["p99_abs_error_lsb"] <= 12
    assert agreement["correlation"] > 0.99
    save_lfp_ae(ae, tmp_path / "ae", data, blob)
    ae2 = load_lfp_ae(tmp_path / "ae")
    x = data.test[:3]
    np.testing.assert_array_equal(ae2.encoder.predict(x, verbose=0), ae.encoder.predict(x, verbose=0))
    assert (tmp_path / "ae" / "encoder_int8.tflite").stat().st_size == len(blob)


def test_pretrained_init_copies_decoder_encoder_and_latent_stats(small):
    from neurocodec.train.lfp_ae import latent_codes
    from neurocodec.train.spectro_cae import quantized_weights

    spec, data, ae = small
    gen_parts = build_generator(spec)
    critic, critic_encoder = build_critic(spec)
    init_from_autoencoder(ae, gen_parts, critic_encoder, data.train)
    _, affine, decoder = gen_parts
    for w_gen, w_ae in zip(decoder.get_weights(), ae.decoder.get_weights()):
        np.testing.assert_array_equal(w_gen, w_ae)
    np.testing.assert_array_equal(critic_encoder.get_layer("enc1_conv").get_weights()[0],
                                  quantized_weights(ae.encoder.get_layer("enc1_conv"))[0])
    z = latent_codes(ae.encoder, data.train)
    np.testing.assert_allclose(affine.get_weights()[0], z.mean(axis=0), atol=1e-5)


def test_wgan_gp_runs_with_and_without_pretraining(small, tmp_path):
    spec, data, ae = small
    evaluator = FrechetEvaluator(ae.encoder, data.test)
    cfg = GanConfig(steps=2, n_critic=2, batch_size=16, eval_every=2)
    for init in ("pretrained", "scratch"):
        res = train_wgan_gp(spec, data.train, init, ae, cfg, evaluator, log=None)
        assert [h["step"] for h in res.history["fd"]] == [0, 2]
        for h in res.history["fd"]:
            assert all(np.isfinite(h[k]) and h[k] >= 0 for k in FrechetEvaluator.KEYS)
        fake = sample(res.generator, 5, spec)
        assert fake.shape == (5, 256, 32)
        np.testing.assert_allclose(fake.std(axis=(1, 2)), 1.0, rtol=1e-2)  # normalized output
    save_gan(res, spec, tmp_path / "gan")
    spec2, gen2 = load_generator(tmp_path / "gan")
    z = np.random.default_rng(0).standard_normal((2, *spec.latent_shape)).astype(np.float32)
    np.testing.assert_allclose(gen2.predict(z, verbose=0), res.generator.predict(z, verbose=0),
                               atol=1e-6)
    noise_fd = evaluator(gaussian_noise_windows(len(data.test), spec))
    real_fd = evaluator(data.test)
    assert real_fd["spectra"] == pytest.approx(0.0, abs=1e-6)  # the reference set itself
    assert noise_fd["spectra"] > 1.0
    with pytest.raises(ValueError, match="needs the trained autoencoder"):
        train_wgan_gp(spec, data.train, "pretrained", None, cfg)


def test_bad_inputs_raise():
    spec = spec_for("eeglab")
    x = np.random.default_rng(0).standard_normal((32, 5000))
    bad = x.copy()
    bad[3, 10] = np.nan
    with pytest.raises(RecordingError, match="NaN"):
        windows_from_array(bad, 128.0, spec)
    with pytest.raises(RecordingError, match="too short"):
        windows_from_array(x[:, :600], 128.0, spec)
    with pytest.raises(RecordingError, match="channels"):
        windows_from_array(x[:4], 128.0, spec)
    with pytest.raises(RecordingError, match="Hz"):
        windows_from_array(x, 250.0, spec)
    with pytest.raises(RecordingError, match="constant"):
        normalize_windows(np.ones((2, 256, 32)))
    with pytest.raises(ValueError, match="unknown LFP data set"):
        spec_for("mitbih100")
