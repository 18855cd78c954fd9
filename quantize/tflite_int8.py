"""The one int8 TFLite path of the autoencoder families (spectro_cae, lfp_ae; the cae's pinned
export in quantize.tflite_export converts through `convert_int8_keras` too).

`export_and_compare(twin, reference_predict, calibration, test)`: full-integer (int8 in/out)
post-training conversion of a float twin of a QKeras encoder, then its agreement with the QKeras
encoder on test inputs (also in output LSBs). `run_tflite` runs an int8 model with ai-edge-litert.
"""
from __future__ import annotations

import numpy as np

from neurocodec.errors import NeurocodecError
from neurocodec.files import write_bytes_atomic


class TfliteConversionError(NeurocodecError):
    """The TFLite converter refused the model or the calibration data are unusable."""


def convert_int8_keras(float_model, representative=None, io_type: str = "int8") -> bytes:
    """Full-integer TFLite flatbuffer of a float Keras model. representative: (n, *input_shape)
    calibration inputs (None: the model carries FakeQuant ranges on every tensor)."""
    import tensorflow as tf

    dtype = {"int8": tf.int8, "uint8": tf.uint8}.get(io_type)
    if dtype is None:
        raise TfliteConversionError(f"io_type must be 'int8' or 'uint8', got {io_type!r}")
    converter = tf.lite.TFLiteConverter.from_keras_model(float_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if representative is not None:
        rep = np.asarray(representative, np.float32)

        def gen():
            for i in range(len(rep)):
                yield [rep[i: i + 1]]

        converter.representative_dataset = gen
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = dtype
    converter.inference_output_type = dtype
    try:
        return converter.convert()
    except Exception as exc:  # ConverterError / RuntimeError / ValueError from the converter
        raise TfliteConversionError(f"TFLite int8 conversion failed: {exc}") from exc


def quantized_weights(layer) -> list[np.ndarray]:
    """Kernel/bias of a (Q)Conv layer as used in the forward pass (quantized for QKeras)."""
    kernel = layer.kernel
    bias = layer.bias if layer.use_bias else None
    if getattr(layer, "kernel_quantizer_internal", None) is not None:
        kernel = layer.kernel_quantizer_internal(kernel)
    if bias is not None and getattr(layer, "bias_quantizer_internal", None) is not None:
        bias = layer.bias_quantizer_internal(bias)
    return [np.asarray(kernel, np.float32)] + ([] if bias is None else [np.asarray(bias, np.float32)])


def export_tflite_int8(float_model, representative, path=None) -> bytes:
    """Post-training full-integer (int8 in/out) TFLite model of a float Keras model.

    representative: (n, *input_shape) float array of real inputs used to calibrate the ranges.
    Written atomically to ``path`` if given; returns the flatbuffer bytes."""
    rep = np.asarray(representative, np.float32)
    if rep.ndim != len(float_model.input_shape) or rep.shape[1:] != tuple(float_model.input_shape[1:]):
        raise ValueError(f"representative data shape {rep.shape} does not match the model input "
                         f"{float_model.input_shape}")
    if not np.all(np.isfinite(rep)):
        raise ValueError("representative data contain NaN or Inf")
    blob = convert_int8_keras(float_model, rep)
    if path is not None:
        write_bytes_atomic(path, blob)
    return blob


def run_tflite(model, x, batch_size: int = 64) -> np.ndarray:
    """Run an int8 TFLite model (bytes or path) on float inputs; returns dequantized outputs."""
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(model, (bytes, bytearray)):
        interp = Interpreter(model_content=bytes(model), num_threads=1)
    else:
        interp = Interpreter(model_path=str(model), num_threads=1)
    x = np.asarray(x, np.float32)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    s_in, z_in = inp["quantization"]
    s_out, z_out = out["quantization"]
    results = []
    current = None
    for a in range(0, len(x), batch_size):
        xb = x[a: a + batch_size]
        if current != len(xb):
            interp.resize_tensor_input(inp["index"], [len(xb), *x.shape[1:]])
            interp.allocate_tensors()
            current = len(xb)
        if np.issubdtype(inp["dtype"], np.integer):
            info = np.iinfo(inp["dtype"])
            xb = np.clip(np.round(xb / s_in) + z_in, info.min, info.max).astype(inp["dtype"])
        interp.set_tensor(inp["index"], xb)
        interp.invoke()
        y = interp.get_tensor(out["index"])
        if np.issubdtype(out["dtype"], np.integer):
            y = (y.astype(np.float64) - z_out) * s_out
        results.append(np.asarray(y, np.float64))
    return np.concatenate(results)


def tflite_output_scale(model) -> float:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=bytes(model), num_threads=1) if isinstance(
        model, (bytes, bytearray)) else Interpreter(model_path=str(model), num_threads=1)
    return float(interp.get_output_details()[0]["quantization"][0])


def tflite_agreement(reference: np.ndarray, tflite_out: np.ndarray, scale: float) -> dict:
    """Agreement of TFLite outputs with the Keras (QKeras) reference, also in output LSBs."""
    ref = np.asarray(reference, np.float64).reshape(len(reference), -1)
    out = np.asarray(tflite_out, np.float64).reshape(len(tflite_out), -1)
    err = np.abs(ref - out)
    rng = float(ref.max() - ref.min()) or 1.0
    corr = float(np.corrcoef(ref.ravel(), out.ravel())[0, 1]) if ref.std() > 0 else float("nan")
    return {
        "output_scale": float(scale),
        "max_abs_error": float(err.max()),
        "mean_abs_error": float(err.mean()),
        "p99_abs_error": float(np.percentile(err, 99)),
        "mean_abs_error_lsb": float(err.mean() / scale),
        "p99_abs_error_lsb": float(np.percentile(err, 99) / scale),
        "max_abs_error_lsb": float(err.max() / scale),
        "relative_rms_error": float(np.sqrt(np.mean((ref - out) ** 2)) / (ref.std() or 1.0)),
        "reference_range": rng,
        "correlation": corr,
    }


def export_and_compare(twin, reference_predict, calibration, test, path=None) -> tuple[bytes, dict]:
    """int8 TFLite of `twin` (a float copy of a QKeras encoder, calibrated on `calibration`) and its
    agreement with `reference_predict(test)` (the QKeras encoder) on `test`: (flatbuffer, agreement)."""
    blob = export_tflite_int8(twin, calibration, path)
    ref = np.asarray(reference_predict(test))
    out = run_tflite(blob, test)
    agreement = tflite_agreement(ref, out, tflite_output_scale(blob))
    agreement["size_bytes"] = len(blob)
    agreement["float_twin_vs_qkeras_max_abs"] = float(np.max(np.abs(twin.predict(test, verbose=0) - ref)))
    return blob, agreement


def evenly(n: int, k: int) -> np.ndarray:
    """k indices spread evenly over range(n) (calibration subsets)."""
    return np.unique(np.round(np.linspace(0, n - 1, min(k, n))).astype(int))


__all__ = ["TfliteConversionError", "convert_int8_keras", "quantized_weights", "export_tflite_int8", "run_tflite",
           "tflite_output_scale", "tflite_agreement", "export_and_compare", "evenly"]
