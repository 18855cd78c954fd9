"""Synthesizable Verilog-2005 for a quantized `cae` encoder (an `IntEncoder`), bit-exact with
`neurocodec.quantize.reference.encode_int`.

`generate_encoder_verilog(int_encoder, out_dir)` writes ONE file `<top>.v` holding the top module
and one module per convolution layer (`<top>_l1`, `<top>_l2`, ...), plus `<top>_schedule.json`
(the `schedule_summary`). The trained integer weights and biases are constants in the RTL: each
layer's weights are a synchronous case-ROM (Yosys turns it into LUTs or a block RAM), biases are
localparams (or a small case-ROM when a layer has several MAC groups). Full description, diagrams
and numbers: firmware/ARCHITECTURE.md. The Verilog text comes from the Jinja2 templates in
firmware/templates/ (encoder.v.j2, header.v.j2, layer.v.j2, top.v.j2, macros.v.j2: round-half-even
+ saturation and the shift-and-add constant multiplier); this module only computes the numbers.

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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from neurocodec.files import write_text_atomic
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
    #: which saturation the act/acc registers need: (acc hi, acc lo, act hi, act lo); False when
    #: the interval bound over the layer's whole input type (`register_bounds`) proves no input of
    #: the layer module can reach it (the saturation logic would be dead hardware: not emitted)
    saturation: tuple[bool, bool, bool, bool] = (True, True, True, True)

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


def register_bounds(layer: IntConvLayer, x_lo, x_hi) -> dict:
    """Interval bounds of one layer's registers for inputs in [x_lo, x_hi] (scalars or one value
    per input channel; the zero padding is an input too): per output channel the rounded acc
    register before saturation (r1_lo, r1_hi), after it (a_lo, a_hi) and the rounded act register
    before saturation (r2_lo, r2_hi). Sound: no input in the box gives a value outside them."""
    from neurocodec.quantize.fixed_point import shift_round_half_even

    w = np.asarray(layer.weights, dtype=np.int64)  # (kernel, in, out)
    lo = np.broadcast_to(np.asarray(x_lo, np.int64), (w.shape[1],))
    hi = np.broadcast_to(np.asarray(x_hi, np.int64), (w.shape[1],))
    wl, wh = w * lo[None, :, None], w * hi[None, :, None]
    zero = np.zeros_like(wl)  # padding
    big = np.maximum(np.maximum(wl, wh), zero).sum(axis=(0, 1))
    small = np.minimum(np.minimum(wl, wh), zero).sum(axis=(0, 1))
    b = np.asarray(layer.bias, dtype=np.int64) << (layer.product_frac - layer.bias_frac)
    s1 = layer.product_frac - layer.acc_frac
    s2 = layer.acc_frac + layer.alpha_shift - layer.out_frac
    r1_lo, r1_hi = shift_round_half_even(small + b, s1), shift_round_half_even(big + b, s1)
    alo, ahi = -(1 << (layer.acc_bits - 1)), (1 << (layer.acc_bits - 1)) - 1
    a_lo, a_hi = np.maximum(r1_lo, alo), np.minimum(r1_hi, ahi)

    def leaky(v):
        return np.where(v > 0, v << layer.alpha_shift, v * layer.alpha_num)

    l1, l2 = leaky(a_lo), leaky(a_hi)  # piecewise linear, kink at 0: extremes at the ends or 0
    l_lo, l_hi = np.minimum(np.minimum(l1, l2), 0), np.maximum(np.maximum(l1, l2), 0)
    return {"r1_lo": r1_lo, "r1_hi": r1_hi, "a_lo": a_lo, "a_hi": a_hi,
            "r2_lo": shift_round_half_even(l_lo, s2), "r2_hi": shift_round_half_even(l_hi, s2),
            "acc_range": (alo, ahi), "act_range": (-(1 << (layer.out_bits - 1)), (1 << (layer.out_bits - 1)) - 1)}


def layer_input_range(enc: IntEncoder, index: int) -> tuple[int, int]:
    """The whole range of layer `index`'s (0-based) input type: the encoder's unsigned input codes
    for the first layer, the previous layer's signed out_bits codes for the others."""
    if index == 0:
        return 0, (1 << enc.input_bits) - 1
    ob = enc.layers[index - 1].out_bits
    return -(1 << (ob - 1)), (1 << (ob - 1)) - 1


def saturation_needed(enc: IntEncoder, index: int) -> tuple[bool, bool, bool, bool]:
    """(acc hi, acc lo, act hi, act lo): can any input of layer `index`'s input type drive that
    register past its range? (interval bound over the layer's input type, not the encoder's)"""
    lo, hi = layer_input_range(enc, index)
    b = register_bounds(enc.layers[index], lo, hi)
    (alo, ahi), (olo, ohi) = b["acc_range"], b["act_range"]
    return (bool(np.any(b["r1_hi"] > ahi)), bool(np.any(b["r1_lo"] < alo)),
            bool(np.any(b["r2_hi"] > ohi)), bool(np.any(b["r2_lo"] < olo)))


def plan_encoder(int_encoder, macs_per_layer=1, prune_saturation: bool = True) -> list[LayerPlan]:
    """Per-layer widths and schedule. `macs_per_layer`: int or one int per layer.
    prune_saturation: leave out saturation logic no input of the layer's input type can reach
    (`saturation_needed`; False emits it wherever the register is narrower than its source)."""
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
                saturation=saturation_needed(enc, i - 1) if prune_saturation else (True, True, True, True),
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


# --------------------------------------------------------------------------------------------- #
# Templates (firmware/templates/*.v.j2): the Verilog text; Python only computes the numbers
# --------------------------------------------------------------------------------------------- #


@lru_cache(maxsize=1)
def _env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("neurocodec.firmware", "templates"),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.do"], autoescape=False,
    )
    env.globals.update(lit=_lit, sext=_sext, zext=_zext, g=lambda x: f"{x:g}")
    env.filters["bit_length"] = lambda v: int(v).bit_length()
    return env


def _render(template: str, **context) -> str:
    return _env().get_template(template).render(**context)


def render_template(template: str, **context) -> str:
    """Render one of firmware/templates/*.v.j2 with the generator's helpers (lit, sext, zext), e.g.
    the block-level test wrapper of sim/block.py."""
    return _render(template, **context)


def _layer_module(name: str, pl: LayerPlan, layer: IntConvLayer) -> str:
    w = np.asarray(layer.weights, dtype=np.int64)
    b = np.asarray(layer.bias, dtype=np.int64) << pl.bias_shift
    K, S, C, G, P = pl.kernel, pl.stride, pl.c_in, pl.groups, pl.lanes
    D, DW = pl.depth, _clog2(pl.depth)
    CW = _clog2(C) if C > 1 else 0
    WB = pl.weight_bits
    XSW = pl.in_bits if pl.in_signed else pl.in_bits + 1
    rom = []  # weight ROM words: P lanes of WB bits per (group, tap, input channel)
    for gi in range(G):
        for ki in range(K):
            for ci in range(C):
                word = 0
                for j in range(P):
                    o = gi * P + j
                    v = int(w[ki, ci, o]) if o < pl.c_out else 0
                    word |= (v & ((1 << WB) - 1)) << (j * WB)
                rom.append(((gi * K + ki) * C + ci, word))
    bias_groups = [[int(b[gi * P + j]) if gi * P + j < pl.c_out else 0 for j in range(P)] for gi in range(G)]
    return _render(
        "layer.v.j2", name=name, pl=pl, K=K, S=S, C=C, G=G, P=P, D=D, DW=DW, CW=CW, AW=DW + CW, KW=_clog2(K),
        GW=_clog2(G), TW=_clog2(pl.l_out), NROM=G * K * C, RW=_clog2(G * K * C),
        FW=_bits_u(pl.l_in + D + K + S),  # filled / need / low counters
        XW=pl.in_bits, XSW=XSW, WB=WB, PW=WB + XSW, ACCW=pl.acc_width, AB=pl.acc_bits, LW=pl.leaky_width,
        OB=pl.out_bits, NW=_bits_u(P),
        use_lastg=G > 1 and pl.last_group_size != P,  # group size differs for the last group
        seg_slot_const=(pl.l_in % D) == 0, pl0=(-pl.pad_left) % D, rom=rom, bias=[int(v) for v in b[:P]],
        bias_groups=bias_groups,
    )


def _top_module(top: str, enc: IntEncoder, plans: list[LayerPlan]) -> str:
    n_lat, c_lat = enc.latent_shape
    return _render("top.v.j2", top=top, enc=enc, plans=plans, n_lat=n_lat, c_lat=c_lat, IB=enc.input_bits,
                   OB=plans[-1].out_bits, CHW=_clog2(c_lat), IXW=_clog2(n_lat))


def _header(top: str, enc: IntEncoder, summary: dict) -> str:
    n_lat, c_lat = enc.latent_shape
    return _render("header.v.j2", top=top, enc=enc, summary=summary, n_lat=n_lat, c_lat=c_lat)


def generate_encoder_verilog(int_encoder, out_dir, top_name: str = "cae_encoder", macs_per_layer=1,
                             prune_saturation: bool = True) -> Path:
    """Write `<out_dir>/<top_name>.v` (all modules) and `<top_name>_schedule.json`; return the .v path.

    int_encoder: an IntEncoder, its to_dict() dict, or a path to int_encoder.json (or to the model
    folder holding it). macs_per_layer: parallel output channels (multipliers) per layer, an int
    for all layers or one int per layer (capped at the layer's output channels).
    prune_saturation: no saturation logic where the interval bound over the layer's input type
    proves the register cannot overflow (`saturation_needed`; dead hardware otherwise). False
    emits it wherever the register is narrower than its source (the generator before issue 13).
    """
    if not top_name.isidentifier():
        raise VerilogGenError(f"top_name {top_name!r} is not a Verilog identifier")
    enc = load_int_encoder(int_encoder)
    plans = plan_encoder(enc, macs_per_layer, prune_saturation)
    summary = schedule_summary(enc, macs_per_layer)
    text = _render(
        "encoder.v.j2", header=_header(top_name, enc, summary),
        layers=[_layer_module(f"{top_name}_l{pl.index}", pl, layer) for pl, layer in zip(plans, enc.layers)],
        top_module=_top_module(top_name, enc, plans),
    )
    out_dir = Path(out_dir)
    path = out_dir / f"{top_name}.v"
    _write_if_changed(path, text)
    summary = dict(summary, top=top_name, verilog=path.name)
    _write_if_changed(out_dir / f"{top_name}_schedule.json", json.dumps(summary, indent=2) + "\n")
    return path


def _write_if_changed(path: Path, text: str) -> None:
    """The one atomic writer (neurocodec.files); a file whose content is the same is left untouched
    (keeps its mtime, so Verilator/make builds stay incremental)."""
    if path.is_file() and path.read_text() == text:
        return
    write_text_atomic(path, text)


__all__ = [
    "VerilogGenError",
    "LayerPlan",
    "load_int_encoder",
    "plan_encoder",
    "register_bounds",
    "layer_input_range",
    "saturation_needed",
    "schedule_summary",
    "balanced_macs_per_layer",
    "generate_encoder_verilog",
    "render_template",
    "PIPELINE_STAGES",
]
