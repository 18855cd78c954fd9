"""`neurocodec report-hw`: resources, throughput and power report of the generated `cae` encoder RTL.

    neurocodec report-hw --model-dir out/models/cae_cr64 [--clock-mhz 100] [--channel-rate-hz 30000]
                         [--out out/reports/cae_cr64] [--docs docs]

Steps (every number in the report says which one produced it):

1. RTL: `firmware.verilog_gen.generate_encoder_verilog(int_encoder, <out>/rtl)` (or --rtl FILE).
2. Resources: Yosys `synth_xilinx` (LUT, FF, DSP, BRAM, LUTRAM, CARRY4) and a generic gate-level
   synthesis (gate equivalents), see firmware.resources; scripts and logs in <out>/yosys/.
3. Throughput: `verilog_gen.schedule_summary` (cycles per segment, latency), max channels per
   instance = floor(clock / (channel_rate * cycles_per_sample)).
4. Activity: `sim.runner.cosim(..., trace_saif=<out>/activity.saif)` on --windows windows of the
   model's test vectors (real validation data, streamed back to back), parsed by firmware.saif.
5. Energy and power per window/channel, two ways (firmware.power): (a) switching activity x
   0.5*C*V^2, (b) operation count x Horowitz 45 nm energies. Static power is not estimated.

Outputs: <out>/hw_report.json, <out>/hw_report.md (and docs/hw_<name>.md with --docs).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from neurocodec.files import json_default, write_text_atomic

from neurocodec.firmware import power as pw
from neurocodec.firmware.resources import (TRANSISTORS_PER_GE, HardwareReportError, design_hierarchy, estimate_resources,
                                           rtl_sources)
from neurocodec.firmware.saif import bit_base, parse_saif, summarize_toggles

DEFAULT_TOP = "cae_encoder"


class ReportInputError(HardwareReportError):
    """The model folder / integer encoder / test vectors given to report-hw are unusable."""


# --- inputs --------------------------------------------------------------------------------------


def load_inputs(model_dir=None, int_encoder=None, test_vectors=None):
    """(IntEncoder, int_encoder path, input codes or None, test-vectors path or None, name)."""
    from neurocodec.firmware.verilog_gen import load_int_encoder

    if (model_dir is None) == (int_encoder is None):
        raise ReportInputError("give exactly one of --model-dir and --int-encoder")
    if model_dir is not None:
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ReportInputError(f"model folder not found: {model_dir} (train it first, e.g. `make {model_dir.name}`?)")
        ie_path = model_dir / "int_encoder.json"
        if not ie_path.is_file():
            raise ReportInputError(f"{model_dir} has no int_encoder.json: is it a quantized cae model folder?")
        name = model_dir.name
    else:
        ie_path = Path(int_encoder)
        if not ie_path.is_file():
            raise ReportInputError(f"integer encoder file not found: {ie_path}")
        name = ie_path.parent.name if ie_path.name == "int_encoder.json" else ie_path.stem
    try:
        ie = load_int_encoder(ie_path)
    except ValueError as exc:
        raise ReportInputError(str(exc)) from None
    tv = Path(test_vectors) if test_vectors else ie_path.parent / "test_vectors.npz"
    codes = None
    if tv.is_file():
        with np.load(tv) as z:
            if "input_codes" not in z:
                raise ReportInputError(f"{tv} has no 'input_codes' array")
            codes = np.asarray(z["input_codes"])
    elif test_vectors:
        raise ReportInputError(f"test vectors not found: {tv}")
    return ie, ie_path, codes, (tv if codes is not None else None), name




# --- activity ------------------------------------------------------------------------------------


def port_skipper(hierarchy: dict, top: str):
    """skip(inst_path, inst, net, act) for Saif.iter_records: True for a net of a sub-instance
    (below the `top` instance) that is a port of that instance's module, i.e. the duplicate of
    the parent's net that Verilator writes again inside the child."""
    inst_module = {(): top}

    def visit(path: tuple, module: str):
        for cell, sub in hierarchy.get(module, {}).get("instances", {}).items():
            p = path + tuple(cell.lstrip("\\").split("."))
            inst_module[p] = sub
            visit(p, sub)

    visit((), top)

    def skip(inst_path: str, inst, net: str, act) -> bool:
        parts = inst_path.split("/")
        if top not in parts:
            return False
        rel = tuple(parts[parts.index(top) + 1:])
        if not rel:
            return False
        module = inst_module.get(rel)
        if module is None:
            return False
        return bit_base(net) in hierarchy.get(module, {}).get("ports", {})

    return skip


def simulate_activity(ie, codes, name: str, saif_path: Path, macs_per_layer=1, top: str = DEFAULT_TOP,
                      clock_mhz: float = 100.0):
    """Run the cocotb + Verilator co-simulation with SAIF tracing; checks the RTL output against
    the integer reference and returns the CosimResult."""
    from neurocodec.quantize.reference import encode_int
    from neurocodec.sim.runner import cosim

    res = cosim(ie, codes, name, trace_saif=saif_path, macs_per_layer=macs_per_layer, top_name=top,
                clock_ns=1e3 / clock_mhz)
    ref = encode_int(codes, ie)
    if not np.array_equal(res.latent, ref):
        bad = int(np.count_nonzero(res.latent != ref))
        raise HardwareReportError(f"RTL simulation disagrees with the integer reference in {bad} latent values; "
                                  f"the activity of a wrong design is not reported (see `neurocodec cosim`)")
    return res


# --- report --------------------------------------------------------------------------------------


def build_report(ie, name: str, out_dir: Path, codes=None, clock_mhz: float = 100.0, channel_rate_hz: float = 30000.0,
                 windows: int = 2, macs_per_layer=1, top: str = DEFAULT_TOP, rtl=None, saif=None, saif_windows=None,
                 activity: bool = True, family: str = "xc7", toggle_model: pw.ToggleEnergyModel | None = None,
                 op_model: pw.OpEnergyModel | None = None, clock_pin_ff: float = 1.0, sources: dict | None = None,
                 command: str | None = None) -> dict:
    """Run every step and return the report dict (nothing written except work files in out_dir)."""
    from neurocodec.firmware.verilog_gen import generate_encoder_verilog, schedule_summary

    toggle_model = toggle_model or pw.ToggleEnergyModel()
    op_model = op_model or pw.OpEnergyModel()
    out_dir = Path(out_dir)
    clock_hz = clock_mhz * 1e6
    t0 = time.perf_counter()
    commands = [command] if command else []

    # 1. RTL
    if rtl is None:
        rtl_path = generate_encoder_verilog(ie, out_dir / "rtl", top_name=top, macs_per_layer=macs_per_layer)
        commands.append(f"generate_encoder_verilog(int_encoder, {out_dir / 'rtl'}, top_name={top!r}, "
                        f"macs_per_layer={macs_per_layer!r})")
    else:
        rtl_path = rtl
    files = rtl_sources(rtl_path)

    # 2. resources
    ydir = out_dir / "yosys"
    res = estimate_resources(files, top, ydir, family=family)
    commands += [f"yosys -q -l {ydir / 'fpga.log'} -s {ydir / 'fpga.ys'}",
                 f"yosys -q -l {ydir / 'gates.log'} -s {ydir / 'gates.ys'}"]

    # 3. throughput
    sched = schedule_summary(ie, macs_per_layer, clock_hz=clock_hz, channel_rate_hz=channel_rate_hz)
    cps = sched["cycles_per_segment"]
    seg = int(ie.segment_length)
    from fractions import Fraction

    cycles_per_sample = Fraction(cps, seg)
    max_ch = pw.max_channels(clock_hz, channel_rate_hz, cycles_per_sample)

    # 4. activity
    act = None
    if activity:
        if saif is None:
            if codes is None:
                raise ReportInputError("switching activity needs input codes: the model folder has no test_vectors.npz; "
                                       "pass --test-vectors FILE, or --no-activity to skip method (a)")
            if rtl is not None:
                raise ReportInputError("--rtl: the co-simulation generates its own RTL from the integer encoder; "
                                       "give a SAIF of your RTL with --saif/--saif-windows, or --no-activity")
            n = min(int(windows), len(codes))
            if n < 1:
                raise ReportInputError(f"--windows must be >= 1, got {windows}")
            saif_path = out_dir / "activity.saif"
            cres = simulate_activity(ie, codes[:n], name, saif_path, macs_per_layer, top, clock_mhz)
            commands.append(f"neurocodec.sim.runner.cosim(int_encoder, input_codes[:{n}], {name!r}, trace_saif="
                            f"{saif_path}, clock_ns={1e3 / clock_mhz:g})  # Verilator --trace-saif")
            sim_info = {"cycles_simulated": cres.cycles, "steady_cycles_per_segment": cres.steady_cycles_per_segment,
                        "build_seconds": round(cres.build_seconds, 1), "sim_seconds": round(cres.sim_seconds, 1),
                        "input": "first windows of test_vectors.npz input_codes (real validation data), back to back",
                        "bit_exact": True}
        else:
            saif_path = Path(saif)
            if not saif_windows:
                raise ReportInputError("--saif needs --saif-windows (how many windows the SAIF simulation encoded)")
            n = int(saif_windows)
            sim_info = {"input": f"external SAIF {saif_path}"}
        parsed = parse_saif(saif_path)
        hier = design_hierarchy(files, top, ydir)
        scope = top if any(i.name == top for _, i in parsed.all_instances()) else None
        summary = summarize_toggles(parsed, scope, skip=port_skipper(hier, top))
        sw = pw.switching_energy(summary.data_toggles, n, cps, res.gates.ff, toggle_model, clock_pin_ff)
        act = {"saif": str(saif_path), "windows": n, "scope": summary.scope, "toggles": summary.to_dict(),
               "saif_program": parsed.program, "saif_duration_s": parsed.duration_s, **sim_info,
               "data_pj_per_window": sw.data_pj, "clock_pj_per_window": sw.clock_pj,
               "total_pj_per_window": sw.total_pj, "e_toggle_fj": sw.e_toggle_fj,
               "clock_pin_ff": clock_pin_ff, "n_ff_clocked": res.gates.ff, "cycles_per_window": cps}

    # 5. op count
    ope = pw.op_energy(ie, op_model, rtl_widths=sched["layers"])

    def per_channel(pj):
        return pw.power_per_channel_w(pj, channel_rate_hz, seg)

    energy = {"op_count_pj": ope.arithmetic_pj, "op_count_with_memory_pj": ope.with_memory_pj}
    power = {"op_count_w": per_channel(ope.arithmetic_pj), "op_count_with_memory_w": per_channel(ope.with_memory_pj)}
    if act:
        energy.update(switching_data_pj=act["data_pj_per_window"], switching_clock_pj=act["clock_pj_per_window"],
                      switching_total_pj=act["total_pj_per_window"])
        power.update(switching_data_w=per_channel(act["data_pj_per_window"]),
                     switching_clock_w=per_channel(act["clock_pj_per_window"]),
                     switching_total_w=per_channel(act["total_pj_per_window"]))
    return {
        "name": name,
        "generated_by": "neurocodec.firmware.hw_report",
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": None,  # filled below
        "sources": sources or {},
        "rtl": [str(f) for f in files],
        "top": top,
        "macs_per_layer": sched["macs_per_layer"],
        "clock_hz": clock_hz,
        "channel_rate_hz": channel_rate_hz,
        "segment_length": seg,
        "latent_shape": list(ie.latent_shape),
        "resources": res.to_dict(),
        "schedule": sched,
        "throughput": {
            "cycles_per_segment": cps,
            "cycles_per_sample": float(cycles_per_sample),
            "latency_cycles": sched["latency_cycles"],
            "latency_us": sched["latency_cycles"] / clock_hz * 1e6,
            "max_channels": max_ch,
            "max_channels_formula": "floor(clock_hz / (channel_rate_hz * cycles_per_sample))",
            "windows_per_second_per_channel": pw.windows_per_second(channel_rate_hz, seg),
        },
        "activity": act,
        "op_count": ope.to_dict(),
        "energy_per_window_pj": energy,
        "power_per_channel_w": power,
        "power_per_instance_at_max_channels_w": {k: v * max_ch for k, v in power.items()},
        "static_power": "not estimated (no leakage model)",
        "constants": {
            "toggle_energy": toggle_model.describe() if act else None,
            "clock_pin": (f"{clock_pin_ff:g} fF per flip-flop clock pin, 2 toggles per cycle, {cps} busy cycles per window, "
                          f"{res.gates.ff} flip-flops (generic gate netlist); clock tree wires not counted"),
            "op_energy": op_model.describe(),
            "gate_equivalent": f"CMOS transistors / {TRANSISTORS_PER_GE} (Yosys kernel/cost.h CMOS table; DFF = 4 GE)",
        },
        "commands": commands,
        "_t0": t0,
    }


def _fmt_energy(pj: float) -> str:
    if pj >= 1e6:
        return f"{pj / 1e6:.3g} µJ"
    if pj >= 1e3:
        return f"{pj / 1e3:.3g} nJ"
    return f"{pj:.3g} pJ"


def _fmt_power(w: float) -> str:
    for unit, scale in (("W", 1.0), ("mW", 1e-3), ("µW", 1e-6), ("nW", 1e-9)):
        if w >= scale:
            return f"{w / scale:.3g} {unit}"
    return f"{w / 1e-12:.3g} pW"


def render_markdown(r: dict) -> str:
    f = r["resources"]["fpga"]
    g = r["resources"]["gates"]
    t = r["throughput"]
    e = r["energy_per_window_pj"]
    p = r["power_per_channel_w"]
    a = r["activity"]
    yv = r["resources"]["yosys_version"]
    mhz = r["clock_hz"] / 1e6
    khz = r["channel_rate_hz"] / 1e3
    synth = f"Yosys `synth_xilinx` ({f['family']})"
    rows = [
        ("LUT (logic)", f"{f['lut']}", f"{synth}: LUT1-6 + INV"),
        ("FF", f"{f['ff']}", f"{synth}: FDRE/FDSE/FDCE/FDPE"),
        ("DSP48", f"{f['dsp']}", synth),
        ("BRAM (36 Kb tiles)", f"{f['bram']:g}", f"{synth}: RAMB36 + RAMB18/2"),
        ("LUTRAM (LUT sites)", f"{f['lutram_luts']} ({f['lutram_cells']} cells)", f"{synth}: distributed RAM + SRL, apart from LUT"),
        ("CARRY4", f"{f['carry']}", synth),
        ("Gate equivalents (NAND2)", f"{g['gate_equivalents']:,.0f}",
         f"Yosys `synth; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX`, GE = transistors/4 (Yosys CMOS cost table); "
         f"{g['ff']} DFF bits (memories as flip-flops) = {4 * g['ff']:,} GE"),
        ("Cycles per window", f"{t['cycles_per_segment']:,}", "schedule_summary (slowest layer), full throughput"),
        ("Cycles per sample", f"{t['cycles_per_sample']:g}", "cycles per window / segment length"),
        ("Latency", f"{t['latency_cycles']:,} cycles ({t['latency_us']:.3g} µs at {mhz:g} MHz)",
         "schedule_summary: last sample in -> last latent value out, idle pipeline"),
        (f"Max channels per instance at {mhz:g} MHz, {khz:g} kHz", f"{t['max_channels']}",
         "floor(clock / (channel rate x cycles per sample))"),
        ("MACs per window", f"{r['op_count']['macs']:,}", "integer encoder, every tap incl. zero padding; operand/accumulator widths of the RTL"),
    ]
    if a:
        rows += [
            ("Energy per window (a) switching, data nets", f"**{_fmt_energy(e['switching_data_pj'])}** (estimate)",
             f"{a['toggles']['data_toggles'] / a['windows']:,.0f} RTL-net toggles per window (Verilator SAIF of "
             f"{a['windows']} real window{'s' if a['windows'] != 1 else ''}) x {a['e_toggle_fj']:.3g} fJ"),
            ("Energy per window (a) switching, clock", f"**{_fmt_energy(e['switching_clock_pj'])}** (estimate)",
             f"{a['n_ff_clocked']:,} flip-flop clock pins x {a['clock_pin_ff']:g} fF x V² per cycle x {a['cycles_per_window']:,} cycles"),
            ("Energy per window (a) switching, total", f"**{_fmt_energy(e['switching_total_pj'])}** (estimate)", "data + clock"),
        ]
    rows += [
        ("Energy per window (b) op count", f"**{_fmt_energy(e['op_count_pj'])}** (estimate)",
         "MACs, bias, leaky ReLU, rounding x Horowitz ISSCC 2014 45 nm energies"),
        ("Energy per window (b) op count + SRAM reference", f"{_fmt_energy(e['op_count_with_memory_pj'])} (estimate)",
         "(b) + operand traffic at 8 KB SRAM cost (pessimistic: the RTL uses registers/LUT ROM)"),
    ]
    if a:
        rows += [
            (f"Power per channel at {khz:g} kHz (a) switching, data", f"**{_fmt_power(p['switching_data_w'])}** (estimate)", "energy x windows/s"),
            (f"Power per channel at {khz:g} kHz (a) switching, total", f"**{_fmt_power(p['switching_total_w'])}** (estimate)",
             "data + clock; clock stopped between windows, not gated inside one"),
        ]
    rows += [
        (f"Power per channel at {khz:g} kHz (b) op count", f"**{_fmt_power(p['op_count_w'])}** (estimate)",
         f"energy x {t['windows_per_second_per_channel']:.4g} windows/s"),
        ("Static (leakage) power", "not estimated", "no leakage model"),
    ]
    lines = [
        f"# Hardware report: {r['name']}",
        "",
        f"Generated by `neurocodec report-hw` ({r['created']}). Encoder RTL `{r['top']}` "
        f"(firmware/verilog_gen.py, MAC lanes per layer {r['macs_per_layer']}), "
        f"segment {r['segment_length']} samples -> latent {r['latent_shape'][0]} x {r['latent_shape'][1]}; "
        f"clock {mhz:g} MHz, channel rate {khz:g} kHz. Energies and powers are **estimates** "
        "(dynamic only, 45 nm-class constants), for comparing designs, not sign-off numbers. "
        f"Resources: {yv}, `synth_xilinx -flatten -noiopad -family {f['family']}` (FPGA) and generic gates (ASIC size).",
        "",
        "| Quantity | Value | How it was obtained |",
        "|---|---|---|",
    ]
    lines += [f"| {q} | {v} | {h} |" for q, v, h in rows]
    c = r["constants"]
    lines += ["", "## Constants and assumptions", ""]
    if a:
        lines.append(f"* (a) energy per toggle: {c['toggle_energy']}. Toggles are those of the RTL signals Verilator "
                     "traces (registers and named wires; ports counted once); internal nodes of adders/multipliers and "
                     "glitches are not in the SAIF, so (a) data is a lower-side estimate.")
        lines.append(f"* (a) clock: {c['clock_pin']}. Memories (line buffers) are flip-flops in the generic netlist, "
                     "so this term is large; clock gating of idle registers would cut it.")
    lines.append(f"* (b) {c['op_energy']}.")
    lines.append(f"* Gate equivalents: {c['gate_equivalent']}. Per-cell counts: "
                 + ", ".join(f"{k} {v}" for k, v in g["cells_by_type"].items()) + ".")
    lines.append("* FPGA cells: " + ", ".join(f"{k} {v}" for k, v in f["cells_by_type"].items())
                 + ". Yosys' mapping, not Vivado's (no place and route).")
    lines.append("* Static power: not estimated.")
    lines += ["", "## Commands", "", "```"] + r["commands"] + ["```", ""]
    return "\n".join(lines)


def write_report(report: dict, out_dir: Path, docs_dir: Path | None = None) -> dict:
    report = dict(report)
    t0 = report.pop("_t0", None)
    if t0 is not None:
        report["seconds"] = round(time.perf_counter() - t0, 1)
    out_dir = Path(out_dir)
    md = render_markdown(report)
    write_text_atomic(out_dir / "hw_report.json", json.dumps(report, indent=2, default=json_default) + "\n")
    write_text_atomic(out_dir / "hw_report.md", md)
    paths_written = {"json": out_dir / "hw_report.json", "markdown": out_dir / "hw_report.md"}
    if docs_dir is not None:
        paths_written["docs"] = Path(docs_dir) / f"hw_{report['name']}.md"
        write_text_atomic(paths_written["docs"], md)
    return paths_written


def _parse_macs(text: str):
    try:
        v = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int or comma-separated ints, got {text!r}") from None
    return v[0] if len(v) == 1 else v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neurocodec report-hw",
                                description="Yosys resources, latency/throughput and dynamic-power estimates of the cae encoder RTL.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-dir", help="trained model folder with int_encoder.json (+ test_vectors.npz), e.g. out/models/cae_cr64")
    src.add_argument("--int-encoder", help="an int_encoder.json file")
    p.add_argument("--test-vectors", help="npz with input_codes (default: test_vectors.npz next to int_encoder.json)")
    p.add_argument("--name", help="report name (default: the model folder name)")
    p.add_argument("--out", help="report folder (default out/reports/<name>)")
    p.add_argument("--docs", help="also write the Markdown table to <docs>/hw_<name>.md")
    p.add_argument("--clock-mhz", type=float, default=100.0)
    p.add_argument("--channel-rate-hz", type=float, default=30000.0)
    p.add_argument("--macs-per-layer", type=_parse_macs, default=1, help="MAC lanes per layer: N or N1,N2,...")
    p.add_argument("--top", default=DEFAULT_TOP)
    p.add_argument("--family", default="xc7", help="synth_xilinx -family (default xc7: 7-series)")
    p.add_argument("--windows", type=int, default=2, help="test windows simulated for switching activity")
    p.add_argument("--no-activity", action="store_true", help="skip the simulation (no switching-activity estimate)")
    p.add_argument("--rtl", help="analyse this Verilog file/folder instead of generating the RTL")
    p.add_argument("--saif", help="use this SAIF file instead of simulating (needs --saif-windows)")
    p.add_argument("--saif-windows", type=int, help="windows encoded in the --saif simulation")
    p.add_argument("--c-net-ff", type=float, default=pw.ToggleEnergyModel.c_net_ff, help="capacitance per net (fF)")
    p.add_argument("--clock-pin-ff", type=float, default=1.0, help="clock-pin capacitance per flip-flop (fF)")
    p.add_argument("--vdd", type=float, default=pw.ToggleEnergyModel.vdd, help="supply voltage (V)")
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    a = build_parser().parse_args(argv)
    from neurocodec import paths

    try:
        ie, ie_path, codes, tv_path, name = load_inputs(a.model_dir, a.int_encoder, a.test_vectors)
        name = a.name or name
        out = Path(a.out) if a.out else paths.stage_dir("reports", name)
        if a.clock_mhz <= 0 or a.channel_rate_hz <= 0:
            raise ReportInputError("--clock-mhz and --channel-rate-hz must be positive")
        command = "neurocodec report-hw " + " ".join(shlex.quote(x) for x in argv)
        report = build_report(
            ie, name, out, codes=codes, clock_mhz=a.clock_mhz, channel_rate_hz=a.channel_rate_hz, windows=a.windows,
            macs_per_layer=a.macs_per_layer, top=a.top, rtl=a.rtl, saif=a.saif, saif_windows=a.saif_windows,
            activity=not a.no_activity, family=a.family,
            toggle_model=pw.ToggleEnergyModel(a.c_net_ff, a.vdd), clock_pin_ff=a.clock_pin_ff,
            sources={"int_encoder": str(ie_path), "test_vectors": str(tv_path) if tv_path else None},
            command=command)
        written = write_report(report, out, Path(a.docs) if a.docs else None)
    except (ValueError, RuntimeError) as exc:  # HardwareReportError, VerilogGenError, CosimError, VerilatorNotFound
        print(f"neurocodec report-hw: error: {exc}", file=sys.stderr)
        return 2
    print(written["markdown"].read_text())
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0


__all__ = ["ReportInputError", "load_inputs", "port_skipper", "simulate_activity", "build_report", "render_markdown",
           "write_report", "build_parser", "main"]


if __name__ == "__main__":
    sys.exit(main())
