"""Synthesizable Verilog-2005 for a quantized `cae` encoder (an `IntEncoder`), bit-exact with
`neurocodec.quantize.reference.encode_int`.

`generate_encoder_verilog(int_encoder, out_dir)` writes ONE file `<top>.v` holding the top module
and one module per convolution layer (`<top>_l1`, `<top>_l2`, ...), plus `<top>_schedule.json`
(the `schedule_summary`). The trained integer weights and biases are constants in the RTL: each
layer's weights are a synchronous case-ROM (Yosys turns it into LUTs or a block RAM), biases are
localparams (or a small case-ROM when a layer has several MAC groups). Full description, diagrams
and numbers: firmware/ARCHITECTURE.md.

Architecture (one streaming pipeline; every layer is its own module, all layers run concurrently)
-----------------------------------------------------------------------------------------------

Top ports (`clk`, synchronous active-high `rst`)::

    in_valid, in_ready, in_data[IN_BITS-1:0]     unsigned input codes, valid/ready handshake
    out_valid, out_ready, out_data[OUT_BITS-1:0] signed latent codes, valid/ready handshake
    out_index, out_channel, out_last             position t and channel c of out_data, last of segment

* Input: one sample per accepted `in_valid & in_ready` cycle (at most one per clock, no minimum
  spacing). Segments are consecutive blocks of `segment_length` (1024) accepted samples counted
  from reset; every segment is zero-padded at both ends ('same' padding), exactly like the
  reference: segments never see each other's samples. `in_ready` is the backpressure.
* Output order: position-major, channel-minor, i.e. latent[t, c] in the order of
  `encode_int(...)[n].ravel()`; `out_last` marks latent[L-1, C-1] of each segment.
* Layer module: an input line buffer of D = next_pow2(K + 2*stride) = 16 positions x C_in
  channels (a simple dual-port RAM), a MAC sequencer, one multiply-accumulate lane per parallel
  output channel (`macs_per_layer` = P lanes), a 6-stage pipeline (RAM/ROM read -> product ->
  accumulate -> round/saturate to acc_bits -> leaky ReLU -> round/saturate to out_bits) and an
  output shift register that streams the P results one per cycle to the next layer.
  Output position t needs input positions stride*t - pad_left ... + K - 1; it is computed as soon
  as they are in the buffer (positions outside [0, L_in) read as zero). For each t, the
  ceil(C_out / P) channel groups are computed one after the other; a group takes K * C_in cycles
  (one tap x input channel per cycle per lane). The buffer accepts input up to D positions ahead
  of the oldest position still needed, so upstream layers run ahead and the slowest layer is
  never starved within or across segments.
* Rounding: round-half-even exactly as `fixed_point.shift_round_half_even` (drop the low bits,
  add one when the dropped bits are more than half, or exactly half and the kept LSB is odd),
  then saturation, both in the "acc" and the "act" requantization.

Throughput/latency: see `schedule_summary` (cycles per segment = the slowest layer's
L_out * sum over groups of max(K*C_in, group size); latency from an event model of the same
schedule, checked against the RTL simulation in tests/test_rtl_cae.py).
"""
from __future__ import annotations

from neurocodec.errors import NeurocodecError

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from neurocodec.quantize.reference import IntConvLayer, IntEncoder

# Pipeline stages between the issue of a layer's last MAC of a group and the load of the group's
# results into the output shift register: RAM/ROM read, product, accumulate, acc requantization,
# leaky ReLU, act requantization.
PIPELINE_STAGES = 6


class VerilogGenError(NeurocodecError):
    """The integer encoder cannot be turned into RTL (unsupported shape or format)."""


# --------------------------------------------------------------------------------------------- #
# Planning: widths and schedule of every layer
# --------------------------------------------------------------------------------------------- #


def _bits_u(v: int) -> int:
    """Bits of an unsigned value (at least 1)."""
    return max(1, int(v).bit_length())


def _clog2(n: int) -> int:
    """Bits of a counter 0..n-1 (at least 1)."""
    return max(1, (int(n) - 1).bit_length())


def _bits_s(lo: int, hi: int) -> int:
    """Bits of a signed (two's complement) range [lo, hi] (at least 2)."""
    b = 2
    while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
        b += 1
    return b


def _next_pow2(n: int) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())


@dataclass(frozen=True)
class LayerPlan:
    """Everything the RTL of one layer needs (derived from an IntConvLayer)."""

    index: int  # 1-based
    l_in: int
    l_out: int
    kernel: int
    stride: int
    pad_left: int
    c_in: int
    c_out: int
    lanes: int  # P: parallel output channels (MACs)
    groups: int  # G = ceil(c_out / P)
    last_group_size: int
    depth: int  # D: line-buffer positions
    in_bits: int
    in_signed: bool
    weight_bits: int
    acc_width: int  # accumulator register width (exact bound of the sum)
    acc_bits: int  # "acc" register width (reference acc_bits)
    shift1: int  # product_frac - acc_frac
    alpha_num: int
    alpha_shift: int
    leaky_width: int
    shift2: int  # acc_frac + alpha_shift - out_frac
    out_bits: int
    bias_shift: int  # product_frac - bias_frac

    @property
    def taps(self) -> int:
        """Cycles of one group: K * C_in MACs per lane."""
        return self.kernel * self.c_in

    @property
    def need0(self) -> int:
        return self.l_in if self.l_out == 1 else min(self.kernel - self.pad_left, self.l_in)

    @property
    def cycles_per_position(self) -> int:
        """Steady-state cycles per output position (group drain included when P > K*C_in)."""
        sizes = [self.lanes] * (self.groups - 1) + [self.last_group_size]
        return sum(max(self.taps, n) for n in sizes)

    @property
    def cycles_per_segment(self) -> int:
        return self.l_out * self.cycles_per_position

    @property
    def macs_per_segment(self) -> int:
        """Multiply-accumulates of the reference (padding taps included) per segment."""
        return self.l_out * self.c_out * self.kernel * self.c_in

    @property
    def mem_words(self) -> int:
        return self.depth * (1 << (_clog2(self.c_in) if self.c_in > 1 else 0))


def load_int_encoder(int_encoder) -> IntEncoder:
    """IntEncoder, its to_dict() dict, or a path to an int_encoder.json (or to its model folder)."""
    if isinstance(int_encoder, IntEncoder):
        return int_encoder
    if isinstance(int_encoder, dict):
        return IntEncoder.from_dict(int_encoder)
    if isinstance(int_encoder, (str, os.PathLike)):
        p = Path(int_encoder)
        if p.is_dir():
            p = p / "int_encoder.json"
        if not p.is_file():
            raise VerilogGenError(f"integer encoder file not found: {p}")
        try:
            return IntEncoder.from_dict(json.loads(p.read_text()))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise VerilogGenError(f"{p} is not an IntEncoder JSON (IntEncoder.to_dict()): {e}") from None
    raise VerilogGenError(f"expected an IntEncoder, a dict or a path to int_encoder.json, got {type(int_encoder)}")


def _lanes_list(macs_per_layer, n_layers: int) -> list[int]:
    if isinstance(macs_per_layer, (int, np.integer)):
        lanes = [int(macs_per_layer)] * n_layers
    else:
        lanes = [int(m) for m in macs_per_layer]
        if len(lanes) != n_layers:
            raise VerilogGenError(f"macs_per_layer has {len(lanes)} entries for {n_layers} layers")
    if any(m < 1 for m in lanes):
        raise VerilogGenError(f"macs_per_layer must be >= 1, got {macs_per_layer}")
    return lanes


def _check_layer(i: int, layer: IntConvLayer, l_in: int) -> None:
    w = np.asarray(layer.weights)
    if w.ndim != 3:
        raise VerilogGenError(f"layer {i}: weights must be (kernel, in_channels, out_channels), got {w.shape}")
    if np.asarray(layer.bias).shape != (w.shape[2],):
        raise VerilogGenError(f"layer {i}: bias shape {np.shape(layer.bias)} does not match {w.shape[2]} outputs")
    if layer.stride < 1 or layer.pad_left < 0 or layer.pad_right < 0:
        raise VerilogGenError(f"layer {i}: bad stride/padding {layer.stride}/{layer.pad_left}/{layer.pad_right}")
    if layer.pad_left >= layer.kernel:
        raise VerilogGenError(f"layer {i}: pad_left {layer.pad_left} >= kernel {layer.kernel} is not supported")
    if layer.bias_frac > layer.product_frac:
        raise VerilogGenError(f"layer {i}: bias (2**-{layer.bias_frac}) finer than the product grid")
    if layer.acc_bits < 2 or layer.out_bits < 2 or layer.alpha_shift < 0:
        raise VerilogGenError(f"layer {i}: acc_bits/out_bits must be >= 2 and alpha_shift >= 0")
    out_len = (l_in + layer.pad_left + layer.pad_right - layer.kernel) // layer.stride + 1
    if out_len < 1:
        raise VerilogGenError(f"layer {i}: input length {l_in} is shorter than the kernel")
    last_needed = layer.stride * (out_len - 1) - layer.pad_left + layer.kernel - 1
    if last_needed > l_in - 1 + layer.pad_right:
        raise VerilogGenError(f"layer {i}: inconsistent padding")


def plan_encoder(int_encoder, macs_per_layer=1) -> list[LayerPlan]:
    """Per-layer widths and schedule. `macs_per_layer`: int or one int per layer."""
    enc = load_int_encoder(int_encoder)
    if not enc.layers:
        raise VerilogGenError("the integer encoder has no layers")
    lanes = _lanes_list(macs_per_layer, len(enc.layers))
    plans: list[LayerPlan] = []
    l_in = enc.segment_length
    in_bits, in_signed = enc.input_bits, False
    prev_out = None
    for i, (layer, p) in enumerate(zip(enc.layers, lanes), start=1):
        _check_layer(i, layer, l_in)
        w = np.asarray(layer.weights, dtype=np.int64)
        b = np.asarray(layer.bias, dtype=np.int64)
        if prev_out is not None and w.shape[1] != prev_out:
            raise VerilogGenError(f"layer {i} expects {w.shape[1]} input channels, layer {i - 1} gives {prev_out}")
        if i == 1 and w.shape[1] != 1:
            raise VerilogGenError(f"layer 1 must have one input channel, has {w.shape[1]}")
        k, c_in, c_out = w.shape
        l_out = (l_in + layer.pad_left + layer.pad_right - k) // layer.stride + 1
        p = min(p, c_out)
        groups = -(-c_out // p)
        last_n = c_out - (groups - 1) * p
        depth = _next_pow2(k + 2 * layer.stride)
        w_bits = _bits_s(int(w.min(initial=0)), int(w.max(initial=0)))
        x_lo, x_hi = (-(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1) if in_signed else (0, (1 << in_bits) - 1)
        x_abs = max(abs(x_lo), abs(x_hi))
        bias_shift = layer.product_frac - layer.bias_frac
        b_sh = b << bias_shift
        bound = int((np.abs(w).sum(axis=(0, 1)) * x_abs + np.abs(b_sh)).max())
        prod_bits = w_bits + in_bits + (0 if in_signed else 1)
        acc_width = max(_bits_s(-bound, bound), prod_bits)
        an = int(layer.alpha_num)
        leaky_width = max(layer.acc_bits + layer.alpha_shift, layer.acc_bits + _bits_u(abs(an))) + 1
        plans.append(
            LayerPlan(
                index=i, l_in=l_in, l_out=l_out, kernel=k, stride=layer.stride, pad_left=layer.pad_left,
                c_in=c_in, c_out=c_out, lanes=p, groups=groups, last_group_size=last_n, depth=depth,
                in_bits=in_bits, in_signed=in_signed, weight_bits=w_bits, acc_width=acc_width,
                acc_bits=layer.acc_bits, shift1=layer.product_frac - layer.acc_frac, alpha_num=an,
                alpha_shift=layer.alpha_shift, leaky_width=leaky_width,
                shift2=layer.acc_frac + layer.alpha_shift - layer.out_frac, out_bits=layer.out_bits,
                bias_shift=bias_shift,
            )
        )
        l_in, in_bits, in_signed, prev_out = l_out, layer.out_bits, True, c_out
    return plans


# --------------------------------------------------------------------------------------------- #
# Schedule
# --------------------------------------------------------------------------------------------- #


def _tail_times(plans: list[LayerPlan]) -> float:
    """Event model of the RTL schedule with an idle pipeline: the last sample of a segment is
    accepted at clock edge 0; returns the edge at which the segment's last latent value is
    transferred (out_valid & out_ready, out_ready held high)."""
    neg = -math.inf
    arrive = [neg] * plans[0].l_in  # edge at which input position p is complete in the layer
    arrive[-1] = 0.0
    for pl in plans:
        out_done = [neg] * pl.l_out
        last_issue_end = neg  # last issue edge of the previous output position
        prev_load, prev_n = neg, 0
        for t in range(pl.l_out):
            need = pl.l_in if t == pl.l_out - 1 else min(pl.stride * t - pl.pad_left + pl.kernel, pl.l_in)
            dep = max(arrive[:need]) if need > 0 else neg
            if dep == neg:
                continue
            start = max(dep + 1, last_issue_end + 1)
            sizes = [pl.lanes] * (pl.groups - 1) + [pl.last_group_size]
            stall = 0.0
            for g, n in enumerate(sizes):
                e_g = start + (g + 1) * pl.taps - 1 + stall
                load = e_g + PIPELINE_STAGES
                if load < prev_load + prev_n:  # output shift register still busy: pipeline stalls
                    stall += prev_load + prev_n - load
                    load = prev_load + prev_n
                prev_load, prev_n = load, n
            last_issue_end = start + pl.groups * pl.taps - 1 + stall
            out_done[t] = prev_load + prev_n
        arrive = out_done
    return arrive[-1]


def schedule_summary(int_encoder, macs_per_layer=1, clock_hz: float = 100e6, channel_rate_hz: float = 30e3) -> dict:
    """Cycles per segment at full throughput, latency and MACs of the generated RTL.

    * cycles_per_segment: steady-state clock cycles between consecutive segments when input is
      always valid and out_ready is high (slowest layer; at least one cycle per input sample).
    * cycles_per_sample = cycles_per_segment / segment_length.
    * latency_cycles: from the clock edge that accepts the last sample of a segment to the edge
      that transfers its last latent value, when the pipeline was otherwise idle (e.g. samples
      arriving at a real-time rate).
    * channels_at_clock: floor(clock_hz / (channel_rate_hz * cycles_per_sample)) channels of
      channel_rate_hz samples one instance serves by time-multiplexing whole segments
      (segments are independent, so segments of different channels can be streamed back to back).
    """
    enc = load_int_encoder(int_encoder)
    plans = plan_encoder(enc, macs_per_layer)
    per_layer = [
        {
            "layer": pl.index, "l_in": pl.l_in, "l_out": pl.l_out, "c_in": pl.c_in, "c_out": pl.c_out,
            "lanes": pl.lanes, "groups": pl.groups, "cycles_per_position": pl.cycles_per_position,
            "cycles_per_segment": pl.cycles_per_segment, "macs_per_segment": pl.macs_per_segment,
            "line_buffer_words": pl.mem_words, "weight_rom_words": pl.groups * pl.taps,
            "acc_width": pl.acc_width, "weight_bits": pl.weight_bits,
        }
        for pl in plans
    ]
    cps = max([enc.segment_length] + [pl.cycles_per_segment for pl in plans])
    bottleneck = max(plans, key=lambda pl: pl.cycles_per_segment).index
    cycles_per_sample = cps / enc.segment_length
    channels = math.floor(clock_hz / (channel_rate_hz * cycles_per_sample) + 1e-9)
    return {
        "segment_length": enc.segment_length,
        "latent_shape": list(enc.latent_shape),
        "macs_per_layer": [pl.lanes for pl in plans],
        "cycles_per_segment": int(cps),
        "cycles_per_sample": cycles_per_sample,
        "latency_cycles": int(_tail_times(plans)),
        "macs_per_segment": int(sum(pl.macs_per_segment for pl in plans)),
        "multipliers": int(sum(pl.lanes for pl in plans)),
        "bottleneck_layer": bottleneck,
        "clock_hz": clock_hz,
        "channel_rate_hz": channel_rate_hz,
        "max_sample_rate_hz": clock_hz / cycles_per_sample,
        "channels_at_clock": int(channels),
        "layers": per_layer,
    }


def balanced_macs_per_layer(int_encoder, cycles_per_segment: int | None = None) -> list[int]:
    """MAC lanes per layer so that no layer needs more than `cycles_per_segment` cycles per
    segment (default: what layer 1 needs with one lane, i.e. K*C_out cycles per 2 samples).
    Pass the result as `macs_per_layer` to balance the pipeline (e.g. hidden_filters=16, CR 64:
    [1, 8, 4, 2, 1, 1] -> 64 cycles/sample instead of 512)."""
    enc = load_int_encoder(int_encoder)
    plans = plan_encoder(enc, 1)
    target = cycles_per_segment
    if target is None:
        target = max(enc.segment_length, plans[0].cycles_per_segment)
    if target < enc.segment_length:
        raise VerilogGenError(f"cannot go below one cycle per sample ({enc.segment_length} cycles per segment)")
    lanes = []
    for pl in plans:
        p = 1
        def layer_cycles(lanes: int) -> int:
            trial = [1] * len(plans)
            trial[pl.index - 1] = lanes
            return plan_encoder(enc, trial)[pl.index - 1].cycles_per_segment

        while p < pl.c_out and layer_cycles(p) > target:
            p += 1
        lanes.append(p)
    return lanes


# --------------------------------------------------------------------------------------------- #
# Verilog emission helpers
# --------------------------------------------------------------------------------------------- #


def _lit(value: int, width: int) -> str:
    """Sized two's complement literal (hex)."""
    v = int(value) & ((1 << width) - 1)
    return f"{width}'h{v:x}"


def _sext(expr: str, frm: int, to: int, msb: str | None = None) -> str:
    """Sign-extend `expr` (a plain name or an expression whose msb is `msb`) from frm to `to` bits."""
    if to < frm:
        raise AssertionError("cannot narrow")
    if to == frm:
        return expr
    sign = msb if msb is not None else f"{expr}[{frm - 1}]"
    rep = f"{{{to - frm}{{{sign}}}}}" if to - frm > 1 else sign
    return f"{{{rep}, {expr}}}"


def _zext(expr: str, frm: int, to: int) -> str:
    if to < frm:
        raise AssertionError("cannot narrow")
    if to == frm:
        return expr
    return f"{{{_lit(0, to - frm)}, {expr}}}"


def _rhe_sat(lines: list[str], src: str, src_w: int, shift: int, dst_w: int, name: str) -> str:
    """Emit wires computing sat_{dst_w}(round_half_even(src / 2**shift)); returns the wire name
    (signed, dst_w bits). `src` is a signed wire/reg of src_w bits."""
    if shift > 0:
        if src_w < shift + 2:  # make room: at least sign + one kept bit + dropped bits
            ext = f"{name}_x"
            lines.append(f"    wire signed [{shift + 1}:0] {ext} = {_sext(src, src_w, shift + 2)};")
            src, src_w = ext, shift + 2
        qw = src_w - shift + 1
        kept = _sext(f"{src}[{src_w - 1}:{shift}]", src_w - shift, qw, f"{src}[{src_w - 1}]")
        lines.append(f"    wire signed [{qw - 1}:0] {name}_q = {kept};")
        if shift == 1:
            ru = f"{src}[0] & {src}[1]"
        else:
            low = f"{src}[0]" if shift == 2 else f"(|{src}[{shift - 2}:0])"
            ru = f"{src}[{shift - 1}] & ({low} | {src}[{shift}])"
        lines.append(f"    wire {name}_ru = {ru};  // dropped bits > half, or == half and kept LSB odd")
        lines.append(f"    wire signed [{qw - 1}:0] {name}_r = {name}_q + {_zext(f'{name}_ru', 1, qw)};")
        val, vw = f"{name}_r", qw
    elif shift == 0:
        val, vw = src, src_w
    else:
        vw = src_w - shift
        lines.append(f"    wire signed [{vw - 1}:0] {name}_r = {{{src}, {_lit(0, -shift)}}};")
        val = f"{name}_r"
    if vw <= dst_w:
        lines.append(f"    wire signed [{dst_w - 1}:0] {name} = {_sext(val, vw, dst_w)};")
        return name
    hi = f"{val}[{vw - 2}:{dst_w - 1}]"
    lines.append(f"    wire {name}_pos = ~{val}[{vw - 1}] & (|{hi});  // above the max: saturate")
    lines.append(f"    wire {name}_neg = {val}[{vw - 1}] & ~(&{hi});  // below the min: saturate")
    mx, mn = _lit((1 << (dst_w - 1)) - 1, dst_w), _lit(1 << (dst_w - 1), dst_w)
    lines.append(
        f"    wire signed [{dst_w - 1}:0] {name} = {name}_pos ? {mx} : ({name}_neg ? {mn} : {val}[{dst_w - 1}:0]);"
    )
    return name


def _const_mult(lines: list[str], src: str, src_w: int, const: int, dst_w: int, name: str) -> str:
    """dst = src * const as shift-and-add of sign-extended copies (no DSP for the leaky slope)."""
    mag = abs(const)
    terms = []
    for s in range(mag.bit_length()):
        if (mag >> s) & 1:
            body = _sext(src, src_w, dst_w - s)
            terms.append(f"{{{body}, {_lit(0, s)}}}" if s else body)
    if not terms:
        expr = _lit(0, dst_w)
    else:
        expr = " + ".join(terms)
        if const < 0:
            expr = f"{_lit(0, dst_w)} - ({expr})"
    lines.append(f"    wire signed [{dst_w - 1}:0] {name} = {expr};")
    return name


# --------------------------------------------------------------------------------------------- #
# Layer module
# --------------------------------------------------------------------------------------------- #


def _layer_module(name: str, pl: LayerPlan, layer: IntConvLayer) -> str:
    w = np.asarray(layer.weights, dtype=np.int64)
    b = np.asarray(layer.bias, dtype=np.int64) << pl.bias_shift
    K, S, C, G, P = pl.kernel, pl.stride, pl.c_in, pl.groups, pl.lanes
    D, DW = pl.depth, _clog2(pl.depth)
    CW = _clog2(C) if C > 1 else 0
    AW = DW + CW
    KW = _clog2(K)
    GW = _clog2(G)
    TW = _clog2(pl.l_out)
    NROM = G * K * C
    RW = _clog2(NROM)
    FW = _bits_u(pl.l_in + D + K + S)  # filled / need / low counters
    XW = pl.in_bits
    XSW = XW if pl.in_signed else XW + 1
    WB = pl.weight_bits
    PW = WB + XSW
    ACCW = pl.acc_width
    AB, LW, OB = pl.acc_bits, pl.leaky_width, pl.out_bits
    NW = _bits_u(P)
    L = []
    a = L.append
    a(f"// Layer {pl.index}: {pl.l_in} x {C} -> {pl.l_out} x {pl.c_out}, kernel {K}, stride {S}, "
      f"pad_left {pl.pad_left};")
    a(f"// {P} MAC lane(s), {G} group(s) of {K * C} cycles per output position; line buffer {D} positions.")
    use_lastg = G > 1 and pl.last_group_size != P  # group size differs for the last group
    a(f"module {name} (")
    a("    input  wire clk,")
    a("    input  wire rst,")
    a("    input  wire in_valid,")
    a("    output wire in_ready,")
    a(f"    input  wire [{XW - 1}:0] in_data,")
    a("    output wire out_valid,")
    a("    input  wire out_ready,")
    a(f"    output wire [{OB - 1}:0] out_data")
    a(");")
    a(f"    localparam [{FW - 1}:0] L_IN = {_lit(pl.l_in, FW)};")
    a(f"    localparam [{FW - 1}:0] DEPTH = {_lit(D, FW)};")
    a(f"    localparam [{FW - 1}:0] NEED0 = {_lit(pl.need0, FW)};")
    a(f"    localparam [{FW - 1}:0] NEED_MAX = {_lit(pl.l_in - S, FW)};  // need + stride >= L_IN from here")
    a("")
    a("    // ---- input side: line buffer (DEPTH positions x C_in channels, channel-minor) ----")
    a(f"    reg  [{DW - 1}:0] wr_slot;")
    if CW:
        a(f"    reg  [{CW - 1}:0] wr_ch;")
    a(f"    reg  [{FW - 1}:0] filled;   // complete positions of the computed segment in the buffer")
    a(f"    reg  [{XW - 1}:0] mem [0:{(1 << AW) - 1}];")
    a("    wire wr_en = in_valid & in_ready;")
    if CW:
        a(f"    wire wr_pos_done = wr_en & (wr_ch == {_lit(C - 1, CW)});")
        a(f"    wire [{AW - 1}:0] wr_addr = {{wr_slot, wr_ch}};")
    else:
        a("    wire wr_pos_done = wr_en;")
        a(f"    wire [{AW - 1}:0] wr_addr = wr_slot;")
    a("    always @(posedge clk) begin")
    a("        if (wr_en) mem[wr_addr] <= in_data;")
    a("    end")
    a("    always @(posedge clk) begin")
    a("        if (rst) begin")
    a(f"            wr_slot <= {_lit(0, DW)};")
    if CW:
        a(f"            wr_ch <= {_lit(0, CW)};")
    a("        end else if (wr_pos_done) begin")
    a(f"            wr_slot <= wr_slot + {_lit(1, DW)};")
    if CW:
        a(f"            wr_ch <= {_lit(0, CW)};")
        a("        end else if (wr_en) begin")
        a(f"            wr_ch <= wr_ch + {_lit(1, CW)};")
    a("        end")
    a("    end")
    a("")
    a("    // ---- MAC sequencer: output position t, group g, tap k, input channel c ----")
    a(f"    reg  [{TW - 1}:0] t;")
    a(f"    reg  [{KW - 1}:0] k;")
    if CW:
        a(f"    reg  [{CW - 1}:0] c;")
    if G > 1:
        a(f"    reg  [{GW - 1}:0] g;")
    if NROM > 1:
        a(f"    reg  [{RW - 1}:0] widx;")
    a(f"    reg  signed [{FW}:0] qbase;   // input position of tap 0 of output t (stride*t - pad_left)")
    a(f"    reg  [{DW - 1}:0] base_slot;  // its line-buffer slot (mod DEPTH)")
    seg_slot_const = (pl.l_in % D) == 0
    if not seg_slot_const:
        a(f"    reg  [{DW - 1}:0] seg_slot0;  // slot of position 0 of the computed segment")
    a(f"    reg  [{FW - 1}:0] need;       // positions output t needs in the buffer")
    a("    wire adv;                 // pipeline advances (not stalled by the output register)")
    a(f"    wire [{FW - 1}:0] low = qbase[{FW}] ? {_lit(0, FW)} : qbase[{FW - 1}:0];  // oldest position still needed")
    a("    assign in_ready = (filled < low + DEPTH);")
    a("    wire can_issue = (filled >= need);")
    a("    wire issue = adv & can_issue;")
    a(f"    wire k_last = (k == {_lit(K - 1, KW)});")
    one = "1'b1"
    c_last = f"(c == {_lit(C - 1, CW)})" if CW else one
    g_last = f"(g == {_lit(G - 1, GW)})" if G > 1 else one
    a(f"    wire c_last = {c_last};")
    a(f"    wire g_last = {g_last};")
    a(f"    wire t_last = (t == {_lit(pl.l_out - 1, TW)});")
    a(f"    wire t_prelast = (t == {_lit(max(pl.l_out - 2, 0), TW)});")
    a(f"    wire tap_first = (k == {_lit(0, KW)}){f' & (c == {_lit(0, CW)})' if CW else ''};")
    a("    wire tap_last = k_last & c_last;")
    a("    wire pos_last = tap_last & g_last;")
    a("    wire seg_done = issue & pos_last & t_last;")
    a(f"    wire [{FW}:0] q = qbase + {_zext('k', KW, FW + 1)};  // input position of this tap")
    a(f"    wire pad = q[{FW}] | (q[{FW - 1}:0] >= L_IN);  // zero padding outside the segment")
    kx = _zext("k", KW, DW) if DW >= KW else f"k[{DW - 1}:0]"
    a(f"    wire [{DW - 1}:0] rd_slot = base_slot + {kx};")
    a(f"    wire [{AW - 1}:0] rd_addr = {'{rd_slot, c}' if CW else 'rd_slot'};")
    pl0 = (-pl.pad_left) % D
    a("    always @(posedge clk) begin")
    a("        if (rst) begin")
    a(f"            t <= {_lit(0, TW)};")
    a(f"            k <= {_lit(0, KW)};")
    if CW:
        a(f"            c <= {_lit(0, CW)};")
    if G > 1:
        a(f"            g <= {_lit(0, GW)};")
    if NROM > 1:
        a(f"            widx <= {_lit(0, RW)};")
    a(f"            qbase <= {_lit(-pl.pad_left, FW + 1)};")
    a(f"            base_slot <= {_lit(pl0, DW)};")
    if not seg_slot_const:
        a(f"            seg_slot0 <= {_lit(0, DW)};")
    a("            need <= NEED0;")
    a("        end else if (issue) begin")
    if CW:
        a(f"            c <= c_last ? {_lit(0, CW)} : c + {_lit(1, CW)};")
    a(f"            if (c_last) k <= k_last ? {_lit(0, KW)} : k + {_lit(1, KW)};")
    if G > 1:
        a(f"            if (tap_last) g <= g_last ? {_lit(0, GW)} : g + {_lit(1, GW)};")
    if NROM > 1:
        a(f"            widx <= pos_last ? {_lit(0, RW)} : widx + {_lit(1, RW)};")
    a("            if (pos_last) begin")
    a("                if (t_last) begin")
    a(f"                    t <= {_lit(0, TW)};")
    a(f"                    qbase <= {_lit(-pl.pad_left, FW + 1)};")
    a("                    need <= NEED0;")
    if seg_slot_const:
        a(f"                    base_slot <= {_lit(pl0, DW)};")
    else:
        a(f"                    base_slot <= seg_slot0 + {_lit((pl.l_in - pl.pad_left) % D, DW)};")
        a(f"                    seg_slot0 <= seg_slot0 + {_lit(pl.l_in % D, DW)};")
    a("                end else begin")
    a(f"                    t <= t + {_lit(1, TW)};")
    a(f"                    qbase <= qbase + {_lit(S, FW + 1)};")
    a(f"                    base_slot <= base_slot + {_lit(S % D, DW)};")
    a(f"                    need <= (t_prelast | (need >= NEED_MAX)) ? L_IN : need + {_lit(S, FW)};")
    a("                end")
    a("            end")
    a("        end")
    a("    end")
    a("    always @(posedge clk) begin")
    a("        if (rst) filled <= {0};".format(_lit(0, FW)))
    a(f"        else filled <= filled + {_zext('wr_pos_done', 1, FW)} - (seg_done ? L_IN : {_lit(0, FW)});")
    a("    end")
    a("")
    a("    // ---- S1: line-buffer read, weight ROM read ----")
    a("    reg v1, first1, last1, pad1;")
    a(f"    reg [{XW - 1}:0] x_rd;")
    a(f"    reg [{P * WB - 1}:0] w_rom;")
    if G > 1:
        a(f"    reg [{GW - 1}:0] g1;")
    if use_lastg:
        a("    reg lastg1;")
    a("    always @(posedge clk) begin")
    a("        if (issue) x_rd <= mem[rd_addr];")
    a("    end")
    # weight ROM
    a("    always @(posedge clk) begin")
    a("        if (issue) begin")
    if NROM > 1:
        a("            case (widx)")
    for gi in range(G):
        for ki in range(K):
            for ci in range(C):
                idx = (gi * K + ki) * C + ci
                word = 0
                for j in range(P):
                    o = gi * P + j
                    v = int(w[ki, ci, o]) if o < pl.c_out else 0
                    word |= (v & ((1 << WB) - 1)) << (j * WB)
                if NROM > 1:
                    a(f"            {_lit(idx, RW)}: w_rom <= {_lit(word, P * WB)};")
                else:
                    a(f"            w_rom <= {_lit(word, P * WB)};")
    if NROM > 1:
        if NROM < (1 << RW):
            a(f"            default: w_rom <= {_lit(0, P * WB)};")
        a("            endcase")
    a("        end")
    a("    end")
    a("    always @(posedge clk) begin")
    a("        if (rst) v1 <= 1'b0;")
    a("        else if (adv) v1 <= can_issue;")
    a("    end")
    a("    always @(posedge clk) begin")
    a("        if (issue) begin")
    a("            first1 <= tap_first;")
    a("            last1 <= tap_last;")
    a("            pad1 <= pad;")
    if G > 1:
        a("            g1 <= g;")
    if use_lastg:
        a("            lastg1 <= g_last;")
    a("        end")
    a("    end")
    a("")
    a("    // ---- S2: products (P lanes) ----")
    if pl.in_signed:
        a(f"    wire signed [{XSW - 1}:0] xs = x_rd;")
    else:
        a(f"    wire signed [{XSW - 1}:0] xs = {{1'b0, x_rd}};  // unsigned input code")
    a("    reg v2, first2, last2;")
    if use_lastg:
        a("    reg lastg2;")
    for j in range(P):
        a(f"    wire signed [{WB - 1}:0] w_{j} = w_rom[{(j + 1) * WB - 1}:{j * WB}];")
        a(f"    reg  signed [{PW - 1}:0] prod_{j};")
    if G > 1:
        for j in range(P):
            a(f"    reg  signed [{ACCW - 1}:0] bias_{j};")
    else:
        for j in range(P):
            a(f"    localparam signed [{ACCW - 1}:0] BIAS_{j} = {_lit(int(b[j]), ACCW)};  // {int(b[j])}")
    a("    always @(posedge clk) begin")
    a("        if (rst) v2 <= 1'b0;")
    a("        else if (adv) v2 <= v1;")
    a("    end")
    a("    always @(posedge clk) begin")
    a("        if (adv & v1) begin")
    a("            first2 <= first1;")
    a("            last2 <= last1;")
    if use_lastg:
        a("            lastg2 <= lastg1;")
    for j in range(P):
        a(f"            prod_{j} <= pad1 ? {_lit(0, PW)} : {_sext(f'w_{j}', WB, PW)} * {_sext('xs', XSW, PW)};")
    a("        end")
    a("    end")
    if G > 1:
        a("    always @(posedge clk) begin")
        a("        if (adv & v1 & first1) begin")
        a("            case (g1)")
        for gi in range(G):
            a(f"            {_lit(gi, GW)}: begin")
            for j in range(P):
                o = gi * P + j
                v = int(b[o]) if o < pl.c_out else 0
                a(f"                bias_{j} <= {_lit(v, ACCW)};  // {v}")
            a("            end")
        if G < (1 << GW):
            a("            default: begin")
            for j in range(P):
                a(f"                bias_{j} <= {_lit(0, ACCW)};")
            a("            end")
        a("            endcase")
        a("        end")
        a("    end")
    a("")
    a("    // ---- S3: accumulate (bias first) ----")
    a("    reg v3;")
    if use_lastg:
        a("    reg lastg3;")
    for j in range(P):
        a(f"    reg signed [{ACCW - 1}:0] acc_{j};")
    a("    always @(posedge clk) begin")
    a("        if (rst) v3 <= 1'b0;")
    a("        else if (adv) v3 <= v2 & last2;")
    a("    end")
    a("    always @(posedge clk) begin")
    a("        if (adv & v2) begin")
    if use_lastg:
        a("            lastg3 <= lastg2;")
    for j in range(P):
        bias = f"bias_{j}" if G > 1 else f"BIAS_{j}"
        a(f"            acc_{j} <= (first2 ? {bias} : acc_{j}) + {_sext(f'prod_{j}', PW, ACCW)};")
    a("        end")
    a("    end")
    a("")
    a(f"    // ---- S4: acc register = sat{AB}(round_half_even(acc >> {pl.shift1})) ----")
    a("    reg v4;")
    if use_lastg:
        a("    reg lastg4;")
    for j in range(P):
        a(f"    reg signed [{AB - 1}:0] a_{j};")
        _rhe_sat(L, f"acc_{j}", ACCW, pl.shift1, AB, f"a_n{j}")
    a("    always @(posedge clk) begin")
    a("        if (rst) v4 <= 1'b0;")
    a("        else if (adv) v4 <= v3;")
    a("    end")
    a("    always @(posedge clk) begin")
    a("        if (adv & v3) begin")
    if use_lastg:
        a("            lastg4 <= lastg3;")
    for j in range(P):
        a(f"            a_{j} <= a_n{j};")
    a("        end")
    a("    end")
    a("")
    a(f"    // ---- S5: leaky ReLU: a > 0 ? a << {pl.alpha_shift} : a * {pl.alpha_num} ----")
    a("    reg v5;")
    if use_lastg:
        a("    reg lastg5;")
    for j in range(P):
        a(f"    reg signed [{LW - 1}:0] l_{j};")
        a(f"    wire a_pos{j} = ~a_{j}[{AB - 1}] & (|a_{j});")
        body = _sext(f"a_{j}", AB, LW - pl.alpha_shift)
        sh = f"{{{body}, {_lit(0, pl.alpha_shift)}}}" if pl.alpha_shift else body
        a(f"    wire signed [{LW - 1}:0] l_pos{j} = {sh};")
        _const_mult(L, f"a_{j}", AB, pl.alpha_num, LW, f"l_neg{j}")
    a("    always @(posedge clk) begin")
    a("        if (rst) v5 <= 1'b0;")
    a("        else if (adv) v5 <= v4;")
    a("    end")
    a("    always @(posedge clk) begin")
    a("        if (adv & v4) begin")
    if use_lastg:
        a("            lastg5 <= lastg4;")
    for j in range(P):
        a(f"            l_{j} <= a_pos{j} ? l_pos{j} : l_neg{j};")
    a("        end")
    a("    end")
    a("")
    a(f"    // ---- S6: act register = sat{OB}(round_half_even(leaky >> {pl.shift2})) ----")
    a("    reg v6;")
    if use_lastg:
        a("    reg lastg6;")
    for j in range(P):
        a(f"    reg signed [{OB - 1}:0] y_{j};")
        _rhe_sat(L, f"l_{j}", LW, pl.shift2, OB, f"y_n{j}")
    a("    always @(posedge clk) begin")
    a("        if (rst) v6 <= 1'b0;")
    a("        else if (adv) v6 <= v5;")
    a("    end")
    a("    always @(posedge clk) begin")
    a("        if (adv & v5) begin")
    if use_lastg:
        a("            lastg6 <= lastg5;")
    for j in range(P):
        a(f"            y_{j} <= y_n{j};")
    a("        end")
    a("    end")
    a("")
    a("    // ---- output shift register: the group's results, one per cycle, channel order ----")
    a(f"    reg [{NW - 1}:0] sh_cnt;")
    for j in range(P):
        a(f"    reg [{OB - 1}:0] sh_{j};")
    a("    wire pop = out_ready & out_valid;")
    a(f"    wire sh_free = (sh_cnt == {_lit(0, NW)}) | ((sh_cnt == {_lit(1, NW)}) & out_ready);")
    a("    assign adv = ~v6 | sh_free;")
    a("    wire load = adv & v6;")
    if use_lastg:
        n_expr = f"(lastg6 ? {_lit(pl.last_group_size, NW)} : {_lit(P, NW)})"
    else:
        n_expr = _lit(P, NW)
    a("    always @(posedge clk) begin")
    a(f"        if (rst) sh_cnt <= {_lit(0, NW)};")
    a(f"        else if (load) sh_cnt <= {n_expr};")
    a(f"        else if (pop) sh_cnt <= sh_cnt - {_lit(1, NW)};")
    a("    end")
    a("    always @(posedge clk) begin")
    a("        if (load) begin")
    for j in range(P):
        a(f"            sh_{j} <= y_{j};")
    if P > 1:
        a("        end else if (pop) begin")
        for j in range(P - 1):
            a(f"            sh_{j} <= sh_{j + 1};")
    a("        end")
    a("    end")
    a(f"    assign out_valid = (sh_cnt != {_lit(0, NW)});")
    a("    assign out_data = sh_0;")
    a("endmodule")
    return "\n".join(L) + "\n"


def _top_module(top: str, enc: IntEncoder, plans: list[LayerPlan]) -> str:
    L = []
    a = L.append
    n_lat, c_lat = enc.latent_shape
    IB, OB = enc.input_bits, plans[-1].out_bits
    CHW, IXW = _clog2(c_lat), _clog2(n_lat)
    a(f"// Top: {enc.segment_length}-sample segments of {IB}-bit unsigned codes -> latent {n_lat} x {c_lat} of")
    a(f"// {OB}-bit signed codes, streamed position-major / channel-minor (latent[t, c]).")
    a(f"module {top} (")
    a("    input  wire clk,")
    a("    input  wire rst,            // synchronous, active high")
    a("    input  wire in_valid,")
    a("    output wire in_ready,")
    a(f"    input  wire [{IB - 1}:0] in_data,   // unsigned input code")
    a("    output wire out_valid,")
    a("    input  wire out_ready,")
    a(f"    output wire [{OB - 1}:0] out_data,  // signed latent code")
    a(f"    output wire [{IXW - 1}:0] out_index,  // latent position t within the segment")
    a(f"    output wire [{CHW - 1}:0] out_channel,  // latent channel c")
    a("    output wire out_last          // latent[L-1, C-1]: last value of the segment")
    a(");")
    for pl in plans:
        a(f"    wire s{pl.index}_valid, s{pl.index}_ready;")
        a(f"    wire [{pl.out_bits - 1}:0] s{pl.index}_data;")
    for pl in plans:
        i = pl.index
        if i == 1:
            src_v, src_r, src_d = "in_valid", "in_ready", "in_data"
        else:
            src_v, src_r, src_d = f"s{i - 1}_valid", f"s{i - 1}_ready", f"s{i - 1}_data"
        a(f"    {top}_l{i} u_l{i} (")
        a("        .clk(clk),")
        a("        .rst(rst),")
        a(f"        .in_valid({src_v}),")
        a(f"        .in_ready({src_r}),")
        a(f"        .in_data({src_d}),")
        a(f"        .out_valid(s{i}_valid),")
        a(f"        .out_ready(s{i}_ready),")
        a(f"        .out_data(s{i}_data)")
        a("    );")
    n = plans[-1].index
    a(f"    assign out_valid = s{n}_valid;")
    a(f"    assign s{n}_ready = out_ready;")
    a(f"    assign out_data = s{n}_data;")
    a(f"    reg [{IXW - 1}:0] idx;")
    a(f"    reg [{CHW - 1}:0] ch;")
    a(f"    wire ch_last = (ch == {_lit(c_lat - 1, CHW)});")
    a(f"    wire idx_last = (idx == {_lit(n_lat - 1, IXW)});")
    a("    always @(posedge clk) begin")
    a("        if (rst) begin")
    a(f"            idx <= {_lit(0, IXW)};")
    a(f"            ch <= {_lit(0, CHW)};")
    a("        end else if (out_valid & out_ready) begin")
    a(f"            ch <= ch_last ? {_lit(0, CHW)} : ch + {_lit(1, CHW)};")
    a(f"            if (ch_last) idx <= idx_last ? {_lit(0, IXW)} : idx + {_lit(1, IXW)};")
    a("        end")
    a("    end")
    a("    assign out_index = idx;")
    a("    assign out_channel = ch;")
    a("    assign out_last = idx_last & ch_last;")
    a("endmodule")
    return "\n".join(L) + "\n"


def _header(top: str, enc: IntEncoder, summary: dict) -> str:
    n_lat, c_lat = enc.latent_shape
    lines = [
        f"// {top}.v -- generated by neurocodec.firmware.verilog_gen; do not edit.",
        "// Quantized cae encoder, Verilog-2005, bit-exact with neurocodec.quantize.reference.encode_int.",
        f"// Segment {enc.segment_length} samples x {enc.input_bits}-bit unsigned -> latent {n_lat} x {c_lat}.",
        f"// Layers: {len(enc.layers)}; MAC lanes per layer {summary['macs_per_layer']}.",
        f"// Full throughput: {summary['cycles_per_segment']} cycles per segment "
        f"({summary['cycles_per_sample']:.3f} cycles/sample, bottleneck layer {summary['bottleneck_layer']});",
        "// latency (last sample accepted -> last latent value out, idle pipeline): "
        f"{summary['latency_cycles']} cycles;",
        f"// at {summary['clock_hz'] / 1e6:g} MHz one instance serves {summary['channels_at_clock']} channels of "
        f"{summary['channel_rate_hz'] / 1e3:g} kHz (segment-interleaved).",
        "// See firmware/ARCHITECTURE.md.",
        "//",
        "// All modules of the encoder are in this one file so that a single read_verilog reads the",
        "// design; hence the Verilator DECLFILENAME style warning is switched off (file name = top name).",
        "/* verilator lint_off DECLFILENAME */",
        "`default_nettype none",
        "",
    ]
    return "\n".join(lines)


def generate_encoder_verilog(int_encoder, out_dir, top_name: str = "cae_encoder", macs_per_layer=1) -> Path:
    """Write `<out_dir>/<top_name>.v` (all modules) and `<top_name>_schedule.json`; return the .v path.

    int_encoder: an IntEncoder, its to_dict() dict, or a path to int_encoder.json (or to the model
    folder holding it). macs_per_layer: parallel output channels (multipliers) per layer, an int
    for all layers or one int per layer (capped at the layer's output channels).
    """
    if not top_name.isidentifier():
        raise VerilogGenError(f"top_name {top_name!r} is not a Verilog identifier")
    enc = load_int_encoder(int_encoder)
    plans = plan_encoder(enc, macs_per_layer)
    summary = schedule_summary(enc, macs_per_layer)
    parts = [_header(top_name, enc, summary)]
    for pl, layer in zip(plans, enc.layers):
        parts.append(_layer_module(f"{top_name}_l{pl.index}", pl, layer))
    parts.append(_top_module(top_name, enc, plans))
    parts.append("`default_nettype wire\n")
    text = "\n".join(parts)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{top_name}.v"
    _atomic_write(path, text)
    summary = dict(summary, top=top_name, verilog=path.name)
    _atomic_write(out_dir / f"{top_name}_schedule.json", json.dumps(summary, indent=2) + "\n")
    return path


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file + rename; leave the file untouched when the content is the same
    (keeps its mtime, so Verilator/make builds stay incremental)."""
    if path.is_file() and path.read_text() == text:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "VerilogGenError",
    "LayerPlan",
    "load_int_encoder",
    "plan_encoder",
    "schedule_summary",
    "balanced_macs_per_layer",
    "generate_encoder_verilog",
    "PIPELINE_STAGES",
]
