"""C simulation of an hls4ml project (g++ only, no vendor tool) and its bit-exact check."""
from __future__ import annotations

from neurocodec.errors import NeurocodecError

import contextlib
import io
import resource
import time
from pathlib import Path

import numpy as np

from neurocodec.files import save_with_atomic, write_json_atomic, write_text_atomic


class CsimError(NeurocodecError, RuntimeError):
    """The C simulation could not be built or run."""


def _precision_of(var):
    return var.type.precision


def _frac_of(precision) -> int:
    return int(precision.width) - int(precision.integer)


def compile_csim(hls_model, log_path: Path | None = None) -> dict:
    """Write the project and build its C simulation library with g++ (`hls_model.compile()`).

    Returns {"wall_seconds", "cpu_seconds"} (cpu: this process + g++). hls4ml's console output
    goes to `log_path` if given."""
    buf = io.StringIO()
    t0, c0 = time.perf_counter(), _cpu_seconds()
    try:
        with contextlib.redirect_stdout(buf):
            hls_model.compile()
    except Exception as e:  # hls4ml raises bare Exception on a g++ failure
        raise CsimError(f"C simulation build failed in {hls_model.config.get_output_dir()}: {e}\n{buf.getvalue()[-4000:]}") from e
    finally:
        if log_path is not None:
            write_text_atomic(log_path, buf.getvalue())
    return {"wall_seconds": round(time.perf_counter() - t0, 3), "cpu_seconds": round(_cpu_seconds() - c0, 3)}


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def layer_precisions(hls_model) -> list[dict]:
    """The types hls4ml will actually emit, per layer of the optimized graph."""
    rows = []
    for name, layer in hls_model.graph.items():
        types = {k.removesuffix("_t"): str(v.precision) for k, v in layer.types.items() if k != "table_t"}
        rows.append({"name": name, "class": layer.class_name, "types": types})
    return rows


def _as_reference(ref, reference):
    """An IntReference from the new-style argument (anything with .run) or the legacy (ie, reference(codes, ie))."""
    if reference is not None:
        return lambda c: reference(c, ref)
    if hasattr(ref, "run"):
        return ref.run
    if ref is None:
        raise ValueError("csim_compare needs an integer reference (an IntReference or reference=callable)")
    from neurocodec.quantize.reference import encode_int

    return lambda c: encode_int(c, ref)


def csim_compare(hls_model, input_codes, ref, reference=None, report_path="default", extra: dict | None = None) -> dict:
    """Run the compiled C simulation on integer input codes and compare with the integer reference.

    ref: an `IntReference` (`ref.run(codes) -> codes`; the cae IntEncoder, gamma's IntDecoder,
    vq's index reference...). Legacy form: ref is any object and reference(codes, ref) -> codes
    (the default for an IntEncoder is encode_int). input_codes: (n, ...) ints on the hls input grid
    (value = code / 2**input_frac, input_frac taken from the hls model's input type); a vector is
    flattened for the C simulation, the reference sees the codes as given. The hls outputs are
    converted to codes with the output type's fractional bits and compared exactly.

    Writes the report as JSON to `report_path` ("default": <project>/csim_report.json, None: no file)
    and returns it: n_vectors, n_samples, n_outputs, mismatches, mismatched_vectors, bit_exact, ..."""
    run = _as_reference(ref, reference)
    if getattr(hls_model, "_top_function_lib", None) is None:
        raise CsimError("hls model is not compiled: call compile_csim(hls_model) / hls_model.compile() first")
    given = np.asarray(input_codes)
    if given.ndim < 2 or given.shape[0] == 0:
        raise ValueError(f"input codes must have shape (n_vectors, ...), got {np.shape(input_codes)}")
    if not np.issubdtype(given.dtype, np.integer):
        if not np.array_equal(given, np.round(given)):
            raise ValueError("input codes must be integers")
        given = given.astype(np.int64)
    codes = given.reshape(given.shape[0], -1)
    in_var = hls_model.get_input_variables()[0]
    out_var = hls_model.get_output_variables()[0]
    in_p, out_p = _precision_of(in_var), _precision_of(out_var)
    in_frac, out_frac = _frac_of(in_p), _frac_of(out_p)
    if codes.shape[1] != in_var.size():
        raise ValueError(f"input codes have {codes.shape[1]} samples per vector, the hls model expects {in_var.size()}")
    lo = -(1 << (in_p.width - 1)) if in_p.signed else 0
    hi = (1 << (in_p.width - 1)) - 1 if in_p.signed else (1 << in_p.width) - 1
    if codes.min() < lo or codes.max() > hi:
        raise ValueError(f"input codes outside [{lo}, {hi}] of the hls input type {in_p}")

    expected = np.asarray(run(given)).reshape(codes.shape[0], -1).astype(np.int64)
    if expected.shape[1] != out_var.size():
        raise ValueError(f"reference gives {expected.shape[1]} outputs per vector, the hls model {out_var.size()}")

    x = np.ascontiguousarray(codes.astype(np.float64) / 2.0**in_frac)  # exactly on the input grid
    t0 = time.perf_counter()
    y = np.asarray(hls_model.predict(x), dtype=np.float64).reshape(codes.shape[0], -1)
    seconds = time.perf_counter() - t0
    scaled = y * 2.0**out_frac
    got = np.rint(scaled).astype(np.int64)
    off_grid = got != scaled  # an hls output between codes is a mismatch too
    diff = (got != expected) | off_grid
    n_mis = int(np.count_nonzero(diff))
    bad_vectors = np.flatnonzero(diff.any(axis=1))
    first = None
    if diff.any():
        v, i = map(int, np.argwhere(diff)[0])
        first = {"vector": v, "index": i, "hls": float(scaled[v, i]), "reference": int(expected[v, i])}
    out_hi = (1 << (out_p.width - 1)) - 1 if out_p.signed else (1 << out_p.width) - 1
    out_lo = -(1 << (out_p.width - 1)) if out_p.signed else 0
    report = {
        "project": str(hls_model.config.get_output_dir()),
        "project_name": hls_model.config.get_project_name(),
        "backend": hls_model.config.backend.name,
        "io_type": hls_model.config.get_config_value("IOType"),
        "n_vectors": int(codes.shape[0]),
        "n_samples": int(codes.size),
        "n_outputs": int(expected.size),
        "mismatches": n_mis,
        "off_grid_outputs": int(np.count_nonzero(off_grid)),
        "mismatched_vectors": [int(v) for v in bad_vectors[:100]],
        "n_mismatched_vectors": int(bad_vectors.size),
        "max_abs_code_diff": float(np.max(np.abs(scaled - expected))) if expected.size else 0.0,
        "first_mismatch": first,
        "bit_exact": n_mis == 0,
        "input_type": str(in_p),
        "output_type": str(out_p),
        "output_code_range": [int(expected.min()), int(expected.max())],
        "output_saturated_fraction": float(np.mean((expected == out_hi) | (expected == out_lo))),
        "csim_seconds": round(seconds, 3),
        "layers": layer_precisions(hls_model),
    }
    if extra:
        report.update(extra)
    if report_path == "default":
        report_path = Path(hls_model.config.get_output_dir()) / "csim_report.json"
    if report_path is not None:
        write_json_atomic(Path(report_path), report)
        report["report_path"] = str(report_path)
        # the C simulation's own output codes, for comparison with other implementations (RTL)
        save_with_atomic(Path(report_path).with_name("csim_output_codes.npy"), lambda tmp: np.save(tmp, got))
    report["output_codes"] = got
    return report


def trace_compare(hls_model, input_codes, layer_reference: dict) -> dict:
    """Per-layer bit-exactness, to locate a mismatch: layer_reference maps an hls layer name to the
    expected integer codes of its output (n, ...). Needs a model converted with trace=True (every
    layer 'Trace': True); recompiles with tracing (hls_model.trace). Returns {layer: n_mismatches}."""
    codes = np.asarray(input_codes)
    in_frac = _frac_of(_precision_of(hls_model.get_input_variables()[0]))
    x = np.ascontiguousarray(codes.reshape(codes.shape[0], -1).astype(np.float64) / 2.0**in_frac)
    with contextlib.redirect_stdout(io.StringIO()):
        _, traces = hls_model.trace(x)
    result = {}
    for name, expected in layer_reference.items():
        if name not in traces:
            raise ValueError(f"layer {name} was not traced (traced: {sorted(traces)})")
        frac = _frac_of(hls_model.graph[name].get_output_variable().type.precision)
        got = np.asarray(traces[name], dtype=np.float64).reshape(codes.shape[0], -1) * 2.0**frac
        exp = np.asarray(expected).reshape(codes.shape[0], -1)
        result[name] = int(np.count_nonzero(got != exp))
    return result
