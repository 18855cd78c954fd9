"""Block-level verification of the generated encoder: each layer module on its own ports.

Vectors at the encoder input cannot reach every register state of the deep layers (the layers
below never produce the values that would saturate them), but the input port of a layer module
carries any value of its input type. As in block-level RTL verification, every layer module
`<top>_l<i>` is therefore also driven on its own with directed vectors and compared with the
integer reference of that layer alone (quantize.reference.conv_layer_int, step by step in
sim/coverage._registers):

* `block_vectors(ie, li, plan, mutants)`: segments of the layer's input (n, l_in, c_in) built
  from *windows*: the K x c_in inputs of one output position, chosen so that the layer's
  registers saturate high and low (the sign pattern of a filter at full scale) and land on
  rounding ties, and so that each modelled mutant of the layer (half-up rounding, saturation
  removed, quarter-LSB bias, the weight-ROM word of the weight mutant) changes the layer's
  output; windows are found by evaluating batches of candidates against the reference (and the
  mutant models) and placed on non-overlapping output positions; every other input is random
  over the whole input type (so that stale line-buffer data shows up with the padding mutants).
  At least two segments per layer (the first segment after reset reads zeros as stale data).
* `block_design(text, mutants)`: one Verilog file with every layer module, its mutants and a
  wrapper `<top>_blocks` (firmware/templates/blocks.v.j2) that puts each layer on its own ports.
* `run_block_level(ie, verilog_path, mutants, name)`: one Verilator build and one cocotb run
  (tb_cae_layers.py, all layers concurrently), per-layer coverage (events hit at block level),
  mismatches of the unmutated layer modules (must be 0) and of every mutant against the layer
  reference.
"""
from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import numpy as np

from neurocodec import paths
from neurocodec.errors import NeurocodecError
from neurocodec.files import save_with_atomic, write_json_atomic, write_text_atomic
from neurocodec.sim.coverage import EVENTS, _registers, layer_block_coverage, reachable, requant_registers

TB_MODULE = "neurocodec.sim.tb_cae_layers"
MODELLED = ("round_acc", "round_act", "sat_acc", "sat_act", "bias", "weight")


class BlockLevelError(NeurocodecError):
    """The block-level check could not run or an unmutated layer module is not bit-exact."""


def weight_mutant_layer(layer, plan, site: dict):
    """(tap, input channel, output channel, new weight) of a weight mutant's ROM word and the
    layer with that weight changed."""
    word = int(site["word"])
    g, rest = divmod(word, plan.kernel * plan.c_in)
    k, c = divmod(rest, plan.c_in)
    o = g * plan.lanes
    wb = plan.weight_bits
    v = int(site["new"]) & ((1 << wb) - 1)
    new = v - (1 << wb) if v >> (wb - 1) else v
    old = int(site["old"]) & ((1 << wb) - 1)
    old = old - (1 << wb) if old >> (wb - 1) else old
    if int(layer.weights[k, c, o]) != old:
        raise BlockLevelError(f"weight mutant: ROM word {word} lane 0 is {old}, the reference has "
                              f"w[{k}, {c}, {o}] = {layer.weights[k, c, o]}")
    w = np.array(layer.weights, np.int64)
    w[k, c, o] = new
    return (k, c, o, new), dataclasses.replace(layer, weights=w)


def layer_model(x: np.ndarray, layer, mutant=None, plan=None) -> dict:
    """The layer's registers on x (n, length, in_channels), or those of a modelled mutant."""
    if mutant is None:
        return _registers(x, layer)
    if mutant.operator == "weight":
        return _registers(x, weight_mutant_layer(layer, plan, mutant.site)[1], None)
    return _registers(x, layer, mutant.operator)


def _window_registers(X: np.ndarray, layer, kind=None, wlayer=None) -> dict:
    """Registers of one output position per window X (N, K, C) (all taps inside the segment)."""
    w = (wlayer or layer).weights.astype(np.int64)
    acc = np.einsum("nkc,kco->no", X, w) + (np.asarray(layer.bias, np.int64) << (layer.product_frac - layer.bias_frac))
    return requant_registers(acc, layer, kind)


def _window_events(r: dict, layer) -> dict:
    from neurocodec.sim.coverage import _shifts, _tie_distance

    s1, s2 = _shifts(layer)
    (alo, ahi), (olo, ohi) = r["acc_range"], r["act_range"]
    return {
        "acc_sat_hi": np.any(r["r1"] > ahi, axis=1), "acc_sat_lo": np.any(r["r1"] < alo, axis=1),
        "act_sat_hi": np.any(r["r2"] > ohi, axis=1), "act_sat_lo": np.any(r["r2"] < olo, axis=1),
        "acc_tie": np.any(_tie_distance(r["acc"], s1) == 0, axis=1),
        "act_tie": np.any(_tie_distance(r["leaky"], s2) == 0, axis=1),
    }


def _candidates(rng, n: int, layer, lo: int, hi: int, force=None) -> np.ndarray:
    K, C, O = layer.weights.shape
    q = n // 4
    parts = [rng.integers(lo, hi + 1, (q, K, C)),
             rng.choice(np.array([lo, hi, 0, lo // 2, hi // 2]), (q, K, C))]
    o = rng.integers(0, O, q)
    sign = rng.choice([-1, 1], q)[:, None, None]
    pat = np.where(sign * np.moveaxis(layer.weights[:, :, o], 2, 0) > 0, hi, lo)
    scale = rng.uniform(0.05, 1.0, (q, 1, 1))
    parts.append(np.clip(np.rint(pat * scale + rng.integers(-2, 3, (q, K, C))), lo, hi))
    small = max(1, min(hi, 16))
    parts.append(rng.integers(max(lo, -small), small + 1, (n - 3 * q, K, C)))
    X = np.concatenate(parts).astype(np.int64)
    if force is not None:  # (tap, input channel): that input at full scale in every candidate
        k, c = force
        X[:, k, c] = rng.choice([lo, hi], len(X))
    return X


def _slots(plan, layer) -> tuple[list[int], np.ndarray]:
    """Output positions whose windows lie inside the segment and do not overlap, and the tap mask
    (1: the tap reads the segment); if there is none, the middle position with its mask."""
    d = -(-plan.kernel // plan.stride)
    inside = [t for t in range(plan.l_out)
              if plan.stride * t - plan.pad_left >= 0 and plan.stride * t - plan.pad_left + plan.kernel <= plan.l_in]
    if inside:
        return inside[::d], np.ones(plan.kernel, bool)
    t = plan.l_out // 2
    pos = plan.stride * t - plan.pad_left + np.arange(plan.kernel)
    return [t], (pos >= 0) & (pos < plan.l_in)


def block_vectors(ie, li: int, plan, mutants=(), seed: int = 0, batches: int = 60, batch: int = 2048,
                  min_segments: int = 2) -> tuple[np.ndarray, dict]:
    """Directed input segments (n, l_in, c_in) for layer `li` (0-based) and a report: for every
    event reachable at block level and every modelled mutant of the layer, "hit" / "observable"
    or "not found"; events that no input of the layer's type reaches are "unreachable"."""
    from neurocodec.firmware.verilog_gen import layer_input_range

    layer = ie.layers[li]
    lo, hi = layer_input_range(ie, li)
    rng = np.random.default_rng(seed + 101 * li)
    reach = reachable(ie, block=True)[li]
    slots, mask = _slots(plan, layer)
    targets = [("event", e) for e in EVENTS if reach[e]]
    models = {}
    for m in mutants:
        if m.operator in MODELLED:
            wl = weight_mutant_layer(layer, plan, m.site) if m.operator == "weight" else None
            models[m.name] = (m, wl)
            targets.append(("mutant", m.name))
    found: dict = {}
    extra_sat: list[np.ndarray] = []

    def consider(X):
        X = X * mask[None, :, None]
        r = _window_registers(X, layer)
        ev = _window_events(r, layer)
        for kind, key in targets:
            if key in found:
                continue
            if kind == "event":
                ok = ev[key]
            else:
                m, wl = models[key]
                if m.operator == "weight":
                    rm = _window_registers(X, layer, None, wl[1])
                else:
                    rm = _window_registers(X, layer, m.operator)
                ok = np.any(rm["y"] != r["y"], axis=1)
            if ok.any():
                found[key] = X[int(np.argmax(ok))]
        return X, ev

    # the sign pattern of every filter at full scale: its largest and smallest accumulator
    w = layer.weights
    pats = np.concatenate([np.where(w > 0, hi, lo), np.where(w > 0, lo, hi)], axis=2)  # (K, C, 2 O)
    X, ev = consider(np.moveaxis(pats, 2, 0).astype(np.int64))
    for j in range(len(X)):  # per-channel saturation windows, used to fill free slots
        if ev["acc_sat_hi"][j] or ev["acc_sat_lo"][j] or ev["act_sat_hi"][j] or ev["act_sat_lo"][j]:
            extra_sat.append(X[j])
    for b in range(batches):
        missing = [key for _, key in targets if key not in found]
        if not missing:
            break
        force = None
        wm = [key for key in missing if key in models and models[key][0].operator == "weight"]
        if wm and b % 2:
            force = models[wm[0]][1][0][:2]
        consider(_candidates(rng, batch, layer, lo, hi, force))
    windows = list(found.values())
    n_seg = max(min_segments, -(-len(windows) // len(slots)))
    free = n_seg * len(slots) - len(windows)
    windows += extra_sat[:free]
    x = rng.integers(lo, hi + 1, (n_seg, plan.l_in, plan.c_in)).astype(np.int64)
    for i, win in enumerate(windows):
        s, t = divmod(i, len(slots))
        p0 = plan.stride * slots[t] - plan.pad_left
        for k in range(plan.kernel):
            if 0 <= p0 + k < plan.l_in:
                x[s, p0 + k] = win[k]
    status = {}
    for kind, key in targets:
        if key not in found:
            status[key] = "not found"
        elif kind == "event":
            status[key] = "hit"
        else:
            status[key] = "observable"
    for e in EVENTS:
        if not reach[e]:
            status[e] = "unreachable"
    return x, {"status": status, "segments": int(n_seg), "windows": len(windows), "slots_per_segment": len(slots)}


def block_design(text: str, mutants, top: str = "cae_encoder") -> tuple[str, list[dict]]:
    """The generated encoder's layer modules (its top left out), each layer's mutants as
    `<top>_l<i>__v<j>`, and the wrapper `<top>_blocks`; returns (Verilog text, per-layer blocks)."""
    from neurocodec.firmware.verilog_gen import plan_encoder, render_template  # noqa: F401
    from neurocodec.sim.mutation import _module_text, layer_modules

    mods = layer_modules(text)
    body = text.replace(_module_text(text, top), "")
    parts = [body]
    blocks = []
    for li in sorted(mods):
        name = f"{top}_l{li}"
        head = re.search(rf"^module\s+{name}\s*\((.*?)\);", mods[li][2], re.M | re.S).group(1)
        xw = re.search(r"input\s+wire\s*\[(\d+):0\]\s*in_data", head)
        ob = re.search(r"output\s+wire\s*\[(\d+):0\]\s*out_data", head)
        mine = [m for m in mutants if m.layer == li]
        names = []
        for j, m in enumerate(mine, start=1):
            mt = _module_text(m.text, name)
            parts.append(re.sub(rf"^module\s+{name}\b", f"module {name}__v{j}", mt, count=1, flags=re.M))
            names.append(f"{name}__v{j}")
        blocks.append({"p": f"l{li}", "layer": li, "module": name, "xw": int(xw.group(1)) + 1 if xw else 1,
                       "ob": int(ob.group(1)) + 1 if ob else 1, "mutants": names, "mutant_names": [m.name for m in mine]})
    wrapper = render_template("blocks.v.j2", name=f"{top}_blocks", top=top, blocks=blocks)
    return "\n".join(parts) + "\n" + wrapper, blocks


def _simulate(path: Path, top: str, blocks: list[dict], stim: dict, root: Path, timeout_cycles: int,
              clock_ns: float = 10.0) -> dict:
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    from neurocodec.sim.runner import CONFIG_ENV, CosimError, _log_tail, _objcache_env, ensure_verilator

    ensure_verilator()
    build_dir, run_dir = root / "build_blocks", root / "run_blocks"
    run_dir.mkdir(parents=True, exist_ok=True)
    runner = get_runner("verilator")
    build_log = build_dir.with_suffix(".log")
    t0 = time.perf_counter()
    try:
        with _objcache_env():
            runner.build(sources=[path], hdl_toplevel=top, build_dir=build_dir, build_args=[], waves=False,
                         timescale=("1ns", "1ps"), log_file=build_log)
    except (RuntimeError, SystemExit) as e:
        raise CosimError(f"Verilator build failed ({e}); log {build_log}:\n{_log_tail(build_log)}") from None
    t1 = time.perf_counter()
    layers = []
    for b in blocks:
        x, n_out = stim[b["layer"]]
        f = run_dir / f"stimulus_{b['p']}.npy"
        save_with_atomic(f, lambda tmp, x=x, xw=b["xw"]: np.save(tmp, (x.reshape(-1) & ((1 << xw) - 1)).astype(np.int64)))
        out = run_dir / f"out_{b['p']}.npz"
        out.unlink(missing_ok=True)
        layers.append({"p": b["p"], "stimulus": str(f), "output": str(out), "n_out": int(n_out),
                       "n_mutants": len(b["mutants"]), "out_bits": b["ob"]})
    cfg = write_json_atomic(run_dir / "blocks.json", {"layers": layers, "clock_ns": clock_ns,
                                                      "timeout_cycles": int(timeout_cycles)})
    log = run_dir / "sim.log"
    try:
        runner.test(test_module=TB_MODULE, hdl_toplevel=top, build_dir=build_dir, test_dir=run_dir,
                    extra_env={CONFIG_ENV: str(cfg)}, log_file=log, results_xml=str(run_dir / "results.xml"))
    except (RuntimeError, SystemExit) as e:
        raise CosimError(f"block-level simulation failed ({e}); log {log}:\n{_log_tail(log)}") from None
    n_tests, n_failed = get_results(run_dir / "results.xml")
    if n_failed or not n_tests:
        raise CosimError(f"block-level testbench failed ({n_failed} of {n_tests}); log {log}:\n{_log_tail(log)}")
    res = {b["layer"]: dict(np.load(run_dir / f"out_{b['p']}.npz")) for b in blocks}
    return {"outputs": res, "build_seconds": round(t1 - t0, 1), "sim_seconds": round(time.perf_counter() - t1, 1)}


def run_block_level(ie, verilog: Path, mutants, name: str, macs_per_layer=1, top_name: str = "cae_encoder",
                    seed: int = 0, log=None) -> dict:
    """Directed vectors for every layer, one simulation of every layer module and its mutants;
    returns per-layer coverage and per-mutant block-level mismatches."""
    from neurocodec.firmware.verilog_gen import layer_input_range, plan_encoder

    plans = plan_encoder(ie, macs_per_layer)
    text = Path(verilog).read_text()
    t0 = time.perf_counter()
    stim, layers, expected = {}, [], {}
    by_layer = {li + 1: [m for m in mutants if m.layer == li + 1] for li in range(len(ie.layers))}
    reach = reachable(ie, block=True)
    for li, (layer, pl) in enumerate(zip(ie.layers, plans)):
        x, rep = block_vectors(ie, li, pl, by_layer[li + 1], seed=seed)
        y = _registers(x, layer)["y"]
        stim[li + 1] = (x, y.size)
        expected[li + 1] = y
        lo, hi = layer_input_range(ie, li)
        layers.append({"layer": li + 1, "input_range": [int(lo), int(hi)], **rep,
                       **layer_block_coverage(x, layer), "reachable": [e for e in EVENTS if reach[li][e]]})
        if log:
            log(f"block level layer {li + 1}: {rep['segments']} segment(s), {rep['windows']} directed windows, "
                f"not found: {[k for k, v in rep['status'].items() if v == 'not found']}")
    design, blocks = block_design(text, mutants, top_name)
    root = paths.stage_dir("sim", name)
    path = write_text_atomic(root / "blocks" / f"{top_name}_blocks.v", design)
    cycles = max(stim[b["layer"]][0].shape[0] * plans[b["layer"] - 1].cycles_per_segment for b in blocks)
    sim = _simulate(path, f"{top_name}_blocks", blocks, stim, root, 3 * cycles + 20_000)
    rows = {}
    for b, lay in zip(blocks, layers):
        ref = expected[b["layer"]].reshape(-1)
        out = sim["outputs"][b["layer"]]
        lay["unmutated_mismatches"] = int(np.count_nonzero(out["data"] != ref))
        if lay["unmutated_mismatches"]:
            raise BlockLevelError(f"layer {b['layer']} module: {lay['unmutated_mismatches']} of {ref.size} outputs "
                                  "differ from the layer's integer reference at block level")
        for j, mname in enumerate(b["mutant_names"]):
            mism = int(np.count_nonzero(out["mut_data"][:, j] != ref))
            desync = int(np.count_nonzero(out["mut_sync"][:, j] == 0))
            rows[mname] = {"block_mismatches": mism, "block_handshake_differences": desync,
                           "block_caught": mism > 0 or desync > 0,
                           "block_vector": layers[b["layer"] - 1]["status"].get(mname, "random")}
    return {"layers": layers, "mutants": rows, "build_seconds": sim["build_seconds"],
            "sim_seconds": sim["sim_seconds"], "seconds": round(time.perf_counter() - t0, 1),
            "cycles": int(cycles), "verilog": str(path)}


__all__ = ["BlockLevelError", "block_vectors", "block_design", "run_block_level", "layer_model", "weight_mutant_layer"]
