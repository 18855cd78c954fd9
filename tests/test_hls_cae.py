"""hls4ml project of a trained quantized cae: C simulation (g++) bit-exact with the integer reference.

One io_stream project is written and compiled through the CLI entry point (~5 s of g++); a second
one with large random weights checks the saturating paths. The sweep over every CR (and an
io_parallel build, ~100 s of g++ each) runs only with NEUROCODEC_HLS_SWEEP=1.
"""
import os
import re
import time

import numpy as np
import pytest

from neurocodec.hls.project import (
    UnsupportedModelError,
    build_hls_for_model_dir,
    compile_csim,
    convert_encoder,
    csim_compare,
    hls_config_for,

    summary_line,
)
from neurocodec.quantize.reference import encode_int, extract_int_encoder


def test_csim_is_bit_exact_on_real_test_vectors(hls_run):
    code, out, report, seconds = hls_run
    assert code == 0
    assert report["n_vectors"] >= 10 and report["n_samples"] >= 10 * 1024
    assert report["n_outputs"] == report["n_vectors"] * 16  # CR 64: 16 latent values per segment
    assert report["mismatches"] == 0 and report["bit_exact"]
    assert report["stored_latent_mismatches"] == 0  # reference == latent_codes saved at training
    assert report["io_type"] == "io_stream" and report["backend"] == "Vitis"
    assert report["output_code_range"][0] < report["output_code_range"][1]  # not a constant output
    assert summary_line(report).startswith(f"hls csim: 0 mismatches on {report['n_vectors']} vectors")


def test_project_keeps_vendor_build_scripts(hls_run):
    _, out, report, _ = hls_run
    for name in ("build_prj.tcl", "project.tcl", "hls4ml_config.yml", "firmware/cae_cr64.cpp"):
        assert (out / name).is_file(), name
    assert 'set project_name "cae_cr64"' in (out / "project.tcl").read_text()
    # the vendor testbench gets the real test vectors and the reference latent values
    tb_in = (out / "tb_data" / "tb_input_features.dat").read_text().splitlines()
    tb_out = (out / "tb_data" / "tb_output_predictions.dat").read_text().splitlines()
    assert len(tb_in) == len(tb_out) == report["n_vectors"]
    assert len(tb_in[0].split()) == 1024 and len(tb_out[0].split()) == 16


def test_generated_types_are_the_quantizer_formats(hls_run):
    """The C++ the C simulation was built from: one rounding (RND_CONV = half even) + SAT per quantizer."""
    _, out, report, _ = hls_run
    defines = (out / "firmware" / "defines.h").read_text()
    types = {name: ctype for ctype, name in re.findall(r"typedef (?:nnet::array<)?(.+?)(?:, [\d*]+>)? (\w+);", defines)}
    assert types["input_t"] == "ap_ufixed<8,0,AP_RND_CONV,AP_SAT,0>"
    assert types["result_t"] == "ap_fixed<8,3,AP_RND_CONV,AP_SAT,0>"
    assert types["enc1_conv_accum_t"] == "ap_fixed<22,7>"  # exact: ufixed<8,0> x fixed<8,1> x 8 taps + bias
    assert types["enc2_conv_accum_t"] == "ap_fixed<23,11>"  # exact: fixed<8,3> x fixed<8,1> x 64 + bias
    assert types["enc1_leaky_param_t"] == "ap_ufixed<8,0>"  # 77/256 exactly
    layers = {row["name"]: row for row in report["layers"]}
    for i in range(1, 7):
        assert layers[f"enc{i}_conv"]["types"]["result"] == "fixed<16,6,RND_CONV,SAT,0>"
        assert layers[f"enc{i}_leaky"]["types"]["result"] == "fixed<8,3,RND_CONV,SAT,0>"
        # the acc/act QActivations are folded into conv/leaky results, not separate layers
        assert f"enc{i}_acc" not in layers and f"enc{i}_act" not in layers
    cpp = (out / "firmware" / "cae_cr64.cpp").read_text()
    assert cpp.count("nnet::leaky_relu<") == 6 and "0.30078125" in cpp


@pytest.fixture(scope="module")
def stress(tiny_cae_dir, tmp_path_factory):
    """The trained cae with large random weights that drive the accumulator and activation
    registers into saturation, converted and compiled."""
    from neurocodec.train.artifacts import load_cae

    _, _, encoder, _, _ = load_cae(tiny_cae_dir)
    rng = np.random.default_rng(0)
    for layer in encoder.layers:
        if layer.name.endswith("_conv"):
            kernel, bias = layer.get_weights()
            layer.set_weights([rng.uniform(-1, 1, kernel.shape), rng.uniform(-4, 4, bias.shape)])
    ie = extract_int_encoder(encoder)
    codes = np.load(tiny_cae_dir / "test_vectors.npz")["input_codes"]
    hls_model = convert_encoder(encoder, tmp_path_factory.mktemp("hls") / "stress")
    compile_csim(hls_model)
    return hls_model, codes, ie


def test_saturating_weights_stay_bit_exact(stress):
    hls_model, codes, ie = stress
    from neurocodec.quantize.reference import IntReference

    assert isinstance(ie, IntReference) and np.array_equal(ie.run(codes), encode_int(codes, ie))
    hidden = encode_int(codes, ie, upto=2)
    assert np.mean(np.abs(hidden) >= 127) > 0.1  # the test really saturates
    report = csim_compare(hls_model, codes, ie)
    assert report["mismatches"] == 0 and report["n_vectors"] >= 10 and report["output_saturated_fraction"] > 0


def test_csim_compare_reports_a_mismatch(stress):
    """The comparison is not vacuous: a reference off by one code in one place is caught."""
    hls_model, codes, ie = stress

    def wrong(c, e):
        y = encode_int(c, e)
        y[3, 5, 0] += 1
        return y

    report = csim_compare(hls_model, codes, ie, reference=wrong, report_path=None)
    assert report["mismatches"] == 1 and not report["bit_exact"] and report["n_mismatched_vectors"] == 1
    assert report["first_mismatch"]["vector"] == 3 and report["first_mismatch"]["index"] == 5


def test_unsupported_layer_is_named():
    from qkeras import QActivation, QConv1D, quantized_bits

    from neurocodec.train.backend import keras

    k = keras()
    inp = k.Input((64, 1), name="x")
    x = QActivation(quantized_bits(8, 0, keep_negative=False, alpha=1), name="xq")(inp)
    x = QConv1D(2, 3, kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(16, 5, alpha=1),
                name="conv")(x)
    x = k.layers.Activation("sigmoid", name="squash")(x)
    with pytest.raises(UnsupportedModelError, match=r"unsupported layer squash \(Activation\(sigmoid\)\)"):
        hls_config_for(k.Model(inp, x))


def test_missing_test_vectors_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        build_hls_for_model_dir(tmp_path / "nope")
    (tmp_path / "m").mkdir()
    with pytest.raises(ValueError, match="test_vectors.npz is missing"):
        build_hls_for_model_dir(tmp_path / "m")


@pytest.mark.skipif(os.environ.get("NEUROCODEC_HLS_SWEEP") != "1", reason="slow: set NEUROCODEC_HLS_SWEEP=1")
@pytest.mark.parametrize("cr,io_type", [(cr, "io_stream") for cr in (2, 4, 8, 16, 32, 64, 128)] + [(64, "io_parallel")])
def test_every_cr_converts_compiles_and_is_bit_exact(cr, io_type, locust_data, tmp_path):
    from neurocodec.train.backend import set_seed
    from neurocodec.train.cae import CaeSpec, build_cae
    from neurocodec.quantize.reference import quantize_input

    set_seed(cr)
    ae, encoder, _ = build_cae(CaeSpec(cr))  # the real width: 16 hidden filters
    x = locust_data.train[:64, :, None]
    ae.compile("adam", "mse")
    ae.fit(x, x, epochs=2, batch_size=32, verbose=0)
    ie = extract_int_encoder(encoder)
    codes = quantize_input(locust_data.val[:16], ie)
    t0 = time.perf_counter()
    hls_model = convert_encoder(encoder, tmp_path / f"cae_cr{cr}", io_type=io_type)
    t_convert = time.perf_counter() - t0
    t_compile = compile_csim(hls_model)
    report = csim_compare(hls_model, codes, ie)
    print(f"\nCR {cr} {io_type}: convert {t_convert:.1f} s, compile {t_compile['wall_seconds']:.1f} s "
          f"({t_compile['cpu_seconds']:.1f} s CPU), "
          f"csim {report['csim_seconds']:.2f} s, {report['mismatches']} mismatches on {report['n_vectors']} vectors")
    assert report["mismatches"] == 0


@pytest.mark.skipif(os.environ.get("NEUROCODEC_HLS_SWEEP") != "1", reason="slow: set NEUROCODEC_HLS_SWEEP=1")
def test_conv2d_quantized_relu_maxpool_encoder_is_bit_exact_with_qkeras(tmp_path):
    """The spectro_cae layer set (QConv2D, quantized_relu, MaxPooling2D, Flatten), QKeras as reference."""
    from qkeras import QActivation, QConv2D, quantized_bits, quantized_relu

    from neurocodec.train.backend import keras, set_seed

    set_seed(3)
    k = keras()
    inp = k.Input((16, 16, 1), name="img")
    x = QActivation(quantized_bits(8, 0, keep_negative=False, alpha=1), name="img_q")(inp)
    for i, f in enumerate((4, 6)):
        x = QConv2D(f, 3, padding="same", kernel_quantizer=quantized_bits(8, 0, alpha=1),
                    bias_quantizer=quantized_bits(16, 5, alpha=1), name=f"c{i}")(x)
        x = QActivation(quantized_relu(8, 3), name=f"r{i}")(x)
        x = k.layers.MaxPooling2D(2, name=f"p{i}")(x)
    model = k.Model(inp, k.layers.Flatten(name="flat")(x))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, QConv2D):
            kernel, bias = layer.get_weights()
            layer.set_weights([rng.uniform(-1, 1, kernel.shape), rng.uniform(-1, 2, bias.shape)])
    codes = rng.integers(0, 256, (12, 16 * 16))

    def qkeras_reference(c, _):
        y = model.predict(c.reshape(-1, 16, 16, 1) / 256.0, verbose=0)
        return np.round(y * 32).astype(np.int64)  # ufixed<8,3>: 5 fractional bits

    hls_model = convert_encoder(model, tmp_path / "spectro_like")
    compile_csim(hls_model)
    report = csim_compare(hls_model, codes, None, reference=qkeras_reference)
    assert report["output_type"].startswith("ufixed<8,3,RND_CONV,SAT")
    assert report["output_code_range"][0] < report["output_code_range"][1]
    assert report["mismatches"] == 0


def test_type_guard_catches_a_type_hls4ml_changed(tmp_path):
    """check_types (run by the one converter) refuses an hls graph whose type differs from the rule's."""
    from qkeras import QActivation, QConv1D, quantized_bits
    from hls4ml.model.types import FixedPrecisionType

    from neurocodec.hls.flow import check_types, convert_model
    from neurocodec.train.backend import keras

    k = keras()
    inp = k.Input((32, 1), name="x")
    x = QActivation(quantized_bits(8, 0, keep_negative=False, alpha=1), name="xq")(inp)
    x = QConv1D(2, 3, kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(16, 5, alpha=1),
                name="conv")(x)
    model = k.Model(inp, QActivation(quantized_bits(16, 5, alpha=1), name="acc")(x))
    hls_model = convert_model(model, tmp_path / "guard")  # passes the guard as converted
    check_types(hls_model, model)
    hls_model.graph["conv"].types["accum_t"].precision = FixedPrecisionType(16, 6)  # a silently narrowed accumulator
    with pytest.raises(UnsupportedModelError, match=r"conv\.accum: hls4ml has .*expected fixed<"):
        check_types(hls_model, model)
