"""`neurocodec cosim --model-dir out/models/cae_cr64`: the RTL under cocotb + Verilator on the
model's real test vectors, compared with the Python reference and with the hls4ml C simulation."""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

from neurocodec import paths


def compare_rtl(model_dir, macs_per_layer=1, max_vectors=None, hls_dir=None, out_dir=None) -> dict:
    from neurocodec.firmware.verilog_gen import balanced_macs_per_layer, load_int_encoder
    from neurocodec.quantize.reference import encode_int
    from neurocodec.sim.runner import cosim

    model_dir = Path(model_dir)
    vectors = model_dir / "test_vectors.npz"
    if not vectors.is_file():
        raise ValueError(f"{vectors} is missing: train the model first (it writes real test vectors)")
    ie = load_int_encoder(model_dir / "int_encoder.json")
    with np.load(vectors) as z:
        codes = np.asarray(z["input_codes"])[:max_vectors]
    if macs_per_layer == "balanced":
        macs_per_layer = balanced_macs_per_layer(ie)
    result = cosim(ie, codes, model_dir.name, macs_per_layer=macs_per_layer)
    reference = encode_int(codes, ie)
    report = {
        "model_dir": str(model_dir),
        "rtl": str(result.rtl),
        "n_vectors": int(codes.shape[0]),
        "n_samples": int(codes.size),
        "n_outputs": int(reference.size),
        "mismatches_vs_reference": int(np.count_nonzero(result.latent != reference)),
        "macs_per_layer": macs_per_layer,
        "cycles": int(result.cycles),
        "steady_cycles_per_segment": result.steady_cycles_per_segment,
        "latency_cycles_max": int(result.latencies.max()),
        "schedule": result.schedule,
    }
    hls_dir = Path(hls_dir) if hls_dir else paths.stage_dir("hls", model_dir.name)
    hls_codes_path = hls_dir / "csim_output_codes.npy"
    if hls_codes_path.is_file():
        hls_codes = np.load(hls_codes_path)
        if hls_codes.shape[0] < codes.shape[0]:
            report["mismatches_vs_hls_csim"] = None
            report["hls_csim_note"] = f"{hls_codes_path} holds {hls_codes.shape[0]} vectors, fewer than simulated"
        else:
            hls_codes = hls_codes[: codes.shape[0]].reshape(result.latent.shape)
            report["mismatches_vs_hls_csim"] = int(np.count_nonzero(result.latent != hls_codes))
            report["hls_csim_codes"] = str(hls_codes_path)
    else:
        report["mismatches_vs_hls_csim"] = None
        report["hls_csim_note"] = f"no hls C simulation output at {hls_codes_path} (run `make hls MODEL={model_dir.name}` first)"
    out_dir = Path(out_dir) if out_dir else paths.stage_dir("sim", model_dir.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "cosim_report.json").write_text(json.dumps(report, indent=2, default=str))
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="neurocodec cosim", description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", required=True)
    p.add_argument("--macs-per-layer", default="1", help="MACs per layer: an integer or 'balanced'")
    p.add_argument("--max-vectors", type=int)
    p.add_argument("--hls-dir", help="hls project with csim_output_codes.npy (default out/hls/<model>)")
    a = p.parse_args(argv)
    macs = a.macs_per_layer if a.macs_per_layer == "balanced" else int(a.macs_per_layer)
    try:
        r = compare_rtl(a.model_dir, macs, a.max_vectors, a.hls_dir)
    except ValueError as exc:
        print(f"neurocodec cosim: error: {exc}", file=sys.stderr)
        return 2
    hls = r["mismatches_vs_hls_csim"]
    print(f"rtl cosim: {r['mismatches_vs_reference']} mismatches vs Python reference on {r['n_vectors']} vectors ({r['n_samples']} samples); "
          + (f"{hls} mismatches vs hls4ml C simulation" if hls is not None else r["hls_csim_note"]))
    print(f"cycles per segment {r['steady_cycles_per_segment']}, max latency {r['latency_cycles_max']} cycles, RTL {r['rtl']}")
    return 0 if r["mismatches_vs_reference"] == 0 and not hls else 1


if __name__ == "__main__":
    sys.exit(main())
