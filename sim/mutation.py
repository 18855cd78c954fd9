"""Mutation testing of the generated encoder RTL: small deliberate bugs must produce mismatches.

Mutants are made from the generated Verilog *text* (robust patterns of its register stages, so
they survive a change of generator such as the Jinja2 templates of firmware/), one layer module
at a time:

=============  ============================================================================
round_acc      acc requantization rounds half up instead of half to even (`*_ru` of `a_n*`)
round_act      act requantization rounds half up instead of half to even (`*_ru` of `y_n*`)
sat_acc        the acc register wraps around instead of saturating (`a_n*_pos/_neg` = 0)
sat_act        the act register wraps around instead of saturating (`y_n*_pos/_neg` = 0)
weight         one weight of the layer's ROM off by one LSB (lane 0 of the middle ROM word)
bias           one bias off by a quarter of an acc-register LSB (the smallest error that the
               rounding can still hide; 1 accumulator LSB when the shift is < 2)
pad_left       no zero padding before the segment (reads stale line-buffer data)
pad_right      no zero padding after the segment
=============  ============================================================================

`make_mutants(verilog_text)` returns every applicable mutant (a mutant whose pattern is absent,
e.g. no saturation logic because the register cannot overflow, is reported as not applicable);
`run_mutation(ie, codes, name)` simulates each one with sim.runner.cosim(rtl_file=...) and
counts mismatches against the integer reference. A mutant is caught when its RTL output differs
from the reference on at least one value (or the simulation fails, e.g. a protocol error).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurocodec.errors import NeurocodecError

OPERATORS = ("round_acc", "round_act", "sat_acc", "sat_act", "weight", "bias", "pad_left", "pad_right")


class MutationError(NeurocodecError):
    """A mutant could not be made (pattern not found) or the unmutated RTL is not bit-exact."""


@dataclass
class Mutant:
    name: str  # e.g. "l2.sat_act"
    layer: int
    operator: str
    text: str  # the whole mutated Verilog file
    detail: str
    #: where a weight mutant changed the ROM: {"word": ROM index, "old": word, "new": word} (the
    #: lane-0 weight of that word; sim/block.py maps it to tap / input / output channel)
    site: dict | None = None


_MODULE = re.compile(r"^module\s+(\w+)\s*\(.*?^endmodule\b", re.M | re.S)


def layer_modules(text: str) -> dict[int, tuple[int, int, str]]:
    """layer number -> (start, end, module text) of each `<top>_l<i>` module."""
    out = {}
    for m in _MODULE.finditer(text):
        lm = re.search(r"_l(\d+)$", m.group(1))
        if lm:
            out[int(lm.group(1))] = (m.start(), m.end(), m.group(0))
    return out


def _sub_all(pattern: str, repl, body: str) -> tuple[str, int]:
    return re.subn(pattern, repl, body, flags=re.M)


def _mutate_round(body: str, reg: str) -> tuple[str, int, str]:
    # wire a_n0_ru = acc_0[4] & ((|acc_0[3:0]) | acc_0[5]);  ->  wire a_n0_ru = acc_0[4];
    new, n = _sub_all(rf"^(\s*wire\s+{reg}_n\d+_ru\s*=\s*)([^;&]+?)\s*&\s*[^;]+;", r"\1\2;", body)
    return new, n, "round half up"


def _mutate_sat(body: str, reg: str) -> tuple[str, int, str]:
    new, n = _sub_all(rf"^(\s*wire\s+{reg}_n\d+_(?:pos|neg)\s*=\s*)[^;]+;", r"\g<1>1'b0;", body)
    return new, n, "saturation removed (wraps around)"


def weight_site(body: str) -> dict | None:
    """The ROM word the weight mutant changes: the middle word of the layer's ROM (the case items
    are listed in ROM index order), lane 0 (the word's low bits) off by one LSB."""
    words = list(re.finditer(r"w_rom\s*<=\s*(\d+)'h([0-9a-fA-F]+)\s*;", body))
    if not words:
        return None
    m = words[len(words) // 2]
    value = int(m.group(2), 16)
    return {"word": len(words) // 2, "old": value, "new": value ^ 1, "width": int(m.group(1)),
            "span": (m.start(), m.end())}


def _mutate_weight(body: str) -> tuple[str, int, str]:
    site = weight_site(body)
    if site is None:
        return body, 0, ""
    width, value, new_value = site["width"], site["old"], site["new"]
    start, end = site["span"]
    rep = f"w_rom <= {width}'h{new_value:x};"
    return body[:start] + rep + body[end:], 1, f"ROM word {site['word']}: {value:#x} -> {new_value:#x}"


def _acc_shift(body: str) -> int | None:
    m = re.search(r"acc register = sat\d+\(round_half_even\(acc >> (-?\d+)\)\)", body)
    return int(m.group(1)) if m else None


def _mutate_bias(body: str) -> tuple[str, int, str]:
    shift = _acc_shift(body)
    delta = 1 << max((shift or 0) - 2, 0)
    pats = [r"(localparam\s+signed\s*\[\s*(\d+)\s*:\s*0\s*\]\s*BIAS_0\s*=\s*)(\d+)'h([0-9a-fA-F]+)",
            r"(bias_0\s*<=\s*)(\d+)'h([0-9a-fA-F]+)"]
    m = re.search(pats[0], body)
    if m:
        width, value, pre = int(m.group(3)), int(m.group(4), 16), m.group(1)
    else:
        m = re.search(pats[1], body)
        if not m:
            return body, 0, ""
        width, value, pre = int(m.group(2)), int(m.group(3), 16), m.group(1)
    new_value = (value + delta) & ((1 << width) - 1)
    rep = f"{pre}{width}'h{new_value:x}"
    return body[: m.start()] + rep + body[m.end():], 1, f"bias of channel 0 + {delta} accumulator LSB (acc shift {shift})"


def _mutate_pad(body: str, side: str) -> tuple[str, int, str]:
    m = re.search(r"wire\s+pad\s*=\s*(.+?)\s*\|\s*\((.+?)\s*>=\s*L_IN\s*\)\s*;", body)
    if not m:
        return body, 0, ""
    neg, pos = m.group(1), m.group(2)
    rep = f"wire pad = {neg};" if side == "right" else f"wire pad = ({pos} >= L_IN) & ~{neg};"
    return body[: m.start()] + rep + body[m.end():], 1, f"no {side} zero padding"


def mutate_layer(body: str, operator: str) -> tuple[str, int, str]:
    if operator == "round_acc":
        return _mutate_round(body, "a")
    if operator == "round_act":
        return _mutate_round(body, "y")
    if operator == "sat_acc":
        return _mutate_sat(body, "a")
    if operator == "sat_act":
        return _mutate_sat(body, "y")
    if operator == "weight":
        return _mutate_weight(body)
    if operator == "bias":
        return _mutate_bias(body)
    if operator in ("pad_left", "pad_right"):
        return _mutate_pad(body, operator.split("_")[1])
    raise MutationError(f"unknown mutation operator {operator!r}")


def make_mutants(text: str, operators=OPERATORS, layers=None) -> tuple[list[Mutant], dict[str, str]]:
    """Every applicable mutant of a generated encoder file; (mutants, {name: why not applicable})."""
    mods = layer_modules(text)
    if not mods:
        raise MutationError("no layer modules (`module <top>_l<i>`) found in the Verilog text")
    mutants, skipped = [], {}
    for li in sorted(mods):
        if layers is not None and li not in layers:
            continue
        start, end, body = mods[li]
        for op in operators:
            new, n, detail = mutate_layer(body, op)
            name = f"l{li}.{op}"
            if n == 0 or new == body:
                skipped[name] = "pattern not in this layer (e.g. no rounding: shift <= 0; no saturation: cannot overflow)"
                continue
            site = None
            if op == "weight":
                site = {k: v for k, v in weight_site(body).items() if k != "span"}
            mutants.append(Mutant(name, li, op, text[:start] + new + text[end:], f"{detail} ({n} site(s))", site))
    return mutants, skipped


_PORT = re.compile(r"^\s*(input|output)\s+wire\s*(\[[^\]]+\])?\s*(\w+)\s*,?", re.M)


def _ports(text: str, top: str) -> list[tuple[str, str, str]]:
    m = re.search(rf"^module\s+{re.escape(top)}\s*\((.*?)\);", text, re.M | re.S)
    if not m:
        raise MutationError(f"no module {top!r} in the Verilog text")
    return [(d, w or "", n) for d, w, n in _PORT.findall(m.group(1))]


def _renamed(text: str, suffix: str) -> str:
    names = re.findall(r"^module\s+(\w+)", text, re.M)
    for n in sorted(names, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(n)}\b", n + suffix, text)
    return text


def _module_text(text: str, name: str) -> str:
    for m in _MODULE.finditer(text):
        if m.group(1) == name:
            return m.group(0)
    raise MutationError(f"no module {name!r} in the Verilog text")


def merged_design(original: str, mutants: list[Mutant], top: str = "cae_encoder") -> str:
    """One Verilog file holding the original and every mutant under a wrapper `top` with the
    original's ports plus `mut_data` (every mutant's out_data, mutant 1 in the low bits) and
    `mut_sync` (bit i-1: mutant i's handshakes equal the original's). A mutant shares every
    unmutated layer module with the original: it adds only its mutated layer module
    (`<top>_l<k>__v<i>`) and a copy of the top (`<top>__v<i>`) instantiating it, so one Verilator
    build of about one design plus one layer per mutant simulates all mutants in lockstep."""
    ports = _ports(original, top)
    width = {n: w for _, w, n in ports}
    ob = re.match(r"\[(\d+):0\]", width["out_data"])
    ob = int(ob.group(1)) + 1 if ob else 1
    n = len(mutants)
    top_text = _module_text(original, top)
    base = original.replace(top_text, re.sub(rf"^module\s+{re.escape(top)}\b", f"module {top}__v0", top_text,
                                             count=1, flags=re.M))
    parts = [base]
    for i, m in enumerate(mutants, start=1):
        layer = f"{top}_l{m.layer}"
        body = _module_text(m.text, layer)
        parts.append(re.sub(rf"^module\s+{re.escape(layer)}\b", f"module {layer}__v{i}", body, count=1, flags=re.M))
        t = re.sub(rf"^module\s+{re.escape(top)}\b", f"module {top}__v{i}", top_text, count=1, flags=re.M)
        t, k = re.subn(rf"^(\s*){re.escape(layer)}(\s+\w+\s*\()", rf"\g<1>{layer}__v{i}\2", t, flags=re.M)
        if k != 1:
            raise MutationError(f"top module {top!r}: found {k} instances of {layer!r}, expected 1")
        parts.append(t)
    w = [f"// mutation wrapper: original + {n} mutants, one build", f"module {top} ("]
    w += [f"    {d} wire {wd} {nm}," for d, wd, nm in ports]
    w += [f"    output wire [{n * ob - 1}:0] mut_data,", f"    output wire [{n - 1}:0] mut_sync", ");"]
    outs = [nm for d, _, nm in ports if d == "output"]
    for i in range(n + 1):
        conn = []
        for d, wd, nm in ports:
            if d == "input" or i == 0:
                conn.append(f".{nm}({nm})")
            else:
                w.append(f"    wire {wd} {nm}_v{i};")
                conn.append(f".{nm}({nm}_v{i})")
        w.append(f"    {top}__v{i} u_v{i} ({', '.join(conn)});")
    w.append(f"    assign mut_data = {{{', '.join(f'out_data_v{i}' for i in range(n, 0, -1))}}};")
    sync = [" & ".join(f"({o}_v{i} == {o})" for o in outs if o not in ("out_data",)) for i in range(n, 0, -1)]
    w.append(f"    assign mut_sync = {{{', '.join(f'({s})' for s in sync)}}};")
    w.append("endmodule")
    return "\n".join(parts) + "\n" + "\n".join(w) + "\n"


def _not_emitted_reason(ie, li: int, operator: str) -> str | None:
    """Why a saturation mutant has no site: the interval bound over the layer's input type (the
    generator leaves out saturation no input can reach), or None if the bound does not prove it."""
    from neurocodec.firmware.verilog_gen import layer_input_range, register_bounds

    lo, hi = layer_input_range(ie, li - 1)
    b = register_bounds(ie.layers[li - 1], lo, hi)
    if operator == "sat_acc":
        (rlo, rhi), (vlo, vhi), reg = b["acc_range"], (int(b["r1_lo"].min()), int(b["r1_hi"].max())), "acc"
    else:
        (rlo, rhi), (vlo, vhi), reg = b["act_range"], (int(b["r2_lo"].min()), int(b["r2_hi"].max())), "act"
    if rlo <= vlo and vhi <= rhi:
        return (f"not applicable: no saturation logic emitted; for every input in [{lo}, {hi}] (the layer's input "
                f"type) the {reg} register before saturation stays in [{vlo}, {vhi}], inside [{rlo}, {rhi}] "
                "(interval bound, firmware.verilog_gen.register_bounds)")
    return None


def _system_escape_note(ie, codes, m: Mutant, sys_reach, macs_per_layer=1) -> str:
    """Why the encoder-level vectors do not expose a mutant that the block level catches."""
    from neurocodec.firmware.verilog_gen import plan_encoder
    from neurocodec.sim.coverage import _shifts, trace

    layer = ie.layers[m.layer - 1]
    if m.operator in ("sat_acc", "sat_act"):
        r = sys_reach[m.layer - 1]
        reg = m.operator[4:]
        if not (r[f"{reg}_sat_hi"] or r[f"{reg}_sat_lo"]):
            return (f"no encoder input drives the {reg} register of layer {m.layer} past its range (interval bound "
                    "through the layers below); any input of the layer's own type does")
        return (f"the interval bound through the layers below does not rule out a saturation of the {reg} register "
                "from the encoder input, but neither the real windows nor the search drive it there")
    if m.operator == "weight":
        from neurocodec.sim.block import weight_mutant_layer

        pl = plan_encoder(ie, macs_per_layer)[m.layer - 1]
        (k, c, o, new), _ = weight_mutant_layer(layer, pl, m.site)
        x = np.asarray(codes, np.int64) if m.layer == 1 else trace(codes, ie)[m.layer - 2]["y"][..., c]
        s1, s2 = _shifts(layer)
        pos = 2 ** (s1 + s2 - layer.alpha_shift)
        neg = 2 ** (s1 + s2) / layer.alpha_num if layer.alpha_num else float("inf")
        src = "the input codes" if m.layer == 1 else f"layer {m.layer - 1} channel {c}"
        from neurocodec.quantize.reference import IntEncoder, encode_int

        _, wl = weight_mutant_layer(layer, pl, m.site)
        mut = IntEncoder(ie.input_bits, ie.input_frac, ie.segment_length,
                         [wl if i == m.layer - 1 else lay for i, lay in enumerate(ie.layers)])
        codes = np.asarray(codes, np.int64)
        at = int(np.count_nonzero(encode_int(codes, mut, upto=m.layer) != encode_int(codes, ie, upto=m.layer)))
        n_out = int(encode_int(codes, ie, upto=m.layer).size)
        return (f"w[tap {k}, in {c}, out {o}] {int(layer.weights[k, c, o])} -> {new}: it multiplies {src}, which spans "
                f"[{int(x.min())}, {int(x.max())}] over all encoder vectors, so the accumulator moves by at most "
                f"{int(np.abs(x).max())} product LSBs, against {pos:g} (positive side) / {neg:.0f} (negative side) per "
                f"output LSB of layer {m.layer}: on the encoder vectors it changes "
                + (f"{at} of the {n_out} outputs of layer {m.layer}, and the layers after it round every such change "
                   "away before the latent; the " if at else f"none of the {n_out} outputs of layer {m.layer}; the ")
                + f"block level puts the input at full scale ({'255' if m.layer == 1 else '-128 / 127'}) next to a "
                "rounding boundary")
    return "the encoder-level vectors do not reach a state that shows it; the directed block vectors do"


def pruning_area(ie, work_dir, macs_per_layer=1, top_name: str = "cae_encoder") -> list[dict]:
    """Yosys size of every layer module whose saturation logic the generator leaves out, with and
    without it (generic gates and xc7 LUTs): the area the pruning saves."""
    from neurocodec.firmware.resources import synth_fpga, synth_gates
    from neurocodec.firmware.verilog_gen import generate_encoder_verilog, plan_encoder

    work_dir = Path(work_dir)
    texts = {}
    for prune in (True, False):
        v = generate_encoder_verilog(ie, work_dir / ("pruned" if prune else "full"), top_name=top_name,
                                     macs_per_layer=macs_per_layer, prune_saturation=prune)
        texts[prune] = layer_modules(v.read_text())
    rows = []
    for pl in plan_encoder(ie, macs_per_layer):
        li = pl.index
        if texts[True][li][2] == texts[False][li][2]:
            continue
        row = {"layer": li, "saturation_kept": dict(zip(("acc_hi", "acc_lo", "act_hi", "act_lo"), pl.saturation))}
        from neurocodec.files import write_text_atomic

        for prune, key in ((False, "with"), (True, "without")):
            d = work_dir / f"area_l{li}_{key}"
            f = write_text_atomic(d / f"{top_name}_l{li}.v", "`default_nettype none\n" + texts[prune][li][2] + "\n")
            g = synth_gates(f, f"{top_name}_l{li}", d)
            x = synth_fpga(f, f"{top_name}_l{li}", d)
            row[key] = {"gate_equivalents": g.gate_equivalents, "logic_cells": g.logic_cells, "lut": x.lut,
                        "ff": x.ff, "carry": x.carry}
        row["saved_gate_equivalents"] = round(row["with"]["gate_equivalents"] - row["without"]["gate_equivalents"], 1)
        row["saved_lut"] = row["with"]["lut"] - row["without"]["lut"]
        rows.append(row)
    return rows


def run_mutation(ie, codes, name: str, operators=OPERATORS, layers=None, macs_per_layer=1, log=None,
                 top_name: str = "cae_encoder", merged: bool = True, n_real: int | None = None,
                 block: bool = True, area: bool = False) -> dict:
    """Simulate the unmutated RTL (must be bit-exact) and every mutant on `codes`; returns a report
    with per-mutant mismatches (None: the simulation itself failed, which also counts as caught).

    block: also drive every layer module on its own with directed vectors (sim/block.py) and
    compare it with the layer's reference; a mutant is caught when the system level (the encoder
    on `codes`) or the block level tells it from the original. area: Yosys size of the saturation
    logic the generator leaves out (pruning_area)."""
    from neurocodec import paths
    from neurocodec.files import write_text_atomic
    from neurocodec.firmware.verilog_gen import generate_encoder_verilog, load_int_encoder
    from neurocodec.quantize.reference import encode_int
    from neurocodec.sim.runner import CosimError, cosim

    ie = load_int_encoder(ie)
    codes = np.asarray(codes, np.int64)
    reference = encode_int(codes, ie)
    root = paths.stage_dir("sim", name)
    original = generate_encoder_verilog(ie, root / "rtl", top_name=top_name, macs_per_layer=macs_per_layer)
    t0 = time.perf_counter()
    base = cosim(ie, codes, name, macs_per_layer=macs_per_layer, top_name=top_name, rtl_file=original)
    base_mism = int(np.count_nonzero(base.latent != reference))
    if base_mism:
        raise MutationError(f"the unmutated RTL has {base_mism} mismatches: fix it before mutation testing")
    mutants, skipped = make_mutants(original.read_text(), operators, layers)
    for key in list(skipped):
        li, op = int(key.split(".")[0][1:]), key.split(".")[1]
        if op in ("sat_acc", "sat_act"):
            skipped[key] = _not_emitted_reason(ie, li, op) or skipped[key]
    all_mutants = list(mutants)
    from neurocodec.sim.coverage import reachable

    reach = reachable(ie, block=block)  # block level: any input of each layer's input type

    def _unreachable(m):
        r = reach[m.layer - 1]
        return ((m.operator == "sat_acc" and not (r["acc_sat_hi"] or r["acc_sat_lo"]))
                or (m.operator == "sat_act" and not (r["act_sat_hi"] or r["act_sat_lo"])))

    equivalent = {m.name for m in mutants if _unreachable(m)}
    rows = []
    if merged and mutants:
        path = write_text_atomic(root / "mutants" / "merged.v", merged_design(original.read_text(), mutants, top_name))
        t1 = time.perf_counter()
        res = cosim(ie, codes, name, macs_per_layer=macs_per_layer, top_name=top_name, rtl_file=path,
                    build_name="build_merged", trace_capable=False)
        if not np.array_equal(res.latent, reference):
            raise MutationError("the original inside the mutation wrapper is not bit-exact")
        for i, m in enumerate(mutants):
            lat = res.mutant_latent[i]
            mism = int(np.count_nonzero(lat != reference))
            desync = int(np.count_nonzero(res.mutant_sync[:, i] == 0))
            row = {"mutant": m.name, "layer": m.layer, "operator": m.operator, "detail": m.detail,
                   "mismatches": mism, "handshake_differences": desync, "caught": mism > 0 or desync > 0,
                   "note": "", "seconds": None}
            if n_real is not None:  # how many the first n_real vectors (e.g. the real windows) see alone
                row["mismatches_first_vectors"] = int(np.count_nonzero(lat[:n_real] != reference[:n_real]))
            rows.append(row)
            if log:
                log(row)
        build_seconds = round(time.perf_counter() - t1, 1)
        mutants = []
    else:
        build_seconds = None
    for m in mutants:
        path = write_text_atomic(root / "mutants" / f"{m.name}.v", m.text)
        t1 = time.perf_counter()
        try:
            res = cosim(ie, codes, name, macs_per_layer=macs_per_layer, top_name=top_name, rtl_file=path,
                        build_name="build_mutant")
            mism = int(np.count_nonzero(res.latent != reference))
            note = ""
        except CosimError as exc:
            mism, note = None, f"simulation failed: {str(exc).splitlines()[0][:200]}"
        row = {"mutant": m.name, "layer": m.layer, "operator": m.operator, "detail": m.detail,
               "mismatches": mism, "caught": mism is None or mism > 0, "note": note,
               "seconds": round(time.perf_counter() - t1, 1)}
        rows.append(row)
        if log:
            log(row)
    block_report = None
    if block and all_mutants:
        from neurocodec.sim.block import run_block_level

        block_report = run_block_level(ie, original, all_mutants, name, macs_per_layer=macs_per_layer,
                                       top_name=top_name, log=log)
        sys_reach = reachable(ie)
        for r, m in zip(rows, all_mutants):
            r["caught_system"] = r["caught"]
            r.update(block_report["mutants"][r["mutant"]])
            r["caught"] = r["caught_system"] or r["block_caught"]
            if not r["caught_system"] and r["block_caught"]:
                r["note"] = _system_escape_note(ie, codes, m, sys_reach, macs_per_layer)
    for r in rows:  # saturation no input can reach (interval bounds): the mutant is equivalent
        r["equivalent"] = r["mutant"] in equivalent and not r["caught"]
    area_rows = pruning_area(ie, root / "area", macs_per_layer, top_name) if area else None
    from neurocodec.firmware.verilog_gen import plan_encoder

    emitted = [{"layer": pl.index, **dict(zip(("acc_hi", "acc_lo", "act_hi", "act_lo"), pl.saturation))}
               for pl in plan_encoder(ie, macs_per_layer)]
    return {
        "block_level": block_report,
        "saturation_emitted": emitted,
        "pruned_saturation_area": area_rows,
        "n_vectors": int(codes.shape[0]),
        "n_outputs": int(reference.size),
        "unmutated_mismatches": base_mism,
        "mutants": rows,
        "not_applicable": skipped,
        "caught": sum(r["caught"] for r in rows),
        "equivalent": sum(r["equivalent"] for r in rows),
        "survivors": [r["mutant"] for r in rows if not r["caught"] and not r["equivalent"]],
        "total": len(rows),
        "seconds": round(time.perf_counter() - t0, 1),
        "merged_build_and_run_seconds": build_seconds,
        "rtl": str(original),
    }


def write_docs(report: dict, docs) -> Path:
    """docs/rtl_mutation.json + docs/rtl_mutation.md (coverage per layer at system and block level,
    the saturation left out with its bound and area, every mutant)."""
    from neurocodec.files import write_json_atomic, write_text_atomic

    docs = Path(docs)
    write_json_atomic(docs / "rtl_mutation.json", report)
    cov = report["coverage"]
    blk = report.get("block_level")
    ev = ("acc_sat_hi", "acc_sat_lo", "act_sat_hi", "act_sat_lo", "acc_tie", "act_tie")
    lines = [
        "# RTL mutation test and coverage of a trained cae",
        "",
        f"Model `{report['model']}`. **System level**: {cov['n_real']} real test vectors + {cov['n_search']} vectors found "
        "by search against the integer reference (sim/coverage.py) at the encoder input. **Block level** "
        "(sim/block.py, testbench sim/tb_cae_layers.py): every layer module `cae_encoder_l<i>` on its own ports, "
        "driven with directed segments of its input type (windows that saturate its registers high and low, land "
        "on rounding ties and make each modelled mutant change the layer's output, random inputs around them) and "
        "compared with the integer reference of that layer alone. Every mutant of the generated Verilog "
        "(sim/mutation.py) runs at both levels (one Verilator build each, mutants in lockstep with the original). "
        f"Written by `make mutation MODEL={report['model']}` ({report['seconds']:.0f} s"
        + (f"; block level {blk['seconds']:.0f} s of it, {blk['cycles']} cycles" if blk else "") + ").",
        "",
        "## Coverage per layer (register values saturated / on a rounding tie)",
        "",
        "System level = reached from the encoder input; block level = reached by driving the layer module's input "
        "port. `-` = unreachable: the interval bound proves that no input reaches it (system: no encoder input; "
        "block: no input of the layer's type, hence no saturation logic in the RTL).",
        "",
    ]
    head = "| layer | values | acc sat hi | acc sat lo | act sat hi | act sat lo | acc ties | act ties |"
    sysr = {row["layer"]: row for row in cov["per_layer"]}
    blkr = {row["layer"]: row for row in blk["layers"]} if blk else {}

    def cells(row):
        return " | ".join(str(row[e]) if e in row["reachable"] else f"- ({row[e]})" if row[e] else "-" for e in ev)

    lines += ["### System level (encoder input)", "", head + " real vectors only: sat / ties |",
              "|---|---|---|---|---|---|---|---|---|"]
    for row, real in zip(cov["per_layer"], cov["per_layer_real_only"]):
        rs = sum(real[e] for e in ev[:4])
        lines.append(f"| {row['layer']} | {row['values']} | {cells(row)} | {rs} / {real['acc_tie'] + real['act_tie']} |")
    if blk:
        lines += ["", "### Block level (each layer module's own input)", "",
                  head + " input range | segments | directed windows |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for li in sorted(blkr):
            row = blkr[li]
            lines.append(f"| {li} | {row['values']} | {cells(row)} | [{row['input_range'][0]}, {row['input_range'][1]}] "
                         f"| {row['segments']} | {row['windows']} |")
        missing = [f"layer {li} {e}" for li, row in blkr.items() for e in row["reachable"] if not row[e]]
        lines += ["", f"Reachable at block level but not hit: {', '.join(missing) or 'none'}. "
                  f"Reachable from the encoder input but not found by the search: {', '.join(cov['missing']) or 'none'}."]
    else:
        lines += ["", f"Reachable by the interval bounds but not found by the search: {', '.join(cov['missing']) or 'none'}."]
    na = report.get("not_applicable", {})
    area = report.get("pruned_saturation_area")
    pruned = [(r["layer"], [k for k in ("acc_hi", "acc_lo", "act_hi", "act_lo") if not r[k]])
              for r in report.get("saturation_emitted") or []]
    pruned = [(li, sides) for li, sides in pruned if sides]
    if na or area or pruned:
        lines += ["", "## Saturation the generator leaves out (dead hardware)", "",
                  "firmware/verilog_gen.py emits saturation logic only where the interval bound over the layer's whole "
                  "input type (`saturation_needed`, the same bound as the block-level reachability) allows an overflow. "
                  "Elsewhere it would be dead hardware that no input of the layer module can exercise, so a mutant of "
                  "it could never be caught: the register is then the plain low bits of the rounded value, which is "
                  "exact because the bound keeps it in range (the system and block level compare the RTL with the "
                  "reference: 0 mismatches; `prune_saturation=False` writes the former text, pinned in "
                  "tests/test_verilog_templates.py). This is cleaner than keeping the logic and calling its mutant "
                  "equivalent: the proof is made once, in the generator, and the RTL holds no untestable gates.", ""]
        lines += [f"- layer {li}: no saturation logic for {', '.join(sides)}" for li, sides in pruned]
        lines += [f"- `{k}` {v}" for k, v in sorted(na.items())]
    if area:
        lines += ["", "Area of the layer modules with and without that logic (Yosys: generic gates, xc7 LUTs):", "",
                  "| layer | GE with | GE without | GE saved | LUT with | LUT without | LUT saved |",
                  "|---|---|---|---|---|---|---|"]
        for a in area:
            lines.append(f"| {a['layer']} | {a['with']['gate_equivalents']:.0f} | {a['without']['gate_equivalents']:.0f} "
                         f"| {a['saved_gate_equivalents']:.0f} | {a['with']['lut']} | {a['without']['lut']} | {a['saved_lut']} |")
    n_sys = sum(1 for m in report["mutants"] if m.get("caught_system", m["caught"]))
    n_blk = sum(1 for m in report["mutants"] if m.get("block_caught"))
    only_blk = [m["mutant"] for m in report["mutants"] if m["caught"] and not m.get("caught_system", True)]
    lines += ["", f"## Mutants: {report['caught']} of {report['total']} caught ({n_sys} at system level, {n_blk} at block "
              f"level, {len(only_blk)} only at block level), {len(na)} not applicable, {report['equivalent']} equivalent, "
              f"survivors: {', '.join(report['survivors']) or 'none'}", "",
              "| mutant | change | system: mismatches (all vectors) | system: real vectors only | block: mismatches | verdict |",
              "|---|---|---|---|---|---|"]
    for m in report["mutants"]:
        if m["caught"]:
            where = [w for w, ok in (("system", m.get("caught_system", m["caught"])), ("block", m.get("block_caught"))) if ok]
            verdict = "caught (" + " + ".join(where) + ")"
        else:
            verdict = "equivalent" if m["equivalent"] else "SURVIVED"
        lines.append(f"| {m['mutant']} | {m['detail']} | {m['mismatches']} | {m.get('mismatches_first_vectors', '')} "
                     f"| {m.get('block_mismatches', '')} | {verdict} |")
    notes = [m for m in report["mutants"] if m.get("note")]
    if notes:
        lines += ["", "## Why the system level misses the mutants only the block level catches", ""]
        lines += [f"- `{m['mutant']}`: {m['note']}" for m in notes]
    return write_text_atomic(docs / "rtl_mutation.md", "\n".join(lines) + "\n")


def _print_row(row) -> None:
    """run_mutation's log: a mutant's row (system level) or a line of text (block level)."""
    print(row if isinstance(row, str) else f"{row['mutant']:16s} {row['mismatches']} mismatches", flush=True)


def main(argv=None) -> int:
    import argparse

    from neurocodec.firmware.verilog_gen import load_int_encoder
    from neurocodec.sim.coverage import coverage_vectors
    from neurocodec.sim.cosim_cli import _load_vectors

    p = argparse.ArgumentParser(prog="python -m neurocodec.sim.mutation",
                                description="coverage vectors + mutation test of a trained model's RTL")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--max-vectors", type=int, default=8, help="real test vectors used (default 8)")
    p.add_argument("--layers", type=int, nargs="*", help="mutate only these layers (default all)")
    p.add_argument("--docs", help="write rtl_mutation.json / .md here")
    p.add_argument("--no-area", dest="area", action="store_false",
                   help="skip the Yosys size of the saturation logic the generator leaves out")
    a = p.parse_args(argv)
    model_dir = Path(a.model_dir)
    ie = load_int_encoder(model_dir / "int_encoder.json")
    real = _load_vectors(model_dir, a.max_vectors)
    t0 = time.perf_counter()
    codes, cov = coverage_vectors(ie, real)
    r = run_mutation(ie, codes, f"{model_dir.name}_mutation", layers=a.layers, n_real=len(real),
                     log=_print_row, area=a.area)
    r.update({"model": model_dir.name, "coverage": cov, "seconds": time.perf_counter() - t0})
    if a.docs:
        print(f"wrote {write_docs(r, a.docs)}")
    print(f"{r['caught']} of {r['total']} mutants caught, {r['equivalent']} equivalent, survivors {r['survivors']}")
    return 0 if not r["survivors"] else 1


__all__ = ["OPERATORS", "Mutant", "MutationError", "layer_modules", "make_mutants", "mutate_layer", "run_mutation", "write_docs"]


if __name__ == "__main__":
    import sys

    sys.exit(main())
