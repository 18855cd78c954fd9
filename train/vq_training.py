"""Training of `vq_cae` on detected spikes, model folder I/O and the `train vq_cae` command.

Data families (``--data``):

* ``si``: SpikeInterface ground-truth generator, 24 kHz, 4 channels (one tetrode-like group),
  10 units, windows of 64 samples; noise levels 5 (SpikeInterface's default), 10, 20 uV.
* ``synthetic``: neurocodec.signals.synthetic.synthetic_extracellular, 30 kHz, 4 channels,
  6 units, windows of 48 samples; noise 10 uV (its default), 5, 20 uV.

Training and validation use other generator seeds (other units, templates, spike trains) than
the test recordings of the report. Inputs are divided by a power-of-two ``scale`` (uV) fixed
from the training spikes (no per-spike side information). Loss: mean over spikes of
||x - x_hat||^2 / ||x||^2 (the SNDR's error ratio) + the VQ commitment/codebook losses.

Model folder (paths.model_dir(name)): config.json, weights.h5, history.json, metrics.json,
int_encoder.json (quantize.vq_reference), test_vectors.npz (input_codes (n, window, channels),
latent_codes (n, L, D), indices (n, L) from validation spikes), index_prior.npz (the learned
entropy model of the codeword indices, `write_index_prior`).
"""
from __future__ import annotations

from neurocodec.errors import NeurocodecError

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurocodec.signals.spikes import SpikeSet
from neurocodec.train.vq_cae import VqCaeSpec, build_vq_cae

DATA_FAMILIES = {
    "si": {"fs": 24000.0, "window": 64, "channels": 4, "noise_levels": (5.0, 10.0, 20.0), "default_noise": 5.0,
           "train_seeds": tuple(range(1, 25)), "val_seeds": (25, 26), "test_seed": 100, "train_duration_s": 8.0,
           "duration_s": 40.0},
    "synthetic": {"fs": 30000.0, "window": 48, "channels": 4, "noise_levels": (10.0, 5.0, 20.0), "default_noise": 10.0,
                  "train_seeds": tuple(range(1, 25)), "val_seeds": (25, 26), "test_seed": 100,
                  "train_duration_s": 15.0, "duration_s": 60.0},
    # the bundled real tetrode (no ground truth): spikes of the first 60 % train, the next 10 %
    # validate, the last 30 % are the test part (LOCUST_SPLIT)
    "locust": {"fs": 15000.0, "window": 40, "channels": 4, "noise_levels": ("real",), "default_noise": "real",
               "train_seeds": (), "val_seeds": (), "test_seed": None, "train_duration_s": 0.0, "duration_s": 0.0},
}
LOCUST_SPLIT = (0.6, 0.7)  # fractions of the recording: train < 0.6 <= validation < 0.7 <= test


def locust_spikes(part: str) -> SpikeSet:
    """Detected spikes of the bundled locust tetrode (ADC counts, band-passed), one part of it:
    'train', 'val' or 'test' (LOCUST_SPLIT)."""
    from neurocodec.signals import load_recording
    from neurocodec.signals.spikes import extract_spikes

    rec = load_recording("locust")
    sp = extract_spikes(rec.data, rec.fs, window=40, group_size=4, source="locust")
    n = rec.n_samples
    a, b = (int(f * n) for f in LOCUST_SPLIT)
    masks = {"train": sp.times < a, "val": (sp.times >= a) & (sp.times < b), "test": sp.times >= b}
    if part not in masks:
        raise VqTrainingError(f"locust part must be train, val or test, got {part!r}")
    return sp.subset(masks[part])


class VqTrainingError(NeurocodecError):
    """Bad training arguments or data."""


def family(name: str) -> dict:
    if name not in DATA_FAMILIES:
        raise VqTrainingError(f"unknown data family {name!r}; choose one of {sorted(DATA_FAMILIES)}")
    return DATA_FAMILIES[name]


def load_spikes(data: str, seed: int, noise: float, duration_s: float | None = None) -> SpikeSet:
    """Detected, labelled spikes of one generated recording of a data family."""
    fam = family(data)
    if data == "locust":
        return locust_spikes("test")
    dur = fam["duration_s"] if duration_s is None else float(duration_s)
    if data == "si":
        from neurocodec.signals.spikeinterface_gt import spikes_from_si

        return spikes_from_si(duration_s=dur, fs=fam["fs"], num_channels=4, num_units=10,
                              noise_level=noise, seed=seed, window=fam["window"])
    from neurocodec.signals.spikes import spikes_from_synthetic

    return spikes_from_synthetic(duration_s=dur, seed=seed, window=fam["window"], fs=fam["fs"],
                                 n_units=6, n_channels=4, noise_uv=noise)


def training_spikes(data: str, duration_s: float | None = None) -> tuple[SpikeSet, SpikeSet]:
    """(train, validation) spike sets of a family: many short recordings (many different units),
    all noise levels, disjoint seeds (none equal to the test seed)."""
    fam = family(data)
    if data == "locust":
        # 513 real training spikes are too few for a codebook: add our generator's spikes at the
        # tetrode's rate and window (every window is gain-normalized, so units do not matter)
        from neurocodec.signals.spikes import spikes_from_synthetic

        gen = [spikes_from_synthetic(duration_s=15.0, seed=s, window=40, fs=15000.0, n_units=6, n_channels=4,
                                     noise_uv=n) for s in range(1, 13) for n in (5.0, 10.0, 20.0)]
        real = locust_spikes("train")
        train = SpikeSet.concatenate(gen + [real] * 8)
        train.labels = None
        return train, locust_spikes("val")
    dur = fam["train_duration_s"] if duration_s is None else duration_s
    train = SpikeSet.concatenate([load_spikes(data, s, n, dur)
                                  for s in fam["train_seeds"] for n in fam["noise_levels"]])
    val = SpikeSet.concatenate([load_spikes(data, s, n, dur) for s in fam["val_seeds"] for n in fam["noise_levels"]])
    return train, val


def training_windows(data: str, duration_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Waveforms (train, validation) of ``training_spikes``, cached in out/cache/vq_cae/ (the
    generators are deterministic per seed; the cache key holds family and duration)."""
    from neurocodec import paths
    from neurocodec.files import savez_atomic

    fam = family(data)
    dur = fam["train_duration_s"] if duration_s is None else float(duration_s)
    path = paths.stage_dir("cache", "vq_cae") / f"train_{data}_{dur:g}s.npz"
    if path.is_file():
        with np.load(path) as z:
            return np.asarray(z["train"]), np.asarray(z["val"])
    train, val = training_spikes(data, dur)
    savez_atomic(path, train=train.waveforms.astype(np.float32), val=val.waveforms.astype(np.float32))
    return train.waveforms.astype(np.float32), val.waveforms.astype(np.float32)


def fit_scale(waveforms) -> float:
    """Smallest power of two (uV) above the 99.9th percentile of |x|: x / scale in [-1, 1)."""
    w = np.abs(np.asarray(waveforms, np.float64))
    if w.size == 0:
        raise VqTrainingError("no spikes to fit the input scale")
    p = float(np.percentile(w, 99.9))
    if not p > 0:
        raise VqTrainingError("spike waveforms are all zero")
    return float(2.0 ** np.ceil(np.log2(p)))


def nsr_loss(y_true, y_pred):
    """Per-spike ||x - x_hat||^2 / ||x||^2 (batch mean)."""
    import tensorflow as tf

    err = tf.reduce_sum(tf.square(y_true - y_pred), axis=[1, 2])
    energy = tf.reduce_sum(tf.square(y_true), axis=[1, 2])
    return err / (energy + 1e-6)


@dataclass
class TrainConfig:
    epochs: int = 12  # with the quantizer active
    warmup_epochs: int = 4  # autoencoder without quantizer, then k-means codebook init
    batch_size: int = 128
    learning_rate: float = 2e-3
    seed: int = 0
    restart_dead_codes: bool = True
    clipnorm: float | None = None  # gradient clipping (global norm per step) if set
    verbose: int = 0


def _init_threads():
    from neurocodec.train.backend import set_tf_threads

    set_tf_threads(int(os.environ.get("NEUROCODEC_TF_THREADS", "1")), 1)


def kmeans_codebook(z: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """K-means (k-means++ init) centroids of latent vectors; duplicates padded by samples."""
    from sklearn.cluster import MiniBatchKMeans

    z = np.asarray(z, np.float64).reshape(-1, z.shape[-1])
    if len(z) < k:
        rng = np.random.default_rng(seed)
        return z[rng.choice(len(z), k, replace=True)] + rng.normal(0, 1e-2, (k, z.shape[1]))
    km = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=1, batch_size=4096, max_iter=50)
    return km.fit(z).cluster_centers_


def train_vq_cae(spec: VqCaeSpec, x_train: np.ndarray, x_val: np.ndarray, cfg: TrainConfig = TrainConfig()):
    """Train on normalized windows (n, window, channels) in [-1, 1). Returns (models, history).

    Schedule: ``warmup_epochs`` as a plain autoencoder (quantizer bypassed), codebook set to
    k-means centroids of the encoder outputs, then ``epochs`` with the quantizer (straight-
    through gradient, commitment loss, codebook loss or EMA) and restarts of unused codewords
    (set to random encoder outputs) after each epoch except the last three."""
    import tensorflow as tf

    from neurocodec.train.backend import keras, set_seed

    _init_threads()
    x_train = np.asarray(x_train, np.float32)
    x_val = np.asarray(x_val, np.float32)
    shape = (spec.window, spec.channels)
    for what, x in (("training", x_train), ("validation", x_val)):
        if x.ndim != 3 or x.shape[1:] != shape or x.shape[0] < 1:
            raise VqTrainingError(f"{what} windows must be (n, {shape[0]}, {shape[1]}), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise VqTrainingError(f"{what} windows contain NaN or Inf")
    if cfg.epochs < 1 or cfg.warmup_epochs < 0:
        raise VqTrainingError(f"need epochs >= 1 and warmup_epochs >= 0, got {cfg.epochs}, {cfg.warmup_epochs}")
    k = keras()
    set_seed(cfg.seed)
    auto, enc, vq, dec = build_vq_cae(spec)
    if spec.encoder == "transform":
        from neurocodec.train.vq_cae import init_transform_from_pca

        init_transform_from_pca(enc, dec, x_train, spec)
    rng = np.random.default_rng(cfg.seed)
    probe = x_train[rng.choice(len(x_train), min(len(x_train), 8192), replace=False)]

    def latent(x):
        return enc.predict(x, batch_size=1024, verbose=0).reshape(-1, spec.latent_dim)

    def residuals(z):
        """Per stage, the vectors that stage quantizes (z, z - c0, ...) and their indices."""
        cbs = vq.quantized_codebooks().numpy()
        r, out = z, []
        for s in range(spec.stages):
            idx = vq._scores(tf.constant(r), tf.constant(cbs[s])).numpy().argmin(axis=1)
            out.append((r, idx))
            r = r - cbs[s][idx]
        return out

    def restart_dead() -> int:
        z = latent(probe)
        cbs = vq.codebooks.numpy()
        n_dead = 0
        for s, (r, idx) in enumerate(residuals(z)):
            dead = np.flatnonzero(np.bincount(idx, minlength=spec.num_codes) == 0)
            if dead.size:
                pick = r[rng.choice(len(r), dead.size, replace=len(r) < dead.size)]
                cbs[s][dead] = pick + rng.normal(0, 0.01 * (0.5 ** s), pick.shape)
                n_dead += int(dead.size)
        if n_dead:
            vq.set_codebook(cbs)
        return n_dead

    def init_codebooks():
        """Stage by stage k-means on the residuals of the stages before."""
        z = latent(probe)
        cbs = np.zeros((spec.stages, spec.num_codes, spec.latent_dim), np.float32)
        r = z
        for s in range(spec.stages):
            cbs[s] = kmeans_codebook(r, spec.num_codes, cfg.seed + s)
            vq.set_codebook(cbs)
            qc = vq.quantized_codebooks().numpy()[s]
            idx = vq._scores(tf.constant(r), tf.constant(qc)).numpy().argmin(axis=1)
            r = r - qc[idx]

    class RestartCallback(k.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if cfg.restart_dead_codes and epoch < cfg.epochs - 3:
                n = restart_dead()
                if logs is not None:
                    logs["dead_codes"] = n

    def fit(epochs, callbacks, lr0=cfg.learning_rate):
        steps = max(1, int(np.ceil(len(x_train) / cfg.batch_size))) * epochs
        lr = k.optimizers.schedules.CosineDecay(lr0, steps, alpha=0.05)
        opt = k.optimizers.Adam(lr, clipnorm=cfg.clipnorm) if cfg.clipnorm else k.optimizers.Adam(lr)
        auto.compile(optimizer=opt, loss=nsr_loss)
        h = auto.fit(x_train, x_train, validation_data=(x_val, x_val), epochs=epochs, batch_size=cfg.batch_size,
                     shuffle=True, verbose=cfg.verbose, callbacks=callbacks)
        return h.history

    history: dict = {}
    if cfg.warmup_epochs:
        vq.set_active(False)
        for key, vals in fit(cfg.warmup_epochs, []).items():
            history.setdefault(f"warmup_{key}", []).extend(float(v) for v in vals)
    init_codebooks()
    vq.set_active(True)
    for key, vals in fit(cfg.epochs, [RestartCallback()], cfg.learning_rate / 5).items():
        history.setdefault(key, []).extend(float(v) for v in vals)
    vq.set_stages_used(spec.stages)
    return {"autoencoder": auto, "encoder": enc, "vq": vq, "decoder": dec}, history


E_MIN, E_MAX = -10, 1  # block exponent range (side information alphabet of 12 symbols)


def block_exponents(waveforms, scale: float) -> np.ndarray:
    """Per-spike power-of-two gain exponent e: the window divided by scale * 2**e has its peak
    |x| in [0.5, 1) (clipped to [E_MIN, E_MAX]). In hardware: a leading-zero count of the peak
    and a barrel shift of the ADC codes; e is sent as side information (entropy coded)."""
    w = np.asarray(waveforms, np.float64)
    peak = np.abs(w.reshape(len(w), -1)).max(axis=1) / float(scale)
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.maximum(peak, 2.0**(E_MIN - 2)))) + 1
    return np.clip(e, E_MIN, E_MAX).astype(np.int64)


def normalize(waveforms, scale: float, exponents=None) -> tuple[np.ndarray, np.ndarray]:
    """(x / (scale * 2**e), e): block-floating-point normalization of each spike window."""
    w = np.asarray(waveforms, np.float64)
    e = block_exponents(w, scale) if exponents is None else np.asarray(exponents, np.int64)
    return w / (float(scale) * 2.0 ** e)[:, None, None], e


def denormalize(x_norm, scale: float, exponents) -> np.ndarray:
    return np.asarray(x_norm, np.float64) * (float(scale) * 2.0 ** np.asarray(exponents))[:, None, None]


def reconstruct(models: dict, x_norm: np.ndarray, batch_size: int = 1024,
                stages: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(indices, reconstruction (n, window, channels)) of normalized windows via the training
    graph (encoder -> nearest codeword(s) -> decoder). Indices are (n, L) for a one-stage
    model with ``stages=None``, else (n, stages, L) (default: all stages)."""
    import tensorflow as tf

    enc, vq = models["encoder"], models["vq"]
    z = enc.predict(np.asarray(x_norm, np.float32), batch_size=batch_size, verbose=0)
    if stages is None and vq.stages == 1:
        idx = vq.nearest(tf.constant(z)).numpy().astype(np.int64)
    else:
        idx = vq.nearest(tf.constant(z), vq.stages if stages is None else stages).numpy().astype(np.int64)
    return idx, decode_indices(models, idx, batch_size)


def decode_indices(models: dict, indices: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Receiver: indices (n, L) (stage 0) or (n, stages, L) (the first ``stages`` residual
    stages; -1: a stage not sent for that spike, it adds nothing) -> normalized reconstruction:
    sum of the stages' codewords -> decoder."""
    vq, dec = models["vq"], models["decoder"]
    cbs = vq.quantized_codebooks().numpy()
    idx = np.asarray(indices, np.int64)
    if idx.ndim == 2:
        idx = idx[:, None, :]
    if idx.ndim != 3 or idx.shape[1] > len(cbs):
        raise VqTrainingError(f"indices must be (n, L) or (n, stages <= {len(cbs)}, L), got {idx.shape}")
    if idx.size and (idx.min() < -1 or idx.max() >= cbs.shape[1]):
        raise VqTrainingError(f"indices outside [-1, {cbs.shape[1]})")
    z = sum(np.where(idx[:, s, :, None] >= 0, cbs[s][np.maximum(idx[:, s], 0)], 0) for s in range(idx.shape[1]))
    return dec.predict(z, batch_size=batch_size, verbose=0).astype(np.float64)


# ----------------------------------------------------------------------------- model folder


def save_model(out_dir, models: dict, spec: VqCaeSpec, scale: float, data: dict, history: dict,
               metrics: dict, x_val_norm: np.ndarray, n_vectors: int = 2048) -> Path:
    """Write the model folder (see module docstring) with the atomic writers of neurocodec.files.
    test_vectors.npz holds the stage-0 indices (what the hardware's search and its HLS C
    simulation produce) and, for residual models, ``residual_indices`` (n, stages, L)."""
    from neurocodec.files import make_dirs, save_with_atomic, savez_atomic, write_json_atomic
    from neurocodec.quantize.vq_reference import encode_int, encode_int_rvq, extract_int_vq_encoder, quantize_input

    out = make_dirs(Path(out_dir))
    cfg = {"model": "vq_cae", "spec": spec.to_dict(), "scale_uv": scale, "data": data, "adc_bits": 16,
           "input": "x_uV / (scale_uv * 2**e), e = per-spike block exponent in [E_MIN, E_MAX] (side information), "
                    "quantized to signed input_bits", "exponent_range": [E_MIN, E_MAX]}
    write_json_atomic(out / "config.json", cfg)
    save_with_atomic(out / "weights.h5", lambda tmp: models["autoencoder"].save_weights(str(tmp)))
    write_json_atomic(out / "history.json", history)
    write_json_atomic(out / "metrics.json", metrics)
    intenc = extract_int_vq_encoder(models["encoder"], models["vq"], spec)
    write_json_atomic(out / "int_encoder.json", intenc.to_dict())
    xs = np.asarray(x_val_norm)[:n_vectors]
    codes = quantize_input(xs, intenc)
    z, idx = encode_int(codes, intenc)
    extra = {}
    if spec.stages > 1:
        extra["residual_indices"] = encode_int_rvq(codes, intenc, spec.stages)[1]
    savez_atomic(out / "test_vectors.npz", input_codes=codes, latent_codes=z, indices=idx, **extra)
    return out


def load_model(model_dir):
    """(models, spec, config) from a model folder written by save_model."""
    model_dir = Path(model_dir)
    cfg_path = model_dir / "config.json"
    if not cfg_path.is_file():
        raise VqTrainingError(f"{model_dir}: no config.json (not a trained vq_cae folder)")
    cfg = json.loads(cfg_path.read_text())
    if cfg.get("model") != "vq_cae":
        raise VqTrainingError(f"{model_dir}: model family {cfg.get('model')!r} is not vq_cae")
    spec = VqCaeSpec.from_dict(cfg["spec"])
    auto, enc, vq, dec = build_vq_cae(spec)
    auto.load_weights(str(model_dir / "weights.h5"))
    return {"autoencoder": auto, "encoder": enc, "vq": vq, "decoder": dec}, spec, cfg


INDEX_PRIOR = "index_prior.npz"
PRIOR_STRENGTH = 1.0  # the prior weighs as much as K coded symbols of the adaptive model
PRIOR_SPIKES = 40000


def fit_index_prior(indices, num_codes: int, strength: float = PRIOR_STRENGTH, increment: int = 24) -> np.ndarray:
    """Initial counts (stages, L, K) of the adaptive index models from training indices (n, stages, L):
    1 + round(p_k * strength * increment * K), p_k the codeword frequency per stage and position."""
    idx = np.asarray(indices, np.int64)
    n, st, length = idx.shape
    counts = np.zeros((st, length, num_codes), np.int64)
    for s in range(st):
        for j in range(length):
            counts[s, j] = np.bincount(idx[:, s, j], minlength=num_codes)
    p = counts / max(n, 1)
    return (1 + np.round(p * strength * increment * num_codes)).astype(np.int64)


def write_index_prior(model_dir, windows=None, n_spikes: int = PRIOR_SPIKES,
                      strength: float = PRIOR_STRENGTH) -> Path:
    """Fit the learned entropy model of a model folder's indices on training spike windows (uV;
    default: its family's training spikes), coded by the greedy search of the integer encoder at
    every stage, and write index_prior.npz. The file is part of the model: the codec's model hash
    covers it."""
    from neurocodec.files import savez_atomic
    from neurocodec.quantize.vq_reference import IntVqEncoder, encode_int_rvq, quantize_input

    model_dir = Path(model_dir)
    cfg = json.loads((model_dir / "config.json").read_text())
    ie = IntVqEncoder.from_dict(json.loads((model_dir / "int_encoder.json").read_text()))
    train = training_windows(cfg["data"]["family"])[0] if windows is None else np.asarray(windows)
    train = train[np.sort(np.random.default_rng(0).choice(len(train), min(n_spikes, len(train)), replace=False))]
    x, _ = normalize(train, float(cfg["scale_uv"]))
    _, idx = encode_int_rvq(quantize_input(x, ie), ie, ie.stages)
    counts = fit_index_prior(idx, ie.num_codes, strength)
    return savez_atomic(model_dir / INDEX_PRIOR, counts=counts, n_spikes=np.int64(len(train)),
                        strength=np.float64(strength))


def load_index_prior(model_dir, stages: int, length: int, num_codes: int) -> np.ndarray | None:
    """The (stages, L, K) initial counts of index_prior.npz, or None without one; a file of another
    shape or with counts the coder cannot take is an error naming it."""
    from neurocodec.quantize.entropy import _MAX_TOTAL

    path = Path(model_dir) / INDEX_PRIOR
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            counts = np.asarray(f["counts"])
    except Exception as exc:  # noqa: BLE001 (any unreadable file)
        raise VqTrainingError(f"{path}: unreadable index prior ({exc})") from None
    if counts.shape != (stages, length, num_codes) or counts.dtype.kind not in "iu":
        raise VqTrainingError(f"{path}: index prior of shape {counts.shape} ({counts.dtype}), the model needs "
                              f"integer counts ({stages}, {length}, {num_codes})")
    if counts.min() < 1 or counts.sum(axis=-1).max() >= _MAX_TOTAL // 2:
        raise VqTrainingError(f"{path}: index prior counts outside [1, {_MAX_TOTAL // 2}) per model")
    return counts.astype(np.int64)


# ----------------------------------------------------------------------------- CLI


def spec_from_args(args, window: int, channels: int) -> VqCaeSpec:
    from neurocodec.train.vq_cae import VqQuantSpec

    return VqCaeSpec(window=window, channels=channels, filters=args.filters, n_down=args.n_down,
                     latent_dim=args.latent_dim, num_codes=args.codes, ema=args.ema,
                     decoder_filters=args.decoder_filters, stages=args.stages,
                     decoder_blocks=args.decoder_blocks, encoder=args.encoder, split=args.split,
                     quant=VqQuantSpec(act_bits=args.act_bits, act_integer=args.act_integer,
                                       weight_bits=args.weight_bits))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neurocodec train vq_cae",
                                description="Train the vq_cae spike codec on generated ground-truth spikes.")
    p.add_argument("--data", default="si", choices=sorted(DATA_FAMILIES))
    p.add_argument("--n-down", type=int, default=3, help="stride-2 stages: latent length = window / 2**n_down")
    p.add_argument("--latent-dim", type=int, default=4, help="D, dimension of each latent vector")
    p.add_argument("--codes", type=int, default=256, help="K, codebook entries (per stage)")
    p.add_argument("--filters", type=int, default=32)
    p.add_argument("--decoder-filters", type=int, default=64)
    p.add_argument("--decoder-blocks", type=int, default=2, help="residual blocks per decoder stage")
    p.add_argument("--stages", type=int, default=4, help="residual VQ stages (one model, several rates)")
    p.add_argument("--encoder", default="conv", choices=("conv", "transform"),
                   help="conv: stem + n_down strided residual stages; transform: one full-window convolution "
                        "(a learned block transform, started from PCA), latent of one vector (L = 1)")
    p.add_argument("--split", type=int, default=1,
                   help="split each encoder output vector into this many D-dim sub-vectors (product VQ: "
                        "latent = positions x split vectors of dimension --latent-dim)")
    p.add_argument("--weight-bits", type=int, default=8, help="encoder weight width (signed, fraction bits only)")
    p.add_argument("--act-bits", type=int, default=10, help="activation / latent register width (signed)")
    p.add_argument("--act-integer", type=int, default=4,
                   help="integer bits of the activation format (fraction = act_bits - 1 - act_integer)")
    p.add_argument("--no-ema", dest="ema", action="store_false",
                   help="train the codebook by its gradient (codebook loss) instead of EMA updates")
    p.add_argument("--epochs", type=int, default=7, help="epochs with the quantizer active")
    p.add_argument("--warmup-epochs", type=int, default=5, help="autoencoder epochs before k-means init")
    p.add_argument("--train-spikes", type=int, default=32000, help="random subset of the training spikes")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--duration", type=float, default=None, help="seconds per generated recording")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="vq_cae", help="model folder name under out/models")
    p.add_argument("--verbose", type=int, default=0)
    return p


def main(argv=None) -> int:
    from neurocodec import paths

    args = build_parser().parse_args(argv)
    fam = family(args.data)
    spec = spec_from_args(args, fam["window"], fam["channels"])
    t0 = time.time()
    train, val = training_windows(args.data, args.duration)
    if len(train) > args.train_spikes:
        rng = np.random.default_rng(args.seed)
        train = train[np.sort(rng.choice(len(train), args.train_spikes, replace=False))]
    scale = fit_scale(train)
    (xt, _), (xv, _) = normalize(train, scale), normalize(val, scale)
    models, history = train_vq_cae(spec, xt, xv, TrainConfig(
        epochs=args.epochs, warmup_epochs=args.warmup_epochs, batch_size=args.batch_size, learning_rate=args.lr,
        seed=args.seed, verbose=args.verbose))
    from neurocodec.metrics.reconstruction import sndr_db

    idx, rec = reconstruct(models, xv)
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    metrics = {"val_sndr_db": float(np.mean(sndr_db(flat(xv), flat(rec)))), "n_train": len(train),
               "n_val": len(val), "train_seconds": time.time() - t0}
    if spec.stages > 1:
        metrics["val_sndr_db_per_stages"] = {}
        for n in range(1, spec.stages + 1):
            _, rec_n = reconstruct(models, xv, stages=n)
            metrics["val_sndr_db_per_stages"][n] = float(np.mean(sndr_db(flat(xv), flat(rec_n))))
    name = args.name
    out = save_model(paths.model_dir(name), models, spec, scale, {"family": args.data, **{
        k: (list(v) if isinstance(v, tuple) else v) for k, v in fam.items()}}, history, metrics, xv)
    if spec.quant is not None:
        write_index_prior(out, train)
    print(f"vq_cae: {name}: validation SNDR {metrics['val_sndr_db']:.2f} dB "
          f"{metrics.get('val_sndr_db_per_stages', '')} -> {out}")
    return 0


__all__ = [
    "DATA_FAMILIES",
    "TrainConfig",
    "VqTrainingError",
    "decode_indices",
    "fit_scale",
    "fit_index_prior",
    "write_index_prior",
    "load_index_prior",
    "load_model",
    "load_spikes",
    "main",
    "normalize",
    "denormalize",
    "block_exponents",
    "reconstruct",
    "save_model",
    "train_vq_cae",
    "training_spikes",
    "training_windows",
]
