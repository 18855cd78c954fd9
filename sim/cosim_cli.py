"""`neurocodec cosim --model-dir out/models/cae_cr64`: the RTL under cocotb + Verilator on the
model's real test vectors plus coverage vectors, compared with the Python reference and with the
hls4ml C simulation.

* vectors: the model's real test vectors (test_vectors.npz) followed by vectors found by search
  against the integer reference (sim/coverage.py) that drive every layer into saturation and onto
  rounding ties and make each modelled mutant observable; `--no-coverage` simulates the real
  vectors only. The report gives the per-layer coverage (saturations and ties hit, of the real
  vectors alone and of all vectors) and the events no input can reach.
* C simulation: the RTL output on the real vectors must equal the hls4ml C simulation's
  (out/hls/<model>/csim_output_codes.npy, written by `neurocodec hls`). A missing C-simulation
  output is an error unless `--no-csim` is given explicitly.
* `--rtl FILE` simulates that Verilog file instead of generating the encoder (same ports and
  schedule, e.g. a hand-edited copy).

Exit 0: bit-exact against the reference and the C simulation; 1: mismatches; 2: bad input
(NeurocodecError, printed by the CLI).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from neurocodec import paths
from neurocodec.errors import NeurocodecError
from neurocodec.files import write_json_atomic


def _load_vectors(model_dir: Path, max_vectors=None) -> np.ndarray:
    vectors = model_dir / "test_vectors.npz"
    if not vectors.is_file():
        raise NeurocodecError(f"{vectors} is missing: train the model first (it writes real test vectors)")
    try:
        with np.load(vectors, allow_pickle=False) as z:
            if "input_codes" not in z.files:
                raise NeurocodecError(f"{vectors} has no 'input_codes' array")
            codes = np.asarray(z["input_codes"])
    except NeurocodecError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError, EOFError on a corrupt file
        raise NeurocodecError(f"{vectors}: corrupt or truncated ({type(exc).__name__}: {exc})") from None
    if codes.ndim == 3 and codes.shape[2] == 1:
        codes = codes[:, :, 0]
    if codes.ndim != 2 or codes.shape[0] < 1 or codes.dtype.kind not in "iu":
        raise NeurocodecError(f"{vectors}: input_codes must be (n, segment) integer codes, got {codes.shape} {codes.dtype}")
    return codes[:max_vectors]


def _load_csim(hls_dir: Path, n_real: int, latent_shape) -> tuple[np.ndarray, Path]:
    path = hls_dir / "csim_output_codes.npy"
    if not path.is_file():
        raise NeurocodecError(f"no hls4ml C simulation output at {path}: run `neurocodec hls --model-dir ...` "
                              f"first (or --hls-dir DIR), or pass --no-csim to skip the C-simulation comparison")
    try:
        codes = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise NeurocodecError(f"{path}: corrupt or truncated ({type(exc).__name__}: {exc})") from None
    if codes.shape[0] < n_real:
        raise NeurocodecError(f"{path} holds {codes.shape[0]} vectors, fewer than the {n_real} simulated: "
                              f"rerun `neurocodec hls` or pass --max-vectors {codes.shape[0]}")
    try:
        return codes[:n_real].reshape(n_real, *latent_shape), path
    except ValueError:
        raise NeurocodecError(f"{path}: shape {codes.shape} does not match the latent {latent_shape}") from None


def compare_rtl(model_dir, macs_per_layer=1, max_vectors=None, hls_dir=None, out_dir=None, csim=True,
                coverage=True, rtl_file=None, seed=0) -> dict:
    from neurocodec.firmware.verilog_gen import balanced_macs_per_layer, load_int_encoder
    from neurocodec.quantize.reference import encode_int
    from neurocodec.sim.coverage import coverage_vectors, layer_coverage, reachable
    from neurocodec.sim.runner import cosim

    model_dir = Path(model_dir)
    ie = load_int_encoder(model_dir / "int_encoder.json")
    real = _load_vectors(model_dir, max_vectors)
    if real.shape[1] != ie.segment_length:
        raise NeurocodecError(f"{model_dir / 'test_vectors.npz'}: vectors of {real.shape[1]} samples, the encoder "
                              f"takes {ie.segment_length}")
    hls_dir = Path(hls_dir) if hls_dir else paths.stage_dir("hls", model_dir.name)
    csim_codes = csim_path = None
    if csim:  # checked before the (slow) RTL simulation
        csim_codes, csim_path = _load_csim(hls_dir, real.shape[0], ie.latent_shape)
    out_dir = Path(out_dir) if out_dir else paths.stage_dir("sim", model_dir.name)
    if macs_per_layer == "balanced":
        macs_per_layer = balanced_macs_per_layer(ie)
    if coverage:
        codes, cov = coverage_vectors(ie, real, seed=seed)
    else:
        codes = real.astype(np.int64)
        reach = reachable(ie)
        cov = {"n_real": int(len(real)), "n_search": 0,
               "per_layer": [{**c, "reachable": [e for e, ok in r.items() if ok]}
                             for c, r in zip(layer_coverage(codes, ie), reach)]}
    result = cosim(ie, codes, model_dir.name, macs_per_layer=macs_per_layer, rtl_file=rtl_file,
                   build_name=None if rtl_file is None else f"build_{Path(rtl_file).stem}")
    reference = encode_int(codes, ie)
    n_real = real.shape[0]
    report = {
        "model_dir": str(model_dir),
        "rtl": str(result.rtl),
        "n_vectors": int(codes.shape[0]),
        "n_real_vectors": int(n_real),
        "n_coverage_vectors": int(codes.shape[0] - n_real),
        "n_samples": int(codes.size),
        "n_outputs": int(reference.size),
        "mismatches_vs_reference": int(np.count_nonzero(result.latent != reference)),
        "mismatches_vs_reference_real": int(np.count_nonzero(result.latent[:n_real] != reference[:n_real])),
        "macs_per_layer": macs_per_layer,
        "cycles": int(result.cycles),
        "steady_cycles_per_segment": result.steady_cycles_per_segment,
        "latency_cycles_max": int(result.latencies.max()),
        "schedule": result.schedule,
        "coverage": cov,
    }
    if csim:
        report["mismatches_vs_hls_csim"] = int(np.count_nonzero(result.latent[:n_real] != csim_codes))
        report["hls_csim_codes"] = str(csim_path)
    else:
        report["mismatches_vs_hls_csim"] = None
        report["hls_csim_note"] = "C-simulation comparison skipped (--no-csim)"
    write_json_atomic(out_dir / "cosim_report.json", report)
    report["report_path"] = str(out_dir / "cosim_report.json")
    return report


def _coverage_lines(cov: dict) -> list[str]:
    lines = []
    for row in cov["per_layer"]:
        sat = [e for e in ("acc_sat_hi", "acc_sat_lo", "act_sat_hi", "act_sat_lo") if row[e]]
        unreach = [e for e in ("acc_sat_hi", "acc_sat_lo", "act_sat_hi", "act_sat_lo", "acc_tie", "act_tie")
                   if e not in row["reachable"]]
        lines.append(f"  layer {row['layer']}: saturations {', '.join(f'{e} {row[e]}' for e in sat) or 'none'}; "
                     f"ties acc {row['acc_tie']} act {row['act_tie']}"
                     + (f"; unreachable for any input: {', '.join(unreach)}" if unreach else ""))
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="neurocodec cosim", description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", required=True)
    p.add_argument("--macs-per-layer", default="1", help="MACs per layer: an integer or 'balanced'")
    p.add_argument("--max-vectors", type=int, help="simulate only the first N real test vectors")
    p.add_argument("--hls-dir", help="hls project with csim_output_codes.npy (default out/hls/<model>)")
    p.add_argument("--no-csim", action="store_true", help="skip the comparison with the hls4ml C simulation")
    p.add_argument("--no-coverage", action="store_true", help="real test vectors only (no searched vectors)")
    p.add_argument("--rtl", help="simulate this Verilog file instead of the generated encoder")
    p.add_argument("--out", help="folder of cosim_report.json (default out/sim/<model>)")
    a = p.parse_args(argv)
    if a.macs_per_layer != "balanced":
        try:
            macs = int(a.macs_per_layer)
        except ValueError:
            raise NeurocodecError(f"--macs-per-layer {a.macs_per_layer!r}: an integer or 'balanced'") from None
    else:
        macs = "balanced"
    r = compare_rtl(a.model_dir, macs, a.max_vectors, a.hls_dir, a.out, csim=not a.no_csim,
                    coverage=not a.no_coverage, rtl_file=a.rtl)
    hls = r["mismatches_vs_hls_csim"]
    print(f"rtl cosim: {r['mismatches_vs_reference']} mismatches vs Python reference on {r['n_vectors']} vectors "
          f"({r['n_real_vectors']} real + {r['n_coverage_vectors']} coverage, {r['n_samples']} samples); "
          + (f"{hls} mismatches vs hls4ml C simulation on the real vectors" if hls is not None else r["hls_csim_note"]))
    print("coverage (all vectors):")
    print("\n".join(_coverage_lines(r["coverage"])))
    print(f"cycles per segment {r['steady_cycles_per_segment']}, max latency {r['latency_cycles_max']} cycles, "
          f"RTL {r['rtl']}; report {r['report_path']}")
    return 0 if r["mismatches_vs_reference"] == 0 and not hls else 1


if __name__ == "__main__":
    sys.exit(main())
