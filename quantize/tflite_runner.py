"""Run a full-int8 TFLite `cae` encoder on ai-edge-litert and compare it with the QKeras encoder.

ai-edge-litert is the TFLite runtime of a Raspberry Pi 4/5 (aarch64): there, ``pip install
ai-edge-litert numpy`` and `run_tflite` (which imports neither TensorFlow nor QKeras) run the
exported ``.tflite`` file as is.

CLI (``neurocodec export-tflite``)::

    neurocodec export-tflite --model-dir out/models/cae_cr64 [--out PATH] [--method pinned|ptq]
                             [--data test-vectors|recording] [--max-calibration N] [--threads N]

writes ``out/tflite/<name>/encoder_int8.tflite`` (default) and ``encoder_int8_report.json`` next
to it: size in bytes, int8 input/output details and the agreement of the TFLite latent with the
QKeras latent (and with the test vectors' latent codes).
"""
from __future__ import annotations

from neurocodec.errors import NeurocodecError

import argparse
from pathlib import Path

import numpy as np

from neurocodec.files import write_json_atomic

DEFAULT_BATCH = 64
#: kernel paths of ai-edge-litert: "auto" is what a plain ``Interpreter(model_path)`` does, on a
#: Pi too (the XNNPACK delegate takes the int8 ops); "builtin" = TFLite's own optimized kernels,
#: "reference" = its reference kernels (slow). The paths round requantization differently, so
#: single codes can differ between them (and a mismatch propagates), while their agreement with
#: QKeras is the same within a few percent.
KERNELS = ("auto", "builtin", "reference")


class TfliteRunError(NeurocodecError):
    """Bad model file or input data for the TFLite runner."""


def _interpreter(path, num_threads: int = 1, kernels: str = "auto"):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = {"auto": OpResolverType.AUTO, "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                "reference": OpResolverType.BUILTIN_REF}.get(kernels)
    if resolver is None:
        raise TfliteRunError(f"kernels must be one of {KERNELS}, got {kernels!r}")
    path = Path(path)
    if not path.is_file():
        raise TfliteRunError(f"TFLite model {str(path)!r} does not exist")
    try:
        return Interpreter(model_path=str(path), num_threads=num_threads, experimental_op_resolver_type=resolver)
    except Exception as exc:
        raise TfliteRunError(f"cannot load TFLite model {str(path)!r}: {exc}") from exc


def _tensor_info(d: dict) -> dict:
    scale, zero_point = d["quantization"]
    return {"dtype": np.dtype(d["dtype"]).name, "shape": [int(s) for s in d["shape"]],
            "scale": float(scale), "zero_point": int(zero_point)}


def io_details(path) -> dict:
    """dtype / shape / scale / zero point of the model's input and output tensors."""
    interp = _interpreter(path)
    return {"input": _tensor_info(interp.get_input_details()[0]),
            "output": _tensor_info(interp.get_output_details()[0])}


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Real values -> the input tensor's codes: round half even, add zero point, saturate."""
    dtype = np.dtype(detail["dtype"])
    if not np.issubdtype(dtype, np.integer):
        return x.astype(dtype)
    scale, zero_point = detail["quantization"]
    if scale == 0:
        raise TfliteRunError("the integer model input has no quantization scale")
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize_output(codes: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if not np.issubdtype(np.dtype(detail["dtype"]), np.integer) or scale == 0:
        return codes.astype(np.float64)
    return (codes.astype(np.float64) - zero_point) * scale


def run_tflite(path, segments01, batch_size: int = DEFAULT_BATCH, num_threads: int = 1,
               kernels: str = "auto", return_codes: bool = False):
    """Latent (n, latent_len, channels) float64 array of a TFLite encoder on (n, length) segments
    min-max normalized to [0, 1].

    Inputs are quantized with the input tensor's scale / zero point, outputs dequantized with the
    output's; the segments run in batches of ``batch_size`` (the interpreter is resized when the
    batch size changes). ``kernels``: see KERNELS. ``return_codes=True`` returns
    ``(latent, raw integer output codes)``."""
    interp = _interpreter(path, num_threads=num_threads, kernels=kernels)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    length = int(inp["shape"][1])
    from neurocodec.quantize.tflite_export import check_segments

    x = check_segments(segments01, length, error=TfliteRunError, unit_range=False)
    if batch_size < 1:
        raise TfliteRunError(f"batch_size must be >= 1, got {batch_size}")
    codes, current = [], None
    for start in range(0, x.shape[0], batch_size):
        chunk = x[start : start + batch_size]
        if chunk.shape[0] != current:
            interp.resize_tensor_input(inp["index"], [chunk.shape[0], length, 1], strict=False)
            interp.allocate_tensors()
            current = chunk.shape[0]
        interp.set_tensor(inp["index"], quantize_input(chunk[:, :, None], inp))
        interp.invoke()
        codes.append(interp.get_tensor(out["index"]).copy())
    codes = np.concatenate(codes)
    latent = dequantize_output(codes, out)
    return (latent, codes) if return_codes else latent


def qkeras_latent(qkeras_encoder, segments01, batch_size: int = 256) -> np.ndarray:
    """Latent of the QKeras encoder (it quantizes its input itself)."""
    x = np.asarray(segments01, dtype=np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    return np.asarray(qkeras_encoder.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)


def agreement(tflite_latent, reference_latent, lsb: float) -> dict:
    """Error of a TFLite latent against a reference (QKeras) latent, in units of the latent LSB.

    ``frac_exact``: |error| <= 1/2 LSB (for an output on the latent grid: equal codes);
    ``snr_db``: 10 log10(sum ref**2 / sum (tflite - ref)**2)."""
    t = np.asarray(tflite_latent, np.float64)
    q = np.asarray(reference_latent, np.float64)
    if t.shape != q.shape:
        raise TfliteRunError(f"latent shapes differ: TFLite {t.shape} vs reference {q.shape}")
    err = t - q
    e = np.abs(err) / lsb
    tol = 1e-6  # both latents are on fine binary grids; keep exact multiples of the LSB inside
    noise, signal = float(np.sum(err**2)), float(np.sum(q**2))
    if noise == 0:
        snr = float("inf")
    else:
        snr = 10.0 * np.log10(signal / noise) if signal > 0 else float("-inf")
    tc, qc = t.ravel() - t.mean(), q.ravel() - q.mean()
    denom = float(np.sqrt(np.sum(tc**2) * np.sum(qc**2)))
    return {
        "n_values": int(q.size),
        "latent_lsb": float(lsb),
        "max_abs_error": float(np.max(np.abs(err))),
        "max_abs_error_lsb": float(np.max(e)),
        "mean_abs_error_lsb": float(np.mean(e)),
        "rms_error_lsb": float(np.sqrt(np.mean(e**2))),
        "frac_exact": float(np.mean(e <= 0.5 + tol)),
        "frac_within_1lsb": float(np.mean(e <= 1 + tol)),
        "frac_within_2lsb": float(np.mean(e <= 2 + tol)),
        "snr_db": float(snr),
        "correlation": float(np.sum(tc * qc) / denom) if denom > 0 else float("nan"),
        "reference_std_lsb": float(np.std(q) / lsb),
    }


def compare_tflite_to_qkeras(path, qkeras_encoder, segments01, batch_size: int = DEFAULT_BATCH,
                             kernels: str = "auto") -> dict:
    """Agreement of the TFLite encoder with the QKeras encoder on the same segments in [0, 1].

    Returns (see `agreement`) max_abs_error (latent units) and in LSBs (2**-5 for cae),
    mean/rms error in LSBs, fraction of latent values exact / within 1 / within 2 LSB, SNR (dB)
    of the TFLite latent against the QKeras latent, correlation, ``size_bytes`` of the model
    file, the int8 ``input`` / ``output`` tensor details and ``output_on_latent_grid`` (the
    output codes are the QKeras latent codes: scale = LSB, zero point 0) and the ``kernels``
    path used."""
    from neurocodec.quantize.tflite_export import latent_lsb

    lsb = latent_lsb(qkeras_encoder)
    t = run_tflite(path, segments01, batch_size=batch_size, kernels=kernels)
    q = qkeras_latent(qkeras_encoder, segments01)
    result = agreement(t, q, lsb)
    result["kernels"] = kernels
    result["n_segments"] = int(t.shape[0])
    result["size_bytes"] = Path(path).stat().st_size
    result.update(io_details(path))
    out = result["output"]
    result["output_on_latent_grid"] = bool(out["scale"] == lsb and out["zero_point"] == 0)
    return result


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def load_test_vectors(model_dir: Path, length: int):
    """(segments in [0, 1], latent codes or None) from test_vectors.npz, or None if absent."""
    tv = Path(model_dir) / "test_vectors.npz"
    if not tv.is_file():
        return None
    try:
        with np.load(tv, allow_pickle=False) as z:
            if "input_codes" not in z:
                return None
            codes = np.asarray(z["input_codes"])
            latent = np.asarray(z["latent_codes"]) if "latent_codes" in z else None
    except Exception as exc:  # BadZipFile, EOFError, ValueError on a corrupt file
        raise TfliteRunError(f"{tv}: corrupt or truncated ({type(exc).__name__}: {exc})") from None
    if codes.ndim == 3 and codes.shape[2] == 1:
        codes = codes[:, :, 0]
    if codes.ndim != 2 or codes.shape[1] != length:
        raise TfliteRunError(f"{tv}: input_codes has shape {codes.shape}, expected (n, {length})")
    return codes.astype(np.float64) / 256.0, latent


def _recording_segments(meta: dict, length: int):
    """(train, val) segments of the model's training recording, prepared as for training."""
    from neurocodec.train.cae_data import prepare_cae_data

    if not meta.get("data"):
        raise TfliteRunError("the model's config.json names no training data; use --data test-vectors")
    data = prepare_cae_data(meta["data"], length, channels=meta.get("channels"))
    return data.train, data.val


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="neurocodec export-tflite",
        description="Full-int8 TFLite export of a trained quantized cae encoder (runs on ai-edge-litert, "
                    "e.g. a Raspberry Pi) and its agreement with the QKeras encoder.")
    parser.add_argument("--model-dir", required=True, help="trained model folder, e.g. out/models/cae_cr64")
    parser.add_argument("--out", help="output .tflite (default out/tflite/<name>/encoder_int8.tflite)")
    parser.add_argument("--method", choices=("pinned", "ptq"), default="pinned",
                        help="int8 scales: QKeras register grids (pinned, default) or TFLite-calibrated (ptq)")
    parser.add_argument("--data", choices=("test-vectors", "recording"), default="test-vectors",
                        help="calibration/evaluation segments: the model's test_vectors.npz input codes / 256 "
                             "(default; both roles), or its training recording re-prepared (calibrate on "
                             "the training part, evaluate on the validation part)")
    parser.add_argument("--max-calibration", type=int, default=256,
                        help="at most this many segments calibrate the int8 ranges (default 256)")
    parser.add_argument("--kernels", choices=KERNELS, default="auto",
                        help="ai-edge-litert kernel path for the agreement check (default auto = XNNPACK, "
                             "as on a Pi)")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow / TFLite threads (default 1)")
    args = parser.parse_args(argv)

    import neurocodec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

    from neurocodec import paths
    from neurocodec.quantize.tflite_export import export_encoder_tflite
    from neurocodec.train.artifacts import load_cae

    from neurocodec.train.backend import set_tf_threads

    set_tf_threads(args.threads, args.threads)
    model_dir = Path(args.model_dir)
    if not model_dir.is_dir():
        parser.error(f"model folder {str(model_dir)!r} does not exist")
    spec, _autoencoder, encoder, _decoder, meta = load_cae(model_dir)
    if getattr(spec, "quant", None) is None:
        parser.error(f"{model_dir} holds a float cae; the TFLite export needs the quantized (QKeras) model")
    length = int(encoder.input_shape[1])
    vectors = load_test_vectors(model_dir, length)
    if args.data == "recording":
        calibration, evaluation = _recording_segments(meta, length)
        source = f"{meta.get('data')} (calibration: training part, evaluation: validation part)"
    elif vectors is not None:
        calibration = evaluation = vectors[0]
        source = "test_vectors.npz input_codes / 256 (calibration and evaluation)"
    else:
        parser.error(f"{model_dir} has no test_vectors.npz; use --data recording")

    out = Path(args.out) if args.out else paths.stage_dir("tflite", model_dir.name) / "encoder_int8.tflite"
    export = export_encoder_tflite(encoder, calibration, out, method=args.method,
                                   max_calibration=args.max_calibration)
    report = compare_tflite_to_qkeras(out, encoder, evaluation, kernels=args.kernels)
    report.update({
        "model_dir": str(model_dir),
        "cr": spec.cr,
        "tflite": str(out),
        "method": args.method,
        "segments": source,
        "n_calibration": export["n_calibration"],
        "ops": export["ops"],
        "weights_saturated": export["weights_saturated"],
        "stages": export["stages"],
        "data": meta.get("data"),
        "scaling": meta.get("scaling"),
    })
    if vectors is not None and vectors[1] is not None:
        # bit-level check against the integer reference's latent codes (what the RTL must produce)
        lsb = report["latent_lsb"]
        t = run_tflite(out, vectors[0], kernels=args.kernels)
        ref = np.asarray(vectors[1], np.float64) * lsb
        if ref.shape == t.shape:
            report["vs_test_vector_codes"] = agreement(np.round(t / lsb) * lsb, ref, lsb)
    report_path = out.with_name(out.stem + "_report.json")
    write_json_atomic(report_path, report)
    print(f"wrote {out} ({report['size_bytes']} bytes, {args.method}), report {report_path}")
    print(f"TFLite vs QKeras latent on {report['n_segments']} segments: "
          f"{100 * report['frac_exact']:.1f}% exact, {100 * report['frac_within_1lsb']:.2f}% within 1 LSB, "
          f"{100 * report['frac_within_2lsb']:.2f}% within 2 LSB, mean |err| {report['mean_abs_error_lsb']:.3f} "
          f"LSB, max {report['max_abs_error_lsb']:.2f} LSB, SNR {report['snr_db']:.1f} dB, "
          f"corr {report['correlation']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
