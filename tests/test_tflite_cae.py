"""Full-int8 TFLite export of a trained QKeras cae encoder, run on ai-edge-litert.

A small cae (CR 64, 8 hidden filters, a few epochs) is trained on real locust tetrode segments,
exported with both int8 methods and run with ai-edge-litert on held-out segments.

Thresholds come from what int8 TFLite reaches against the QKeras encoder, with a margin, not
from one run: TFLite rounds each pre-activation to int8 once where QKeras rounds it to its 16-bit
accumulator (2**-10), multiplies negatives by 77/256 and rounds again to the 2**-5 act grid, so a
few percent of each layer's activations differ by one code, and these differences spread through
the six layers. Measured with this recipe (seeds 0-3, 4-6 epochs, five models) on held-out
segments, with ai-edge-litert's default (XNNPACK) and builtin kernels alike:
  pinned: 41-87 % codes exact, 90-100 % within 1 LSB, >= 99.3 % within 2 LSB, max 1-4 LSB,
          mean |err| <= 0.70 LSB, SNR 24.3-30.5 dB, correlation 0.966-0.988;
  ptq:    65-100 % within 1 LSB, 93.4-100 % within 2 LSB, max <= 3.6 LSB, SNR 25.7-32.8 dB,
          correlation 0.978-0.992.
(CR 8/32/64 models with 16 filters trained 15 epochs: pinned 95-100 % within 1 LSB.)
The brief's "correlation > 0.99" is out of reach here for a reason unrelated to TFLite: this
small model's latent varies little (std 2-6 LSB), so a 1-LSB disagreement already caps the
correlation near 0.97; the LSB-based bounds are the meaningful ones.
"""
import json
import os

import numpy as np
import pytest

import neurocodec  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)

from neurocodec.signals.datasets import DATASETS, BUNDLED_ROOT  # noqa: E402

RAW = str(BUNDLED_ROOT / DATASETS["locust"][1])  # the bundled recording, found through the package
CR, HIDDEN, EPOCHS, SEED = 64, 8, 5, 0

pytestmark = pytest.mark.skipif(not os.path.isfile(RAW), reason=f"locust recording {RAW} not available")


def locust_segments(channel=0, length=1024, val_fraction=0.2):
    """Channel min-max normalized to [0, 1], cut into contiguous 1024-sample (68 ms) segments,
    split contiguously into training (first 80 %) and held-out validation segments."""
    x = np.fromfile(RAW, "<i2").reshape(-1, 4)[:, channel].astype(np.float64)  # 15 kHz
    x = (x - x.min()) / (x.max() - x.min())
    n = x.size // length
    seg = x[: n * length].reshape(n, length)
    n_val = int(round(val_fraction * n))
    return seg[: n - n_val], seg[n - n_val :]


@pytest.fixture(scope="module")
def trained():
    from neurocodec.train.backend import keras, set_seed, set_tf_threads
    from neurocodec.train.cae import CaeSpec, build_cae

    set_tf_threads(1, 1)
    set_seed(SEED)
    train, val = locust_segments()
    spec = CaeSpec(CR, hidden_filters=HIDDEN)
    autoencoder, encoder, decoder = build_cae(spec)
    autoencoder.compile(keras().optimizers.Adam(3e-3), "mse")
    autoencoder.fit(train[..., None], train[..., None], epochs=EPOCHS, batch_size=32, verbose=0, shuffle=True)
    return {"spec": spec, "autoencoder": autoencoder, "encoder": encoder, "train": train, "val": val}


@pytest.fixture(scope="module")
def pinned(trained, tmp_path_factory):
    from neurocodec.quantize.tflite_export import export_encoder_tflite

    path = tmp_path_factory.mktemp("tflite") / "cae_cr64_int8.tflite"
    info = export_encoder_tflite(trained["encoder"], trained["train"], path, method="pinned")
    return path, info


def test_pinned_export_is_full_int8(trained, pinned):
    from ai_edge_litert.interpreter import Interpreter

    path, info = pinned
    assert path.is_file() and info["size_bytes"] == path.stat().st_size == os.path.getsize(info["path"])
    assert 2_000 < info["size_bytes"] < 40_000  # ~9.3 k int8 weights + graph
    assert not list(path.parent.glob(".*tmp"))  # no temp file left
    interp = Interpreter(model_path=str(path), num_threads=1)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    # the input codes are the QKeras 8-bit input codes - 128; the output codes are latent codes
    assert inp["quantization"] == (2.0**-8, -128)
    assert out["quantization"] == (2.0**-5, 0)
    assert list(out["shape"][1:]) == [trained["spec"].latent_length, trained["spec"].latent_filters]
    tensors = {d["index"]: d for d in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    assert {op["op_name"] for op in ops} == {"EXPAND_DIMS", "CONV_2D", "PRELU", "RESHAPE"}
    convs = [op for op in ops if op["op_name"] == "CONV_2D"]
    prelus = [op for op in ops if op["op_name"] == "PRELU"]
    assert len(convs) == len(prelus) == trained["spec"].n_layers
    for op in convs:
        x, w, b = (tensors[i] for i in op["inputs"])
        assert x["dtype"] == np.int8 and w["dtype"] == np.int8 and b["dtype"] == np.int32
        assert tensors[op["outputs"][0]]["dtype"] == np.int8
        # per-channel weight scale = the QKeras weight step 2**-7
        assert np.all(w["quantization_parameters"]["scales"] == 2.0**-7)
    for op in prelus:  # act register grid 2**-5, zero point 0; slope exactly 77/256
        x, alpha = (tensors[i] for i in op["inputs"])
        y = tensors[op["outputs"][0]]
        assert x["dtype"] == alpha["dtype"] == y["dtype"] == np.int8
        assert y["quantization"] == (2.0**-5, 0) and x["quantization"][0] == 2.0**-5
        assert float(interp.get_tensor(alpha["index"]).ravel()[0]) * alpha["quantization"][0] == pytest.approx(77 / 256)
    assert info["float_tensors"] == []


def test_pinned_agrees_with_qkeras_on_held_out_segments(trained, pinned):
    from neurocodec.quantize.tflite_runner import compare_tflite_to_qkeras, qkeras_latent, run_tflite

    path, info = pinned
    val = trained["val"]
    r = compare_tflite_to_qkeras(path, trained["encoder"], val)
    print(json.dumps({k: v for k, v in r.items() if k not in ("input", "output")}, indent=1))
    assert r["size_bytes"] == path.stat().st_size
    assert r["latent_lsb"] == 2.0**-5 and r["output_on_latent_grid"]
    assert r["n_values"] == val.shape[0] * 16
    assert r["frac_within_2lsb"] >= 0.98
    assert r["frac_within_1lsb"] >= 0.85
    assert r["frac_exact"] >= 0.30
    assert r["max_abs_error_lsb"] <= 4
    assert r["mean_abs_error_lsb"] <= 0.9
    assert r["snr_db"] >= 22.0
    assert r["correlation"] >= 0.95
    # integer output codes; batching does not change them
    latent, codes = run_tflite(path, val, batch_size=7, return_codes=True)
    assert codes.dtype == np.int8 and np.array_equal(latent, codes * 2.0**-5)
    assert np.array_equal(latent, run_tflite(path, val))
    # the comparison is against the real QKeras encoder output
    q = qkeras_latent(trained["encoder"], val)
    assert np.allclose(np.round(q * 32), q * 32)  # QKeras latent is on the 2**-5 grid
    assert np.mean(np.abs(latent - q) <= 2**-5) == pytest.approx(r["frac_within_1lsb"])
    # TFLite's own kernels (no XNNPACK delegate) requantize with other rounding details, so
    # individual codes differ, but they agree with QKeras just as well
    rb = compare_tflite_to_qkeras(path, trained["encoder"], val, kernels="builtin")
    builtin = run_tflite(path, val, kernels="builtin")
    print("auto vs builtin kernels: equal codes", np.mean(builtin == latent), "builtin vs QKeras",
          {k: rb[k] for k in ("frac_exact", "frac_within_1lsb", "frac_within_2lsb", "max_abs_error_lsb")})
    assert rb["kernels"] == "builtin"
    assert rb["frac_within_2lsb"] >= 0.98 and rb["frac_within_1lsb"] >= 0.85 and rb["max_abs_error_lsb"] <= 4


def test_plain_ptq_export_agrees_with_qkeras(trained, tmp_path):
    from neurocodec.quantize.tflite_export import export_encoder_tflite
    from neurocodec.quantize.tflite_runner import compare_tflite_to_qkeras

    path = tmp_path / "ptq.tflite"
    info = export_encoder_tflite(trained["encoder"], trained["train"], path, method="ptq", max_calibration=128)
    assert info["size_bytes"] == path.stat().st_size and info["n_calibration"] == 128
    assert info["input"]["dtype"] == "int8" and info["output"]["dtype"] == "int8"
    assert (info["input"]["scale"], info["input"]["zero_point"]) == (2.0**-8, -128)
    r = compare_tflite_to_qkeras(path, trained["encoder"], trained["val"])
    print(json.dumps({k: v for k, v in r.items() if k not in ("input", "output")}, indent=1))
    assert r["frac_within_2lsb"] >= 0.90
    assert r["frac_within_1lsb"] >= 0.55
    assert r["max_abs_error_lsb"] <= 4.5
    assert r["snr_db"] >= 22.0
    assert r["correlation"] >= 0.95


def test_cli_exports_a_saved_model_folder(trained, tmp_path):
    """`neurocodec export-tflite --model-dir ...` on a real model folder (config.json, weights.h5,
    test_vectors.npz as written by training)."""
    from neurocodec.quantize.reference import encode_int, extract_int_encoder, quantize_input
    from neurocodec.quantize.tflite_runner import main
    from neurocodec.train.artifacts import save_cae

    model_dir = tmp_path / "models" / "cae_cr64"
    model_dir.mkdir(parents=True)
    save_cae(model_dir, trained["spec"], trained["autoencoder"], {"data": "locust_trial_01.raw channel 0"})
    ie = extract_int_encoder(trained["encoder"])
    input_codes = quantize_input(trained["val"][:16], ie)
    np.savez(model_dir / "test_vectors.npz", input_codes=input_codes, latent_codes=encode_int(input_codes, ie))
    out = tmp_path / "tflite" / "enc.tflite"
    assert main(["--model-dir", str(model_dir), "--out", str(out)]) == 0
    report = json.loads((tmp_path / "tflite" / "enc_report.json").read_text())
    assert report["size_bytes"] == out.stat().st_size
    assert report["cr"] == CR and report["method"] == "pinned" and report["n_segments"] == 16
    assert report["output"] == {"dtype": "int8", "shape": [1, 16, 1], "scale": 2.0**-5, "zero_point": 0}
    # the integer reference (what the RTL is checked against) gives the same codes as QKeras
    vs_codes = report["vs_test_vector_codes"]
    assert vs_codes["frac_within_1lsb"] == pytest.approx(report["frac_within_1lsb"])
    assert vs_codes["frac_within_2lsb"] >= 0.97


def test_unsupported_layers_are_named_and_nothing_is_written(trained, tmp_path):
    from neurocodec.quantize.tflite_export import UnsupportedLayerError, export_encoder_tflite
    from neurocodec.train.backend import keras

    k = keras()
    inp = k.Input((1024, 1))
    x = k.layers.Conv1D(4, 8, strides=2, padding="same", name="c1")(inp)
    x = k.layers.BatchNormalization(name="bn")(x)
    model = k.Model(inp, k.layers.Dense(2, name="head")(x))
    out = tmp_path / "bad.tflite"
    with pytest.raises(UnsupportedLayerError, match=r"'bn' \(BatchNormalization\).*'head' \(Dense\)"):
        export_encoder_tflite(model, trained["val"], out)
    relu = k.Model(inp, k.layers.Conv1D(4, 8, activation="relu", name="c2")(inp))
    with pytest.raises(UnsupportedLayerError, match="c2.*fused activation 'relu'"):
        export_encoder_tflite(relu, trained["val"], out)
    assert not out.exists()


def test_bad_data_and_failed_writes_leave_no_file(trained, tmp_path, monkeypatch):
    from neurocodec.quantize import tflite_export
    from neurocodec.quantize.tflite_export import TfliteExportError, export_encoder_tflite

    out = tmp_path / "enc.tflite"
    bad = trained["val"][:4].copy()
    bad[0, 10] = np.nan
    with pytest.raises(TfliteExportError, match="NaN"):
        export_encoder_tflite(trained["encoder"], bad, out)
    with pytest.raises(TfliteExportError, match=r"normalized to \[0, 1\]"):
        export_encoder_tflite(trained["encoder"], trained["val"][:4] * 3, out)
    with pytest.raises(TfliteExportError, match="shape"):
        export_encoder_tflite(trained["encoder"], trained["val"][:4, :512], out)
    with pytest.raises(TfliteExportError, match="method"):
        export_encoder_tflite(trained["encoder"], trained["val"][:4], out, method="qat")
    assert list(tmp_path.iterdir()) == []

    from neurocodec import files

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", failing_replace)  # the one writer tflite_export uses
    with pytest.raises(OSError, match="disk full"):
        tflite_export.write_bytes_atomic(out, b"\x00" * 1000)
    assert list(tmp_path.iterdir()) == []  # neither the target nor the temp file
