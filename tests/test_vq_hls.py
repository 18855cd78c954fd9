"""hls4ml C simulation of the vq_cae hardware encoder (encoder + codeword search, custom argmin
layer) bit-exact with the integer reference: identical codeword indices, lowest index on ties."""
import numpy as np

import neurocodec  # noqa: F401
from neurocodec.quantize import vq_reference as R
from neurocodec.train.vq_cae import VqCaeSpec, build_hw_encoder, build_vq_cae


def test_hls_csim_bit_exact_small_model(tmp_path):
    spec = VqCaeSpec(window=16, channels=2, filters=4, n_down=1, latent_dim=3, num_codes=8)
    _, enc, vq, _ = build_vq_cae(spec)
    rng = np.random.default_rng(0)
    for lay in enc.layers:  # large random weights: saturating paths are exercised too
        w = lay.get_weights()
        if w:
            lay.set_weights([rng.uniform(-1, 1, a.shape).astype(np.float32) * (0.9 if i == 0 else 0.5)
                             for i, a in enumerate(w)])
    x = rng.normal(0, 0.3, (3000, 16, 2)).clip(-1, 0.999)
    ie = R.extract_int_vq_encoder(enc, vq, spec)
    codes = R.quantize_input(x, ie)
    z = R.encoder_int(codes, ie).reshape(-1, 3)
    cb = z[rng.choice(len(z), 8, replace=False)] / 2.0**ie.latent_frac
    cb[5] = cb[2]  # duplicated codeword: every vector closest to it ties -> must pick 2, never 5
    vq.set_codebook(cb)
    ie = R.extract_int_vq_encoder(enc, vq, spec)
    hw = build_hw_encoder(enc, ie.codebook, spec)
    from neurocodec.hls.vq_cae import VqIndexReference
    from neurocodec.quantize.reference import IntReference

    assert isinstance(VqIndexReference(ie), IntReference)
    rep = R.hls_csim_check(hw, ie, codes, tmp_path / "vq_hls")
    assert rep["bit_exact"], rep.get("first_mismatch")
    assert rep["n_vectors"] == 3000
    _, idx = R.encode_int(codes, ie)
    assert np.count_nonzero(idx == 2) > 0 and np.count_nonzero(idx == 5) == 0
    assert (tmp_path / "vq_hls" / "firmware" / "nnet_utils" / "nnet_codeword_argmin.h").is_file()


def test_hls_main_rejects_missing_model(tmp_path, capsys):
    assert R.hls_main(["--model-dir", str(tmp_path / "nope")]) == 2
    assert "error" in capsys.readouterr().err


def test_hls_csim_bit_exact_transform_split(tmp_path):
    """The full-window transform encoder with a split latent (one conv with kernel = stride =
    window, then a reshape into sub-vectors) through the same flow: C simulation = reference."""
    spec = VqCaeSpec(window=16, channels=2, latent_dim=3, split=2, num_codes=8, encoder="transform")
    _, enc, vq, _ = build_vq_cae(spec)
    rng = np.random.default_rng(1)
    conv = enc.get_layer("latent_conv")
    conv.set_weights([rng.uniform(-1, 1, a.shape).astype(np.float32) * 0.5 for a in conv.get_weights()])
    x = rng.normal(0, 0.3, (3000, 16, 2)).clip(-1, 0.999)
    ie = R.extract_int_vq_encoder(enc, vq, spec)
    codes = R.quantize_input(x, ie)
    z = R.encoder_int(codes, ie)
    assert z.shape == (3000, 2, 3)
    vq.set_codebook(z.reshape(-1, 3)[rng.choice(6000, 8, replace=False)] / 2.0**ie.latent_frac)
    ie = R.extract_int_vq_encoder(enc, vq, spec)
    rep = R.hls_csim_check(build_hw_encoder(enc, ie.codebook, spec), ie, codes, tmp_path / "vq_hls_t")
    assert rep["bit_exact"], rep.get("first_mismatch")
    assert rep["n_vectors"] == 3000
