"""FPGA resources and ASIC gate equivalents of a Verilog design, from Yosys.

Two Yosys runs on the same RTL (run in the RTL folder so `$readmemh` paths resolve):

* FPGA (Xilinx 7-series by default)::

      read_verilog -sv <files>; hierarchy -check -top <top>
      synth_xilinx -flatten -noiopad -family xc7 -top <top>
      tee -q -o fpga_stat.json stat -json

  and the cell counts are grouped into LUT (LUT1..LUT6 + INV, which Vivado maps to a LUT1), FF
  (FD* flip-flops; latches LD* are counted apart), DSP (DSP48*), BRAM (RAMB18*/RAMB36*),
  LUTRAM (RAM*M / RAM*X1[SD] distributed RAM and SRL shift registers, reported apart from LUT as
  cells and as LUT sites), CARRY4/CARRY8 and MUXF7/8/9. `-noiopad` because the encoder is a
  core inside a bigger design (no I/O buffers); Yosys still adds one BUFG for the clock.
  These are Yosys' numbers, not Vivado's (no place-and-route, different optimizations).

* Generic gates (an ASIC-style size)::

      read_verilog -sv <files>; hierarchy -check -top <top>
      synth -flatten -top <top>
      dfflegalize -cell $_DFF_P_ 01 -cell $_DFF_N_ 01 -cell $_DFF_PP0_ 01 ... (see GENERIC_SCRIPT)
      abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX
      opt_clean; tee -q -o gates_stat.json stat -json

  Memories are mapped to flip-flops (no SRAM macro), enables and synchronous resets become
  gates in front of plain D flip-flops.

Gate equivalents (our convention, stated in every report): GE = CMOS transistor count / 4, i.e.
in units of a static-CMOS 2-input NAND (4 transistors). Transistor counts per generic cell are
Yosys' own CMOS cost model (kernel/cost.h, `cmos_transistors_db`, used by `stat -tech cmos`):
NOT 2, NAND 4, NOR 4, AND 6, OR 6, ANDNOT 6, ORNOT 6, XOR 12, XNOR 12, AOI3 6, OAI3 6, AOI4 8,
OAI4 8, MUX 12, NMUX 10, BUF 1, DFF 16; so NAND2 = 1 GE, AND2/OR2 = 1.5, XOR2 = 3, MUX2 = 3,
DFF = 4. Cells that table lacks get our own numbers (TRANSISTORS below): flip-flops with
asynchronous reset/set 20 (DFF + 25 %), latches 8. Commercial libraries give DFF ~4.5-6 GE, so
this is a lower-side gate count, good for comparing designs, not for silicon area sign-off.
"""
from __future__ import annotations

from neurocodec.errors import NeurocodecError
from neurocodec.files import write_text_atomic

import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path


class HardwareReportError(NeurocodecError):
    """Base of the hardware-report errors (bad RTL, failed or missing tool, bad SAIF...)."""


class RtlError(HardwareReportError):
    """The RTL to analyse is missing, empty or not a readable Verilog design."""


class YosysError(HardwareReportError):
    """Yosys is not installed, or it failed on the design (message ends with its log tail)."""


# --- cell classification -------------------------------------------------------------------------

# LUT sites occupied by Xilinx distributed-RAM / shift-register primitives (7-series / UltraScale).
LUTRAM_SITES = {
    "RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4, "RAM512X1S": 8,
    "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8,
    "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8,
    "RAM16X1S_1": 1, "RAM32X1S_1": 1, "RAM64X1S_1": 1, "RAM128X1S_1": 2,
    "SRL16": 1, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1,
}

# Transistors per Yosys generic gate cell (see module docstring for the sources).
TRANSISTORS = {
    "$_BUF_": 1, "$_NOT_": 2, "$_AND_": 6, "$_NAND_": 4, "$_OR_": 6, "$_NOR_": 4,
    "$_ANDNOT_": 6, "$_ORNOT_": 6, "$_XOR_": 12, "$_XNOR_": 12, "$_AOI3_": 6, "$_OAI3_": 6,
    "$_AOI4_": 8, "$_OAI4_": 8, "$_MUX_": 12, "$_NMUX_": 10, "$_DFF_P_": 16, "$_DFF_N_": 16,
}
ASYNC_FF_TRANSISTORS = 20  # our convention: D flip-flop with asynchronous reset or set
LATCH_TRANSISTORS = 8  # our convention: transparent D latch
TRANSISTORS_PER_GE = 4  # a static-CMOS NAND2

_ASYNC_FF = re.compile(r"^\$_DFF_[PN][PN][01]_$")
_LATCH = re.compile(r"^\$_DLATCH_[PN]_$")
_GENERIC_FF = re.compile(r"^\$_(DFF|DFFE|SDFF|SDFFE|SDFFCE|DFFSR|DFFSRE|ALDFF|ALDFFE|DLATCH|SR)")


def cell_transistors(cell_type: str) -> int | None:
    if cell_type in TRANSISTORS:
        return TRANSISTORS[cell_type]
    if _ASYNC_FF.match(cell_type):
        return ASYNC_FF_TRANSISTORS
    if _LATCH.match(cell_type):
        return LATCH_TRANSISTORS
    return None


@dataclass
class FpgaResources:
    """Xilinx primitives after `synth_xilinx`, grouped the way a utilization report is."""

    family: str
    lut: int  # logic LUTs: LUT1..LUT6 + INV (LUTRAM not included)
    ff: int  # flip-flops FDRE/FDSE/FDCE/FDPE (+ _1 variants)
    latch: int
    dsp: int  # DSP48*
    bram36: int  # RAMB36*
    bram18: int  # RAMB18*
    lutram_cells: int  # distributed-RAM + SRL primitives
    lutram_luts: int  # LUT sites those occupy (LUTRAM_SITES)
    carry: int  # CARRY4 / CARRY8
    muxf: int  # MUXF7 / MUXF8 / MUXF9
    bufg: int
    cells_by_type: dict = field(default_factory=dict)
    other_cells: dict = field(default_factory=dict)  # types not in any group above

    @property
    def bram(self) -> float:
        """Block RAM in 36 Kb tiles (a RAMB18 is half a tile)."""
        return self.bram36 + self.bram18 / 2

    def to_dict(self) -> dict:
        d = asdict(self)
        d["bram"] = self.bram
        return d


@dataclass
class GateCount:
    """Generic-gate netlist size after `synth; abc -g ...`, in cells, transistors and GE."""

    cells_by_type: dict
    ff: int  # flip-flop (and latch) bits
    logic_cells: int
    transistors: int
    gate_equivalents: float
    unknown_cells: dict = field(default_factory=dict)  # types with no transistor count (not in GE)

    def to_dict(self) -> dict:
        return asdict(self)


def classify_xilinx_cells(cells: dict, family: str = "xc7") -> FpgaResources:
    """Group a `stat -json` cell-type histogram of a synth_xilinx netlist into FpgaResources."""
    lut = ff = latch = dsp = b36 = b18 = lr_cells = lr_luts = carry = muxf = bufg = 0
    other = {}
    for t, n in cells.items():
        n = int(n)
        if re.fullmatch(r"LUT[1-6]", t) or t == "INV":
            lut += n
        elif re.fullmatch(r"FD[RSCP]E(_1)?", t) or t in ("FDRE", "FDSE", "FDCE", "FDPE"):
            ff += n
        elif re.fullmatch(r"LD[CP]E?(_1)?", t):
            latch += n
        elif t.startswith("DSP48") or t.startswith("DSP58"):
            dsp += n
        elif t.startswith("RAMB36") or t.startswith("FIFO36"):
            b36 += n
        elif t.startswith("RAMB18") or t.startswith("FIFO18"):
            b18 += n
        elif t in LUTRAM_SITES:
            lr_cells += n
            lr_luts += n * LUTRAM_SITES[t]
        elif t.startswith("CARRY"):
            carry += n
        elif t.startswith("MUXF"):
            muxf += n
        elif t.startswith("BUFG"):
            bufg += n
        elif t in ("VCC", "GND"):
            pass
        else:
            other[t] = n
    return FpgaResources(family, lut, ff, latch, dsp, b36, b18, lr_cells, lr_luts, carry, muxf, bufg,
                         dict(sorted(cells.items())), other)


def count_gate_equivalents(cells: dict) -> GateCount:
    """Transistors and NAND2 gate equivalents of a generic-gate (`abc -g`) cell histogram."""
    transistors = ff = logic = 0
    unknown = {}
    for t, n in cells.items():
        n = int(n)
        tr = cell_transistors(t)
        if tr is None:
            unknown[t] = n
            continue
        transistors += tr * n
        if _GENERIC_FF.match(t):
            ff += n
        else:
            logic += n
    return GateCount(dict(sorted(cells.items())), ff, logic, transistors, transistors / TRANSISTORS_PER_GE, unknown)


def parse_stat_json(text: str, top: str | None = None) -> dict:
    """Cell-type histogram of the whole design from the text of Yosys `stat -json`.

    Uses the hierarchical "design" totals when Yosys wrote them, else the top module's (or, for
    a single module, that module's) counts. Yosys names modules with a leading backslash."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise YosysError(f"Yosys `stat -json` output is not JSON: {exc}") from None
    if "design" in data and "num_cells_by_type" in data["design"]:
        return dict(data["design"]["num_cells_by_type"])
    modules = data.get("modules", {})
    if top is not None:
        for key in (top, "\\" + top):
            if key in modules:
                return dict(modules[key].get("num_cells_by_type", {}))
    if len(modules) == 1:
        return dict(next(iter(modules.values())).get("num_cells_by_type", {}))
    raise YosysError(f"cannot find the design totals in Yosys stat output (modules: {sorted(modules)})")


# --- running Yosys -------------------------------------------------------------------------------

VERILOG_SUFFIXES = (".v", ".sv")


def rtl_sources(rtl) -> list[Path]:
    """Verilog files of a design: a file, a list of files, or a folder (its *.v and *.sv)."""
    if isinstance(rtl, (list, tuple)):
        files = [Path(f) for f in rtl]
    else:
        rtl = Path(rtl)
        if rtl.is_dir():
            files = sorted(p for p in rtl.iterdir() if p.suffix in VERILOG_SUFFIXES and p.is_file())
            if not files:
                raise RtlError(f"no Verilog files (*.v, *.sv) in RTL folder {rtl}")
        elif rtl.is_file():
            files = [rtl]
        else:
            raise RtlError(f"RTL not found: {rtl} (generate it first, e.g. `neurocodec rtl --model-dir ...`)")
    for f in files:
        if not f.is_file():
            raise RtlError(f"RTL file not found: {f}")
        if f.stat().st_size == 0:
            raise RtlError(f"RTL file is empty: {f}")
    if not files:
        raise RtlError("no RTL files given")
    return [f.resolve() for f in files]


def find_yosys(yosys: str | None = None) -> str:
    exe = yosys or os.environ.get("YOSYS", "yosys")
    path = shutil.which(exe)
    if path is None:
        raise YosysError(
            f"Yosys executable {exe!r} not found on PATH: install it (Debian/Ubuntu: `apt-get install yosys`) "
            f"or set $YOSYS to its path"
        )
    return path


def yosys_version(yosys: str | None = None) -> str:
    out = subprocess.run([find_yosys(yosys), "-V"], capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


def _log_tail(text: str, n: int = 25) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


def run_yosys(script: str, work_dir: Path, name: str, cwd: Path | None = None, yosys: str | None = None,
              timeout: float = 1800) -> Path:
    """Run a Yosys script (written to work_dir/<name>.ys, log to <name>.log); returns the log path.

    Raises YosysError with the log tail when Yosys exits non-zero or times out."""
    exe = find_yosys(yosys)
    work_dir = Path(work_dir)
    ys = work_dir / f"{name}.ys"
    log = work_dir / f"{name}.log"
    write_text_atomic(ys, script)
    cmd = [exe, "-q", "-l", str(log), "-s", str(ys)]
    try:
        proc = subprocess.run(cmd, cwd=cwd or work_dir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise YosysError(f"Yosys timed out after {timeout:.0f} s on {ys}; log {log}:\n"
                         f"{_log_tail(log.read_text(errors='replace')) if log.exists() else ''}") from None
    if proc.returncode != 0:
        text = log.read_text(errors="replace") if log.exists() else ""
        text = text + "\n" + proc.stdout + "\n" + proc.stderr
        raise YosysError(f"Yosys failed (exit {proc.returncode}) running {ys}; last lines of {log}:\n{_log_tail(text)}")
    return log


def _quote(p: Path) -> str:
    s = str(p)
    return f'"{s}"' if re.search(r"\s", s) else s


def _read_script(files: list[Path], top: str) -> str:
    reads = "\n".join(f"read_verilog -sv {_quote(f)}" for f in files)
    return f"{reads}\nhierarchy -check -top {top}\n"


def xilinx_script(files: list[Path], top: str, family: str = "xc7", stat_json: str = "fpga_stat.json") -> str:
    return (_read_script(files, top)
            + f"synth_xilinx -flatten -noiopad -family {family} -top {top}\n"
            + f"tee -q -o {stat_json} stat -json\n")


_LEGAL_FFS = ["$_DFF_P_", "$_DFF_N_"] + [f"$_DFF_{c}{r}{v}_" for c in "PN" for r in "PN" for v in "01"] \
    + ["$_DLATCH_P_", "$_DLATCH_N_"]


def generic_script(files: list[Path], top: str, stat_json: str = "gates_stat.json") -> str:
    legal = " ".join(f"-cell {c} 01" for c in _LEGAL_FFS)
    return (_read_script(files, top)
            + f"synth -flatten -top {top}\n"
            + f"dfflegalize {legal}\n"
            + "abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX\n"
            + "opt_clean\n"
            + f"tee -q -o {stat_json} stat -json\n")


def _check_top_in_sources(files: list[Path], top: str) -> None:
    pat = re.compile(r"^\s*module\s+" + re.escape(top) + r"\b", re.M)
    if not any(pat.search(f.read_text(errors="replace")) for f in files):
        raise RtlError(f"top module {top!r} is not defined in {', '.join(str(f) for f in files)}")


def synth_fpga(rtl, top: str, work_dir, family: str = "xc7", yosys: str | None = None) -> FpgaResources:
    files = rtl_sources(rtl)
    _check_top_in_sources(files, top)
    work_dir = Path(work_dir).resolve()
    stat = work_dir / "fpga_stat.json"
    stat.unlink(missing_ok=True)
    run_yosys(xilinx_script(files, top, family, str(stat)), work_dir, "fpga", cwd=files[0].parent, yosys=yosys)
    return classify_xilinx_cells(parse_stat_json(stat.read_text(), top), family)


def synth_gates(rtl, top: str, work_dir, yosys: str | None = None) -> GateCount:
    files = rtl_sources(rtl)
    _check_top_in_sources(files, top)
    work_dir = Path(work_dir).resolve()
    stat = work_dir / "gates_stat.json"
    stat.unlink(missing_ok=True)
    run_yosys(generic_script(files, top, str(stat)), work_dir, "gates", cwd=files[0].parent, yosys=yosys)
    return count_gate_equivalents(parse_stat_json(stat.read_text(), top))


def design_hierarchy(rtl, top: str, work_dir, yosys: str | None = None) -> dict:
    """{module: {"ports": {port: direction}, "instances": {instance: module}}} of the design
    under `top` (Yosys `hierarchy; proc; write_json`); used to tell port nets in a SAIF file."""
    files = rtl_sources(rtl)
    _check_top_in_sources(files, top)
    work_dir = Path(work_dir).resolve()
    out = work_dir / "hierarchy.json"
    out.unlink(missing_ok=True)
    script = _read_script(files, top) + f"proc\nwrite_json {_quote(out)}\n"
    run_yosys(script, work_dir, "hierarchy", cwd=files[0].parent, yosys=yosys)
    data = json.loads(out.read_text())
    result = {}
    for name, mod in data.get("modules", {}).items():
        if mod.get("attributes", {}).get("blackbox"):
            continue
        result[name] = {
            "ports": {p: v.get("direction", "") for p, v in mod.get("ports", {}).items()},
            "instances": {c: v["type"] for c, v in mod.get("cells", {}).items() if not v["type"].startswith("$")},
            "top": bool(int(str(mod.get("attributes", {}).get("top", "0")), 2)) if mod.get("attributes", {}).get("top") else False,
        }
    return result


@dataclass
class ResourceReport:
    top: str
    rtl_files: list
    fpga: FpgaResources
    gates: GateCount
    yosys_version: str
    scripts: dict  # name -> path of the Yosys script that produced the numbers

    def to_dict(self) -> dict:
        return {"top": self.top, "rtl_files": [str(f) for f in self.rtl_files], "fpga": self.fpga.to_dict(),
                "gates": self.gates.to_dict(), "yosys_version": self.yosys_version,
                "scripts": {k: str(v) for k, v in self.scripts.items()}}


def estimate_resources(rtl, top: str, work_dir, family: str = "xc7", yosys: str | None = None) -> ResourceReport:
    """Both Yosys runs on the design; scripts, logs and stat JSON are kept in work_dir."""
    files = rtl_sources(rtl)
    work_dir = Path(work_dir).resolve()
    fpga = synth_fpga(files, top, work_dir, family, yosys)
    gates = synth_gates(files, top, work_dir, yosys)
    return ResourceReport(top, files, fpga, gates, yosys_version(yosys),
                          {"fpga": work_dir / "fpga.ys", "gates": work_dir / "gates.ys"})


__all__ = [
    "HardwareReportError", "RtlError", "YosysError", "FpgaResources", "GateCount", "ResourceReport",
    "TRANSISTORS", "TRANSISTORS_PER_GE", "LUTRAM_SITES", "classify_xilinx_cells", "count_gate_equivalents",
    "parse_stat_json", "rtl_sources", "find_yosys", "run_yosys", "xilinx_script", "generic_script",
    "synth_fpga", "synth_gates", "estimate_resources", "cell_transistors", "design_hierarchy",
]
