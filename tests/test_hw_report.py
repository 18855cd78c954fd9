"""Hardware report (firmware.resources / power / hw_report): Yosys statistics of a tiny known
design, gate-equivalent and operation-count arithmetic checked by hand, channel arithmetic,
clear errors, and the whole `report-hw` on the RTL of a small trained CR 64 encoder."""
import json
import math
import shutil
from fractions import Fraction

import numpy as np
import pytest

from neurocodec.firmware import hw_report, power
from neurocodec.firmware.resources import (RtlError, YosysError, classify_xilinx_cells, count_gate_equivalents,
                                           parse_stat_json, rtl_sources, synth_fpga, synth_gates)
from neurocodec.quantize.reference import IntConvLayer, IntEncoder

needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")

ADD8 = """
module add8 (input wire clk, input wire [7:0] a, input wire [7:0] b, output reg [7:0] s);
  always @(posedge clk) s <= a + b;
endmodule
"""


@needs_yosys
def test_yosys_adder_register(tmp_path):
    (tmp_path / "add8.v").write_text(ADD8)
    fpga = synth_fpga(tmp_path, "add8", tmp_path / "work")
    assert fpga.ff == 8  # the 8-bit output register, exactly
    assert fpga.lut > 0 and fpga.carry >= 1  # the adder: LUTs + carry chain
    assert fpga.dsp == 0 and fpga.bram == 0 and fpga.lutram_luts == 0 and fpga.other_cells == {}
    assert (tmp_path / "work" / "fpga.ys").is_file() and (tmp_path / "work" / "fpga.log").is_file()
    gates = synth_gates(tmp_path / "add8.v", "add8", tmp_path / "work")
    assert gates.ff == 8 and gates.cells_by_type["$_DFF_P_"] == 8 and gates.unknown_cells == {}
    assert gates.logic_cells > 8  # at least a gate per sum bit
    expected = sum(n * {"$_NOT_": 2, "$_NAND_": 4, "$_NOR_": 4, "$_AND_": 6, "$_OR_": 6, "$_XOR_": 12, "$_XNOR_": 12,
                        "$_MUX_": 12, "$_DFF_P_": 16}[t] for t, n in gates.cells_by_type.items())
    assert gates.transistors == expected and gates.gate_equivalents == expected / 4


def test_stat_json_parsing_and_classification():
    stat = {"modules": {"\\top": {"num_cells_by_type": {
        "LUT1": 1, "LUT6": 2, "INV": 1, "FDRE": 3, "FDCE": 1, "FDSE_1": 1, "LDCE": 1, "DSP48E1": 2, "RAMB18E1": 1,
        "RAMB36E1": 1, "RAM32M": 1, "RAM64X1D": 2, "SRLC32E": 1, "CARRY4": 5, "MUXF7": 1, "BUFG": 1, "GND": 1,
        "XORCY": 1}}}}
    cells = parse_stat_json(json.dumps(stat), "top")
    f = classify_xilinx_cells(cells)
    assert (f.lut, f.ff, f.latch, f.dsp, f.bram36, f.bram18, f.bram) == (4, 5, 1, 2, 1, 1, 1.5)
    assert (f.lutram_cells, f.lutram_luts) == (4, 4 + 2 * 2 + 1)
    assert (f.carry, f.muxf, f.bufg, f.other_cells) == (5, 1, 1, {"XORCY": 1})
    # the hierarchical "design" totals win over per-module counts
    stat["design"] = {"num_cells_by_type": {"LUT2": 7}}
    assert parse_stat_json(json.dumps(stat)) == {"LUT2": 7}
    with pytest.raises(YosysError, match="not JSON"):
        parse_stat_json("Yosys crashed")


def test_gate_equivalents_by_hand():
    g = count_gate_equivalents({"$_NAND_": 4, "$_XOR_": 1, "$_DFF_P_": 2, "$_DFF_PP0_": 1, "$_MUX_": 1,
                                "$_FOO_": 3})
    # 4*4 + 12 + 2*16 + 20 (async-reset flop, our convention) + 12 = 92 transistors = 23 NAND2
    assert g.transistors == 92 and g.gate_equivalents == 23.0
    assert g.ff == 3 and g.logic_cells == 6 and g.unknown_cells == {"$_FOO_": 3}


def _layer(weights, bias, alpha_num, pad, stride, **kw):
    w = np.array(weights, dtype=np.int64)
    base = dict(weight_frac=7, bias_frac=10, in_frac=8, acc_bits=16, acc_frac=10, alpha_num=alpha_num,
                alpha_shift=8, out_bits=8, out_frac=5, stride=stride, pad_left=pad, pad_right=pad)
    base.update(kw)
    return IntConvLayer(weights=w, bias=np.array(bias, dtype=np.int64), **base)


def tiny_encoder() -> IntEncoder:
    """8 samples -> (k2 s2, 1->1 ch, weights 3, -2) -> 4 -> (k3 s1 pad 1, 1->2 ch) -> 4 x 2."""
    l1 = _layer([[[3]], [[-2]]], [1], 77, 0, 2)
    l2 = _layer([[[1, -4]], [[2, 3]], [[0, 1]]], [0, -1], 64, 1, 1, in_frac=5)
    return IntEncoder(input_bits=8, input_frac=8, segment_length=8, layers=[l1, l2])


def test_op_count_energy_by_hand():
    ie = tiny_encoder()
    e = power.op_energy(ie)
    l1, l2 = e.layers
    # layer 1: 4 outputs x 2 taps = 8 MACs of 8x3 bits (0.2*24/64 = 0.075 pJ) into 13-bit adds
    # (8 + 3 + ceil(log2(2 + 1)) bits, 0.03*13/8 = 0.04875 pJ); per output: bias + acc rounding
    # (2 x 13 bits), act rounding + 77 = 0b1001101 -> 3 shift-adds (4 x 24 bits, 0.09 pJ each)
    assert (l1["macs"], l1["macs_nonpad"], l1["outputs"], l1["w_bits"], l1["acc_width"]) == (8, 8, 4, 3, 13)
    assert l1["mult_pj"] == pytest.approx(0.6) and l1["add_pj"] == pytest.approx(0.39)
    assert l1["post_pj"] == pytest.approx(4 * (2 * 0.04875 + 4 * 0.09))
    assert l1["arithmetic_pj"] == pytest.approx(2.82)
    # layer 2: 4 positions x 2 channels x 3 taps = 24 MACs (20 inside the data), slope 64: no add
    assert (l2["macs"], l2["macs_nonpad"], l2["outputs"], l2["w_bits"], l2["acc_width"]) == (24, 20, 8, 3, 13)
    assert l2["arithmetic_pj"] == pytest.approx(24 * 0.075 + 24 * 0.04875 + 8 * (2 * 0.04875 + 0.09))
    assert e.arithmetic_pj == pytest.approx(2.82 + 4.47)
    assert (e.macs, e.multiplies, e.adds) == (32, 32, 8 + 4 * 6 + 24 + 8 * 3)
    assert e.memory_pj == pytest.approx((8 * 11 + 4 * 8 + 24 * 11 + 8 * 8) * 10 / 64)
    assert e.with_memory_pj == pytest.approx(e.arithmetic_pj + e.memory_pj)
    # RTL widths override the computed ones
    e2 = power.op_energy(ie, rtl_widths=[{"weight_bits": 8, "acc_width": 16}, {"weight_bits": 8, "acc_width": 16}])
    assert e2.layers[0]["mult_pj"] == pytest.approx(8 * 0.2) and e2.layers[0]["add_pj"] == pytest.approx(8 * 0.06)
    with pytest.raises(power.PowerEstimateError, match="2 layers"):
        power.op_energy(ie, rtl_widths=[{}])


def test_switching_energy_and_rates():
    sw = power.switching_energy(1000, 2, 10, 4, power.ToggleEnergyModel(c_net_ff=5.0, vdd=1.0), clock_pin_ff=1.0)
    assert sw.e_toggle_fj == pytest.approx(2.5)
    assert sw.data_pj == pytest.approx(500 * 2.5e-3)  # 500 toggles per window x 2.5 fJ
    assert sw.clock_pj == pytest.approx(2 * 10 * 4 * 0.5e-3)  # 2 edges x 10 cycles x 4 pins x 0.5 fJ
    assert sw.total_pj == pytest.approx(1.25 + 0.04)
    assert power.ToggleEnergyModel(c_net_ff=2.0, vdd=0.9).e_toggle_j == pytest.approx(0.5 * 2e-15 * 0.81)
    with pytest.raises(power.PowerEstimateError, match="positive"):
        power.switching_energy(10, 0, 1, 1)
    # 1 nJ per 1024-sample window at 30 kHz: 30000 / 1024 windows per second
    assert power.power_per_channel_w(1000.0, 30000, 1024) == pytest.approx(1e-9 * 30000 / 1024)
    assert power.windows_per_second(30000, 1024) == pytest.approx(29.296875)


def test_max_channels_arithmetic():
    assert power.max_channels(100e6, 30000, 128) == 26  # 1e8 / 3.84e6 = 26.04
    assert power.max_channels(100e6, 30000, 512) == 6
    assert power.max_channels(3e6, 30000, 100) == 1  # exactly 1: no float round-down
    assert power.max_channels(100e6, 30000, Fraction(1, 3)) == 10000
    assert power.max_channels(100e6, 30000, 1 / 3) == 10000
    assert power.max_channels(1e6, 30000, 64) == 0  # too slow for even one channel
    for bad in [(100e6, 30000, 0), (0, 30000, 1), (100e6, -1, 1)]:
        with pytest.raises(power.PowerEstimateError):
            power.max_channels(*bad)


def test_port_skipper():
    hier = {"top": {"ports": {"clk": "input", "a": "input"}, "instances": {"u_sub": "sub", "gen[0].u_x": "sub"}},
            "sub": {"ports": {"clk": "input", "d": "input", "q": "output"}, "instances": {}}}
    skip = hw_report.port_skipper(hier, "top")
    assert skip("$rootio/top/u_sub", None, "d[3]", None) and skip("$rootio/top/u_sub", None, "clk", None)
    assert not skip("$rootio/top/u_sub", None, "inner[0]", None)
    assert not skip("$rootio/top", None, "a", None)  # the top's own ports are counted once, there
    assert skip("top/gen[0]/u_x", None, "q[1]", None)  # generate scope: cell "gen[0].u_x"
    assert not skip("$rootio", None, "clk", None) and not skip("top/unknown", None, "d", None)


def test_missing_and_invalid_rtl(tmp_path, monkeypatch):
    with pytest.raises(RtlError, match="RTL not found"):
        rtl_sources(tmp_path / "nope.v")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(RtlError, match="no Verilog files"):
        rtl_sources(tmp_path / "empty_dir")
    (tmp_path / "empty.v").write_text("")
    with pytest.raises(RtlError, match="empty"):
        rtl_sources(tmp_path / "empty.v")
    (tmp_path / "add8.v").write_text(ADD8)
    with pytest.raises(RtlError, match="top module 'cae_encoder' is not defined"):
        synth_fpga(tmp_path / "add8.v", "cae_encoder", tmp_path / "w")
    monkeypatch.setenv("YOSYS", "yosys-not-installed-here")
    with pytest.raises(YosysError, match="not found on PATH"):
        synth_fpga(tmp_path / "add8.v", "add8", tmp_path / "w")


@needs_yosys
def test_yosys_failure_shows_log_tail(tmp_path):
    (tmp_path / "bad.v").write_text("module bad (input wire a, output wire y);\n  assign y = a +* ;\nendmodule\n")
    with pytest.raises(YosysError) as exc:
        synth_fpga(tmp_path / "bad.v", "bad", tmp_path / "w")
    msg = str(exc.value)
    assert "Yosys failed" in msg and "bad.v" in msg and "syntax error" in msg.lower()


def test_cli_errors(tmp_path, capsys):
    assert hw_report.main(["--model-dir", str(tmp_path / "nope")]) == 2
    assert "model folder not found" in capsys.readouterr().err
    (tmp_path / "m").mkdir()
    assert hw_report.main(["--model-dir", str(tmp_path / "m")]) == 2
    assert "no int_encoder.json" in capsys.readouterr().err
    (tmp_path / "m" / "int_encoder.json").write_text(json.dumps(tiny_encoder().to_dict()))
    (tmp_path / "bad.v").write_text("module nothing; endmodule\n")
    assert hw_report.main(["--model-dir", str(tmp_path / "m"), "--rtl", str(tmp_path / "bad.v"), "--no-activity",
                           "--out", str(tmp_path / "r")]) == 2
    assert "top module 'cae_encoder' is not defined" in capsys.readouterr().err
    assert not (tmp_path / "r" / "hw_report.json").exists()
    # activity needs input codes: none next to the encoder
    assert hw_report.main(["--model-dir", str(tmp_path / "m"), "--out", str(tmp_path / "r")]) == 2
    assert "test_vectors.npz" in capsys.readouterr().err


@needs_yosys
def test_report_without_activity_tiny_encoder(tmp_path):
    """Generated RTL of the hand-made encoder: resources + op-count report, no simulation."""
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "int_encoder.json").write_text(json.dumps(tiny_encoder().to_dict()))
    out, docs = tmp_path / "r", tmp_path / "docs"
    assert hw_report.main(["--int-encoder", str(tmp_path / "m" / "int_encoder.json"), "--no-activity", "--out", str(out),
                           "--docs", str(docs), "--clock-mhz", "50", "--channel-rate-hz", "20000"]) == 0
    r = json.loads((out / "hw_report.json").read_text())
    assert r["name"] == "m" and r["activity"] is None and r["clock_hz"] == 50e6
    assert r["resources"]["fpga"]["ff"] > 0 and r["resources"]["gates"]["gate_equivalents"] > 0
    assert r["op_count"]["macs"] == 32 and r["schedule"]["macs_per_segment"] == 32
    t = r["throughput"]
    assert t["max_channels"] == math.floor(50e6 / (20000 * t["cycles_per_sample"]))
    e = r["energy_per_window_pj"]["op_count_pj"]
    assert r["power_per_channel_w"]["op_count_w"] == pytest.approx(e * 1e-12 * 20000 / 8)
    md = (docs / "hw_m.md").read_text()
    assert md == (out / "hw_report.md").read_text()
    assert "not estimated" in md and "(estimate)" in md and "Horowitz" in md and "yosys -q" in md


@pytest.mark.slow
@needs_yosys
def test_report_end_to_end_cr64(tiny_cae_dir, tmp_path):
    """Trained CR 64 (8 hidden filters): generated RTL -> Yosys, co-simulation with SAIF on one
    real validation window (checked bit-exact), both energy estimates."""
    from neurocodec.sim.runner import verilator_available

    if not verilator_available():
        pytest.skip("Verilator not available")
    out = tmp_path / "report"
    rc = hw_report.main(["--model-dir", str(tiny_cae_dir), "--name", "test_hw_report_cr64", "--out", str(out),
                         "--windows", "1"])
    assert rc == 0
    r = json.loads((out / "hw_report.json").read_text())
    f, g = r["resources"]["fpga"], r["resources"]["gates"]
    assert f["lut"] > 0 and f["ff"] > 0 and g["gate_equivalents"] > 0
    assert r["throughput"]["cycles_per_segment"] == r["schedule"]["cycles_per_segment"] > 0
    a = r["activity"]
    assert a["windows"] == 1 and a["bit_exact"] and a["toggles"]["data_toggles"] > 0
    assert a["toggles"]["skipped_nets"] > 0  # layer ports counted once
    p = r["power_per_channel_w"]
    for key in ("switching_data_w", "switching_total_w", "op_count_w"):
        assert math.isfinite(p[key]) and p[key] > 0
    # the two methods agree within two orders of magnitude on the datapath energy
    assert 0.01 < r["energy_per_window_pj"]["switching_data_pj"] / r["energy_per_window_pj"]["op_count_pj"] < 100
    assert (out / "activity.saif").is_file() and (out / "hw_report.md").is_file()
