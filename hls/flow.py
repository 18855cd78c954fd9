"""The one hls4ml flow of every model family: convert (with the type guard), compile, C-simulate, compare.

A family contributes a `HardwareTarget`: the Keras model that goes to hls4ml (its hardware form),
its integer reference (`IntReference`: `run(codes) -> codes`, `input_frac`, `output_frac`), the
integer input codes to check on, and conversion options (project name, io type, hls4ml extensions
for a custom layer). Everything else is here, written once:

* `convert_model`: exact per-layer types (`neurocodec.hls.config`, one rule per layer class),
  hls4ml conversion, then `check_types` (hls4ml silently dropping or changing a type is an error),
  vendor scripts and testbench data kept in the project;
* `run_flow`: convert + `compile_csim` + `csim_compare` (bit-exact against the reference);
* `hls_main(family, target_for_model_dir)`: the `neurocodec hls --model-dir DIR` command line.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from neurocodec.files import make_dirs, save_with_atomic, write_text_atomic
from neurocodec.hls.config import UnsupportedModelError, hls_config_for, propagate_types
from neurocodec.hls.csim import CsimError, compile_csim, csim_compare

DEFAULT_PART = "xcu250-figd2104-2L-e"
VENDOR_SCRIPTS = ("build_prj.tcl", "project.tcl")
# An extension registers a custom layer with hls4ml before conversion: ext(backend_name, work_dir).
Extension = Callable[[str, Path], None]


# C++ names the generated top function must not take (namespaces of the hls4ml/ap headers)
_RESERVED = {"hls", "nnet", "std", "ap", "main", "myproject_test"}


def project_name_for(out_dir: Path) -> str:
    """A C++ identifier for the top function from the project folder's name."""
    name = re.sub(r"\W", "_", Path(out_dir).name) or "myproject"
    return name if name[0].isalpha() and name not in _RESERVED else f"p_{name}"


def prepare_out_dir(out_dir: Path) -> None:
    """Replace a previous hls4ml project in out_dir; refuse to overwrite anything else."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise UnsupportedModelError(f"hls output path {out_dir} exists and is not a folder")
        if any(out_dir.iterdir()):
            if not (out_dir / "hls4ml_config.yml").exists():
                raise UnsupportedModelError(
                    f"hls output folder {out_dir} is not empty and holds no hls4ml project; not overwriting")
            shutil.rmtree(out_dir)
    make_dirs(out_dir)


def check_types(hls_model, model) -> None:
    """The optimized hls graph must carry exactly the types hls_config_for asked for (hls4ml 1.3
    silently drops a quantizer or falls back to the model default type in several cases)."""
    conv = hls_model.config.backend.convert_precision_string
    problems = []
    for name, d in propagate_types(model).items():
        if d["result"] is None:  # opaque custom layer: types of its own
            continue
        layer = hls_model.graph.get(name)
        if d["folded_into"]:
            if layer is not None and str(layer.get_output_variable().type.precision) != str(conv(d["result"].hls())):
                problems.append(f"{name}: quantizer kept with type {layer.get_output_variable().type.precision}")
            continue
        if layer is None:
            if d["class"] in ("Dropout", "Flatten", "Reshape"):
                continue
            problems.append(f"{name}: missing from the hls graph")
            continue
        want = {"result": d["result"], **d["types"]}
        for key, t in want.items():
            have = layer.types.get(f"{key}_t")
            if have is None or str(have.precision) != str(conv(t.hls())):
                problems.append(f"{name}.{key}: hls4ml has {None if have is None else have.precision}, expected {t.hls()}")
    if problems:
        raise UnsupportedModelError("hls4ml did not keep the exact types:\n  " + "\n  ".join(problems))


def _save_npy(path: Path, array) -> None:
    save_with_atomic(path, lambda tmp: np.save(tmp, array))


def convert_model(
    model,
    out_dir,
    io_type: str = "io_stream",
    backend: str = "Vitis",
    part: str = DEFAULT_PART,
    clock_period_ns: float = 10,
    project_name: str | None = None,
    tb_inputs: np.ndarray | None = None,
    tb_outputs: np.ndarray | None = None,
    trace: bool = False,
    reuse_factor: int = 1,
    strategy: str = "Latency",
    extensions: Sequence[Extension] = (),
):
    """Convert a QKeras model to an hls4ml project in out_dir (written, not compiled).

    Types come from the quantizers (hls_config_for) and are checked after conversion (check_types);
    the project keeps hls4ml's vendor scripts (build_prj.tcl, project.tcl, vivado_synth.tcl) for
    synthesis with Vitis HLS. tb_inputs / tb_outputs (real values, (n, ...) arrays) become the
    vendor testbench data in tb_data/. trace=True marks every layer for hls_model.trace (csim
    debugging only). extensions: callables registering a family's custom hls4ml layer."""
    from neurocodec.train.backend import use_tf_keras_as_keras

    out_dir = Path(out_dir).resolve()
    use_tf_keras_as_keras()
    for ext in extensions:
        ext(backend, out_dir.parent / ".hls_extensions")
    cfg = hls_config_for(model, io_type=io_type, backend=backend, reuse_factor=reuse_factor, strategy=strategy)
    if trace:
        for lc in cfg["LayerName"].values():
            lc["Trace"] = True
    import hls4ml

    prepare_out_dir(out_dir)
    log = io.StringIO()
    tb = {}  # kept in the project: hls_model.write() (also run by compile()) re-reads them
    for key, data, fname in (("input_data_tb", tb_inputs, "tb_inputs.npy"), ("output_data_tb", tb_outputs, "tb_outputs.npy")):
        if data is not None:
            _save_npy(out_dir / fname, np.asarray(data, dtype=np.float64).reshape(len(data), -1))
            tb[key] = str(out_dir / fname)
    with contextlib.redirect_stdout(log):
        hls_model = hls4ml.converters.convert_from_keras_model(
            model,
            hls_config=cfg,
            output_dir=str(out_dir),
            project_name=project_name or project_name_for(out_dir),
            backend=backend,
            io_type=io_type,
            part=part,
            clock_period=clock_period_ns,
            **tb,
        )
        check_types(hls_model, model)
        hls_model.write()
    write_text_atomic(out_dir / "hls4ml_convert.log", log.getvalue())
    missing = [s for s in VENDOR_SCRIPTS if not (out_dir / s).exists()]
    if missing:
        raise CsimError(f"hls4ml wrote no {', '.join(missing)} into {out_dir}")
    return hls_model


@dataclass
class HardwareTarget:
    """What a family contributes to the hardware flow."""

    model: object  # Keras/QKeras model converted by hls4ml
    reference: object  # IntReference: run(codes) -> codes, input_frac, output_frac
    input_codes: np.ndarray  # (n, ...) integer input codes to check on
    project_name: str | None = None
    io_type: str = "io_stream"
    extensions: Sequence[Extension] = ()
    extra: dict = field(default_factory=dict)  # copied into the report
    # name -> number of values where the reference disagrees with codes stored at training time
    stored_checks: dict = field(default_factory=dict)


def run_flow(target: HardwareTarget, out_dir, backend: str = "Vitis", part: str = DEFAULT_PART,
             clock_period_ns: float = 10, io_type: str | None = None) -> dict:
    """Convert + compile + C-simulate a family's hardware model; compare with its reference."""
    ref = target.reference
    codes = np.asarray(target.input_codes)
    expected = np.asarray(ref.run(codes))
    extra = dict(target.extra)
    t0 = time.perf_counter()
    hls_model = convert_model(
        target.model, out_dir, io_type=io_type or target.io_type, backend=backend, part=part,
        clock_period_ns=clock_period_ns, project_name=target.project_name,
        tb_inputs=codes / 2.0**ref.input_frac, tb_outputs=expected / 2.0**ref.output_frac,
        extensions=target.extensions,
    )
    extra["convert_seconds"] = round(time.perf_counter() - t0, 3)
    timing = compile_csim(hls_model, Path(out_dir) / "hls4ml_compile.log")
    extra["compile_seconds"], extra["compile_cpu_seconds"] = timing["wall_seconds"], timing["cpu_seconds"]
    extra.update(target.stored_checks)
    return csim_compare(hls_model, codes, ref, extra=extra)


def summary_line(report: dict) -> str:
    line = (f"hls csim: {report['mismatches']} mismatches on {report['n_vectors']} vectors "
            f"({report['n_samples']} samples)")
    for key, value in report.items():
        if key.startswith("stored_") and value:
            line += f"; WARNING: reference differs from the values stored at training ({key}: {value})"
    return line


def hls_main(family: str, target_for_model_dir: Callable[..., HardwareTarget], argv=None,
             default_io_type: str = "io_stream") -> int:
    """`neurocodec hls --model-dir DIR` for one family: target_for_model_dir(model_dir, max_vectors)."""
    from neurocodec import paths
    from neurocodec.errors import NeurocodecError

    parser = argparse.ArgumentParser(
        prog="neurocodec hls",
        description=f"Write the hls4ml project of a trained {family} model's hardware form, build its C "
        "simulation (g++) and check it bit-exact against the integer reference on the model's test vectors.",
    )
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-dir", type=Path, help=f"trained model folder, e.g. out/models/{family}")
    src.add_argument("--model", help="model name, short for --model-dir out/models/NAME")
    parser.add_argument("--io-type", default=default_io_type, choices=["io_stream", "io_parallel"])
    parser.add_argument("--out", type=Path, default=None, help="project folder (default out/hls/<model name>)")
    parser.add_argument("--backend", default="Vitis", choices=["Vitis", "Vivado"])
    parser.add_argument("--part", default=DEFAULT_PART)
    parser.add_argument("--clock-period", type=float, default=10.0, help="ns")
    parser.add_argument("--max-vectors", type=int, default=None, help="check only the first N test vectors")
    args = parser.parse_args(argv)
    model_dir = args.model_dir if args.model_dir is not None else paths.model_dir(args.model)
    out = args.out if args.out is not None else paths.stage_dir("hls", Path(model_dir).name)
    try:
        target = target_for_model_dir(Path(model_dir), args.max_vectors)
        report = run_flow(target, out, backend=args.backend, part=args.part, clock_period_ns=args.clock_period,
                          io_type=args.io_type)
    except (NeurocodecError, OSError) as e:
        print(f"neurocodec hls: error: {e}", file=sys.stderr)
        return 2
    print(summary_line(report))
    print(f"project: {report['project']} (report {report.get('report_path')})")
    stored_ok = not any(v for k, v in report.items() if k.startswith("stored_"))
    return 0 if report["bit_exact"] and stored_ok else 1


def load_test_vectors(model_dir: Path, keys: Sequence[str], max_vectors: int | None = None) -> dict:
    """The arrays `keys` of <model_dir>/test_vectors.npz (missing optional keys are skipped),
    cut to max_vectors; a clear error when the folder or file is missing."""
    from neurocodec.errors import NeurocodecError

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise NeurocodecError(f"model folder {model_dir} does not exist (train it first)")
    path = model_dir / "test_vectors.npz"
    if not path.exists():
        raise NeurocodecError(f"{path} is missing: the bit-exact check needs the model's test vectors")
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: np.asarray(z[k]) for k in keys if k in z.files}
    except Exception as exc:  # BadZipFile, EOFError, ValueError, OSError on a corrupt file
        raise NeurocodecError(f"{path}: corrupt or truncated ({type(exc).__name__}: {exc})") from None
    if "input_codes" not in out:
        raise NeurocodecError(f"{path} holds no input_codes")
    if max_vectors is not None:
        out = {k: v[:max_vectors] for k, v in out.items()}
    return out


def check_stored_reference(path: Path, reference_dict: dict, what: str) -> None:
    """A stored int_encoder.json / int_decoder.json must equal the reference extracted from the weights."""
    from neurocodec.errors import NeurocodecError

    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except ValueError as exc:
            raise NeurocodecError(f"{path}: corrupt or truncated JSON ({exc})") from None
        if json.dumps(stored, sort_keys=True) != json.dumps(json.loads(json.dumps(reference_dict)), sort_keys=True):
            raise NeurocodecError(f"{path} does not match the {what}")


__all__ = [
    "DEFAULT_PART", "VENDOR_SCRIPTS", "HardwareTarget", "check_types", "convert_model", "prepare_out_dir",
    "project_name_for", "run_flow", "summary_line", "hls_main", "load_test_vectors", "check_stored_reference",
]
