"""vq_cae model: short training, integer reference bit-exact with QKeras, model folder, errors."""
import json

import numpy as np
import pytest

import neurocodec  # noqa: F401
from neurocodec.quantize import vq_reference as R
from neurocodec.train.vq_cae import VqCaeConfigError, VqCaeSpec, build_hw_encoder
from neurocodec.train import vq_training as T

SPEC = VqCaeSpec(window=32, channels=2, filters=8, n_down=2, latent_dim=4, num_codes=16, decoder_filters=16)


def _windows(n, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(32)
    amp = rng.uniform(0.2, 0.8, (n, 1, 2))
    width = rng.uniform(1.0, 3.0, (n, 1, 1))
    x = -amp * np.exp(-0.5 * ((t[None, :, None] - 10) / width) ** 2) + rng.normal(0, 0.02, (n, 32, 2))
    return np.clip(x, -1, 0.99).astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    T._init_threads()
    xt, xv = _windows(1500, 0), _windows(300, 1)
    models, hist = T.train_vq_cae(SPEC, xt, xv, T.TrainConfig(epochs=4, warmup_epochs=2, batch_size=128))
    out = T.save_model(tmp_path_factory.mktemp("m") / "vq_tiny", models, SPEC, 256.0, {"family": "test"},
                       hist, {}, xv)
    return models, hist, out, xv


def test_training_loss_falls(trained):
    _, hist, _, xv = trained
    assert hist["warmup_loss"][-1] < 0.5 * hist["warmup_loss"][0]
    assert hist["loss"][-1] < hist["loss"][0]
    models = trained[0]
    idx, rec = T.reconstruct(models, xv)
    nsr = np.sum((xv - rec) ** 2) / np.sum(xv ** 2)
    assert nsr < 0.3 and idx.shape == (len(xv), SPEC.latent_length)


def test_integer_reference_bit_exact_with_qkeras(trained):
    models, _, _, _ = trained
    enc, vq = models["encoder"], models["vq"]
    ie = R.extract_int_vq_encoder(enc, vq, SPEC)
    x = np.concatenate([_windows(3000, 5), np.random.default_rng(6).uniform(-1, 1, (500, 32, 2))])
    codes = R.quantize_input(x, ie)
    xq = (codes / 2.0**ie.input_frac).astype(np.float32)
    z_k = enc.predict(xq, verbose=0) * 2.0**ie.latent_frac
    z_i, idx_i = R.encode_int(codes, ie)
    assert np.array_equal(z_k, z_i)
    hw = build_hw_encoder(enc, ie.codebook, SPEC, with_argmin=False)
    s_k = hw.predict(xq, verbose=0) * 2.0 ** (2 * ie.code_frac)
    assert np.array_equal(s_k, R.scores_int(z_i, ie))
    idx_k = build_hw_encoder(enc, ie.codebook, SPEC).predict(xq, verbose=0)
    assert np.array_equal(idx_k, idx_i)
    # the training graph picks the same codewords
    import tensorflow as tf

    assert np.array_equal(vq.nearest(tf.constant(z_k / 2.0**ie.latent_frac)).numpy(), idx_i)


def test_model_folder_roundtrip(trained):
    models, _, out, xv = trained
    for f in ("config.json", "weights.h5", "history.json", "metrics.json", "int_encoder.json", "test_vectors.npz"):
        assert (out / f).is_file(), f
    m2, spec2, cfg = T.load_model(out)
    assert spec2 == SPEC and cfg["scale_uv"] == 256.0
    ie = R.IntVqEncoder.from_dict(json.loads((out / "int_encoder.json").read_text()))
    with np.load(out / "test_vectors.npz") as z:
        _, idx = R.encode_int(z["input_codes"], ie)
        assert np.array_equal(idx, z["indices"])
    i1, _ = T.reconstruct(models, xv[:50])
    i2, _ = T.reconstruct(m2, xv[:50])
    assert np.array_equal(i1, i2)


def test_bad_inputs(tmp_path):
    with pytest.raises(VqCaeConfigError):
        VqCaeSpec(window=64, n_down=9)
    with pytest.raises(VqCaeConfigError):
        VqCaeSpec(num_codes=1)
    with pytest.raises(T.VqTrainingError):
        T.train_vq_cae(SPEC, np.zeros((10, 16, 2)), np.zeros((10, 32, 2)))
    with pytest.raises(T.VqTrainingError):
        T.load_model(tmp_path)
    ie_like = R.IntVqEncoder(12, 11, 32, 2)
    with pytest.raises(R.VqReferenceError):
        R.quantize_input(np.zeros((3, 16, 2)), ie_like)
    with pytest.raises(R.VqReferenceError):
        R.encoder_int(np.full((1, 32, 2), 5000), ie_like)


TSPEC = VqCaeSpec(window=32, channels=2, latent_dim=4, split=3, num_codes=16, decoder_filters=16, stages=2,
                  encoder="transform")


def test_transform_encoder_starts_at_pca_and_is_bit_exact():
    """The full-window transform encoder with a split latent: PCA start (encoder + linear decoder
    path reproduce PCA with D * split components), integer reference bit-exact with QKeras on
    thousands of windows (latent, scores, indices), residual search consistent with the graph."""
    import tensorflow as tf

    from neurocodec.train.vq_cae import build_vq_cae, init_transform_from_pca

    T._init_threads()
    xt = _windows(2000, 11)
    auto, enc, vq, dec = build_vq_cae(TSPEC)
    init_transform_from_pca(enc, dec, xt, TSPEC)
    vq.set_active(False)
    xv = _windows(400, 12)
    flat = xt.reshape(len(xt), -1).astype(np.float64)
    mean = flat.mean(0)
    comps = np.linalg.svd(flat - mean, full_matrices=False)[2][: TSPEC.latent_dim * TSPEC.split]
    fv = xv.reshape(len(xv), -1)
    pca = ((fv - mean) @ comps.T) @ comps + mean
    rec = auto.predict(xv, verbose=0).reshape(len(xv), -1)
    err_pca, err = np.sum((fv - pca) ** 2), np.sum((fv - rec) ** 2)
    assert err < 1.05 * err_pca  # only the 8-bit weights and the 2**-5 latent grid differ from PCA
    assert TSPEC.latent_length == 3 and enc.output_shape[1:] == (3, 4)

    ie = R.extract_int_vq_encoder(enc, vq, TSPEC)
    assert ie.split == 3 and R.IntVqEncoder.from_dict(ie.to_dict()).split == 3
    x = np.concatenate([_windows(3000, 13), np.random.default_rng(14).uniform(-1, 1, (500, 32, 2))])
    codes = R.quantize_input(x, ie)
    xq = (codes / 2.0**ie.input_frac).astype(np.float32)
    z_k = enc.predict(xq, verbose=0) * 2.0**ie.latent_frac
    z_i, idx_i = R.encode_int(codes, ie)
    assert z_i.shape == (len(x), 3, 4) and np.array_equal(z_k, z_i)
    idx_k = build_hw_encoder(enc, ie.codebook, TSPEC).predict(xq, verbose=0)
    assert np.array_equal(idx_k, idx_i)
    _, idx_r = R.encode_int_rvq(codes, ie)
    assert np.array_equal(idx_r[:, 0], idx_i)
    vq.set_active(True)
    assert np.array_equal(vq.nearest(tf.constant(z_k / 2.0**ie.latent_frac)).numpy(), idx_i)
    cost = R.encoder_cost(ie)
    assert cost["macs_encoder"] == 32 * 2 * 12 and cost["latent_length"] == 3


def test_transform_spec_errors():
    with pytest.raises(VqCaeConfigError):
        VqCaeSpec(encoder="dense")
    with pytest.raises(VqCaeConfigError):
        VqCaeSpec(split=0)
    assert VqCaeSpec.from_dict({k: v for k, v in SPEC.to_dict().items() if k not in ("encoder", "split")}) == SPEC
