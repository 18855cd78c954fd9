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


def _mutate_weight(body: str) -> tuple[str, int, str]:
    words = list(re.finditer(r"w_rom\s*<=\s*(\d+)'h([0-9a-fA-F]+)\s*;", body))
    if not words:
        return body, 0, ""
    m = words[len(words) // 2]
    width, value = int(m.group(1)), int(m.group(2), 16)
    new_value = value ^ 1  # lane 0 weight (the word's low bits) off by one LSB
    rep = f"w_rom <= {width}'h{new_value:x};"
    return body[: m.start()] + rep + body[m.end():], 1, f"ROM word {len(words) // 2}: {value:#x} -> {new_value:#x}"


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
            mutants.append(Mutant(name, li, op, text[:start] + new + text[end:], f"{detail} ({n} site(s))"))
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


def run_mutation(ie, codes, name: str, operators=OPERATORS, layers=None, macs_per_layer=1, log=None,
                 top_name: str = "cae_encoder", merged: bool = True, n_real: int | None = None) -> dict:
    """Simulate the unmutated RTL (must be bit-exact) and every mutant on `codes`; returns a report
    with per-mutant mismatches (None: the simulation itself failed, which also counts as caught)."""
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
    from neurocodec.sim.coverage import reachable

    reach = reachable(ie)
    equivalent = {m.name for m in mutants
                  if (m.operator == "sat_acc" and not (reach[m.layer - 1]["acc_sat_hi"] or reach[m.layer - 1]["acc_sat_lo"]))
                  or (m.operator == "sat_act" and not (reach[m.layer - 1]["act_sat_hi"] or reach[m.layer - 1]["act_sat_lo"]))}
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
    for r in rows:  # saturation no input can reach (interval bounds): the mutant is equivalent
        r["equivalent"] = r["mutant"] in equivalent and not r["caught"]
    return {
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
    """docs/rtl_mutation.json + docs/rtl_mutation.md (coverage per layer and every mutant)."""
    from neurocodec.files import write_json_atomic, write_text_atomic

    docs = Path(docs)
    write_json_atomic(docs / "rtl_mutation.json", report)
    cov = report["coverage"]
    lines = [
        "# RTL mutation test and coverage of a trained cae",
        "",
        f"Model `{report['model']}`; {cov['n_real']} real test vectors + {cov['n_search']} vectors found by search "
        "against the integer reference (sim/coverage.py); every mutant of the generated Verilog (sim/mutation.py) "
        f"simulated in one Verilator build. Written by `make mutation MODEL={report['model']}` "
        f"({report['seconds']:.0f} s).",
        "",
        "## Coverage per layer (register values saturated / on a rounding tie)",
        "",
        "| layer | values | acc sat hi | acc sat lo | act sat hi | act sat lo | acc ties | act ties | real vectors only: sat / ties | unreachable for any input |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row, real in zip(cov["per_layer"], cov["per_layer_real_only"]):
        unreach = [e for e in ("acc_sat_hi", "acc_sat_lo", "act_sat_hi", "act_sat_lo", "acc_tie", "act_tie")
                   if e not in row["reachable"]]
        rs = sum(real[e] for e in ("acc_sat_hi", "acc_sat_lo", "act_sat_hi", "act_sat_lo"))
        lines.append(f"| {row['layer']} | {row['values']} | {row['acc_sat_hi']} | {row['acc_sat_lo']} | {row['act_sat_hi']} "
                     f"| {row['act_sat_lo']} | {row['acc_tie']} | {row['act_tie']} | {rs} / {real['acc_tie'] + real['act_tie']} "
                     f"| {', '.join(unreach) or '-'} |")
    lines += ["", f"Reachable by the interval bounds but not found by the search: {', '.join(cov['missing']) or 'none'}.",
              "", f"## Mutants: {report['caught']} of {report['total']} caught, {report['equivalent']} equivalent "
              f"(saturation no input reaches), survivors: {', '.join(report['survivors']) or 'none'}", "",
              "| mutant | change | mismatches (all vectors) | mismatches (real vectors only) | verdict |", "|---|---|---|---|---|"]
    for m in report["mutants"]:
        verdict = "caught" if m["caught"] else ("equivalent" if m["equivalent"] else "SURVIVED")
        lines.append(f"| {m['mutant']} | {m['detail']} | {m['mismatches']} | {m.get('mismatches_first_vectors', '')} | {verdict} |")
    return write_text_atomic(docs / "rtl_mutation.md", "\n".join(lines) + "\n")


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
    a = p.parse_args(argv)
    model_dir = Path(a.model_dir)
    ie = load_int_encoder(model_dir / "int_encoder.json")
    real = _load_vectors(model_dir, a.max_vectors)
    t0 = time.perf_counter()
    codes, cov = coverage_vectors(ie, real)
    r = run_mutation(ie, codes, f"{model_dir.name}_mutation", layers=a.layers, n_real=len(real),
                     log=lambda row: print(f"{row['mutant']:16s} {row['mismatches']} mismatches", flush=True))
    r.update({"model": model_dir.name, "coverage": cov, "seconds": time.perf_counter() - t0})
    if a.docs:
        print(f"wrote {write_docs(r, a.docs)}")
    print(f"{r['caught']} of {r['total']} mutants caught, {r['equivalent']} equivalent, survivors {r['survivors']}")
    return 0 if not r["survivors"] else 1


__all__ = ["OPERATORS", "Mutant", "MutationError", "layer_modules", "make_mutants", "mutate_layer", "run_mutation", "write_docs"]


if __name__ == "__main__":
    import sys

    sys.exit(main())
