"""`neurocodec report lfp_gan`: multichannel autoencoder + WGAN-GP with and without
autoencoder pre-training, compared by Frechet distance; writes docs/lfp_gan.md and its figures.

For every data set (default: EEGLAB 32 ch and the locust tetrode):

1. train the `lfp_ae` autoencoder (quantization-aware encoder; int8 TFLite export + agreement);
2. train a WGAN-GP per seed twice: generator / critic initialised from the autoencoder's
   decoder / encoder ("pre-trained") and from random weights ("scratch"), same budget;
3. Frechet distances to the held-out windows (last 20 % of the recording) of: each final
   generator (mean of 3 independent draws of as many windows as the held-out set), the
   pre-trained generator before any GAN step, Gaussian noise (normalized like the data), and
   real training windows (the real-vs-real floor: what two real sets of this size differ by).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import neurocodec  # noqa: F401
from neurocodec import paths
from neurocodec.train.lfp_ae import spec_for, train_and_save
from neurocodec.train.lfp_gan import (
    INITS, FrechetEvaluator, GanConfig, gaussian_noise_windows, log_spectra, sample, save_gan,
    train_wgan_gp,
)
from neurocodec.files import save_with_atomic, write_json_atomic, write_text_atomic
from neurocodec.train.spectro_cae import limit_threads

FEATURE_LABELS = {"encoder": "FD encoder (pooled)", "encoder_flat": "FD encoder (flat latent)",
                  "spectra": "FD log spectra"}
COLORS = {"pretrained": "tab:blue", "scratch": "tab:orange"}


def pca_baseline_mse(train, test, n_components: int) -> float:
    """Test MSE of a PCA with as many components as the latent has values (linear reference)."""
    from sklearn.decomposition import PCA

    a, b = train.reshape(len(train), -1), test.reshape(len(test), -1)
    n = min(n_components, *a.shape)
    pca = PCA(n_components=n, random_state=0).fit(a)
    return float(np.mean((pca.inverse_transform(pca.transform(b)) - b) ** 2))


def run_dataset(name: str, steps: int, seeds, ae_epochs: int, n_critic: int,
                max_seconds=None, log=print) -> dict:
    t0 = time.process_time()
    spec = spec_for(name)
    ae_dir = paths.model_dir(f"lfp_ae_{name}")
    ae, data, _, agreement = train_and_save(spec, ae_dir, epochs=ae_epochs,
                                            max_seconds=max_seconds, log=log)
    ae_cpu = time.process_time() - t0
    n = len(data.test)
    evaluator = FrechetEvaluator(ae.encoder, data.test)
    train_idx = np.unique(np.round(np.linspace(0, len(data.train) - 1, n)).astype(int))
    refs = {
        "real (training portion) vs held-out": evaluator.mean_over_draws(
            lambda i: data.train[train_idx], 1),
        "Gaussian noise": evaluator.mean_over_draws(
            lambda i: gaussian_noise_windows(n, spec, seed=100 + i), 3),
    }
    runs = {init: [] for init in INITS}
    for seed in seeds:
        for init in INITS:
            cfg = GanConfig(steps=steps, n_critic=n_critic, seed=seed,
                            eval_every=max(1, steps // 12))
            res = train_wgan_gp(spec, data.train, init, ae, cfg, evaluator, log=log)
            rng = np.random.default_rng(1000 + seed)
            final = evaluator.mean_over_draws(lambda i: sample(res.generator, n, spec, rng), 3)
            runs[init].append({"seed": seed, "final": final, "history": res.history,
                               "cpu_s": res.cpu_seconds, "generator": res.generator})
            save_gan(res, spec, paths.model_dir(f"lfp_gan_{name}_{init}_s{seed}"),
                     {"final_fd_3draws": final, "ae_dir": str(ae_dir)})
    step0 = [r["history"]["fd"][0] for r in runs["pretrained"]]
    refs["pre-trained generator before GAN training"] = {
        k: float(np.mean([h[k] for h in step0])) for k in FrechetEvaluator.KEYS}
    return {"name": name, "spec": spec, "ae": ae, "data": data, "agreement": agreement,
            "refs": refs, "runs": runs, "ae_cpu_s": ae_cpu, "cpu_s": time.process_time() - t0,
            "pca_mse": pca_baseline_mse(data.train, data.test, int(np.prod(spec.latent_shape))),
            "n_eval": n}


def summarize(run_list, key):
    vals = np.array([r["final"][key] for r in run_list])
    return float(vals.mean()), float(vals.std()), vals.tolist()


# ============================================================================ figure
def plot_dataset(res: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec, data = res["spec"], res["data"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    for ax, key in zip(axes[0], ("encoder", "spectra")):
        for init, runs in res["runs"].items():
            for j, r in enumerate(runs):
                fd = r["history"]["fd"]
                ax.plot([h["step"] for h in fd], [h[key] for h in fd], color=COLORS[init],
                        alpha=0.9 if j == 0 else 0.45, lw=1.5,
                        label=f"WGAN-GP {init}" if j == 0 else None)
        floor = res["refs"]["real (training portion) vs held-out"][key]
        noise = res["refs"]["Gaussian noise"][key]
        ax.axhline(floor, color="k", ls="--", lw=1, label="real vs real (floor)")
        ax.axhline(noise, color="gray", ls=":", lw=1.2, label="Gaussian noise")
        ax.set_yscale("log")
        ax.set_xlabel("generator step")
        ax.set_title(f"{FEATURE_LABELS[key]} to held-out windows", fontsize=10)
        ax.legend(fontsize=8)
    # example traces
    ax = axes[1, 0]
    n_show = min(4, spec.n_channels)
    t = np.arange(spec.segment_length) / spec.fs * (1000 if spec.fs > 1000 else 1)
    unit = "ms" if spec.fs > 1000 else "s"
    examples = [("real (held-out)", data.test[len(data.test) // 2], "k")]
    for init in INITS:
        g = sample(res["runs"][init][0]["generator"], 1, spec, np.random.default_rng(7))[0]
        examples.append((f"generated, {init}", g, COLORS[init]))
    offset = 0.0
    for label, w, color in examples:
        for c in range(n_show):
            ax.plot(t, w[:, c] - offset - 4.0 * c, color=color, lw=0.7,
                    label=label if c == 0 else None)
        offset += 4.0 * n_show + 2
    ax.set_yticks([])
    ax.set_xlabel(f"time ({unit})")
    ax.set_title(f"one window, first {n_show} channels (normalized)", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    # mean spectra
    ax = axes[1, 1]
    freqs = np.linspace(0, spec.fs / 2, 33)[1:]
    sets = {"real (held-out)": (data.test, "k")}
    for init in INITS:
        sets[f"WGAN-GP {init}"] = (sample(res["runs"][init][0]["generator"], res["n_eval"], spec,
                                          np.random.default_rng(8)), COLORS[init])
    sets["Gaussian noise"] = (gaussian_noise_windows(res["n_eval"], spec), "gray")
    for label, (x, color) in sets.items():
        s = log_spectra(x)
        ax.plot(freqs, s.mean(axis=0), color=color, label=label)
        ax.fill_between(freqs, np.percentile(s, 10, axis=0), np.percentile(s, 90, axis=0),
                        color=color, alpha=0.12)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("log10 power (normalized windows)")
    ax.set_title("channel-averaged log spectra (mean, 10-90 %)", fontsize=10)
    ax.legend(fontsize=8)
    fig.suptitle(f"WGAN-GP on {res['name']} ({spec.n_channels} ch, {spec.fs:g} Hz, "
                 f"{spec.segment_length}-sample windows): pre-trained vs from scratch", fontsize=11)
    fig.tight_layout()
    save_with_atomic(path, lambda tmp: fig.savefig(tmp, dpi=100))
    plt.close(fig)
    return path


# ============================================================================ markdown
def _pm(mean, sd):
    return f"{mean:.3g} ± {sd:.2g}"


def render_markdown(results: list[dict], figures: dict, args, cpu_total: float) -> str:
    cfg = GanConfig(steps=args.steps, n_critic=args.n_critic)
    lines = [
        "# Multichannel autoencoder and WGAN-GP: does autoencoder pre-training help?",
        "",
        "Generated by `neurocodec report lfp_gan` (`make report-lfp`, i.e. `python reports/lfp.py --docs docs`); rerun "
        "it to refresh every number and figure on this page. "
        f"CPU time of the run {cpu_total / 60:.1f} min (1 TensorFlow thread).",
        "",
        "## Setup",
        "",
        "- **Data.** Each recording is split in time: first 70 % training, next 10 % validation "
        "(early stopping of the autoencoder), last 20 % held out (all Frechet distances are "
        "measured against it). Windows of all channels are cut inside each portion and "
        "normalized one by one (channel means removed, divided by the window's standard "
        "deviation over channels and samples).",
        "- **Autoencoder** (`neurocodec.train.lfp_ae`): the reference's 9-layer encoder / "
        "9-layer decoder shape scaled to 256-sample windows - 8 Conv1D layers (kernel 5; "
        "16, 16, 32, 32, 64, 64, 64, 64 filters; strides 1, 2, 1, 2, 1, 2, 2, 2; leaky ReLU) and a "
        "kernel-3 conv to a (8, 16) latent; the decoder mirrors it with UpSampling1D + Conv1D. "
        "The encoder is quantization-aware (QKeras, 8-bit weights `quantized_bits(8, 0, alpha=1)`,"
        " 8-bit input and activation registers `quantized_bits(8, 3)`), exported to int8 TFLite. "
        "MSE loss, Adam 1e-3, early stopping on the validation loss.",
        f"- **WGAN-GP** (`neurocodec.train.lfp_gan`): generator = decoder architecture fed with "
        "z ~ N(0, I) through a fixed per-element affine map, followed by the data's per-window "
        "normalization; critic = encoder architecture (float) + dense score. Gradient penalty "
        f"weight {cfg.gp_weight:g}, drift {cfg.drift:g}, {cfg.n_critic} critic steps per "
        f"generator step, Adam(1e-4, 0, 0.9), batch {cfg.batch_size}, {cfg.steps} generator "
        f"steps, seeds {', '.join(str(s) for s in args.seed_list)}. *Pre-trained*: generator "
        "decoder = trained decoder, affine map = mean / std of the encoder's latents on the "
        "training windows, critic convolutions = trained encoder (quantized weights). "
        "*Scratch*: random weights, identity affine map. Same budget for both (the pre-trained "
        "runs also had the autoencoder's training, listed below).",
        "- **Frechet distance** (`neurocodec.metrics.frechet`, FID formula on Gaussian fits) to "
        "the held-out windows, with as many windows in every set as the held-out set holds, "
        "on three feature sets: *encoder (pooled)* = mean and std over time of each of the 16 "
        "latent channels of the trained autoencoder's (QKeras) encoder (32 numbers); "
        "*encoder (flat latent)* = the whole 8 x 16 latent (128 numbers); *log spectra* = "
        "channel-averaged log10 periodogram in 32 equal bands. Generated sets: mean of 3 "
        "independent draws per run; table entries are mean ± std over the seeds. Lower is "
        "better; the real-vs-real row is the floor a perfect generator would reach (sampling "
        "noise and the drift between the training and held-out parts of the recording).",
        "",
        "## Autoencoders",
        "",
        "| data | channels x samples | windows train/val/test | compression | train MSE | val MSE "
        "| test MSE | PCA test MSE (same latent size) | epochs (best) | .tflite bytes | "
        "TFLite vs QKeras mean / p99 abs err (LSB) | CPU (s) |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---:|---|---:|",
    ]
    for res in results:
        m, spec, a = res["ae"].metrics, res["spec"], res["agreement"]
        lines.append(
            f"| {res['name']} | {spec.n_channels} x {spec.segment_length} @ {spec.fs:g} Hz | "
            f"{len(res['data'].train)}/{len(res['data'].val)}/{len(res['data'].test)} | "
            f"{m['compression_ratio']:.0f} | {m['train_mse']:.3f} | {m['val_mse']:.3f} | "
            f"{m['test_mse']:.3f} | {res['pca_mse']:.3f} | {m['epochs_run']} ({m['best_epoch']}) | "
            f"{a['size_bytes']} | {a['mean_abs_error_lsb']:.2f} / {a['p99_abs_error_lsb']:.1f} | "
            f"{res['ae_cpu_s']:.0f} |")
    lines += [
        "",
        "MSE is on normalized windows (unit variance), so 1 - MSE is the fraction of variance "
        "reconstructed. The PCA column is a linear reference with as many components as the "
        "latent has values, fitted on the same training windows.",
    ]
    for res in results:
        m = res["ae"].metrics
        if m["test_mse"] > res["pca_mse"] + 0.01:
            why = (f"with {len(res['data'].train)} training windows the 9-layer model overfits "
                   f"(train MSE {m['train_mse']:.3f}) before it beats the linear baseline"
                   if m["test_mse"] - m["train_mse"] > 0.1 else
                   "neither model captures most of the variance of these windows at this "
                   "compression (close to incompressible noise)")
            lines.append(
                f"On {res['name']} the autoencoder reconstructs held-out windows worse than that "
                f"PCA ({m['test_mse']:.3f} vs {res['pca_mse']:.3f}): {why}. For the GAN it only "
                "has to provide an initialisation and a feature extractor.")
    lines += [
        "",
        "## Frechet distances to held-out windows",
        "",
        "| data | samples | FD encoder (pooled) | FD encoder (flat latent) | FD log spectra |",
        "|---|---|---:|---:|---:|",
    ]
    for res in results:
        floor = res["refs"]["real (training portion) vs held-out"]
        rows = [("real (training portion) vs held-out: floor", floor, None)]
        for init in INITS:
            rows.append((f"**WGAN-GP, {'pre-trained' if init == 'pretrained' else 'from scratch'}**",
                         None, init))
        rows.append(("pre-trained generator before GAN training",
                     res["refs"]["pre-trained generator before GAN training"], None))
        rows.append(("Gaussian noise (normalized)", res["refs"]["Gaussian noise"], None))
        for label, vals, init in rows:
            cells = []
            for key in FrechetEvaluator.KEYS:
                if init is not None:
                    mean, sd, _ = summarize(res["runs"][init], key)
                    cells.append(_pm(mean, sd))
                else:
                    cells.append(f"{vals[key]:.3g}")
            lines.append(f"| {res['name']} | {label} | " + " | ".join(cells) + " |")
    lines += [""]
    for res in results:
        lines += [f"![WGAN-GP on {res['name']}]({figures[res['name']]})", ""]
    lines += ["## Does pre-training help?", ""]
    lines += verdict(results, args)
    return "\n".join(lines) + "\n"


def verdict(results: list[dict], args) -> list[str]:
    out = []
    for res in results:
        parts = []
        clear_p = clear_s = 0
        for key in FrechetEvaluator.KEYS:
            p_mean, _, p_vals = summarize(res["runs"]["pretrained"], key)
            s_mean, _, s_vals = summarize(res["runs"]["scratch"], key)
            if max(p_vals) < min(s_vals):
                clear_p += 1
                how = "pre-trained lower for every seed"
            elif max(s_vals) < min(p_vals):
                clear_s += 1
                how = "scratch lower for every seed"
            else:
                how = "seed ranges overlap: no clear difference"
            parts.append(f"{FEATURE_LABELS[key]} pre-trained {p_mean:.3g} vs scratch {s_mean:.3g} "
                         f"({how})")
        n = len(FrechetEvaluator.KEYS)
        if clear_p == n:
            summary = "pre-training helps (lower FD on every feature set and seed)"
        elif clear_s == n:
            summary = "pre-training hurts (higher FD on every feature set and seed)"
        elif clear_p and not clear_s:
            summary = (f"pre-training helps on {clear_p} of {n} feature sets, no clear "
                       "difference on the others")
        elif clear_s and not clear_p:
            summary = (f"pre-training hurts on {clear_s} of {n} feature sets, no clear "
                       "difference on the others")
        elif not clear_p and not clear_s:
            summary = "no clear difference between pre-trained and scratch"
        else:
            summary = (f"mixed: pre-training better on {clear_p}, worse on {clear_s} of {n} "
                       "feature sets")
        floor = res["refs"]["real (training portion) vs held-out"]
        noise = res["refs"]["Gaussian noise"]
        start = res["refs"]["pre-trained generator before GAN training"]
        notes = []
        below = [FEATURE_LABELS[k] for k in FrechetEvaluator.KEYS
                 if min(summarize(res["runs"][i], k)[0] for i in INITS) <= floor[k]]
        if below:
            notes.append(f"GAN values at or below the real-vs-real floor ({', '.join(below)}) "
                         "are within the estimation noise, not better than real data")
        worse = [FEATURE_LABELS[k] for k in FrechetEvaluator.KEYS if start[k] > noise[k]]
        if worse:
            notes.append("before any GAN step the pre-trained generator (trained decoder fed "
                         "with independent Gaussian latents) is *worse than noise* on "
                         f"{', '.join(worse)}: the decoder was trained on the encoder's "
                         "latents, whose joint distribution an independent per-element Gaussian "
                         "does not match, and the GAN first has to undo that mismatch")
        for init in INITS:
            ratios = []
            for r in res["runs"][init]:
                fd = r["history"]["fd"]
                j = int(round(2 * (len(fd) - 1) / 3))
                if len(fd) >= 4 and fd[j]["spectra"] > 0:
                    ratios.append(fd[-1]["spectra"] / fd[j]["spectra"])
            if ratios and np.mean(ratios) < 0.8:
                notes.append(f"the {'pre-trained' if init == 'pretrained' else 'from-scratch'}"
                             " runs were still improving when they stopped (spectral "
                             f"FD fell by {100 * (1 - np.mean(ratios)):.0f} % over the last third "
                             "of the steps), so a longer budget could change the ranking")
        out.append(f"- **{res['name']}: {summary}.** " + "; ".join(parts) + ". "
                   f"For scale: real-vs-real floor {floor['encoder']:.3g} / "
                   f"{floor['encoder_flat']:.3g} / {floor['spectra']:.3g}, Gaussian noise "
                   f"{noise['encoder']:.3g} / {noise['encoder_flat']:.3g} / {noise['spectra']:.3g} "
                   "(pooled / flat / spectra)."
                   + "".join(f" Note: {n}." for n in notes))
    out += [
        "- **Caveats.** "
        f"{len(args.seed_list)} seed(s) and {args.steps} generator steps per run (minutes of "
        "CPU); the FD curves in the figures show whether a run was still improving when it "
        "stopped. The encoder-feature FD uses the very encoder the pre-trained critic started "
        "from, which could favour the pre-trained GAN; the spectral FD is independent of the "
        "autoencoder. With a few hundred held-out windows the FD estimates are biased upwards "
        "(compare rows, not absolute values), and the flat 128-number latent is the noisiest of "
        "the three (floor far above 0)."
        + (" The locust tetrode recording is high-pass filtered (spike band, < 10 Hz power is "
           "negligible), so on it the models learn 17-ms multichannel spike-band snippets, not "
           "LFP oscillations." if any(r["name"] == "locust" for r in results) else ""),
    ]
    return out


# ============================================================================ CLI
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="neurocodec report lfp_gan", description=__doc__.split("\n")[0])
    p.add_argument("--docs", required=True,
                   help="folder for lfp_gan.md (figures go to <docs>/figures)")
    p.add_argument("--data", default="eeglab,locust", help="comma-separated: eeglab, locust")
    p.add_argument("--steps", type=int, default=600, help="generator steps per GAN run")
    p.add_argument("--n-critic", type=int, default=5)
    p.add_argument("--seeds", default="0,1", help="comma-separated GAN seeds")
    p.add_argument("--ae-epochs", type=int, default=60)
    p.add_argument("--max-seconds", type=float, default=None, help="quick runs on excerpts")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    limit_threads(args.threads)
    args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    names = [d.strip() for d in args.data.split(",") if d.strip()]
    t0 = time.process_time()
    results = [run_dataset(name, args.steps, args.seed_list, args.ae_epochs, args.n_critic,
                           args.max_seconds) for name in names]
    docs = Path(args.docs)
    figures = {}
    for res in results:
        figures[res["name"]] = f"figures/lfp_gan_{res['name']}.png"
        plot_dataset(res, docs / figures[res["name"]])
    md = render_markdown(results, figures, args, time.process_time() - t0)
    write_text_atomic(docs / "lfp_gan.md", md)
    summary = {res["name"]: {"refs": res["refs"],
                             "runs": {init: [{"seed": r["seed"], "final": r["final"],
                                              "cpu_s": r["cpu_s"]} for r in runs]
                                      for init, runs in res["runs"].items()},
                             "ae": res["ae"].metrics, "pca_mse": res["pca_mse"]}
               for res in results}
    write_json_atomic(paths.stage_dir("reports", "lfp_gan") / "fd.json", summary)
    print(f"wrote {docs / 'lfp_gan.md'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
