"""Test vectors for coverage: every layer of the integer encoder driven into saturation and onto
rounding ties, so that a hardware mutant that changes a rounding mode, removes a saturation or
perturbs a weight, a bias or the padding produces mismatches.

Real windows of a recording rarely saturate a register (a trained model is calibrated not to),
so `coverage_vectors(ie, real_codes)` adds vectors found by search against the integer
reference (`quantize.reference`, bit-exact with the RTL and the HLS C simulation):

* structured candidates: constants, full-scale square waves of several periods, impulses, the
  sign pattern of each layer-1 filter (its largest positive and negative response), amplified
  real windows;
* a greedy cover keeps the candidates that hit an event no kept vector hits yet;
* for every event still missing, a hill climb from the best candidate: random runs of samples
  set to 0 / full scale / random codes, kept when the event's margin improves (the largest
  pre-saturation value for a saturation, the distance of the dropped bits from one half for a
  tie), until the event is hit or the evaluation budget is spent.

Events per layer (`layer_coverage`): acc register saturated high / low, act register
saturated high / low, rounding ties (dropped bits exactly one half) in the acc and the act
requantization. `reachable(ie)` bounds every register by interval arithmetic: an event outside
the bounds cannot happen for any input (a mutant of it is equivalent and is not required).
"""
from __future__ import annotations

import numpy as np

from neurocodec.quantize.fixed_point import shift_round_half_even
from neurocodec.quantize.reference import IntConvLayer, IntEncoder, conv_acc_int

EVENTS = ("acc_sat_hi", "acc_sat_lo", "act_sat_hi", "act_sat_lo", "acc_tie", "act_tie")


def _registers(x: np.ndarray, layer: IntConvLayer, kind: str | None = None) -> dict:
    """One layer's registers, the arithmetic of quantize.reference.conv_layer_int step by step:
    acc (exact), r1 (acc register rounded), a (saturated), leaky, r2 (act register rounded), y
    (saturated output). `kind` models one RTL mutant of sim/mutation.py in this layer."""
    return requant_registers(conv_acc_int(x, layer), layer, kind)


def requant_registers(acc: np.ndarray, layer: IntConvLayer, kind: str | None = None) -> dict:
    """`_registers` from the exact accumulator on (the last axis is the output channel)."""
    s1, s2 = _shifts(layer)
    acc = np.array(acc, np.int64)
    if kind == "bias":  # + a quarter of an acc-register LSB on channel 0 (as sim/mutation.py)
        acc[..., 0] += 1 << max(s1 - 2, 0)
    r1 = _rhu(acc, s1) if kind == "round_acc" else shift_round_half_even(acc, s1)
    alo, ahi = -(1 << (layer.acc_bits - 1)), (1 << (layer.acc_bits - 1)) - 1
    a = _wrap(r1, layer.acc_bits) if kind == "sat_acc" else np.clip(r1, alo, ahi)
    leaky = np.where(a > 0, a << layer.alpha_shift, a * layer.alpha_num)
    r2 = _rhu(leaky, s2) if kind == "round_act" else shift_round_half_even(leaky, s2)
    olo, ohi = -(1 << (layer.out_bits - 1)), (1 << (layer.out_bits - 1)) - 1
    y = _wrap(r2, layer.out_bits) if kind == "sat_act" else np.clip(r2, olo, ohi)
    return {"acc": acc, "r1": r1, "a": a, "leaky": leaky, "r2": r2, "y": y,
            "acc_range": (alo, ahi), "act_range": (olo, ohi)}


def _shifts(layer: IntConvLayer) -> tuple[int, int]:
    return layer.product_frac - layer.acc_frac, layer.acc_frac + layer.alpha_shift - layer.out_frac


def _tie_distance(v: np.ndarray, shift: int) -> np.ndarray:
    """|dropped bits - one half| (0 on an exact tie); large when the shift drops nothing."""
    if shift <= 0:
        return np.full(v.shape, np.iinfo(np.int64).max, np.int64)
    return np.abs((v & ((1 << shift) - 1)) - (1 << (shift - 1)))


def trace(codes: np.ndarray, ie: IntEncoder) -> list[dict]:
    """Per layer the pre-saturation values of both registers: r1 (acc register, rounded), r2 (act
    register, rounded), and the tie distances of both requantizations; same arithmetic as
    quantize.reference.conv_layer_int (asserted by tests/test_rtl_mutation.py)."""
    x = np.asarray(codes, np.int64)
    x = x[:, :, None] if x.ndim == 2 else x
    out = []
    for layer in ie.layers:
        s1, s2 = _shifts(layer)
        r = _registers(x, layer)
        out.append({"r1": r["r1"], "r2": r["r2"], "tie1": _tie_distance(r["acc"], s1),
                    "tie2": _tie_distance(r["leaky"], s2), "acc_range": r["acc_range"],
                    "act_range": r["act_range"], "y": r["y"]})
        x = r["y"]
    return out


def _event_margins(t: dict) -> dict:
    """Per window (axis 0) a margin per event: > 0 means the event happened in that window."""
    alo, ahi = t["acc_range"]
    olo, ohi = t["act_range"]
    ax = tuple(range(1, t["r1"].ndim))
    return {
        "acc_sat_hi": t["r1"].max(axis=ax) - ahi,
        "acc_sat_lo": alo - t["r1"].min(axis=ax),
        "act_sat_hi": t["r2"].max(axis=ax) - ohi,
        "act_sat_lo": olo - t["r2"].min(axis=ax),
        "acc_tie": 1 - t["tie1"].min(axis=ax).astype(np.float64),
        "act_tie": 1 - t["tie2"].min(axis=ax).astype(np.float64),
    }


def layer_coverage(codes: np.ndarray, ie: IntEncoder) -> list[dict]:
    """Per layer the number of register values that saturate / hit a tie over all `codes`."""
    return [{"layer": i + 1, **_count_events(t)} for i, t in enumerate(trace(codes, ie))]


def _count_events(t: dict) -> dict:
    alo, ahi = t["acc_range"]
    olo, ohi = t["act_range"]
    return {
        "values": int(t["r1"].size),
        "acc_sat_hi": int(np.count_nonzero(t["r1"] > ahi)),
        "acc_sat_lo": int(np.count_nonzero(t["r1"] < alo)),
        "act_sat_hi": int(np.count_nonzero(t["r2"] > ohi)),
        "act_sat_lo": int(np.count_nonzero(t["r2"] < olo)),
        "acc_tie": int(np.count_nonzero(t["tie1"] == 0)),
        "act_tie": int(np.count_nonzero(t["tie2"] == 0)),
    }


def layer_block_coverage(x: np.ndarray, layer: IntConvLayer) -> dict:
    """Events of one layer on its own input x (n, length, in_channels) (block level)."""
    s1, s2 = _shifts(layer)
    r = _registers(np.asarray(x, np.int64), layer)
    return _count_events({"r1": r["r1"], "r2": r["r2"], "tie1": _tie_distance(r["acc"], s1),
                          "tie2": _tie_distance(r["leaky"], s2), "acc_range": r["acc_range"],
                          "act_range": r["act_range"]})


def reachable(ie: IntEncoder, block: bool = False) -> list[dict]:
    """Per layer, which events any input can produce (interval bounds; sound: an event marked
    False never happens). block=False: inputs of the encoder (each layer's input bounded by the
    layers below); block=True: any input of the layer module's own input type (what a block-level
    testbench can drive; firmware.verilog_gen emits saturation logic only where this is True)."""
    from neurocodec.firmware.verilog_gen import layer_input_range, register_bounds

    lo, hi = layer_input_range(ie, 0)
    rows = []
    for li, layer in enumerate(ie.layers):
        if block:
            lo, hi = layer_input_range(ie, li)
        s1, s2 = _shifts(layer)
        b = register_bounds(layer, lo, hi)
        (alo, ahi), (olo, ohi) = b["acc_range"], b["act_range"]
        alpha_tz = (layer.alpha_num & -layer.alpha_num).bit_length() - 1 if layer.alpha_num else 99
        rows.append({
            "acc_sat_hi": bool(np.any(b["r1_hi"] > ahi)), "acc_sat_lo": bool(np.any(b["r1_lo"] < alo)),
            "act_sat_hi": bool(np.any(b["r2_hi"] > ohi)), "act_sat_lo": bool(np.any(b["r2_lo"] < olo)),
            "acc_tie": s1 > 0,
            # positive side: a << alpha_shift drops nothing when s2 <= alpha_shift; negative side:
            # a * alpha_num has alpha_tz trailing zeros
            "act_tie": bool(s2 > 0 and (s2 > layer.alpha_shift or (np.any(b["a_lo"] < 0) and s2 > alpha_tz))),
        })
        lo, hi = np.maximum(b["r2_lo"], olo), np.minimum(b["r2_hi"], ohi)
    return rows


def missing_events(cov: list[dict], reach: list[dict]) -> list[tuple[int, str]]:
    """(layer, event) pairs that are reachable but not hit."""
    return [(c["layer"], e) for c, r in zip(cov, reach) for e in EVENTS if r[e] and c[e] == 0]


def coverage_complete(cov: list[dict], reach: list[dict]) -> bool:
    """Every reachable event of every layer hit, and in every layer at least one saturation
    and at least one tie."""
    if missing_events(cov, reach):
        return False
    return all(any(c[e] for e in EVENTS[:4]) and (c["acc_tie"] or c["act_tie"]) for c in cov)


def _structured(ie: IntEncoder, rng) -> np.ndarray:
    n, top = ie.segment_length, (1 << ie.input_bits) - 1
    pos = np.arange(n)
    c = [np.zeros(n), np.full(n, top), np.full(n, top // 2)]
    for period in (2, 3, 4, 6, 8, 12, 16, 32, 64):
        c.append(np.where((pos // period) % 2 == 0, top, 0))
    for gap in (8, 32, 128):
        c.append(np.where(pos % gap == 0, top, 0))
        c.append(np.where(pos % gap == 0, 0, top))
    w = ie.layers[0].weights  # (kernel, 1, filters)
    for o in range(w.shape[2]):
        for sign in (1, -1):
            tap = np.where(sign * w[:, 0, o] > 0, top, 0)
            c.append(np.resize(tap, n))
            c.append(np.resize(tap[::-1], n))
    c += [rng.integers(0, top + 1, n) for _ in range(8)]
    c += [rng.choice([0, top], n) for _ in range(8)]
    return np.stack(c).astype(np.int64)


def _amplified(real: np.ndarray, ie: IntEncoder, rng, k: int = 16) -> np.ndarray:
    if real is None or len(real) == 0:
        return np.zeros((0, ie.segment_length), np.int64)
    top = (1 << ie.input_bits) - 1
    pick = real[rng.integers(0, len(real), k)].astype(np.float64)
    mid = pick.mean(axis=1, keepdims=True)
    gains = rng.choice([2.0, 4.0, 8.0, 16.0], size=(k, 1))
    return np.clip(np.rint(mid + (pick - mid) * gains), 0, top).astype(np.int64)


def _input_gradient(codes: np.ndarray, ie: IntEncoder, li: int, t: int, o: int) -> np.ndarray:
    """d r1[layer li, position t, channel o] / d input codes for one window, through the local
    slopes of every layer below (leaky slope, 0 where a register saturates)."""
    x = np.asarray(codes, np.int64)[None, :, None]
    fw = []
    for layer in ie.layers[: li + 1]:
        r = _registers(x, layer)
        fw.append((x.shape[1], r["r1"][0], r["a"][0], r["r2"][0], r["acc_range"], r["act_range"]))
        x = r["y"]
    g = np.zeros(fw[li][1].shape)
    g[t, o] = 1.0
    for j in range(li, -1, -1):
        layer = ie.layers[j]
        s1, s2 = _shifts(layer)
        length, r1, a, r2, (alo, ahi), (olo, ohi) = fw[j]
        if j < li:  # g is d/d y_j: through act saturation, act rounding, leaky, acc saturation
            g = g * ((r2 >= olo) & (r2 <= ohi)) * 2.0 ** -s2
            g = g * np.where(a > 0, float(1 << layer.alpha_shift), float(layer.alpha_num))
            g = g * ((r1 >= alo) & (r1 <= ahi))
        g_acc = g * 2.0 ** -s1
        gx = np.zeros((length, layer.in_channels))
        out_len = g_acc.shape[0]
        for k in range(layer.kernel):
            pos = layer.stride * np.arange(out_len) - layer.pad_left + k
            ok = (pos >= 0) & (pos < length)
            np.add.at(gx, pos[ok], g_acc[ok] @ layer.weights[k].T.astype(np.float64))
        g = gx
    return g[:, 0]


def _gradient_candidates(ie: IntEncoder, rng, real=None, iters: int = 3) -> np.ndarray:
    """Per layer, channel and sign: the box corner (0 / full scale) that drives that register
    furthest, by a few steps of sign-of-gradient ascent through the local slopes."""
    top = (1 << ie.input_bits) - 1
    n = ie.segment_length
    lengths = [n]
    for layer in ie.layers:
        lengths.append((lengths[-1] + layer.pad_left + layer.pad_right - layer.kernel) // layer.stride + 1)
    out = []
    for li, layer in enumerate(ie.layers):
        out_len = lengths[li + 1]
        for o in range(layer.out_channels):
            for sign in (1, -1):
                for t in sorted({out_len // 2, out_len // 4}):
                    x = np.full(n, top // 2, np.int64)
                    for _ in range(iters):
                        g = sign * _input_gradient(x, ie, li, t, o)
                        x = np.where(g > 0, top, np.where(g < 0, 0, x))
                    out.append(x.copy())
    return np.stack(out).astype(np.int64)


def _margins(codes: np.ndarray, ie: IntEncoder) -> list[dict]:
    return [_event_margins(t) for t in trace(codes, ie)]


def _mutate(v: np.ndarray, rng, top: int, count: int) -> np.ndarray:
    out = np.repeat(v[None], count, axis=0)
    n = v.size
    for j in range(count):
        for _ in range(int(rng.integers(1, 4))):
            a = int(rng.integers(0, n))
            ln = int(rng.integers(1, max(2, n // 8)))
            kind = rng.integers(0, 4)
            seg = slice(a, min(n, a + ln))
            if kind == 0:
                out[j, seg] = 0
            elif kind == 1:
                out[j, seg] = top
            elif kind == 2:
                out[j, seg] = rng.integers(0, top + 1, out[j, seg].size)
            else:
                out[j, seg] = np.clip(out[j, seg] + rng.integers(-3, 4, out[j, seg].size), 0, top)
    return out


def search_vectors(ie: IntEncoder, real_codes=None, seed: int = 0, max_evals: int = 6000,
                   batch: int = 16, log=None) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Vectors that, with `real_codes`, hit every reachable event (as far as the budget allows).

    Returns (extra vectors (m, segment_length), events still missing)."""
    rng = np.random.default_rng(seed)
    top = (1 << ie.input_bits) - 1
    reach = reachable(ie)
    targets = [(li, e) for li, r in enumerate(reach) for e in EVENTS if r[e]]
    hit = set()
    if real_codes is not None and len(real_codes):
        for li, m in enumerate(_margins(np.asarray(real_codes, np.int64), ie)):
            hit |= {(li, e) for e in EVENTS if np.any(m[e] > 0)}
    cands = np.concatenate([_structured(ie, rng), _amplified(real_codes, ie, rng), _gradient_candidates(ie, rng)])
    margins = _margins(cands, ie)
    kept: list[np.ndarray] = []
    # greedy cover by the structured candidates
    while True:
        gain = np.zeros(len(cands), np.int64)
        for li, e in targets:
            if (li, e) not in hit:
                gain += margins[li][e] > 0
        best = int(np.argmax(gain))
        if gain[best] == 0:
            break
        kept.append(cands[best])
        hit |= {(li, e) for li, e in targets if margins[li][e][best] > 0}
    evals = len(cands)
    for li, e in targets:
        if (li, e) in hit:
            continue
        score = margins[li][e]
        cur = cands[int(np.argmax(score))].copy()
        cur_s = float(score.max())
        while cur_s <= 0 and evals < max_evals:
            prop = _mutate(cur, rng, top, batch)
            m = _margins(prop, ie)
            evals += batch
            s = m[li][e]
            j = int(np.argmax(s))
            if s[j] >= cur_s:
                cur, cur_s = prop[j], float(s[j])
        if cur_s > 0:
            kept.append(cur)
            for lj, mm in enumerate(_margins(cur[None], ie)):
                hit |= {(lj, ee) for ee in EVENTS if mm[ee][0] > 0 and reach[lj][ee]}
        if log:
            log(f"layer {li + 1} {e}: {'hit' if cur_s > 0 else 'not hit'} after {evals} evaluations")
    missing = [(li + 1, e) for li, e in targets if (li, e) not in hit]
    extra = np.stack(kept).astype(np.int64) if kept else np.zeros((0, ie.segment_length), np.int64)
    return extra, missing


SEMANTIC_MUTANTS = ("round_acc", "round_act", "sat_acc", "sat_act", "bias")


def _rhu(v: np.ndarray, shift: int) -> np.ndarray:
    """Round half up (the rounding mutant)."""
    if shift <= 0:
        return v << (-shift)
    return (v + (1 << (shift - 1))) >> shift


def _wrap(v: np.ndarray, bits: int) -> np.ndarray:
    half = 1 << (bits - 1)
    return ((v + half) & ((1 << bits) - 1)) - half


def forward(codes: np.ndarray, ie: IntEncoder, mutant: tuple[int, str] | None = None) -> np.ndarray:
    """The integer encoder (== quantize.reference.encode_int), or a model of one RTL mutant of
    sim/mutation.py: (layer index from 0, "round_acc" | "round_act" | "sat_acc" | "sat_act" |
    "bias"), so that vectors can be searched that tell the mutant from the original."""
    x = np.asarray(codes, np.int64)
    x = x[:, :, None] if x.ndim == 2 else x
    for li, layer in enumerate(ie.layers):
        kind = mutant[1] if mutant is not None and mutant[0] == li else None
        x = _registers(x, layer, kind)["y"]
    return x


def _applicable(ie: IntEncoder, li: int, kind: str, reach: list[dict]) -> bool:
    s1, s2 = _shifts(ie.layers[li])
    if kind == "round_acc":
        return s1 > 0
    if kind == "round_act":
        return s2 > 0
    if kind == "sat_acc":
        return reach[li]["acc_sat_hi"] or reach[li]["acc_sat_lo"]
    if kind == "sat_act":
        return reach[li]["act_sat_hi"] or reach[li]["act_sat_lo"]
    return True


def observable_vectors(ie: IntEncoder, vectors: np.ndarray, seed: int = 0, max_evals: int = 4000,
                       batch: int = 32, kinds=SEMANTIC_MUTANTS) -> tuple[np.ndarray, dict]:
    """Vectors on which each modelled mutant's output differs from the original's: a tie whose
    rounding direction, a saturation whose removal, a quarter-LSB bias error that changes the
    latent. Returns (extra vectors, {"l<i>.<kind>": "vectors" | "search" | "not found" |
    "equivalent"})."""
    rng = np.random.default_rng(seed + 1)
    top = (1 << ie.input_bits) - 1
    n = ie.segment_length
    reach = reachable(ie)
    pool = np.asarray(vectors, np.int64).reshape(-1, n)
    ref = forward(pool, ie)
    extra: list[np.ndarray] = []
    status = {}
    for li in range(len(ie.layers)):
        for kind in kinds:
            key = f"l{li + 1}.{kind}"
            if not _applicable(ie, li, kind, reach):
                status[key] = "equivalent"
                continue
            allv = np.concatenate([pool] + [e[None] for e in extra]) if extra else pool
            if np.any(forward(allv, ie, (li, kind)) != forward(allv, ie)):
                status[key] = "vectors"
                continue
            status[key] = "not found"
            evals = 0
            while evals < max_evals:
                kind_of = evals // batch % 4
                if kind_of == 0:
                    cand = rng.integers(0, top + 1, (batch, n))
                elif kind_of == 1:
                    cand = rng.choice([0, top], (batch, n))
                elif kind_of == 2:
                    cand = np.stack([_mutate(allv[int(rng.integers(0, len(allv)))], rng, top, 1)[0]
                                     for _ in range(batch)])
                else:
                    cand = np.clip(rng.normal(top / 2, top / 4 * rng.uniform(0.2, 2), (batch, n)).round(), 0, top)
                cand = cand.astype(np.int64)
                evals += batch
                diff = np.any((forward(cand, ie, (li, kind)) != forward(cand, ie)).reshape(batch, -1), axis=1)
                if diff.any():
                    extra.append(cand[int(np.argmax(diff))])
                    status[key] = "search"
                    break
    out = np.stack(extra) if extra else np.zeros((0, n), np.int64)
    return out, status


def coverage_vectors(ie: IntEncoder, real_codes, seed: int = 0, max_evals: int = 6000) -> tuple[np.ndarray, dict]:
    """Real windows followed by searched vectors (every reachable saturation and tie of every
    layer, then vectors that make each modelled mutant observable); (all vectors, report)."""
    real = np.asarray(real_codes, np.int64).reshape(-1, ie.segment_length)
    extra, missing = search_vectors(ie, real, seed=seed, max_evals=max_evals)
    allv = np.concatenate([real, extra]) if len(extra) else real
    extra2, observable = observable_vectors(ie, allv, seed=seed, max_evals=max(64, max_evals // 4))
    n_search = len(extra) + len(extra2)
    allv = np.concatenate([allv, extra2]) if len(extra2) else allv
    reach = reachable(ie)
    cov = layer_coverage(allv, ie)
    return allv, {
        "observable_mutants": observable,
        "n_real": int(len(real)),
        "n_search": int(n_search),
        "per_layer": [{**c, "reachable": [e for e in EVENTS if r[e]]} for c, r in zip(cov, reach)],
        "per_layer_real_only": layer_coverage(real, ie),
        "missing": [f"layer {li} {e}" for li, e in missing_events(cov, reach)],
        "complete": coverage_complete(cov, reach),
    }


__all__ = ["EVENTS", "SEMANTIC_MUTANTS", "forward", "observable_vectors", "trace", "layer_coverage",
           "layer_block_coverage", "requant_registers", "reachable", "missing_events", "coverage_complete",
           "search_vectors", "coverage_vectors"]
