"""The gamma_cnn family's hardware flow entry (`neurocodec hls --model-dir out/models/gamma_cnn`).

gamma_cnn contributes its QKeras hardware form of one recording session
(`train.gamma_cnn.build_quantized_model`), its integer reference (`IntDecoder.run` = `run_int`)
and the test vectors saved at training; conversion, type guard, C simulation and comparison are
the shared flow (neurocodec.hls.flow).
"""
from __future__ import annotations

import sys
from pathlib import Path

from neurocodec.hls.flow import HardwareTarget, hls_main, load_test_vectors

DEFAULT_WINDOWS = 64  # test-vector windows simulated when --max-vectors is not given


def hardware_target(model_dir, max_vectors: int | None = None) -> HardwareTarget:
    from neurocodec.train.gamma_cnn import build_quantized_model, load_int_decoder

    model_dir = Path(model_dir)
    vectors = load_test_vectors(model_dir, ("input_codes", "output_codes"),
                                DEFAULT_WINDOWS if max_vectors is None else max_vectors)
    dec = load_int_decoder(model_dir)
    codes = vectors["input_codes"]
    stored = {}
    if "output_codes" in vectors:
        stored["stored_output_mismatches"] = int((dec.run(codes) != vectors["output_codes"]).sum())
    return HardwareTarget(build_quantized_model(dec, codes.shape[1]), dec, codes, project_name="gamma_cnn",
                          extra={"model_dir": str(model_dir), "window": int(codes.shape[1]), "session": dec.session},
                          stored_checks=stored)


def main(argv=None) -> int:
    """`neurocodec hls --model-dir DIR` for a gamma_cnn folder."""
    return hls_main("gamma_cnn", hardware_target, argv)


if __name__ == "__main__":
    sys.exit(main())
