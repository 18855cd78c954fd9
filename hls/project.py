"""The cae family's hardware flow entry: hls4ml project, C simulation, bit-exact check.

    python -m neurocodec.hls.project --model-dir out/models/cae_cr64 [--io-type io_stream] [--out out/hls/cae_cr64]

writes an hls4ml project (Vitis backend by default) into out/hls/<name>/ through the one shared
flow (neurocodec.hls.flow: exact fixed-point types of the QKeras quantizers, type guard, C
simulation with g++, comparison with the integer reference on the model's test vectors,
csim_report.json in the project). This module only says what the cae contributes: its encoder,
its `IntEncoder` and its test vectors (`hardware_target`). A user with Vitis HLS synthesizes it with
``cd out/hls/<name> && vitis_hls -f build_prj.tcl`` (or ``hls_model.build()``).
"""
from __future__ import annotations

import sys
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
from neurocodec.hls.flow import (  # noqa: F401  (re-exported API)
    DEFAULT_PART,
    VENDOR_SCRIPTS,
    HardwareTarget,
    check_stored_reference,
    check_types,
    convert_model,
    hls_main,
    load_test_vectors,
    run_flow,
    summary_line,
)

# The converter is the shared one; `convert_encoder` is its historical name.
convert_encoder = convert_model


def hardware_target(model_dir, max_vectors: int | None = None, loader=None) -> HardwareTarget:
    """The cae's contribution to the hardware flow: its QKeras encoder, its IntEncoder and its
    test vectors (test_vectors.npz: input_codes; latent_codes checked too when present).

    loader(model_dir) -> (spec, autoencoder, encoder, decoder, meta), default
    neurocodec.train.artifacts.load_cae. int_encoder.json, when present, must match the encoder."""
    from neurocodec.quantize.reference import extract_int_encoder

    model_dir = Path(model_dir)
    vectors = load_test_vectors(model_dir, ("input_codes", "latent_codes"), max_vectors)
    if loader is None:
        from neurocodec.train.artifacts import load_cae as loader
    _spec, _ae, encoder, _dec, _meta = loader(model_dir)
    ie = extract_int_encoder(encoder)
    check_stored_reference(model_dir / "int_encoder.json", ie.to_dict(),
                           f"integer encoder extracted from {model_dir}/weights.h5")
    input_codes = vectors["input_codes"]
    stored = {}
    if "latent_codes" in vectors:
        latent = vectors["latent_codes"]
        stored["stored_latent_mismatches"] = int(np.count_nonzero(ie.run(input_codes).reshape(latent.shape) != latent))
    return HardwareTarget(encoder, ie, input_codes, extra={"model_dir": str(model_dir)}, stored_checks=stored)


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
    """Trained cae folder (out/models/<name>) -> hls project + C simulation + bit-exact report."""
    from neurocodec import paths

    target = hardware_target(model_dir, max_vectors, loader)
    out_dir = Path(out_dir) if out_dir is not None else paths.stage_dir("hls", Path(model_dir).name)
    return run_flow(target, out_dir, backend=backend, part=part, clock_period_ns=clock_period_ns, io_type=io_type)


def main(argv=None) -> int:
    """`neurocodec hls --model-dir DIR` for a cae folder."""
    return hls_main("cae", hardware_target, argv)


if __name__ == "__main__":
    sys.exit(main())
