"""Dynamic-energy estimates of the `cae` encoder per encoded window, two independent ways.

Both are *estimates* with stated constants, for comparing designs and orders of magnitude, not
sign-off numbers; static (leakage) power is NOT estimated by either.

(a) Switching activity (`switching_energy`): toggles counted by an RTL simulation (SAIF file,
    see firmware.saif) x an energy per toggle. A net toggling once dissipates 0.5 * C * V**2 on
    average (a 0->1 edge draws C*V**2 from the supply, half stored then dumped on 1->0).
    Defaults: C = 5 fF per net, V = 1.0 V -> 2.5 fJ per toggle. Basis: a 45 nm standard cell
    input pin is ~1-2 fF (e.g. NanGate 45 nm Open Cell Library X1 cells), an average net drives
    a fan-out of ~2-3 pins plus a few um of local wire, so a few fF per net. Two parts:
      * data nets: the toggles of every non-clock net bit in the SAIF file (after removing the
        duplicate records Verilator writes for port connections), divided by the number of
        windows simulated;
      * clock: every flip-flop's clock pin (default 1 fF, about a 45 nm X1 flip-flop's CK pin;
        clock-tree wires not counted) toggles twice per clock cycle during the busy cycles of a
        window (the clock is assumed gated between windows, not inside them):
        2 * cycles_per_window * n_ff * 0.5 * C_clk * V**2, n_ff from the Yosys gate count.
    Verilator's SAIF holds RTL signals only: the internal nodes of multipliers and adders (and
    glitches, since the simulation has no delays) are not in it, so (a) is low for datapath-heavy
    logic. It is a lower-side estimate.

(b) Operation count (`op_energy`): MACs and other arithmetic per window from the integer
    encoder x energies per operation from M. Horowitz, "Computing's energy problem (and what we
    can do about it)", ISSCC 2014, 45 nm, 0.9 V: 8-bit integer multiply 0.2 pJ, 8-bit integer add
    0.03 pJ (32-bit: 3.1 pJ and 0.1 pJ). Scaling to other widths (our convention): an
    a x b-bit multiply costs 0.2 pJ * a*b/64 (array-multiplier area ~ a*b; gives 3.2 pJ at
    32x32, Horowitz: 3.1), an n-bit add 0.03 pJ * n/8 (linear in the carry chain; gives 0.12 pJ
    at 32 bits, Horowitz: 0.1). Per layer and output value: K*C_in multiply-accumulates
    (every tap, zero padding included, as the RTL does), one bias add, the leaky-ReLU product
    a * alpha_num as shift-and-add (popcount(alpha_num) - 1 adds of acc_bits + alpha_shift bits,
    as the RTL does it: 77 -> 3 adds) and two rounding adds (the two requantizations). Memory traffic is reported
    apart (optional): each MAC reads a weight and an activation and each output writes one
    activation, at 10 pJ per 64-bit access of an 8 KB SRAM (Horowitz) = 0.156 pJ/bit; the RTL keeps
    these in registers/LUT ROMs, so this is a pessimistic reference.

Power per channel = energy per window * windows per second per channel
                  = energy per window * channel_rate / segment_length (windows do not overlap).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from neurocodec.firmware.resources import HardwareReportError

HOROWITZ_2014 = ('M. Horowitz, "Computing\'s energy problem (and what we can do about it)", '
                 "IEEE ISSCC 2014, pp. 10-14 (45 nm, 0.9 V)")


@dataclass(frozen=True)
class ToggleEnergyModel:
    """Energy per net toggle 0.5 * C * V**2 (see module docstring)."""

    c_net_ff: float = 5.0  # fF per net (pin loads + local wire), 45 nm
    vdd: float = 1.0  # V

    @property
    def e_toggle_j(self) -> float:
        return 0.5 * self.c_net_ff * 1e-15 * self.vdd**2

    def describe(self) -> str:
        return (f"0.5*C*V^2 with C = {self.c_net_ff:g} fF per net and V = {self.vdd:g} V "
                f"= {self.e_toggle_j * 1e15:.3g} fJ per toggle (45 nm-class net capacitance, our assumption)")


@dataclass(frozen=True)
class OpEnergyModel:
    """Energies per arithmetic operation and per memory bit (see module docstring)."""

    mult8_pj: float = 0.2
    add8_pj: float = 0.03
    sram_pj_per_bit: float = 10.0 / 64
    source: str = HOROWITZ_2014

    def mult_pj(self, a_bits: int, b_bits: int) -> float:
        return self.mult8_pj * a_bits * b_bits / 64

    def add_pj(self, bits: int) -> float:
        return self.add8_pj * bits / 8

    def describe(self) -> str:
        return (f"{self.mult8_pj:g} pJ per 8x8-bit multiply (scaled by a*b/64), {self.add8_pj:g} pJ per 8-bit add "
                f"(scaled by n/8), memory {self.sram_pj_per_bit:.3g} pJ/bit (8 KB SRAM, 10 pJ per 64-bit access); "
                f"{self.source}")


class PowerEstimateError(HardwareReportError):
    """Inputs of a power estimate are inconsistent (no windows, zero cycles, ...)."""


# --- operation count -----------------------------------------------------------------------------


@dataclass
class LayerOps:
    layer: int
    in_length: int
    out_length: int
    in_channels: int
    out_channels: int
    kernel: int
    x_bits: int  # activation operand width of the multiplier
    w_bits: int  # weight operand width
    acc_width: int  # full-precision accumulator width (adds of the MAC)
    macs: int  # every tap, padding included
    macs_nonpad: int  # taps that fall inside the data (a design skipping padding would do only these)
    outputs: int
    mult_pj: float = 0.0
    add_pj: float = 0.0
    post_pj: float = 0.0  # bias add, leaky shift-and-add, two rounding adds
    post_adds: int = 0
    memory_bits: int = 0
    memory_pj: float = 0.0

    @property
    def arithmetic_pj(self) -> float:
        return self.mult_pj + self.add_pj + self.post_pj


def signed_bits(values) -> int:
    """Smallest two's-complement width holding every value (at least 2): -128..127 -> 8."""
    import numpy as np

    v = np.asarray(values, dtype=np.int64)
    if v.size == 0:
        return 2
    hi, lo = int(v.max()), int(v.min())
    return max(2, hi.bit_length() + 1 if hi >= 0 else 1, (-lo - 1).bit_length() + 1 if lo < 0 else 1)


def accumulator_width(x_bits: int, w_bits: int, terms: int) -> int:
    """Bits holding the exact sum of `terms` signed x_bits*w_bits products plus a bias (one more
    term): product bits + ceil(log2(terms + 1))."""
    return x_bits + w_bits + max(1, math.ceil(math.log2(terms + 1)))


def count_ops(int_encoder, model: OpEnergyModel = OpEnergyModel(), rtl_widths=None) -> list[LayerOps]:
    """Per-layer operation counts and energies of one window through an IntEncoder.

    rtl_widths: optional per-layer dicts with "weight_bits" and "acc_width" of the actual RTL
    (verilog_gen.schedule_summary(...)["layers"]); without it the weight width is the smallest
    two's-complement width of the weights and the accumulator width `accumulator_width`."""
    if not int_encoder.layers:
        raise PowerEstimateError("the integer encoder has no layers")
    n = int(int_encoder.segment_length)
    x_bits = int(int_encoder.input_bits)
    result = []
    for i, layer in enumerate(int_encoder.layers, start=1):
        k, cin, cout, s = layer.kernel, layer.in_channels, layer.out_channels, layer.stride
        out_len = (n + layer.pad_left + layer.pad_right - k) // s + 1
        if out_len <= 0:
            raise PowerEstimateError(f"layer {i}: input length {n} too short for kernel {k}")
        # taps inside the data: position s*t - pad_left + j in [0, n)
        inside = sum(1 for t in range(out_len) for j in range(k) if 0 <= s * t - layer.pad_left + j < n)
        w_bits = signed_bits(layer.weights)
        acc_w = accumulator_width(x_bits, w_bits, k * cin)
        if rtl_widths is not None:
            w_bits = int(rtl_widths[i - 1].get("weight_bits", w_bits))
            acc_w = int(rtl_widths[i - 1].get("acc_width", acc_w))
        macs = out_len * cout * k * cin
        outputs = out_len * cout
        leaky_adds = max(0, bin(abs(int(layer.alpha_num))).count("1") - 1)
        leaky_width = int(layer.acc_bits) + int(layer.alpha_shift)
        ops = LayerOps(i, n, out_len, cin, cout, k, x_bits, w_bits, acc_w, macs, inside * cout * cin, outputs)
        ops.mult_pj = macs * model.mult_pj(x_bits, w_bits)
        ops.add_pj = macs * model.add_pj(acc_w)
        # bias add + leaky shift-and-add + rounding of acc (acc_w) + rounding of act (leaky width)
        ops.post_pj = outputs * (2 * model.add_pj(acc_w) + (leaky_adds + 1) * model.add_pj(leaky_width))
        ops.post_adds = outputs * (3 + leaky_adds)
        ops.memory_bits = macs * (x_bits + w_bits) + outputs * layer.out_bits
        ops.memory_pj = ops.memory_bits * model.sram_pj_per_bit
        result.append(ops)
        n, x_bits = out_len, int(layer.out_bits)
    return result


@dataclass
class OpEnergy:
    macs: int
    multiplies: int  # the MAC multiplies (the leaky slope is shift-and-add)
    adds: int  # MAC adds + bias + leaky shift-and-add + rounding adds
    arithmetic_pj: float
    memory_pj: float
    layers: list = field(default_factory=list)
    model: str = ""

    @property
    def with_memory_pj(self) -> float:
        return self.arithmetic_pj + self.memory_pj

    def to_dict(self) -> dict:
        d = asdict(self)
        d["with_memory_pj"] = self.with_memory_pj
        return d


def op_energy(int_encoder, model: OpEnergyModel = OpEnergyModel(), rtl_widths=None) -> OpEnergy:
    """Method (b): arithmetic energy per window (pJ), and the memory reference apart."""
    if rtl_widths is not None and len(rtl_widths) != len(int_encoder.layers):
        raise PowerEstimateError(f"rtl_widths has {len(rtl_widths)} entries for {len(int_encoder.layers)} layers")
    layers = count_ops(int_encoder, model, rtl_widths)
    macs = sum(lo.macs for lo in layers)
    return OpEnergy(macs, macs, macs + sum(lo.post_adds for lo in layers), sum(lo.arithmetic_pj for lo in layers),
                    sum(lo.memory_pj for lo in layers), [asdict(lo) | {"arithmetic_pj": lo.arithmetic_pj} for lo in layers],
                    model.describe())


# --- switching activity --------------------------------------------------------------------------


@dataclass
class SwitchingEnergy:
    n_windows: int
    data_toggles: int  # over the whole simulation
    data_toggles_per_window: float
    cycles_per_window: float
    n_ff: int
    data_pj: float  # per window
    clock_pj: float  # per window
    e_toggle_fj: float
    clock_pin_ff: float
    model: str

    @property
    def total_pj(self) -> float:
        return self.data_pj + self.clock_pj

    def to_dict(self) -> dict:
        d = asdict(self)
        d["total_pj"] = self.total_pj
        return d


def switching_energy(data_toggles: int, n_windows: int, cycles_per_window: float, n_ff: int,
                     model: ToggleEnergyModel = ToggleEnergyModel(), clock_pin_ff: float = 1.0) -> SwitchingEnergy:
    """Method (a): energy per window (pJ) from `data_toggles` counted over `n_windows` simulated
    windows, plus the clock: 2 toggles per cycle x cycles_per_window x n_ff clock pins of
    clock_pin_ff each (0.5*C*V^2 per toggle, V = model.vdd; clock-tree wiring not counted)."""
    if n_windows <= 0:
        raise PowerEstimateError(f"number of simulated windows must be positive, got {n_windows}")
    if data_toggles < 0 or n_ff < 0 or not (cycles_per_window >= 0) or clock_pin_ff < 0:
        raise PowerEstimateError("toggle, flip-flop, cycle counts and capacitances must be non-negative")
    e = model.e_toggle_j
    e_clk = 0.5 * clock_pin_ff * 1e-15 * model.vdd**2
    per_window = data_toggles / n_windows
    return SwitchingEnergy(n_windows, int(data_toggles), per_window, float(cycles_per_window), int(n_ff),
                           per_window * e * 1e12, 2 * cycles_per_window * n_ff * e_clk * 1e12, e * 1e15,
                           clock_pin_ff, model.describe())


# --- rates ---------------------------------------------------------------------------------------


def windows_per_second(channel_rate_hz: float, segment_length: int) -> float:
    if channel_rate_hz <= 0 or segment_length <= 0:
        raise PowerEstimateError("channel rate and segment length must be positive")
    return channel_rate_hz / segment_length


def power_per_channel_w(energy_per_window_pj: float, channel_rate_hz: float, segment_length: int) -> float:
    """Average dynamic power (W) of one channel: energy per window x windows per second."""
    return energy_per_window_pj * 1e-12 * windows_per_second(channel_rate_hz, segment_length)


def max_channels(clock_hz: float, channel_rate_hz: float, cycles_per_sample) -> int:
    """floor(clock / (channel_rate * cycles_per_sample)): channels one instance can serve by
    time-multiplexing, computed exactly (Fractions) so integer ratios do not round down."""
    def exact(v):  # floats like 1/3 or 0.1: the nearest simple fraction, not the binary value
        return Fraction(v).limit_denominator(10**9) if isinstance(v, float) else Fraction(v)

    cps, clk, rate = exact(cycles_per_sample), exact(clock_hz), exact(channel_rate_hz)
    if clk <= 0 or rate <= 0:
        raise PowerEstimateError(f"clock ({clock_hz}) and channel rate ({channel_rate_hz}) must be positive")
    if cps <= 0:
        raise PowerEstimateError(f"cycles per sample must be positive, got {cycles_per_sample}")
    return math.floor(clk / (rate * cps))


__all__ = [
    "HOROWITZ_2014", "ToggleEnergyModel", "OpEnergyModel", "PowerEstimateError", "LayerOps", "count_ops",
    "accumulator_width", "signed_bits", "OpEnergy", "op_energy", "SwitchingEnergy", "switching_energy", "windows_per_second",
    "power_per_channel_w", "max_channels",
]
