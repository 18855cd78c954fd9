"""`make bench`: speed and memory of the encode paths, measured in one run and given as ratios.

- integer reference (numpy) vs the QKeras encoder (TensorFlow) on the same real windows;
- encoding the whole bundled locust recording: real-time factor and peak Python memory.
Timings vary with the machine and its load; the ratios in one run are what to compare.
"""
import json
import sys
import time
import tracemalloc

import numpy as np

from neurocodec import paths


def _best_of(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_reference_vs_qkeras(cr=64, n_windows=512):
    from neurocodec.quantize.reference import encode_int, extract_int_encoder, quantize_input
    from neurocodec.train.cae import CaeSpec, build_cae
    from neurocodec.train.cae_data import prepare_cae_data

    data = prepare_cae_data("locust")
    x = np.concatenate([data.train, data.val])[:n_windows]
    _, enc, _ = build_cae(CaeSpec(cr))
    ie = extract_int_encoder(enc)
    codes = quantize_input(x, ie)
    t_ref = _best_of(lambda: encode_int(codes, ie))
    xin = codes[..., None] / 2**ie.input_frac
    enc.predict(xin[:32], verbose=0)
    t_tf = _best_of(lambda: enc.predict(xin, batch_size=256, verbose=0))
    return {"cr": cr, "windows": len(x), "reference_windows_per_s": len(x) / t_ref, "qkeras_windows_per_s": len(x) / t_tf,
            "reference_over_qkeras_speed": t_tf / t_ref}


def bench_encode_recording(model_dir):
    from neurocodec.codec import encode_recording
    from neurocodec.signals import load_recording

    rec = load_recording("locust")
    tracemalloc.start()
    t0 = time.perf_counter()
    summary = encode_recording(model_dir, rec, paths.stage_dir("bench", "codes.npz"))
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    duration = rec.n_samples / rec.fs
    return {"recording_seconds": duration, "channels": rec.n_channels, "encode_seconds": elapsed,
            "real_time_factor": duration / elapsed, "peak_python_memory_mb": peak / 2**20,
            "input_mb": rec.data.nbytes / 2**20, "peak_over_input_memory": peak / rec.data.nbytes,
            "latent_values": summary["latent_values"]}


def main(argv=None) -> int:
    results = {"reference_vs_qkeras": bench_reference_vs_qkeras()}
    model_dir = paths.model_dir("cae_cr64")
    if (model_dir / "config.json").is_file():
        results["encode_recording"] = bench_encode_recording(model_dir)
    else:
        results["encode_recording"] = f"skipped: no trained model at {model_dir} (make {model_dir}/config.json)"
    out = paths.stage_dir("bench", "bench.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    for name, r in results.items():
        print(f"{name}:")
        for k, v in (r.items() if isinstance(r, dict) else [("note", r)]):
            print(f"  {k:30s} {v:.4g}" if isinstance(v, float) else f"  {k:30s} {v}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
