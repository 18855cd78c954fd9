"""`make bench`: encode/decode speed, memory and the machine's limit, measured in one run, as ratios.

For every codec family with a recording codec and a trained model under out/models:
- encode and decode throughput (samples/s) on the bundled locust tetrode (tiled to ~7 M samples),
  in memory and file to file (the streaming path, codec.streaming, for `cae`), over the
  throughput of the `wavpack -b<N>` / `wvunpack` command-line tools on the same samples as a WAV
  file (their file I/O included), in the same run;
- the roofline ratio: MACs per sample x samples/s over a measured float32 matmul (BLAS sgemm,
  all cores) on this machine -- the fast encoder's arithmetic is float32 BLAS;
- peak memory over input size (a subprocess per measurement, resident-set sampling);
- the streaming encoder on a sparse file longer than the machine's memory (created with
  truncate; the measured prefix is filled with a cheap synthetic signal), with its peak memory
  over one chunk's size.
Writes out/bench/bench.json and <docs>/bench.md. Timings vary with the machine and its load
(it may be shared): the ratios within one run are what to compare.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np

from neurocodec import paths
from neurocodec.files import make_dirs, write_json_atomic, write_text_atomic

TILE = 4  # the 28.8 s locust recording x 4 = 115 s, 6.9 M samples


def _best_of(fn, repeat=3):
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _timed(fn, repeat=3):
    """(best wall seconds, best CPU seconds of this process and its children, result). On a
    shared machine the CPU time is what the work costs; the wall time includes waiting for a core."""
    best_wall, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        c0 = time.process_time() + _children_cpu()
        t0 = time.perf_counter()
        result = fn()
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() + _children_cpu() - c0)
    return best_wall, best_cpu, result


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _RssSampler:
    """Max resident set size (MB) seen while running, sampled every 2 ms on a thread."""

    def __enter__(self):
        self.peak, self._stop = _rss_mb(), False
        self.samples = []  # (seconds since start, MB)
        self._t0 = time.perf_counter()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop:
            v = _rss_mb()
            self.peak = max(self.peak, v)
            self.samples.append((time.perf_counter() - self._t0, v))
            time.sleep(0.002)

    def peak_between(self, a: float, b: float) -> float:
        """Peak over the fraction [a, b) of the run's duration."""
        if not self.samples:
            return float("nan")
        end = self.samples[-1][0]
        vals = [v for t, v in self.samples if a * end <= t < b * end or (b >= 1 and t >= a * end)]
        return max(vals) if vals else float("nan")

    def __exit__(self, *exc):
        self._stop = True
        self._t.join()
        self.peak = max(self.peak, _rss_mb())


def machine_info() -> dict:
    info = {"cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "machine": platform.machine(),
            "openblas_env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                        "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ}}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        info["cpu"] = "?"
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                        for d in threadpool_info() if d.get("user_api") == "blas"]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:
        info["numba"] = None
    info["load_average"] = os.getloadavg()
    return info


def matmul_limit(n=2048, repeat=5) -> dict:
    """Measured float32 / float64 GEMM throughput (multiply-accumulates per second), all threads."""
    out = {}
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        a = rng.standard_normal((n, n)).astype(dtype)
        b = rng.standard_normal((n, n)).astype(dtype)
        a @ b
        t, c, _ = _timed(lambda: a @ b, repeat)
        out[np.dtype(dtype).name] = n**3 / t
        out[np.dtype(dtype).name + "_per_cpu_s"] = n**3 / c
    return out


# ------------------------------------------------------------------ data
def bench_recording():
    from neurocodec.signals import Recording, load_recording

    rec = load_recording("locust")
    data = np.tile(rec.data, (1, TILE))
    return Recording(data, rec.fs, rec.units, rec.channel_names, f"locust ({Path(rec.source).name}) x{TILE}")


def write_inputs(rec, folder: Path) -> dict:
    """The same samples as interleaved int16 .raw (our streaming input) and as a WAV (WavPack's)."""
    frames = np.ascontiguousarray(rec.data.T.astype("<i2"))
    raw = folder / "bench.raw"
    frames.tofile(raw)
    wav = folder / "bench.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(rec.n_channels)
        w.setsampwidth(2)
        w.setframerate(int(rec.fs))
        w.writeframes(frames.tobytes())
    return {"raw": raw, "wav": wav}


def bench_wavpack(wav: Path, folder: Path, n_samples: int, bits: float) -> dict:
    if not shutil.which("wavpack") or not shutil.which("wvunpack"):
        return {"skipped": "wavpack / wvunpack not installed"}
    wv, back = folder / "bench.wv", folder / "bench_back.wav"

    def enc():
        subprocess.run(["wavpack", "-q", "-y", f"-b{bits:g}", str(wav), "-o", str(wv)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def dec():
        subprocess.run(["wvunpack", "-q", "-y", str(wv), "-o", str(back)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    t_enc, c_enc, _ = _timed(enc)
    t_dec, c_dec, _ = _timed(dec)
    return {"args": f"wavpack -b{bits:g} (hybrid lossy) / wvunpack", "encode_samples_per_s": n_samples / t_enc,
            "decode_samples_per_s": n_samples / t_dec, "encode_samples_per_cpu_s": n_samples / c_enc,
            "decode_samples_per_cpu_s": n_samples / c_dec, "bits_per_sample": 8 * wv.stat().st_size / n_samples}


def _trained_models() -> dict[str, list[Path]]:
    from neurocodec.registry import FAMILIES

    found = {f.name: [] for f in FAMILIES.values() if f.codec}
    root = paths.out_root() / "models"
    for cfg in sorted(root.glob("*/config.json")) if root.is_dir() else []:
        try:
            meta = json.loads(cfg.read_text())
        except ValueError:
            continue
        fam = meta.get("family") or meta.get("model")
        if fam in found:
            found[fam].append(cfg.parent)
    return found


def bench_codec(model_dir: Path, rec, files: dict, folder: Path, limit: dict) -> dict:
    import warnings

    from neurocodec.codec.recording import recording_codec

    codec = recording_codec(model_dir)
    n = rec.n_channels * rec.n_samples
    out: dict = {"model": model_dir.name, "codec": codec.codec_id, "samples": n}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codec.encode(rec.data[:, :4096])  # compile / warm up
        t_enc, c_enc, blob = _timed(lambda: codec.encode(rec.data))
    t_dec, c_dec, _ = _timed(lambda: codec.decode(blob))
    out.update(encode_samples_per_s=n / t_enc, decode_samples_per_s=n / t_dec, encode_samples_per_cpu_s=n / c_enc,
               decode_samples_per_cpu_s=n / c_dec, bits_per_sample=8 * len(blob) / n)
    if codec.codec_id == "cae":
        from neurocodec.codec.streaming import DiskRecording, decode_file, encode_file

        fe = _cae_fast(codec)
        src = DiskRecording.raw(files["raw"], rec.n_channels, rec.fs)
        t_fenc, _ = _best_of(lambda: encode_file(codec, src, folder / "bench.ncdc"))
        t_fdec, _ = _best_of(lambda: decode_file(codec, folder / "bench.ncdc", folder / "bench_decoded.npy"))
        assert (folder / "bench.ncdc").read_bytes() == blob, "streamed bitstream differs from the one-shot one"
        macs_enc = fe["encoder"].macs_per_window() / codec._m.spec.segment_length
        macs_dec = fe["decoder"].macs_per_window() / codec._m.spec.segment_length
        peak_enc = limit["float32"] / macs_enc
        out.update(
            file_encode_samples_per_s=n / t_fenc, file_decode_samples_per_s=n / t_fdec,
            encoder_path=fe["encoder"].path, decoder_path=fe["decoder"].path,
            encoder_macs_per_sample=macs_enc, decoder_macs_per_sample=macs_dec,
            encoder_arithmetic_bound_samples_per_s=peak_enc,
            encode_roofline_ratio=macs_enc * (n / t_enc) / limit["float32"],
            encode_roofline_ratio_cpu=macs_enc * (n / c_enc) / limit["float32_per_cpu_s"],
            encode_two_core_estimate_samples_per_s=(n / c_enc) * len(os.sched_getaffinity(0)),
            decode_roofline_ratio=macs_dec * (n / t_dec) / limit["float32"],
            reference=_reference_speed(codec),
        )
    return out


def _cae_fast(codec) -> dict:
    from neurocodec.quantize.fast_encoder import fast_encoder

    codec.decode_windows(np.zeros((1, *codec._m.ie.latent_shape), np.int8))
    return {"encoder": fast_encoder(codec._m.ie, batch=64), "decoder": codec._m.fast_decoder}


def _reference_speed(codec, windows=256) -> dict:
    """The numpy int64 reference (the oracle) and the QKeras float graph on the same windows."""
    from neurocodec.quantize.fast_encoder import fast_encoder
    from neurocodec.quantize.reference import encode_int

    ie = codec._m.ie
    codes = np.random.default_rng(0).integers(0, 1 << ie.input_bits, (windows, ie.segment_length))
    t_ref, ref = _best_of(lambda: encode_int(codes, ie), 2)
    fe = fast_encoder(ie, batch=64)
    t_fast, got = _best_of(lambda: fe.encode(codes), 3)
    assert np.array_equal(ref, got), "fast encoder differs from the reference"
    return {"windows": windows, "reference_samples_per_s": windows * ie.segment_length / t_ref,
            "fast_samples_per_s": windows * ie.segment_length / t_fast, "fast_over_reference": t_ref / t_fast}


# ------------------------------------------------------------------ memory (subprocesses)
_MEM_SCRIPT = r"""
import json, sys, warnings
import numpy as np
import neurocodec
from neurocodec import bench
from neurocodec.codec.recording import recording_codec
args = json.loads(sys.argv[1])
codec = recording_codec(args["model_dir"])
warnings.simplefilter("ignore")
res = {}
if args["mode"] == "oneshot":
    rec = bench.bench_recording()
    codec.encode(rec.data[:, :4096]); codec.decode(codec.encode(rec.data[:, :4096]))
    base = bench._rss_mb()
    with bench._RssSampler() as s:
        blob = codec.encode(rec.data)
    res["encode_peak_extra_mb"] = s.peak - base
    base = bench._rss_mb()
    with bench._RssSampler() as s:
        codec.decode(blob)
    res["decode_peak_extra_mb"] = s.peak - base
    res["input_mb"] = rec.data.nbytes / 2**20
    res["model_and_runtime_mb"] = base
else:
    from neurocodec.codec.streaming import DiskRecording, encode_file
    rec = DiskRecording.raw(args["raw"], args["channels"], args["fs"])
    full = rec.n_samples
    rec.n_samples = args["prefix_samples"]
    small = DiskRecording.raw(args["raw"], args["channels"], args["fs"]); small.n_samples = 4096
    encode_file(codec, small, args["out"], chunk_windows=args["chunk_windows"])
    base = bench._rss_mb()
    import time
    t0 = time.perf_counter()
    with bench._RssSampler() as s:
        info = encode_file(codec, rec, args["out"], chunk_windows=args["chunk_windows"])
    res["seconds"] = time.perf_counter() - t0
    res["peak_extra_mb"] = s.peak - base
    res["peak_extra_by_quarter_mb"] = [s.peak_between(q / 4, (q + 1) / 4) - base for q in range(4)]
    res["model_and_runtime_mb"] = base
    res["file_samples_per_channel"] = full
    res["encoded_samples_per_channel"] = rec.n_samples
print("RESULT " + json.dumps(res))
"""


def _subprocess(args: dict) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run([sys.executable, "-c", _MEM_SCRIPT, json.dumps(args)], capture_output=True, text=True, env=env)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (r.stderr or r.stdout)[-800:]}


def bench_memory_oneshot(model_dir: Path) -> dict:
    res = _subprocess({"mode": "oneshot", "model_dir": str(model_dir)})
    if "input_mb" in res:
        res["encode_peak_over_input"] = res["encode_peak_extra_mb"] / res["input_mb"]
        res["decode_peak_over_input"] = res["decode_peak_extra_mb"] / res["input_mb"]
    return res


def bench_long_file(model_dir: Path, folder: Path, fs: float, channels: int = 4, gib: float = 32.0,
                    prefix_s: float = 600.0, chunk_windows: int = 2048) -> dict:
    """A sparse raw int16 file of `gib` GiB (more than this machine's memory), a synthetic signal
    in its first `prefix_s` seconds; the streaming encoder runs on that prefix."""
    path = folder / "long_sparse.raw"
    size = int(gib * 2**30) // (2 * channels) * (2 * channels)
    prefix = int(prefix_s * fs)
    with open(path, "wb") as f:
        f.truncate(size)
        t = np.arange(prefix) / fs
        block = 1 << 20
        for s in range(0, prefix, block):
            tt = t[s : s + block]
            sig = 600 * np.sin(2 * np.pi * 7 * tt)[:, None] + 200 * np.sin(2 * np.pi * 900 * tt[:, None] + np.arange(channels))
            spikes = ((np.arange(s, s + len(tt)) % 1500) < 15)[:, None] * -1500
            f.seek(s * 2 * channels)
            f.write(np.ascontiguousarray(sig + spikes, "<i2").tobytes())
    with open("/proc/meminfo") as m:
        mem_total = int(next(ln for ln in m if ln.startswith("MemTotal")).split()[1]) * 1024
    n = 1024
    res = _subprocess({"mode": "long", "model_dir": str(model_dir), "raw": str(path), "channels": channels, "fs": fs,
                       "prefix_samples": prefix, "chunk_windows": chunk_windows, "out": str(folder / "long.ncdc")})
    chunk_f64_mb = chunk_windows * n * channels * 8 / 2**20
    res.update(file_bytes=size, machine_memory_bytes=mem_total, file_over_memory=size / mem_total,
               allocated_bytes_on_disk=os.stat(path).st_blocks * 512, chunk_windows=chunk_windows,
               chunk_float64_mb=chunk_f64_mb, chunk_int16_mb=chunk_f64_mb / 4)
    if "peak_extra_mb" in res:
        res["peak_over_chunk"] = res["peak_extra_mb"] / chunk_f64_mb
        res["encode_samples_per_s"] = res["encoded_samples_per_channel"] * channels / res["seconds"]
        full = res["file_samples_per_channel"] * channels
        res["full_pass_estimate_s"] = full / res["encode_samples_per_s"]
    path.unlink()
    return res


# ------------------------------------------------------------------ report
def _fmt(v, spec=".3g"):
    return format(v, spec) if isinstance(v, (int, float)) else str(v)


def render(results: dict) -> str:
    m, wp = results["machine"], results["wavpack"]
    blas = m.get("blas")
    blas_s = ", ".join(f"{b['internal_api']} {b['version']} kernel {b['architecture']}, {b['num_threads']} threads"
                       for b in blas) if isinstance(blas, list) else str(blas)
    lines = [
        "# Encode / decode speed, the machine's limit and memory (`make bench`)",
        "",
        "Generated by `make bench` (`python -m neurocodec.bench --docs docs`) from out/bench/bench.json. "
        "**All numbers come from one run** on a machine that may be shared with other jobs (load average "
        f"{', '.join(f'{x:.1f}' for x in m['load_average'])} at the start): absolute speeds are noisy, the ratios "
        "measured in the same run are what to compare.",
        "",
        f"Machine: {m['cpu']}, {m['affinity']} cores; BLAS: {blas_s}; OpenBLAS environment: "
        f"{m['openblas_env'] or 'none set'}; numba {m['numba']}. Measured matmul limit (2048^3, all cores): "
        f"float32 {results['matmul_macs_per_s']['float32'] / 1e9:.3g} GMAC/s, float64 "
        f"{results['matmul_macs_per_s']['float64'] / 1e9:.3g} GMAC/s (per CPU-second: float32 "
        f"{results['matmul_macs_per_s']['float32_per_cpu_s'] / 1e9:.3g} GMAC).",
        "",
        f"Data: {results['data']['source']}: {results['data']['channels']} channels x "
        f"{results['data']['samples_per_channel']} samples ({results['data']['samples'] / 1e6:.3g} M samples). "
        f"WavPack: `{wp.get('args', wp.get('skipped'))}` on the same samples as a 16-bit WAV, file I/O included.",
        "",
        "Throughput in M samples/s of wall-clock time (all channels); in brackets: per CPU-second of the "
        "process (and its children, for WavPack), which the other jobs on a shared machine disturb far less. "
        "Ratios over WavPack: wall clock, [CPU time].",
        "",
        "| codec | model | bits/sample | encode | vs WavPack | decode | vs WavPack | "
        "file encode | file decode | encode roofline | decode roofline |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    if "encode_samples_per_s" in wp:
        lines.append(f"| WavPack | - | {wp['bits_per_sample']:.3g} | {wp['encode_samples_per_s'] / 1e6:.3g} "
                     f"[{wp['encode_samples_per_cpu_s'] / 1e6:.3g}] | 1 | {wp['decode_samples_per_s'] / 1e6:.3g} "
                     f"[{wp['decode_samples_per_cpu_s'] / 1e6:.3g}] | 1 | (files) | (files) | - | - |")
    for fam, runs in results["codecs"].items():
        if isinstance(runs, str):
            lines.append(f"| {fam} | {runs} | | | | | | | | | |")
            continue
        for r in runs:
            if "error" in r:
                lines.append(f"| {fam} | {r.get('model')} | error: {r['error'][:80]} | | | | | | | | |")
                continue
            fe = r.get("file_encode_samples_per_s")
            fd = r.get("file_decode_samples_per_s")
            lines.append(
                f"| {r['codec']} | {r['model']} | {r['bits_per_sample']:.3g} | {r['encode_samples_per_s'] / 1e6:.3g} "
                f"[{r['encode_samples_per_cpu_s'] / 1e6:.3g}] | {_fmt(r.get('encode_over_wavpack'))} "
                f"[{_fmt(r.get('encode_over_wavpack_cpu'))}] | {r['decode_samples_per_s'] / 1e6:.3g} "
                f"[{r['decode_samples_per_cpu_s'] / 1e6:.3g}] | {_fmt(r.get('decode_over_wavpack'))} "
                f"[{_fmt(r.get('decode_over_wavpack_cpu'))}] | {_fmt(fe / 1e6 if fe else '-')} | "
                f"{_fmt(fd / 1e6 if fd else '-')} | {_fmt(r.get('encode_roofline_ratio', '-'))} | "
                f"{_fmt(r.get('decode_roofline_ratio', '-'))} |")
    cae = results.get("deployed")
    if cae:
        ref = cae["reference"]
        lines += [
            "",
            f"## Deployed continuous codec ({cae['model']})",
            "",
            f"- Encoder arithmetic: {cae['encoder_path']}. Decoder: {cae['decoder_path']}.",
            f"- Encode throughput {cae['encode_samples_per_s'] / 1e6:.3g} M samples/s in memory "
            f"({cae['file_encode_samples_per_s'] / 1e6:.3g} M samples/s file to file) on {m['affinity']} cores; target "
            f"11.5 M samples/s (one Neuropixels probe): **{'met' if cae['encode_samples_per_s'] >= 11.5e6 else 'not met'}** "
            "in this run.",
            f"- Per CPU-second: {cae['encode_samples_per_cpu_s'] / 1e6:.3g} M samples; x {m['affinity']} cores = "
            f"{cae['encode_two_core_estimate_samples_per_s'] / 1e6:.3g} M samples/s if both cores were free (an "
            f"estimate from CPU time, not a wall-clock measurement): target "
            f"**{'met' if cae['encode_two_core_estimate_samples_per_s'] >= 11.5e6 else 'not met'}** on that basis.",
            f"- Arithmetic: {cae['encoder_macs_per_sample']:.4g} MACs per sample (encoder; decoder counted as written, "
            "upsample then conv, of which the fast path computes 5/8 by folding the upsampling), so the measured float32 "
            f"matmul limit allows at most {cae['encoder_arithmetic_bound_samples_per_s'] / 1e6:.3g} M samples/s; "
            f"encode roofline ratio {cae['encode_roofline_ratio']:.3g} (per CPU-second: "
            f"{cae['encode_roofline_ratio_cpu']:.3g}; the target >= 0.5 applies only if 11.5 M/s were impossible, "
            f"which the arithmetic bound shows it is not). Decoder: {cae['decoder_macs_per_sample']:.4g} MACs per sample, roofline ratio "
            f"{cae['decode_roofline_ratio']:.3g}.",
            f"- Versus WavPack in this run: encode {_fmt(cae.get('encode_over_wavpack'))}x, decode "
            f"{_fmt(cae.get('decode_over_wavpack'))}x (in memory; per CPU-second {_fmt(cae.get('encode_over_wavpack_cpu'))}x "
            f"and {_fmt(cae.get('decode_over_wavpack_cpu'))}x); file to file (both sides read and write files): "
            f"encode {_fmt(cae.get('file_encode_over_wavpack'))}x, decode {_fmt(cae.get('file_decode_over_wavpack'))}x.",
            f"- Versus the numpy int64 reference (the oracle, equal bit for bit): {ref['fast_over_reference']:.3g}x "
            f"faster ({ref['reference_samples_per_s'] / 1e6:.3g} vs {ref['fast_samples_per_s'] / 1e6:.3g} M samples/s on "
            f"{ref['windows']} windows).",
        ]
    lines += ["", "## Memory", "",
              "Peak resident memory above the loaded model and runtime, sampled every 2 ms in a subprocess per "
              "measurement, over the float64 input (the recording above, one shot, in memory).", "",
              "| codec | model | input MB | encode peak MB | encode / input | decode peak MB | decode / input |",
              "|---|---|---|---|---|---|---|"]
    for fam, runs in results["codecs"].items():
        for r in runs if isinstance(runs, list) else []:
            mem = r.get("memory", {})
            if "input_mb" in mem:
                lines.append(f"| {r['codec']} | {r['model']} | {mem['input_mb']:.3g} | {mem['encode_peak_extra_mb']:.3g} | "
                             f"{mem['encode_peak_over_input']:.3g} | {mem['decode_peak_extra_mb']:.3g} | "
                             f"{mem['decode_peak_over_input']:.3g} |")
            elif mem:
                lines.append(f"| {r['codec']} | {r['model']} | error: {str(mem.get('error'))[-80:]!r} | | | | |")
    lines.append("")
    lf = results.get("long_file")
    if lf and "peak_extra_mb" in lf:
        lines += [
            f"- Streaming (codec.streaming) on a sparse raw int16 file of {lf['file_bytes'] / 2**30:.3g} GiB, "
            f"{lf['file_over_memory']:.3g}x this machine's memory ({lf['allocated_bytes_on_disk'] / 2**20:.3g} MB "
            f"allocated on disk): measured on its first {lf['encoded_samples_per_channel']} samples per channel "
            f"(a full pass would take about {lf['full_pass_estimate_s'] / 60:.3g} min at the measured "
            f"{lf['encode_samples_per_s'] / 1e6:.3g} M samples/s). Chunks are read with pread (no memory map), nothing "
            f"is kept between chunks; peak above the model in each quarter of the run: "
            f"{', '.join(f'{v:.3g}' for v in lf.get('peak_extra_by_quarter_mb', []))} MB. Chunk: {lf['chunk_windows']} windows x "
            f"channels = {lf['chunk_float64_mb']:.3g} MB as float64 ({lf['chunk_int16_mb']:.3g} MB on disk). "
            f"Peak resident memory above the loaded model and runtime ({lf['model_and_runtime_mb']:.3g} MB): "
            f"{lf['peak_extra_mb']:.3g} MB = {lf['peak_over_chunk']:.3g}x one chunk (target <= 2x): "
            f"**{'met' if lf['peak_over_chunk'] <= 2 else 'not met'}**."]
    lines += ["", "Raw figures: out/bench/bench.json.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="neurocodec bench", description=__doc__.splitlines()[0])
    ap.add_argument("--docs", default=None, help="folder for bench.md (default: only out/bench/bench.json)")
    ap.add_argument("--wavpack-bits", type=float, default=2.0, help="wavpack -b (bits per sample, hybrid lossy)")
    ap.add_argument("--long-gib", type=float, default=32.0, help="size of the sparse long file (GiB)")
    ap.add_argument("--long-prefix-s", type=float, default=600.0, help="seconds of it the streaming encoder runs on")
    args = ap.parse_args(argv)
    folder = make_dirs(paths.stage_dir("bench", "work"))
    results: dict = {"machine": machine_info()}
    results["matmul_macs_per_s"] = limit = matmul_limit()
    rec = bench_recording()
    results["data"] = {"source": rec.source, "channels": rec.n_channels, "samples_per_channel": rec.n_samples,
                       "samples": rec.n_channels * rec.n_samples, "fs": rec.fs}
    files = write_inputs(rec, folder)
    n = rec.n_channels * rec.n_samples
    results["wavpack"] = wp = bench_wavpack(files["wav"], folder, n, args.wavpack_bits)
    results["codecs"] = {}
    for fam, dirs in _trained_models().items():
        if not dirs:
            results["codecs"][fam] = f"skipped: no trained {fam} model under {paths.out_root() / 'models'}"
            continue
        runs = []
        for d in dirs:
            try:
                r = bench_codec(d, rec, files, folder, limit)
            except Exception as exc:  # a family's failure is reported, not fatal to the benchmark
                r = {"model": d.name, "error": f"{type(exc).__name__}: {exc}"}
            if "encode_samples_per_s" in r and "encode_samples_per_s" in wp:
                r["encode_over_wavpack"] = r["encode_samples_per_s"] / wp["encode_samples_per_s"]
                r["decode_over_wavpack"] = r["decode_samples_per_s"] / wp["decode_samples_per_s"]
                r["encode_over_wavpack_cpu"] = r["encode_samples_per_cpu_s"] / wp["encode_samples_per_cpu_s"]
                r["decode_over_wavpack_cpu"] = r["decode_samples_per_cpu_s"] / wp["decode_samples_per_cpu_s"]
                if "file_encode_samples_per_s" in r:
                    r["file_encode_over_wavpack"] = r["file_encode_samples_per_s"] / wp["encode_samples_per_s"]
                    r["file_decode_over_wavpack"] = r["file_decode_samples_per_s"] / wp["decode_samples_per_s"]
            if "encode_samples_per_s" in r:
                r["memory"] = bench_memory_oneshot(d)
            runs.append(r)
            print(json.dumps(r, default=str)[:400], flush=True)
        results["codecs"][fam] = runs
    deployed = paths.model_dir("cae_cr64")
    cae_runs = [r for r in results["codecs"].get("cae", []) if isinstance(r, dict) and r.get("model") == "cae_cr64"]
    if cae_runs and "encoder_path" in cae_runs[0]:
        results["deployed"] = cae_runs[0]
        results["long_file"] = bench_long_file(deployed, folder, rec.fs, gib=args.long_gib, prefix_s=args.long_prefix_s)
    results["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = write_json_atomic(paths.stage_dir("bench", "bench.json"), results)
    for p in folder.glob("bench*"):
        p.unlink()
    print(f"wrote {out}")
    if args.docs:
        doc = write_text_atomic(Path(args.docs) / "bench.md", render(results))
        print(f"wrote {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
