"""`make report-vq-rdo`: variable-rate vq_cae (a rate-distortion choice of the stages per spike)
against the same models at fixed stages and against PCA / DWT at equal bits, on the
SpikeInterface ground-truth recordings (si family) at their three noise levels.

    .venv/bin/python reports/vq_rdo.py --noise 5 --no-doc      (noise level(s) x models -> out/reports/vq_rdo/)
    .venv/bin/python reports/vq_rdo.py --doc-only --docs docs  (merge -> docs/vq_cae_rdo.{md,json})

Every number comes from a real bitstream (`codec.vq.VqCaeCodec`, all bits counted: container,
spike times, gain exponents, per-spike stage counts, indices), decoded by the receiver path.
A variable-rate row is the codec with ``rdo`` = lambda and ``stages`` = the model's largest
count here (8 for T16x4S8, of which fixed rows go to 5): each spike keeps the count s maximizing the encoder's SNDR estimate minus
lambda * expected index bits; the estimate is ``linear`` (a least-squares linear map from the
latent to the window: hardware-sized) or ``decoder`` (the receiver's decoder run in the encoder:
for a recorder with the compute, not for an implant). lambda_k is the model's own validation
slope between k and k+1 stages (dB per index bit), so lambda_k lands between the fixed rates of
k and k+1 stages.
The baselines are coded to each vq_cae row's bits with the same spike-time stream
(`vq_cae.baseline_rows`, as in `make report-vq`); CS is left out (the weakest baseline there).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import vq_cae as VQ  # reports/vq_cae.py: test sets, models, coding and baseline helpers

# model -> (fixed stage counts reported, most stages of its variable-rate rows); lambda_k for the fixed k but the last
MODELS = {"vq_cae_si_T64S8": (range(5, 9), 8), "vq_cae_si_T16x4S8": (range(1, 6), 8),
          "vq_cae_si_T16x8K1024S3W10": (range(1, 4), 3)}
BASELINES = ("PCA", "DWT")
ESTIMATES = ("linear", "decoder")  # the encoder's SNDR estimate of the variable-rate rows
NOISES = (5.0, 10.0, 20.0)


def lambdas(mdir: Path, counts) -> dict:
    """k -> lambda_k = (validation SNDR at k+1 stages - at k) / expected bits of stage k+1."""
    from neurocodec.codec.vq import VqCaeCodec

    val = json.loads((mdir / "metrics.json").read_text())["val_sndr_db_per_stages"]
    bits = VqCaeCodec(mdir)._m.stage_bits()
    return {k: max((val[str(k + 1)] - val[str(k)]) / bits[k], 1e-4) for k in list(counts)[:-1]}


def run_model(noise: float, duration_s: float, name: str, log) -> dict:
    from neurocodec.codec.vq import VqCaeCodec

    recipes = dict(VQ.MODELS["si"])
    sp, n_true, n_ch, n_samples = VQ.test_set("si", noise, duration_s)
    sorter = VQ.Sorter(sp, n_true)
    raw = len(sp) * sp.window * sp.n_channels * VQ.ADC_BITS
    basis = VQ.pca_basis("si")
    rows = []
    log(f"noise {noise}: {len(sp)} spikes, original sorting {sorter.original}")
    mdir = VQ.ensure_model(name, recipes[name], log)
    counts, most = MODELS[name]
    points = [(s, 0.0, None) for s in counts] + [(most, lam, est) for est in ESTIMATES
                                                 for lam in lambdas(mdir, counts).values()]
    for n_st, lam, est in points:
        t0 = time.time()
        codec = VqCaeCodec(mdir, stages=n_st, beam=VQ.BEAM, rdo=lam, estimate=est or "linear")
        d, rec = VQ.coded(codec, sp, n_ch, n_samples)
        total, tbits = d["bits"]["total"], d["bits"]["times"]
        hist = np.bincount((d["indices"][:, :, 0] >= 0).sum(1), minlength=n_st + 1)[1:]
        mode = f"rdo lambda {lam:.4f} ({est} estimate), stages <= {n_st}" if lam else f"stages {n_st}"
        vq = {"method": "vq_cae", "config": f"{name}: {mode}, beam {VQ.BEAM}", "model": name, "stages": n_st,
              "rdo": lam, "estimate": est, "stage_hist": hist.tolist(), "mean_stages": float(np.dot(hist, np.arange(1, n_st + 1))
                                                                            / max(len(sp), 1)),
              "bits": total, "time_bits": tbits, "cr": raw / total, "cr_payload": raw / (total - tbits),
              **VQ.quality(sp.waveforms, rec), **sorter.score(rec)}
        base = VQ.baseline_rows(sp, BASELINES, total, tbits, raw, basis, sorter, log)
        for r in [vq, *base]:
            r.update(dataset="si", noise=noise, group=f"{name}/{mode}", sort_acc_original=sorter.original["sort_acc"])
        rows += [vq, *base]
        log(f"noise {noise} {name} {mode}: " + "; ".join(f"{r['method']} CR {r['cr']:.1f} SNDR {r['sndr_db']:.2f}"
                                                          for r in [vq, *base]) + f" ({time.time() - t0:.0f} s)")
    return {"noise": noise, "n_spikes": len(sp), "original_sorting": sorter.original, "rows": rows,
            "duration_s": duration_s}


def annotate(rows: list[dict]) -> None:
    """Per vq_cae row: margin over the best baseline at its bits, and for variable-rate rows the
    gain over the same model's fixed-stage curve at the same bits (linear in bits between the
    fixed rates around it; None outside them)."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["noise"], r["group"]), []).append(r)
    for g in groups.values():
        vq = [r for r in g if r["method"] == "vq_cae"][0]
        base = [r for r in g if r["method"] != "vq_cae"]
        vq["best_baseline"] = max(base, key=lambda r: r["sndr_db"])["method"] if base else None
        vq["margin_db"] = vq["sndr_db"] - max(r["sndr_db"] for r in base) if base else None
    for r in rows:
        if r["method"] != "vq_cae" or not r["rdo"]:
            continue
        fixed = sorted((q for q in rows if q["method"] == "vq_cae" and not q["rdo"] and q["model"] == r["model"]
                        and q["noise"] == r["noise"]), key=lambda q: q["bits"])
        b = [q["bits"] for q in fixed]
        r["gain_vs_fixed_db"] = (r["sndr_db"] - float(np.interp(r["bits"], b, [q["sndr_db"] for q in fixed]))
                                 if b and b[0] <= r["bits"] <= b[-1] else None)


def summary(rows: list[dict]) -> list[str]:
    out = []
    for noise in sorted({r["noise"] for r in rows}):
        vq = [r for r in rows if r["method"] == "vq_cae" and r["noise"] == noise and 20 <= r["cr"] <= 250]
        line = f"- noise {noise:g} uV: "
        for est in ESTIMATES:
            gains = [r["gain_vs_fixed_db"] for r in vq if r.get("estimate") == est
                     and r.get("gain_vs_fixed_db") is not None]
            if gains:
                line += (f"variable rate, {est} estimate: {np.mean(gains):+.2f} dB on average over the same model's "
                         f"fixed stages at equal bits (min {min(gains):+.2f}, max {max(gains):+.2f}, {len(gains)} "
                         f"rows); ")
        for label, sel in [*((f"variable ({e})", [r for r in vq if r.get("estimate") == e]) for e in ESTIMATES),
                           ("fixed", [r for r in vq if not r["rdo"]])]:
            m = [r["margin_db"] for r in sel if r["margin_db"] is not None]
            if m:
                line += (f"{label} rows >= best baseline + 1 dB: {sum(v >= 1 for v in m)}/{len(m)} "
                         f"(mean margin {np.mean(m):+.2f}, worst {min(m):+.2f}); ")
        out.append(line.rstrip("; ") + ".")
    return out


def write_doc(results: list[dict], docs: Path, cmd: str) -> None:
    from neurocodec.files import make_dirs, write_json_atomic, write_text_atomic

    rows = [r for res in results for r in res["rows"]]
    annotate(rows)
    make_dirs(docs)
    write_json_atomic(docs / "vq_cae_rdo.json", {"rows": rows})
    lines = ["# vq_cae: variable rate (stages chosen per spike) against fixed stages and the baselines",
             "", f"Generated by `make report-vq-rdo` (`{cmd}`); rows in `docs/vq_cae_rdo.json`.", "",
             (__doc__ or "").split("\n\n", 2)[2].strip(), "",
             "The encoder's choice needs, beyond the fixed-rate encoder, the search at every stage count "
             "(beam 8 here; greedy on the hardware) and the estimate: with the linear one, one (L*D+1) x "
             "(window*channels) matrix-vector product per stage count tried; with the decoder one, a decoder "
             "run per stage count. Both are software options of the encoder today: the HLS/RTL encoder "
             "sends fixed stages.", "", "## Summary (CR 20-250)", "", *summary(rows), ""]
    for res in results:
        o = res["original_sorting"]
        lines += [f"## noise {res['noise']:g} uV ({res['n_spikes']} spikes, {res['duration_s']:g} s; sorting of the "
                  f"original {100 * o['sort_acc']:.1f} %)", "",
                  "| model | mode | stages sent (mean) | CR | SNDR dB | gain over fixed, same bits | best baseline | "
                  "its SNDR | margin dB | sort acc % |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted((r for r in rows if r["noise"] == res["noise"] and r["method"] == "vq_cae"),
                        key=lambda r: -r["cr"]):
            mode = f"lambda {r['rdo']:.4f}, {r['estimate']}" if r["rdo"] else "fixed"
            g = r.get("gain_vs_fixed_db")
            base = [b for b in rows if b["noise"] == r["noise"] and b["group"] == r["group"]
                    and b["method"] == r["best_baseline"]]
            lines.append(f"| {r['model']} | {mode} | {r['mean_stages']:.2f} | {r['cr']:.1f} | {r['sndr_db']:.2f} | "
                         f"{'' if g is None else f'{g:+.2f}'} | {r['best_baseline']} | "
                         f"{base[0]['sndr_db']:.2f} | {r['margin_db']:+.2f} | {100 * r['sort_acc']:.1f} |")
        lines.append("")
    write_text_atomic(docs / "vq_cae_rdo.md", "\n".join(lines))


def main(argv=None) -> int:
    from neurocodec import paths
    from neurocodec.files import make_dirs, write_json_atomic
    from neurocodec.train.vq_training import _init_threads

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--noise", default=",".join(f"{v:g}" for v in NOISES))
    p.add_argument("--duration", type=float, default=15.0)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--doc-only", action="store_true")
    p.add_argument("--docs", type=Path)
    args = p.parse_args(argv)
    if not args.no_doc and args.docs is None:
        print("reports/vq_rdo.py: error: --docs FOLDER is required to write the document", file=sys.stderr)
        return 2
    models = [m for m in args.models.split(",") if m]
    bad = [m for m in models if m not in MODELS]
    if bad:
        print(f"reports/vq_rdo.py: error: unknown model(s) {bad}; choose from {list(MODELS)}", file=sys.stderr)
        return 2
    out = make_dirs(paths.stage_dir("reports", "vq_rdo"))
    noises = [float(v) for v in args.noise.split(",") if v]
    files = {(v, m): out / f"results_{v:g}_{m}.json" for v in noises for m in models}
    if not args.doc_only:
        _init_threads()
        for (noise, name), f in files.items():
            write_json_atomic(f, run_model(noise, args.duration, name, lambda m: print(m, flush=True)))
    if args.no_doc:
        return 0
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        print(f"reports/vq_rdo.py: error: no results {missing}; run without --doc-only first", file=sys.stderr)
        return 2
    results = []
    for noise in noises:  # one entry per noise level: the models' rows together
        parts = [json.loads(files[noise, m].read_text()) for m in models]
        results.append({**parts[0], "rows": [r for p in parts for r in p["rows"]]})
    write_doc(results, args.docs, "python reports/vq_rdo.py " + " ".join(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
