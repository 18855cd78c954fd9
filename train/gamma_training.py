"""Training protocol of the `gamma_cnn` decoder and its baselines, and `neurocodec train gamma_cnn`.

Protocol: the trials of every session are split in consecutive groups of five (3 training,
1 set A, 1 set B; ``signals.paired_data.split_groups_of_five``); inputs and targets are z-scored
per session with training-trial statistics. Each model is trained ``restarts`` times from
different initialisations; every ``eval_every`` epochs it is scored on A and B. The snapshot
(restart, epoch) best on A is tested on B and the one best on B is tested on A; the reported
score is the mean of the two. The loss (masked MSE) and every score skip the first second of
each trial (the decoder's zero-padded warm-up). Scores: R^2 = 1 - SSE / SST and Pearson r on the
pooled test samples.

Control: ``shuffled=True`` trains and tests ``gamma_cnn`` on inputs whose time bins are permuted
across all trials of each session (the same permutation for all channels), which keeps each
channel's amplitude distribution and cross-channel structure but removes the time relation to
the EMG: its R^2 should be ~0.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import neurocodec  # noqa: F401
from neurocodec.files import atomic_dir, save_with_atomic, savez_atomic, write_json_atomic
from neurocodec.signals.paired_data import (Normalization, PairedDataset, PreprocessConfig, build_dataset,
                                            fit_normalization, load_paired_dir, load_paired_npz,
                                            split_groups_of_five)
from neurocodec.train import gamma_cnn as G


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 200
    batch_size: int = 8
    learning_rate: float = 3e-3
    restarts: int = 3
    eval_every: int = 10
    seed: int = 0
    threads: int = 1

    def to_dict(self):
        return asdict(self)


def set_threads(n: int = 1) -> None:
    from neurocodec.train.backend import set_tf_threads

    set_tf_threads(n, n)


# ----------------------------------------------------------------------------- metrics
def masked(y: np.ndarray, warmup: int) -> np.ndarray:
    return np.asarray(y, np.float64)[:, warmup:].ravel()


def r2_score(y, p) -> float:
    y, p = np.asarray(y, np.float64).ravel(), np.asarray(p, np.float64).ravel()
    sst = np.sum((y - y.mean()) ** 2)
    return float(1.0 - np.sum((y - p) ** 2) / sst) if sst > 0 else float("nan")


def pearson_r(y, p) -> float:
    y, p = np.asarray(y, np.float64).ravel(), np.asarray(p, np.float64).ravel()
    if y.std() == 0 or p.std() == 0:
        return 0.0
    return float(np.corrcoef(y, p)[0, 1])


def scores(y, p, warmup: int) -> dict:
    y, p = masked(y, warmup), masked(p, warmup)
    return {"r2": r2_score(y, p), "r": pearson_r(y, p)}


# ----------------------------------------------------------------------------- data
def time_shuffled(ds: PairedDataset, seed: int = 0) -> PairedDataset:
    """Copy of ``ds`` whose neural time bins are permuted across all trials of each session."""
    rng = np.random.default_rng(seed)
    x = ds.x.copy()
    for s in range(ds.n_sessions):
        idx = np.flatnonzero(ds.session == s)
        flat = x[idx].reshape(-1, ds.n_channels)
        x[idx] = flat[rng.permutation(len(flat))].reshape(len(idx), ds.n_samples, ds.n_channels)
    return PairedDataset(x, ds.y, ds.session, ds.trial, list(ds.session_names), ds.fs, ds.warmup_s, dict(ds.truth))


def prepare(ds: PairedDataset, split_seed: int = 0):
    """Split + per-session normalisation. Returns (normalised dataset, split, Normalization)."""
    split = split_groups_of_five(ds, split_seed)
    norm = fit_normalization(ds, split["train"])
    return norm.apply(ds), split, norm


# ----------------------------------------------------------------------------- training
def _train_one(spec: G.DecoderSpec, d: PairedDataset, split: dict, cfg: TrainConfig, seed: int):
    """One restart. Returns (history, best_on_A, best_on_B); best_* = dict(score, weights, epoch)."""
    import tensorflow as tf

    from neurocodec.train.backend import keras, set_seed

    set_seed(seed)
    k = keras()
    model = G.build_decoder(spec)
    opt = k.optimizers.Adam(cfg.learning_rate)
    mask = tf.constant(d.mask()[None, :])
    tr = split["train"]
    x_tr, y_tr, s_tr = d.x[tr], d.y[tr], d.session[tr].astype(np.int32)
    sig = [tf.TensorSpec([None, None, spec.n_channels], tf.float32), tf.TensorSpec([None, None], tf.float32),
           tf.TensorSpec([None], tf.int32)]

    @tf.function(input_signature=sig)
    def step(xb, yb, sb):
        with tf.GradientTape() as tape:
            p = model([xb, sb], training=True)[..., 0]
            w = tf.broadcast_to(mask, tf.shape(yb))
            loss = tf.reduce_sum(w * tf.square(p - yb)) / tf.reduce_sum(w)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function(input_signature=[sig[0], sig[2]])
    def forward(xb, sb):
        return model([xb, sb], training=False)[..., 0]

    def evaluate(idx):
        p = forward(tf.constant(d.x[idx]), tf.constant(d.session[idx].astype(np.int32))).numpy()
        return scores(d.y[idx], p, d.warmup_samples)

    rng = np.random.default_rng(seed)
    hist = {"epoch": [], "loss": [], "A": [], "B": []}
    best = {"A": {"score": -np.inf}, "B": {"score": -np.inf}}
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(len(tr))
        losses = []
        for i in range(0, len(order), cfg.batch_size):
            b = order[i : i + cfg.batch_size]
            losses.append(float(step(x_tr[b], y_tr[b], s_tr[b])))
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            sa, sb_ = evaluate(split["A"]), evaluate(split["B"])
            hist["epoch"].append(epoch)
            hist["loss"].append(float(np.mean(losses)))
            hist["A"].append(sa)
            hist["B"].append(sb_)
            for name, s in (("A", sa), ("B", sb_)):
                if s["r2"] > best[name]["score"]:
                    best[name] = {"score": s["r2"], "epoch": epoch, "weights": model.get_weights()}
    return model, hist, best


def run_protocol(spec: G.DecoderSpec, d: PairedDataset, split: dict, cfg: TrainConfig, log=print) -> dict:
    """Restarts + cross model selection (see module docstring). ``d`` is normalised.

    Returns {'scores': {'select_A_test_B', 'select_B_test_A', 'r2', 'r'}, 'model', 'weights_A',
    'weights_B', 'history'}; 'model' holds the weights selected on A."""
    results = []
    model = None
    for r in range(cfg.restarts):
        t = time.time()
        model, hist, best = _train_one(spec, d, split, cfg, cfg.seed + 1000 * r)
        results.append((hist, best))
        log(f"  {spec.kind} restart {r + 1}/{cfg.restarts}: best A R2 {best['A']['score']:.3f} "
            f"(epoch {best['A']['epoch']}), best B R2 {best['B']['score']:.3f} ({time.time() - t:.0f} s)")
    best_a = max(results, key=lambda rb: rb[1]["A"]["score"])[1]["A"]
    best_b = max(results, key=lambda rb: rb[1]["B"]["score"])[1]["B"]
    model.set_weights(best_b["weights"])
    on_a = _eval_idx(model, spec, d, split["A"])
    model.set_weights(best_a["weights"])
    on_b = _eval_idx(model, spec, d, split["B"])
    out = {
        "select_A_test_B": on_b, "select_B_test_A": on_a,
        "r2": 0.5 * (on_a["r2"] + on_b["r2"]), "r": 0.5 * (on_a["r"] + on_b["r"]),
        "epoch_A": best_a["epoch"], "epoch_B": best_b["epoch"],
    }
    return {"scores": out, "model": model, "weights_A": best_a["weights"], "weights_B": best_b["weights"],
            "history": [h for h, _ in results]}


def _eval_idx(model, spec, d, idx, return_pred=False):
    p = G.predict(model, spec, d.x[idx], d.session[idx])
    s = scores(d.y[idx], p, d.warmup_samples)
    return (s, p) if return_pred else s


# ----------------------------------------------------------------------------- hardware form
def quantize_all_sessions(model, spec: G.DecoderSpec, d: PairedDataset, split: dict,
                          q: G.QuantConfig = G.QuantConfig()) -> dict[int, G.IntDecoder]:
    """One IntDecoder per session, calibrated on that session's training trials."""
    decs = {}
    for s in range(spec.n_sessions):
        idx = split["train"][d.session[split["train"]] == s]
        decs[s] = G.quantize_decoder(G.float_layers(model, spec, s), d.x[idx], q, session=s)
    return decs


def predict_int(decs: dict, d: PairedDataset, idx) -> np.ndarray:
    """Fixed-point predictions (real units) of trials idx, each with its session's decoder."""
    idx = np.asarray(idx)
    out = np.zeros((len(idx), d.n_samples), np.float64)
    for s, dec in decs.items():
        m = d.session[idx] == s
        if m.any():
            codes = G.quantize_input_codes(d.x[idx[m]], dec)
            out[m] = G.run_int(codes, dec)[..., 0] / 2.0**dec.output_frac
    return out


def quantized_scores(run: dict, spec, d, split, q: G.QuantConfig = G.QuantConfig()) -> dict:
    """Float vs fixed-point scores with the same cross selection (A->B, B->A, mean)."""
    model = run["model"]
    res = {}
    for sel, test, key in (("weights_A", "B", "select_A_test_B"), ("weights_B", "A", "select_B_test_A")):
        model.set_weights(run[sel])
        decs = quantize_all_sessions(model, spec, d, split, q)
        res[key] = scores(d.y[split[test]], predict_int(decs, d, split[test]), d.warmup_samples)
    model.set_weights(run["weights_A"])
    res["r2"] = 0.5 * (res["select_A_test_B"]["r2"] + res["select_B_test_A"]["r2"])
    res["r"] = 0.5 * (res["select_A_test_B"]["r"] + res["select_B_test_A"]["r"])
    return res


# ----------------------------------------------------------------------------- saving
def save_model_folder(folder: Path, run: dict, spec: G.DecoderSpec, d: PairedDataset, split: dict,
                      norm: Normalization, meta: dict, q: G.QuantConfig = G.QuantConfig(),
                      hw_session: int = 0, n_vector_windows: int = 64) -> Path:
    """Write the trained-model folder atomically (files.atomic_dir: staged, then one rename)."""
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        _write_model_folder(tmp, run, spec, d, split, norm, meta, q, hw_session, n_vector_windows)
    return folder


def _write_model_folder(tmp: Path, run, spec, d, split, norm, meta, q, hw_session, n_vector_windows) -> None:
    model = run["model"]
    model.set_weights(run["weights_A"])
    save_with_atomic(tmp / "weights.h5", model.save_weights)
    write_json_atomic(tmp / "config.json", {
        "family": "gamma_cnn", "spec": spec.to_dict(), "quant": q.to_dict(), "normalization": norm.to_dict(),
        "session_names": d.session_names, "split": {k: v.tolist() for k, v in split.items()},
        "hw_session": hw_session, **meta})
    write_json_atomic(tmp / "history.json", run["history"])
    metrics = {"float": run["scores"], "quantized": quantized_scores(run, spec, d, split, q)}
    model.set_weights(run["weights_A"])
    write_json_atomic(tmp / "metrics.json", metrics)
    decs = quantize_all_sessions(model, spec, d, split, q)
    dec = decs[hw_session]
    write_json_atomic(tmp / "int_decoder.json", dec.to_dict())
    test = split["B"][d.session[split["B"]] == hw_session]
    test = np.concatenate([test, split["A"][d.session[split["A"]] == hw_session]])[:n_vector_windows]
    codes = G.quantize_input_codes(d.x[test], dec)
    savez_atomic(tmp / "test_vectors.npz", input_codes=codes, output_codes=G.run_int(codes, dec),
                 output_frac=dec.output_frac, input_frac=dec.input_frac)
    _plot(tmp / "prediction.png", d, split, model, spec)


def _plot(path, d, split, model, spec):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    i = split["B"][0]
    p = G.predict(model, spec, d.x[i : i + 1], d.session[i : i + 1])[0]
    t = np.arange(d.n_samples) / d.fs
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(t, d.y[i], "k", label="true EMG envelope")
    ax.plot(t, p, "r", label=f"{spec.kind} prediction")
    ax.axvspan(0, d.warmup_s, color="0.9", label="warm-up (not scored)")
    ax.set_xlabel("time in trial (s)")
    ax.set_ylabel("EMG envelope (z)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    save_with_atomic(path, lambda tmp: fig.savefig(tmp, dpi=100))
    plt.close(fig)


def load_trained(folder):
    """(model with the A-selected weights, spec, config dict) of a saved model folder."""
    from neurocodec.train.artifacts import read_family_config

    folder = Path(folder)
    cfg = read_family_config(folder, "gamma_cnn")
    spec = G.DecoderSpec.from_dict(cfg["spec"])
    model = G.build_decoder(spec)
    model.load_weights(str(folder / "weights.h5"))
    return model, spec, cfg


def load(folder):
    """The registry's one load shape (train.artifacts.LoadedModel)."""
    from neurocodec.train.artifacts import LoadedModel

    model, spec, cfg = load_trained(folder)
    return LoadedModel("gamma_cnn", spec, {"decoder": model}, cfg)


# ----------------------------------------------------------------------------- CLI
def load_data(sessions, synthetic_trials: int, seed: int, pre: PreprocessConfig, n_channels: int = 27):
    """`--sessions N` -> N synthetic sessions; `--sessions a.npz dir/ ...` -> real paired files."""
    from neurocodec.signals.emg_synthetic import SyntheticConfig, synthetic_dataset

    if sessions is None or (len(sessions) == 1 and str(sessions[0]).isdigit()):
        n = 3 if sessions is None else int(sessions[0])
        cfg = SyntheticConfig(n_sessions=n, trials_per_session=synthetic_trials, n_channels=n_channels, seed=seed)
        return synthetic_dataset(cfg, pre), {"data": "synthetic", "synthetic": cfg.to_dict()}
    recs = []
    for s in sessions:
        p = Path(s)
        recs.extend(load_paired_dir(p) if p.is_dir() else [load_paired_npz(p)])
    return build_dataset(recs, pre), {"data": "paired_files", "files": [str(s) for s in sessions]}


def main(argv=None) -> int:
    """neurocodec train gamma_cnn: train a decoder with the A/B protocol and save its folder."""
    from neurocodec import paths

    p = argparse.ArgumentParser(prog="neurocodec train gamma_cnn", description=main.__doc__)
    p.add_argument("--sessions", nargs="+", default=None,
                   help="number of synthetic sessions (default 3) or paired-data .npz files / folders")
    p.add_argument("--kind", default="gamma_cnn", choices=G.KINDS)
    p.add_argument("--shuffled", action="store_true", help="time-shuffled-input control")
    p.add_argument("--out", default=None, help="model folder (default out/models/<kind>)")
    p.add_argument("--trials", type=int, default=40, help="trials per synthetic session")
    p.add_argument("--emg-lowpass", type=float, default=3.0, help="EMG envelope cut-off, Hz (1-5)")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--restarts", type=int, default=TrainConfig.restarts)
    p.add_argument("--lr", type=float, default=TrainConfig.learning_rate)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hw-session", type=int, default=0, help="session of the saved hardware form")
    a = p.parse_args(argv)
    set_threads(1)
    pre = PreprocessConfig(emg_lowpass_hz=a.emg_lowpass)
    ds, meta = load_data(a.sessions, a.trials, a.seed, pre)
    if a.shuffled:
        ds = time_shuffled(ds, a.seed)
    d, split, norm = prepare(ds, a.seed)
    spec = G.DecoderSpec(kind=a.kind, n_channels=ds.n_channels, n_sessions=ds.n_sessions)
    cfg = TrainConfig(epochs=a.epochs, restarts=a.restarts, learning_rate=a.lr, seed=a.seed)
    if not 0 <= a.hw_session < ds.n_sessions:
        raise ValueError(f"--hw-session {a.hw_session} outside 0..{ds.n_sessions - 1}")
    print(f"{ds.n_sessions} sessions, {len(ds.x)} trials x {ds.n_samples} samples x {ds.n_channels} channels; "
          f"train {len(split['train'])}, A {len(split['A'])}, B {len(split['B'])}")
    run = run_protocol(spec, d, split, cfg)
    name = a.kind + ("_shuffled" if a.shuffled else "")
    folder = Path(a.out) if a.out else paths.model_dir(name)
    meta.update(preprocess=pre.to_dict(), train=cfg.to_dict(), shuffled=a.shuffled)
    save_model_folder(folder, run, spec, d, split, norm, meta, hw_session=a.hw_session)
    m = json.loads((folder / "metrics.json").read_text())
    print(f"{name}: R2 {m['float']['r2']:.3f}, r {m['float']['r']:.3f}; quantized R2 {m['quantized']['r2']:.3f}")
    print(f"saved {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
