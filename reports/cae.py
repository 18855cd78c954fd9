"""The CR sweep report (`make report-cae`): the seed report's Figures 7 and 9 redone on real data.

Trains one quantization-aware (8-bit) cae and its float twin per compression rate on the locust
tetrode recording, then writes docs/cae_report.md (table) and docs/cae_cr_sweep.png (MSE, SNR and
% preserved threshold crossings versus CR). All numbers come from the trained models' validation
windows (the last 20 % of every channel, never seen in training).
"""
import argparse
import json
import sys
import time
from pathlib import Path

from neurocodec import paths
from neurocodec.files import save_with_atomic, write_text_atomic
from neurocodec.train.cae import CR_TABLE
from neurocodec.train.cae_data import prepare_cae_data
from neurocodec.train.cae_training import model_name, train_cae


def run_sweep(data="locust", crs=tuple(CR_TABLE), epochs=200, patience=15, hidden_filters=16, max_seconds=None, seed=0):
    cae_data = prepare_cae_data(data, max_seconds=max_seconds)
    rows = []
    for cr in crs:
        row = {"cr": cr}
        for quantized in (True, False):
            folder, m = train_cae(cae_data, cr, epochs=epochs, patience=patience, hidden_filters=hidden_filters,
                                  quantized=quantized, seed=seed, out_dir=paths.model_dir(model_name(cr, quantized)))
            key = "qat" if quantized else "float"
            row[key] = {k: m[k] for k in ("mse", "snr_db", "sndr_db_mean", "crossings_preserved_pct", "epochs_run", "latent_shape")}
            row[key]["crossings"] = m["crossings"]
        rows.append(row)
    return cae_data, rows


def write_docs(docs: Path, cae_data, rows, settings: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    crs = [r["cr"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for key, style in (("qat", "o-"), ("float", "s--")):
        label = "QAT 8-bit" if key == "qat" else "float"
        axes[0].semilogy(crs, [r[key]["mse"] for r in rows], style, label=label)
        axes[1].plot(crs, [r[key]["snr_db"] for r in rows], style, label=label)
        axes[2].plot(crs, [r[key]["crossings_preserved_pct"] for r in rows], style, label=label)
    for ax, ylabel in zip(axes, ("MSE (normalized units)", "SNR (dB)", "% threshold crossings preserved")):
        ax.set_xscale("log", base=2)
        ax.set(xlabel="compression rate CR", ylabel=ylabel)
        ax.legend()
    fig.suptitle(f"cae on {Path(cae_data.source).name}: validation windows")
    fig.tight_layout()
    save_with_atomic(docs / "cae_cr_sweep.png", lambda tmp: fig.savefig(tmp, dpi=90))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in rows:
        ax.plot([c["threshold"] for c in r["qat"]["crossings"]], [c["preserved_pct"] for c in r["qat"]["crossings"]], "o-", ms=3, label=f"CR {r['cr']}")
    ax.set(xlabel="threshold (normalized)", ylabel="% crossings preserved", title="Preserved threshold crossings per threshold (QAT 8-bit)")
    ax.legend(ncol=2, fontsize=8)
    fig.tight_layout()
    save_with_atomic(docs / "cae_crossings_per_threshold.png", lambda tmp: fig.savefig(tmp, dpi=90))
    plt.close(fig)

    lines = [
        "# `cae` compression-rate sweep on real data",
        "",
        "Made by `make report-cae` (`python reports/cae.py --docs docs`, or `neurocodec report cae --docs docs` from a source checkout); every number below is written by that command.",
        "",
        f"Data: `{Path(cae_data.source).name}` ({len(cae_data.channels)} channels, {cae_data.fs:g} Hz), min-max normalized per channel "
        f"(fitted on the training part), {cae_data.train.shape[0]} training and {cae_data.val.shape[0]} validation windows of 1024 samples "
        "(validation = the last 20 % of each channel, contiguous). "
        f"Settings: {json.dumps(settings)}.",
        "",
        "SNR = 10 log10(var(x) / MSE) on the normalized validation windows; crossings: thresholds 0.05..0.95 (not 0.5), "
        "upward crossings above 0.5 and downward below, preserved = same sample index in the decoded window.",
        "QAT = QKeras 8-bit weights/activations (16-bit accumulator register, leaky slope 77/256); float = the same architecture unquantized (slope 0.3).",
        "",
        "| CR | latent (len x ch) | MSE QAT | MSE float | SNR QAT (dB) | SNR float (dB) | SNR float - QAT (dB) | crossings preserved QAT (%) | float (%) | epochs QAT/float |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        q, f = r["qat"], r["float"]
        lat = "x".join(str(v) for v in q["latent_shape"])
        lines.append(
            f"| {r['cr']} | {lat} | {q['mse']:.3g} | {f['mse']:.3g} | {q['snr_db']:.2f} | {f['snr_db']:.2f} | {f['snr_db'] - q['snr_db']:+.2f} "
            f"| {q['crossings_preserved_pct']:.1f} | {f['crossings_preserved_pct']:.1f} | {q['epochs_run']}/{f['epochs_run']} |"
        )
    lines += ["", "![CR sweep](cae_cr_sweep.png)", "", "![crossings per threshold](cae_crossings_per_threshold.png)", ""]
    write_text_atomic(docs / "cae_report.md", "\n".join(lines))
    write_text_atomic(docs / "cae_report.json", json.dumps({"settings": settings, "rows": rows}, indent=1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="neurocodec report cae", description=__doc__.splitlines()[0])
    p.add_argument("--data", default="locust")
    p.add_argument("--crs", type=int, nargs="*", default=list(CR_TABLE))
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--patience", type=int, default=15)
    p.add_argument("--hidden-filters", type=int, default=16)
    p.add_argument("--max-seconds", type=float)
    p.add_argument("--docs", required=True, help="output folder for cae_report.md and its figures (e.g. docs)")
    a = p.parse_args(argv)
    t0 = time.time()
    cae_data, rows = run_sweep(a.data, a.crs, a.epochs, a.patience, a.hidden_filters, a.max_seconds)
    settings = {"epochs_max": a.epochs, "patience": a.patience, "hidden_filters": a.hidden_filters, "max_seconds": a.max_seconds,
                "minutes": round((time.time() - t0) / 60, 1)}
    write_docs(Path(a.docs), cae_data, rows, settings)
    print(f"wrote {Path(a.docs) / 'cae_report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
