"""`neurocodec report spectro_cae`: train the spectrogram CAE (full band and < 60 Hz control),
project its encoder features with UMAP, score how well ECG / EEG / EMG separate on held-out
segments, and write docs/spectrogram_cae.md with its figures.

Feature spaces compared on the same held-out (last 20 % in time of every recording) segments:

- CAE encoder (QKeras, the quantization-aware model) - flattened 4x4x64 latent;
- the same encoder as int8 TFLite (ai-edge-litert) - what hardware would compute;
- baseline: PCA (32 components) of the raw spectrogram pixels, fitted on the training images;
- full band only: a one-number "band-limit detector" (mean image value above 64 Hz), to show how
  much of the separation the empty band of upsampled low-rate recordings explains on its own.

Scores: k-NN (k=5) accuracy / balanced accuracy of held-out segments with neighbours from the
training segments, the same with neighbours only from *other recordings* than the test segment's,
silhouette on the held-out features and on their 2-D UMAP projection (UMAP fitted on the training
features). All features are z-scored with training statistics first.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import neurocodec  # noqa: F401
from neurocodec import paths
from neurocodec.metrics.separation import knn_scores, silhouette, standardize
from neurocodec.train.spectro_cae import (
    BANDS, CLASSES, SOURCES, SpectroSpec, build_dataset, encoder_features, export_and_compare,
    limit_threads, load_model, run_tflite, save_model, train_and_export, umap_project,
)
from neurocodec.files import save_with_atomic, write_text_atomic, write_json_atomic

CLASS_COLORS = {"ECG": "tab:red", "EEG": "tab:blue", "EMG": "tab:green"}
MARKERS = ["o", "s", "^", "v", "D", "P", "X", "<", ">"]


def pixel_pca(train_images, test_images, n_components: int = 32, seed: int = 0):
    from sklearn.decomposition import PCA

    a = train_images.reshape(len(train_images), -1)
    b = test_images.reshape(len(test_images), -1)
    pca = PCA(n_components=min(n_components, *a.shape), random_state=seed).fit(a)
    return pca.transform(a), pca.transform(b)


def high_band_feature(images, spec: SpectroSpec, f_min: float = 64.0):
    """Mean image value (scaled dB) of the rows above ``f_min`` Hz: one number per image."""
    rows = spec.frequencies() > f_min
    if not rows.any():
        return None
    return images[..., 0][:, rows, :].mean(axis=(1, 2))[:, None].astype(np.float64)


def score_space(train_x, test_x, data, seed: int = 0, with_umap: bool = True) -> dict:
    """Separation scores of one feature space (train / test features of ``data``)."""
    tr, te = standardize(train_x, test_x)
    out = knn_scores(tr, data.train.labels, te, data.test.labels, k=5, standardized=False,
                     train_groups=data.train.groups, test_groups=data.test.groups)
    out["silhouette"] = silhouette(te, data.test.labels)
    out["dim"] = int(train_x.shape[1])
    if with_umap:
        tr2, te2 = umap_project(tr, te, seed=seed)
        out["silhouette_umap"] = silhouette(te2, data.test.labels)
        out["umap_knn"] = knn_scores(tr2, data.train.labels, te2, data.test.labels, k=5,
                                     standardized=False)["balanced_accuracy"]
        out["_umap"] = (tr2, te2)
    return out


def evaluate_band(spec: SpectroSpec, epochs: int, patience: int, seed: int, reuse: bool,
                  max_seconds=None, max_per_recording=None, with_umap=True, log=print) -> dict:
    """Train (or reuse) the band's model, then score every feature space. Returns a dict."""
    name = f"spectro_cae_{spec.band}"
    model_dir = paths.model_dir(name)
    t0 = time.process_time()
    trained = None
    if reuse and (model_dir / "config.json").is_file():
        spec_saved, ae, enc, dec, _config = load_model(model_dir)
        if spec_saved == spec:
            data = build_dataset(spec, max_seconds=max_seconds, max_per_recording=max_per_recording)
            from neurocodec.train.spectro_cae import TrainedSpectroCae

            metrics = json.loads((model_dir / "metrics.json").read_text())
            history = json.loads((model_dir / "history.json").read_text())
            trained = TrainedSpectroCae(spec, ae, enc, dec, history, metrics)
            blob, agreement = export_and_compare(trained, data)
            trained.metrics["tflite"] = agreement
            log(f"[spectro_report] reusing {model_dir}")
    if trained is None:
        trained, data, blob, agreement = train_and_export(
            spec, None, epochs=epochs, patience=patience, seed=seed, max_seconds=max_seconds,
            max_per_recording=max_per_recording, log=log)
    feats = {
        "CAE encoder (QKeras)": (encoder_features(trained.encoder, data.train.images),
                                 encoder_features(trained.encoder, data.test.images)),
        "CAE encoder (TFLite int8)": (
            run_tflite(blob, data.train.images).reshape(len(data.train.images), -1),
            run_tflite(blob, data.test.images).reshape(len(data.test.images), -1)),
        "pixel PCA-32 (baseline)": pixel_pca(data.train.images, data.test.images, seed=seed),
    }
    hb_train, hb_test = (high_band_feature(data.train.images, spec),
                         high_band_feature(data.test.images, spec))
    if hb_train is not None:
        feats["power above 64 Hz (1 number)"] = (hb_train, hb_test)
    scores = {}
    for label, (a, b) in feats.items():
        umap_here = with_umap and label in ("CAE encoder (QKeras)", "pixel PCA-32 (baseline)")
        scores[label] = score_space(a, b, data, seed=seed, with_umap=umap_here)
        s = scores[label]
        log(f"[spectro_report {spec.band}] {label}: kNN acc {s['accuracy']:.3f} bal "
            f"{s['balanced_accuracy']:.3f} other-rec {s.get('other_group_balanced_accuracy', float('nan')):.3f} "
            f"silhouette {s['silhouette']:.3f}"
            + (f" umap {s['silhouette_umap']:.3f}" if "silhouette_umap" in s else ""))
    extra = {"separation": {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")}
                            for k, v in scores.items()}}
    save_model(trained, model_dir, data, blob, extra_metrics=extra)
    return {"spec": spec, "trained": trained, "data": data, "agreement": agreement,
            "scores": scores, "cpu_s": time.process_time() - t0, "model_dir": model_dir}


# ============================================================================ figures
def plot_umap(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bands = list(results)
    spaces = ["CAE encoder (QKeras)", "pixel PCA-32 (baseline)"]
    fig, axes = plt.subplots(len(bands), len(spaces), figsize=(6.2 * len(spaces), 5.2 * len(bands)),
                             squeeze=False)
    recordings = [s.name for s in SOURCES]
    for r, band in enumerate(bands):
        res = results[band]
        data = res["data"]
        for c, space in enumerate(spaces):
            ax = axes[r, c]
            s = res["scores"][space]
            if "_umap" not in s:
                ax.set_axis_off()
                continue
            tr2, te2 = s["_umap"]
            for cls in CLASSES:
                m = data.train.labels == cls
                ax.scatter(tr2[m, 0], tr2[m, 1], s=4, c=CLASS_COLORS[cls], alpha=0.12,
                           linewidths=0)
            for i, rec in enumerate(recordings):
                m = data.test.groups == rec
                if not m.any():
                    continue
                cls = data.test.labels[m][0]
                ax.scatter(te2[m, 0], te2[m, 1], s=16, c=CLASS_COLORS[cls],
                           marker=MARKERS[i % len(MARKERS)], edgecolors="k", linewidths=0.3,
                           label=f"{rec} ({cls})")
            band_txt = "0-256 Hz" if band == "full" else "< 60 Hz"
            ax.set_title(f"{space}, {band_txt}\nsilhouette (UMAP) {s['silhouette_umap']:.2f}, "
                         f"k-NN bal. acc. {s['balanced_accuracy']:.2f}", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and c == len(spaces) - 1:
                ax.legend(fontsize=7, loc="best", markerscale=1.2, framealpha=0.8)
    fig.suptitle("UMAP of spectrogram features: held-out segments (markers) over training "
                 "segments (faint)", fontsize=11)
    fig.tight_layout()
    save_with_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)
    return path


def plot_examples(res: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data, spec, ae = res["data"], res["spec"], res["trained"].autoencoder
    f = spec.frequencies()
    fig, axes = plt.subplots(2, len(CLASSES), figsize=(3.6 * len(CLASSES), 6.2), squeeze=False)
    extent = [0, spec.segment_s, f[0], f[-1] + (f[1] - f[0])]
    for j, cls in enumerate(CLASSES):
        idx = np.flatnonzero(data.test.labels == cls)
        if not len(idx):
            continue
        i = idx[len(idx) // 2]
        x = data.test.images[i: i + 1]
        y = ae.predict(x, verbose=0)
        for r, (img, what) in enumerate(((x, "input"), (y, "reconstruction"))):
            ax = axes[r, j]
            ax.imshow(img[0, :, :, 0], origin="lower", aspect="auto", extent=extent,
                      vmin=0, vmax=1, cmap="magma")
            ax.set_title(f"{cls} ({data.test.groups[i]}) {what}", fontsize=9)
            ax.set_xlabel("time (s)")
            ax.set_ylabel("frequency (Hz)")
    fig.suptitle(f"Held-out spectrograms (log power, dB window [{spec.db_min:g}, {spec.db_max:g}]"
                 " -> [0, 1]) and CAE reconstructions", fontsize=10)
    fig.tight_layout()
    save_with_atomic(path, lambda tmp: fig.savefig(tmp, dpi=100))
    plt.close(fig)
    return path


# ============================================================================ markdown
def _fmt(v, nd=3):
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{nd}f}"


def render_markdown(results: dict, figures: dict, cpu_total: float, args) -> str:
    seed = args.seed
    first = next(iter(results.values()))
    spec0, data0 = first["spec"], first["data"]
    lines = [
        "# Spectrogram CAE: ECG / EEG / EMG features, UMAP and class separation",
        "",
        "Generated by `neurocodec report spectro_cae` (`make report-spectro`, i.e. `python reports/spectro.py --docs docs`); "
        "rerun it to refresh every number and figure on this page. "
        f"Seed {seed}; CPU time of the run {cpu_total / 60:.1f} min (1 TensorFlow thread).",
        "",
        "## Data",
        "",
        f"Every recording is resampled to {spec0.fs:g} Hz and cut, per channel, into contiguous "
        f"train / validation / test portions ({', '.join(f'{100 * x:.0f} %' for x in spec0.split)} "
        f"of its duration, in that order; windows never straddle a boundary), then into "
        f"{spec0.segment_s:g}-s windows (hop {spec0.hop_s['ECG']:g} s for ECG and EEG, "
        f"{spec0.hop_s['EMG']:g} s for EMG, whose two recordings are short, so EMG windows "
        "overlap and the number of *independent* EMG seconds is small). At most "
        f"{'/'.join(str(c) for c in spec0.max_per_recording)} windows per recording and split are "
        "kept (evenly spaced). Each window is z-scored (units, gains and offsets differ between "
        "recordings), turned into a 64 x 64 Hann-windowed log-power spectrogram "
        "(`neurocodec.signals.spectrogram.log_spectrogram`) and mapped linearly from a fixed dB "
        "window to [0, 1]. The held-out test set is the last 20 % in time of every recording: "
        "no test window shares a sample with a training window.",
        "",
        "| recording | type | orig. fs (Hz) | channels used | duration (s) | train | val | test |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for rec, c in data0.counts.items():
        lines.append(f"| {rec} | {c['label']} | {c['fs_original']:g} | {c['channels']} | "
                     f"{c['duration_s']:g} | {c['train']} | {c['val']} | {c['test']} |")
    totals = {s: {cls: int(np.sum(data0.split(s).labels == cls)) for cls in CLASSES}
              for s in ("train", "val", "test")}
    lines += [
        "",
        "Totals: " + "; ".join(f"{s} " + ", ".join(f"{cls} {n}" for cls, n in t.items())
                               for s, t in totals.items()) + ".",
        "",
        "## Model",
        "",
        "Encoder (quantization-aware, QKeras): 8-bit unsigned input register, then 4 x "
        "[QConv2D 64 filters 3x3 (weights `quantized_bits(8, 0, alpha=1)`), ReLU clipped at the "
        "activation register's ceiling, `quantized_relu(8, 3)`, 2x2 max pooling] -> 4 x 4 x 64 "
        "latent = 1024 features. Decoder (float): 4 stride-2 Conv2DTranspose layers (64, 64, 32, "
        "16 filters, ReLU) and a sigmoid 3x3 conv. MSE loss, Adam 1e-3, batch 32, early stopping "
        f"on the validation MSE (patience {args.patience}, at most {args.epochs} epochs, best "
        "weights restored).",
        "",
        "| band | image rows | epochs run (best) | train MSE | val MSE | test MSE | CPU (min) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for band, res in results.items():
        m, spec = res["trained"].metrics, res["spec"]
        f = spec.frequencies()
        lines.append(f"| {band} | {f[0]:.1f}-{f[-1]:.1f} Hz, step {f[1] - f[0]:.3f} Hz | "
                     f"{m['epochs_run']} ({m['best_epoch']}) | {m['train_mse']:.5f} | "
                     f"{m['val_mse']:.5f} | {m['test_mse']:.5f} | {res['cpu_s'] / 60:.1f} |")
    lines += [
        "",
        "The reconstructions keep each segment's spectral envelope (band limits, line noise, "
        "the 1/f slope) but smear the beat-to-beat time structure of the ECG: with a 4 x 4 x 64 "
        "bottleneck and this little data, the autoencoder spends its capacity on what varies most "
        "between segments - the spectral shape - which is also what separates the signal types.",
        "",
        f"![held-out spectrograms and reconstructions]({figures['examples']})",
        "",
    ]

    lines += [
        "## Separation of the three signal types (held-out segments)",
        "",
        "k-NN: k = 5 neighbours among the training segments, z-scored features. *other rec.*: "
        "neighbours restricted to training segments of *other recordings* than the test segment "
        "(do the features carry the signal type, or only the identity of the recording?). "
        "Silhouette: Euclidean, on the held-out features (z-scored) and on their 2-D UMAP "
        "projection (UMAP fitted on the training features; n_neighbors 15, min_dist 0.1).",
        "",
        "| band | features | dim | k-NN acc. | k-NN bal. acc. | other rec. bal. acc. | "
        "other rec. recall ECG / EEG / EMG | silhouette | silhouette (UMAP 2-D) |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for band, res in results.items():
        for label, s in res["scores"].items():
            rec = s.get("other_group_per_class_recall", {})
            lines.append(
                f"| {band} | {label} | {s['dim']} | {_fmt(s['accuracy'])} | "
                f"{_fmt(s['balanced_accuracy'])} | {_fmt(s.get('other_group_balanced_accuracy'))} | "
                + " / ".join(_fmt(rec.get(c), 2) for c in CLASSES) + " | "
                f"{_fmt(s['silhouette'])} | {_fmt(s.get('silhouette_umap'))} |")
    n_test = {c: int(np.sum(data0.test.labels == c)) for c in CLASSES}
    lines += [
        "",
        "Held-out segments: " + ", ".join(f"{c} {n}" for c, n in n_test.items()) + ". "
        "The BioSPPy ECG (15 s) is too short to leave a held-out window; it only trains.",
    ]
    lines += ["", f"![UMAP projections]({figures['umap']})", ""]

    lines += [
        "## TFLite int8 encoder",
        "",
        "The QKeras encoder's float twin (plain Conv2D / ReLU clipped at the `quantized_relu(8, 3)` "
        "ceiling / MaxPool holding the *quantized* weights) is converted with post-training "
        "full-integer quantization (`tf.lite.TFLiteConverter`, 200 representative training "
        "images, int8 input and output) and run with `ai_edge_litert`. Agreement with the QKeras "
        "encoder on the held-out images (1 LSB = the TFLite output scale):",
        "",
        "| band | .tflite size (bytes) | output LSB | mean abs err (LSB) | p99 (LSB) | max (LSB) | "
        "correlation | k-NN bal. acc. QKeras / TFLite |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for band, res in results.items():
        a = res["agreement"]
        q = res["scores"]["CAE encoder (QKeras)"]["balanced_accuracy"]
        t = res["scores"]["CAE encoder (TFLite int8)"]["balanced_accuracy"]
        lines.append(f"| {band} | {a['size_bytes']} | {a['output_scale']:.5g} | "
                     f"{a['mean_abs_error_lsb']:.2f} | {a['p99_abs_error_lsb']:.1f} | "
                     f"{a['max_abs_error_lsb']:.1f} | {a['correlation']:.5f} | {q:.3f} / {t:.3f} |")
    lines += ["", "## Reading the numbers honestly", ""]
    lines += discussion(results)
    return "\n".join(lines) + "\n"


def discussion(results: dict) -> list[str]:
    out = []
    full, low = results.get("full"), results.get("low")
    key = "CAE encoder (QKeras)"
    if full is not None:
        s = full["scores"][key]
        hb = full["scores"].get("power above 64 Hz (1 number)")
        out.append(
            "- **Band limit.** The EEG recordings are sampled at 125 / 128 Hz, MIT-BIH and the scipy "
            "ECG at 360 Hz. Resampled to 512 Hz, their spectrograms are empty above 62.5 / 64 Hz "
            "(EEG) and 180 Hz (those ECGs) - only the resampling filter's stop band is there - "
            "while EMG (1 kHz) has broadband power up to 256 Hz; the upsampled EEG even shows "
            "faint resampling images (a line near 125 Hz in the BioSPPy EEG). In the full-band "
            "images the signal type is therefore partly written in the band limit, an artefact of "
            "the recording hardware rather than physiology."
            + (f" A single number, the mean of the image rows above 64 Hz, already reaches a "
               f"k-NN balanced accuracy of {hb['balanced_accuracy']:.3f} (CAE features: "
               f"{s['balanced_accuracy']:.3f})." if hb else ""))
    if low is not None:
        s = low["scores"][key]
        p = low["scores"]["pixel PCA-32 (baseline)"]
        out.append(
            "- **< 60 Hz control.** The `low` model sees only 0-59 Hz (0.94 Hz rows, 0.5-s "
            "frames), a band in which every recording has genuine content. There the CAE "
            f"features give k-NN balanced accuracy {s['balanced_accuracy']:.3f} "
            f"(other recordings only: {_fmt(s.get('other_group_balanced_accuracy'))}), silhouette "
            f"{s['silhouette']:.3f} / {s['silhouette_umap']:.3f} (UMAP); the pixel PCA baseline "
            f"{p['balanced_accuracy']:.3f} ({_fmt(p.get('other_group_balanced_accuracy'))}). These "
            "are the numbers that speak for the spectral shape of the signals themselves; "
            "remaining confounds are mains interference (50 / 60 Hz, recording-specific), "
            "differences in the recordings' analogue filters and the few recordings per type"
            + (". Per class, with other-recording neighbours: " + ", ".join(
                f"{c} {s['other_group_per_class_recall'][c]:.2f}" for c in CLASSES
                if c in s.get("other_group_per_class_recall", {})) if
               "other_group_per_class_recall" in s else "") + ".")
    for band, res in results.items():
        s, p = res["scores"][key], res["scores"]["pixel PCA-32 (baseline)"]
        a_s = s.get("other_group_balanced_accuracy", float("nan"))
        a_p = p.get("other_group_balanced_accuracy", float("nan"))
        better = a_s - a_p
        out.append(
            f"- **CAE vs pixels ({band}).** Plain k-NN is at or near 1.0 for every feature space "
            "(held-out windows have same-recording neighbours), so it does not rank them. With "
            f"neighbours from other recordings only: {a_s:.3f} (CAE) vs {a_p:.3f} (pixel PCA), "
            f"{'+' if better >= 0 else ''}{better:.3f}; silhouette {s['silhouette']:.3f} vs "
            f"{p['silhouette']:.3f}"
            + (f", UMAP {s['silhouette_umap']:.3f} vs {p['silhouette_umap']:.3f}. "
               if "silhouette_umap" in s and "silhouette_umap" in p else " (UMAP not run). ")
            + ("The unsupervised CAE features generalise across recordings better than the raw "
               "pixels." if better > 0.02 else
               "No clear advantage of the CAE features over raw pixels here." if better >= -0.02
               else "The raw-pixel PCA generalises across recordings better than the CAE "
                    "features here."))
    out.append(
        "- **Held-out split and small EMG set.** Test segments are the last 20 % of each "
        "recording (contiguous, no overlap with training windows). Same-recording neighbours "
        "make the plain k-NN optimistic; the *other rec.* column removes them, and it is the "
        "harder number (EMG has only two recordings: a low-activity one and one with bursts; "
        "ECG and EEG differ also in device and lead). EMG windows overlap (0.25-s hop), so its "
        "test windows come from only ~33 s of signal.")
    out.append(
        "- **Silhouette** is computed on 1024-dimensional z-scored features, where distances "
        "concentrate; values are naturally lower there than on the 2-D UMAP projection, which is "
        "fitted to preserve neighbourhoods and exaggerates cluster gaps.")
    return out


# ============================================================================ CLI
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="neurocodec report spectro_cae", description=__doc__.split("\n")[0])
    p.add_argument("--docs", required=True,
                   help="folder for spectrogram_cae.md (figures go to <docs>/figures)")
    p.add_argument("--bands", default="full,low", help="comma-separated: full, low")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reuse", action="store_true",
                   help="reuse out/models/spectro_cae_<band> when its spec matches")
    p.add_argument("--max-seconds", type=float, default=None, help="quick runs on excerpts")
    p.add_argument("--max-per-recording", type=int, nargs=3, default=None,
                   metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--no-umap", action="store_true", help="skip UMAP (quick runs)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    limit_threads(args.threads)
    bands = [b.strip() for b in args.bands.split(",") if b.strip()]
    for b in bands:
        if b not in BANDS:
            raise SystemExit(f"unknown band {b!r}; choose from {sorted(BANDS)}")
    t0 = time.process_time()
    results = {}
    for band in bands:
        spec = SpectroSpec.for_band(band)
        results[band] = evaluate_band(spec, args.epochs, args.patience, args.seed, args.reuse,
                                      args.max_seconds, args.max_per_recording,
                                      with_umap=not args.no_umap)
    docs = Path(args.docs)
    figures = {"umap": "figures/spectrogram_cae_umap.png",
               "examples": "figures/spectrogram_cae_examples.png"}
    if not args.no_umap:
        plot_umap(results, docs / figures["umap"])
    plot_examples(results[bands[0]], docs / figures["examples"])
    md = render_markdown(results, figures, time.process_time() - t0, args)
    write_text_atomic(docs / "spectrogram_cae.md", md)
    summary = {band: {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")}
                      for k, v in res["scores"].items()} for band, res in results.items()}
    write_json_atomic(paths.stage_dir("reports", "spectro_cae") / "scores.json", summary)
    print(f"wrote {docs / 'spectrogram_cae.md'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
