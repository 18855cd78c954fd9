"""hls4ml project of a quantized encoder: write it, build its C simulation, check it bit-exact.

    python -m neurocodec.hls.project --model-dir out/models/cae_cr64 [--io-type io_stream] [--out out/hls/cae_cr64]

writes an hls4ml project (Vitis backend by default) into out/hls/<name>/ with the exact
fixed-point types of the QKeras quantizers (see neurocodec.hls.config), compiles its C simulation
with g++ and compares it with the integer Python reference on the model's test vectors
(csim_report.json in the project). A user with Vitis HLS synthesizes it with
``cd out/hls/<name> && vitis_hls -f build_prj.tcl`` (or ``hls_model.build()``).
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
from pathlib import Path

import numpy as np

from neurocodec.hls.config import (  # noqa: F401  (re-exported API)
    FixedType,
    UnsupportedModelError,
    expected_types,
    hls_config_for,
    propagate_types,
)
from neurocodec.hls.csim import CsimError, compile_csim, csim_compare, trace_compare  # noqa: F401

DEFAULT_PART = "xcu250-figd2104-2L-e"
VENDOR_SCRIPTS = ("build_prj.tcl", "project.tcl")


def _project_name(out_dir: Path) -> str:
    name = re.sub(r"\W", "_", out_dir.name) or "myproject"
    return name if name[0].isalpha() else f"p_{name}"


def _prepare_out_dir(out_dir: Path) -> None:
    """Replace a previous hls4ml project in out_dir; refuse to overwrite anything else."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ValueError(f"hls output path {out_dir} exists and is not a folder")
        if any(out_dir.iterdir()):
            if not (out_dir / "hls4ml_config.yml").exists():
                raise ValueError(f"hls output folder {out_dir} is not empty and holds no hls4ml project; not overwriting")
            shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def _check_types(hls_model, encoder) -> None:
    """The optimized hls graph must carry exactly the types hls_config_for asked for."""
    conv = hls_model.config.backend.convert_precision_string
    problems = []
    for name, d in propagate_types(encoder).items():
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


def convert_encoder(
    encoder,
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
):
    """Convert a QKeras encoder to an hls4ml project in out_dir (written, not compiled).

    Types come from the quantizers (hls_config_for); the project keeps hls4ml's vendor scripts
    (build_prj.tcl, project.tcl, vivado_synth.tcl) for synthesis with Vitis HLS. tb_inputs /
    tb_outputs (real values, (n, ...) arrays) become the vendor testbench data in tb_data/.
    trace=True marks every layer for hls_model.trace (csim debugging only)."""
    from neurocodec.train.backend import use_tf_keras_as_keras

    out_dir = Path(out_dir).resolve()
    cfg = hls_config_for(encoder, io_type=io_type, backend=backend, reuse_factor=reuse_factor, strategy=strategy)
    if trace:
        for lc in cfg["LayerName"].values():
            lc["Trace"] = True
    use_tf_keras_as_keras()
    import hls4ml

    _prepare_out_dir(out_dir)
    log = io.StringIO()
    tb = {}  # kept in the project: hls_model.write() (also run by compile()) re-reads them
    for key, data, fname in (("input_data_tb", tb_inputs, "tb_inputs.npy"), ("output_data_tb", tb_outputs, "tb_outputs.npy")):
        if data is not None:
            np.save(out_dir / fname, np.asarray(data, dtype=np.float64).reshape(len(data), -1))
            tb[key] = str(out_dir / fname)
    with contextlib.redirect_stdout(log):
        hls_model = hls4ml.converters.convert_from_keras_model(
            encoder,
            hls_config=cfg,
            output_dir=str(out_dir),
            project_name=project_name or _project_name(out_dir),
            backend=backend,
            io_type=io_type,
            part=part,
            clock_period=clock_period_ns,
            **tb,
        )
        _check_types(hls_model, encoder)
        hls_model.write()
    (out_dir / "hls4ml_convert.log").write_text(log.getvalue())
    missing = [s for s in VENDOR_SCRIPTS if not (out_dir / s).exists()]
    if missing:
        raise CsimError(f"hls4ml wrote no {', '.join(missing)} into {out_dir}")
    return hls_model


def build_hls_for_model_dir(
    model_dir,
    out_dir=None,
    io_type: str = "io_stream",
    backend: str = "Vitis",
    part: str = DEFAULT_PART,
    clock_period_ns: float = 10,
    max_vectors: int | None = None,
    loader=None,
) -> dict:
    """Trained model folder (out/models/<name>) -> hls project + C simulation + bit-exact report.

    loader(model_dir) -> (spec, autoencoder, encoder, decoder, meta), default
    neurocodec.train.artifacts.load_cae. Uses test_vectors.npz (input_codes; latent_codes checked
    too when present) and int_encoder.json (else the integer encoder is extracted from the model)."""
    from neurocodec import paths
    from neurocodec.quantize.reference import IntEncoder, encode_int, extract_int_encoder

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ValueError(f"model folder {model_dir} does not exist (train it first)")
    vectors_path = model_dir / "test_vectors.npz"
    if not vectors_path.exists():
        raise ValueError(f"{vectors_path} is missing: the bit-exact check needs the model's test vectors")
    if loader is None:
        from neurocodec.train.artifacts import load_cae as loader
    out_dir = Path(out_dir) if out_dir is not None else paths.stage_dir("hls", model_dir.name)
    _spec, _ae, encoder, _dec, _meta = loader(model_dir)
    ie = extract_int_encoder(encoder)
    ie_path = model_dir / "int_encoder.json"
    if ie_path.exists():
        stored = IntEncoder.from_dict(json.loads(ie_path.read_text()))
        if json.dumps(stored.to_dict(), sort_keys=True) != json.dumps(ie.to_dict(), sort_keys=True):
            raise ValueError(f"{ie_path} does not match the integer encoder extracted from {model_dir}/weights.h5")
    with np.load(vectors_path) as z:
        input_codes = np.asarray(z["input_codes"])
        latent_codes = np.asarray(z["latent_codes"]) if "latent_codes" in z.files else None
    if max_vectors is not None:
        input_codes = input_codes[:max_vectors]
        latent_codes = None if latent_codes is None else latent_codes[:max_vectors]
    expected = encode_int(input_codes, ie)
    extra = {"model_dir": str(model_dir)}
    if latent_codes is not None:
        extra["stored_latent_mismatches"] = int(np.count_nonzero(expected.reshape(latent_codes.shape) != latent_codes))
    t0 = time.perf_counter()
    hls_model = convert_encoder(
        encoder, out_dir, io_type=io_type, backend=backend, part=part, clock_period_ns=clock_period_ns,
        tb_inputs=input_codes / 2.0**ie.input_frac,
        tb_outputs=expected / 2.0 ** ie.layers[-1].out_frac,
    )
    extra["convert_seconds"] = round(time.perf_counter() - t0, 3)
    timing = compile_csim(hls_model, out_dir / "hls4ml_compile.log")
    extra["compile_seconds"], extra["compile_cpu_seconds"] = timing["wall_seconds"], timing["cpu_seconds"]
    return csim_compare(hls_model, input_codes, ie, reference=encode_int, extra=extra)


def summary_line(report: dict) -> str:
    line = (f"hls csim: {report['mismatches']} mismatches on {report['n_vectors']} vectors "
            f"({report['n_samples']} samples)")
    if report.get("stored_latent_mismatches"):
        line += f"; WARNING: reference differs from stored latent_codes in {report['stored_latent_mismatches']} values"
    return line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="neurocodec hls",
        description="Write an hls4ml project for a trained quantized encoder, build its C simulation (g++) "
        "and check it bit-exact against the integer reference on the model's test vectors.",
    )
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-dir", type=Path, help="trained model folder, e.g. out/models/cae_cr64")
    src.add_argument("--model", help="model name, short for --model-dir out/models/NAME")
    parser.add_argument("--io-type", default="io_stream", choices=["io_stream", "io_parallel"])
    parser.add_argument("--out", type=Path, default=None, help="project folder (default out/hls/<model name>)")
    parser.add_argument("--backend", default="Vitis", choices=["Vitis", "Vivado"])
    parser.add_argument("--part", default=DEFAULT_PART)
    parser.add_argument("--clock-period", type=float, default=10.0, help="ns")
    parser.add_argument("--max-vectors", type=int, default=None, help="check only the first N test vectors")
    args = parser.parse_args(argv)
    from neurocodec import paths

    model_dir = args.model_dir if args.model_dir is not None else paths.model_dir(args.model)
    try:
        report = build_hls_for_model_dir(
            model_dir, args.out, io_type=args.io_type, backend=args.backend, part=args.part,
            clock_period_ns=args.clock_period, max_vectors=args.max_vectors,
        )
    except (ValueError, OSError, CsimError) as e:
        print(f"neurocodec hls: error: {e}", file=sys.stderr)
        return 2
    print(summary_line(report))
    print(f"project: {report['project']} (report {report.get('report_path')})")
    return 0 if report["bit_exact"] and not report.get("stored_latent_mismatches") else 1


if __name__ == "__main__":
    sys.exit(main())
