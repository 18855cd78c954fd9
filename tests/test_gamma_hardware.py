"""gamma_cnn hardware form: QKeras fixed-point model == integer reference == hls4ml C simulation."""
import shutil

import numpy as np
import pytest

import neurocodec  # noqa: F401
from neurocodec.train import gamma_cnn as G


def _decoder(spec, seed=0, session=1):
    from neurocodec.train.backend import set_seed

    set_seed(seed)
    model = G.build_decoder(spec)
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((16, 200, spec.n_channels)) * 1.5).astype(np.float32)
    layers = G.float_layers(model, spec, session)
    return model, layers, x


@pytest.mark.parametrize("kind", ["gamma_cnn", "linear"])
def test_quantized_model_bit_exact_vs_reference(kind):
    spec = G.DecoderSpec(kind=kind, n_channels=27, n_sessions=2)
    model, layers, x = _decoder(spec)
    dec = G.quantize_decoder(layers, x[:8], session=1)
    assert all(L.worst_case_sum() < 2**24 for L in dec.layers)  # float32 accumulation is exact
    codes = G.quantize_input_codes(x, dec)
    ref = G.run_int(codes, dec)
    qmodel = G.build_quantized_model(dec, x.shape[1])
    y = qmodel.predict(codes / 2.0**dec.input_frac, verbose=0)
    assert ref.size >= 1000
    np.testing.assert_array_equal(y * 2.0**dec.output_frac, ref)
    # fixed point follows the float decoder closely
    yf = G.run_float_layers(layers, x)
    err = np.abs(ref / 2.0**dec.output_frac - yf).max()
    assert err < 0.02 * np.abs(yf).max() + 1e-3
    # streaming (overlap-save, causal) == whole-window processing
    np.testing.assert_array_equal(G.stream_int(codes[0], dec, chunk=17), ref[0])
    # serialisation round trip
    dec2 = G.IntDecoder.from_dict(dec.to_dict())
    np.testing.assert_array_equal(G.run_int(codes[:2], dec2), ref[:2])


def test_reference_rejects_bad_codes():
    spec = G.DecoderSpec(n_channels=4, n_sessions=1, feature_units=(3, 3, 2), temporal_units=(2, 2, 1))
    _, layers, x = _decoder(spec, session=0)
    dec = G.quantize_decoder(layers, x)
    codes = G.quantize_input_codes(x, dec)
    with pytest.raises(ValueError, match="input codes"):
        G.run_int(codes[..., :3], dec)
    with pytest.raises(ValueError, match="outside"):
        G.run_int(codes + 10_000, dec)
    with pytest.raises(ValueError, match="integers"):
        G.run_int(codes.astype(float), dec)


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ for the hls4ml C simulation")
def test_hls_csim_bit_exact(tmp_path):
    spec = G.DecoderSpec(n_channels=5, n_sessions=2, feature_units=(4, 4, 3), temporal_units=(3, 2, 1))
    _, layers, x = _decoder(spec, seed=3)
    x = x[:12, :100]
    dec = G.quantize_decoder(layers, x, session=1)
    codes = G.quantize_input_codes(x, dec)
    from neurocodec.hls.csim import compile_csim, csim_compare
    from neurocodec.hls.flow import convert_model

    hls_model = convert_model(G.build_quantized_model(dec, x.shape[1]), tmp_path / "hls", io_type="io_stream")
    compile_csim(hls_model)
    from neurocodec.quantize.reference import IntReference

    assert isinstance(dec, IntReference) and np.array_equal(dec.run(codes), G.run_int(codes, dec))
    res = csim_compare(hls_model, codes, dec)  # dec is the IntReference: dec.run == run_int
    assert res["n_outputs"] >= 1000
    assert res["bit_exact"], res
