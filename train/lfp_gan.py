"""`lfp_gan`: Wasserstein GAN with gradient penalty on multichannel windows, optionally
initialised from the `lfp_ae` autoencoder (generator = its decoder, critic = its encoder).

- Generator: z ~ N(0, I) of the latent's shape -> fixed per-element affine map
  (``z * latent_std + latent_mean``) -> the `lfp_ae` decoder architecture -> the data's
  per-window normalization (so generated and real windows share mean 0 and unit std per window,
  and neither the critic nor the Frechet distance can tell them apart by scale). Pre-trained: the
  decoder's weights and the mean / std of the encoder's latents on the training windows (so the
  untrained generator already decodes plausible latents); from scratch: random decoder, identity
  affine map.
- Critic: the `lfp_ae` encoder architecture in float (no quantizers, no clipping) + Flatten +
  Dense(1). Pre-trained: the encoder's (quantized) conv weights; from scratch: random.
- Loss (Gulrajani et al. 2017): critic ``E[D(fake)] - E[D(real)] + gp_weight * GP`` with
  ``GP = E[(||grad_x D(x_hat)||_2 - 1)^2]``, ``x_hat = eps * real + (1 - eps) * fake``,
  ``eps ~ U(0, 1)`` per sample (``gradient_penalty``), plus a small drift term
  ``drift * E[D(real)^2]`` (Karras et al. 2018) that keeps critic values bounded; generator
  ``-E[D(fake)]``; ``n_critic`` critic updates per generator update; Adam(1e-4, 0, 0.9).

Evaluation (``FrechetEvaluator``): Frechet distance between generated and held-out real windows
on the pre-trained autoencoder's encoder output (a fixed feature extractor, like Inception in
FID: pooled = mean and std over time per latent channel, and the flat latent) and on
channel-averaged log power spectra (``log_spectra``).

CLI: ``neurocodec train lfp_gan [--data eeglab|locust] [--init pretrained|scratch]`` -> ``main``.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import neurocodec  # noqa: F401
from neurocodec import paths
from neurocodec.metrics.frechet import frechet_distance_from_samples
from neurocodec.train.lfp_ae import (
    LfpSpec, TrainedLfpAe, build_lfp_data, build_lfp_decoder, build_lfp_encoder,
    copy_encoder_weights, latent_codes, load_lfp_ae, normalize_windows, spec_for,
)
from neurocodec.files import atomic_dir, save_with_atomic, write_json_atomic
from neurocodec.train.spectro_cae import limit_threads

INITS = ("pretrained", "scratch")


@dataclass(frozen=True)
class GanConfig:
    steps: int = 400  # generator updates
    n_critic: int = 5
    batch_size: int = 32
    gp_weight: float = 10.0
    drift: float = 1e-3
    lr_generator: float = 1e-4
    lr_critic: float = 1e-4
    beta_1: float = 0.0
    beta_2: float = 0.9
    eval_every: int = 50
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


# ============================================================================ features / FD
def log_spectra(x, n_bins: int = 32) -> np.ndarray:
    """(n, length, channels) windows -> (n, n_bins) log10 power spectra: Hann-windowed
    periodogram per channel, averaged over channels, DC dropped, averaged in ``n_bins``
    equal-width frequency bands."""
    x = np.asarray(x, np.float64)
    if x.ndim != 3:
        raise ValueError(f"expected (n, length, channels), got shape {x.shape}")
    length = x.shape[1]
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)
    spec = np.abs(np.fft.rfft(x * w[None, :, None], axis=1)) ** 2  # (n, f, ch)
    p = spec.mean(axis=2)[:, 1:]
    n_bins = min(int(n_bins), p.shape[1])
    edges = np.linspace(0, p.shape[1], n_bins + 1).round().astype(int)
    bands = np.stack([p[:, a:b].mean(axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)
    return np.log10(bands + 1e-12)


class FrechetEvaluator:
    """FD of sample sets against a fixed held-out real set, on three feature sets:

    - ``encoder``: per latent channel, the mean and std over time of the pre-trained encoder's
      output (2 x latent_channels numbers; low-dimensional, so the estimate is stable for a few
      hundred windows);
    - ``encoder_flat``: the whole flattened latent (latent_length x latent_channels numbers);
    - ``spectra``: channel-averaged log power spectra in ``n_bins`` bands (``log_spectra``).
    """

    KEYS = ("encoder", "encoder_flat", "spectra")

    def __init__(self, encoder, real_reference: np.ndarray, n_bins: int = 32):
        self.encoder = encoder
        self.n_bins = n_bins
        self.reference = np.asarray(real_reference, np.float32)
        self.ref_features = self.features(self.reference)

    def features(self, x) -> dict:
        z = latent_codes(self.encoder, x).astype(np.float64)
        return {"encoder": np.concatenate([z.mean(axis=1), z.std(axis=1)], axis=1),
                "encoder_flat": z.reshape(len(z), -1),
                "spectra": log_spectra(x, self.n_bins)}

    def __call__(self, x) -> dict:
        f = self.features(x)
        return {k: frechet_distance_from_samples(f[k], self.ref_features[k]) for k in self.KEYS}

    def mean_over_draws(self, draw, n_draws: int = 3) -> dict:
        """Mean and std of the FDs of ``n_draws`` sample sets ``draw(i)`` (i = 0..n_draws-1)."""
        values = [self(draw(i)) for i in range(int(n_draws))]
        return {k: float(np.mean([v[k] for v in values])) for k in self.KEYS} | {
            f"{k}_sd": float(np.std([v[k] for v in values])) for k in self.KEYS}


def gaussian_noise_windows(n: int, spec: LfpSpec, seed: int = 0) -> np.ndarray:
    """White Gaussian noise windows, normalized like the data (the 'noise' reference)."""
    rng = np.random.default_rng(seed)
    return normalize_windows(rng.standard_normal((n, *spec.input_shape)))


# ============================================================================ models
def _affine_layer(latent_shape, mean=None, std=None, name="latent_affine"):
    """Non-trainable ``z * std + mean`` layer (weights saved with the generator)."""
    import tensorflow as tf

    from neurocodec.train.backend import keras

    k = keras()

    class FixedAffine(k.layers.Layer):
        def build(self, input_shape):
            self.mean = self.add_weight(name="mean", shape=latent_shape, trainable=False,
                                        initializer="zeros")
            self.std = self.add_weight(name="std", shape=latent_shape, trainable=False,
                                       initializer="ones")

        def call(self, z):
            return z * tf.cast(self.std, z.dtype) + tf.cast(self.mean, z.dtype)

    layer = FixedAffine(name=name)
    return layer


def build_generator(spec: LfpSpec):
    from neurocodec.train.backend import keras

    k = keras()
    z = k.Input(shape=spec.latent_shape, name="z")
    affine = _affine_layer(spec.latent_shape)
    decoder = build_lfp_decoder(spec, name="generator_decoder")
    out = k.layers.Lambda(_normalize_windows_tf, name="window_norm")(decoder(affine(z)))
    model = k.Model(z, out, name="generator")
    return model, affine, decoder


def _normalize_windows_tf(x):
    """The data's per-window normalization, differentiable: channel means removed, one std."""
    import tensorflow as tf

    x = x - tf.reduce_mean(x, axis=1, keepdims=True)
    return x / tf.sqrt(tf.reduce_mean(tf.square(x), axis=[1, 2], keepdims=True) + 1e-10)


def build_critic(spec: LfpSpec):
    from neurocodec.train.backend import keras

    k = keras()
    encoder = build_lfp_encoder(spec, quantized=False, clip=False, name="critic_encoder")
    x = k.layers.Flatten(name="critic_flatten")(encoder.output)
    out = k.layers.Dense(1, name="critic_score")(x)
    return k.Model(encoder.input, out, name="critic"), encoder


def init_from_autoencoder(ae: TrainedLfpAe, generator_parts, critic_encoder, train_windows):
    """Copy decoder -> generator, encoder -> critic, and fit the latent affine map."""
    _, affine, decoder = generator_parts
    decoder.set_weights(ae.decoder.get_weights())
    copy_encoder_weights(ae.encoder, critic_encoder, ae.spec, quantize=True)
    z = latent_codes(ae.encoder, train_windows)
    mean, std = z.mean(axis=0), z.std(axis=0)
    affine.set_weights([mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32)])


# ============================================================================ WGAN-GP
def gradient_penalty(critic, real, fake, eps=None, weight: float = 10.0):
    """``weight * mean((||grad_x critic(x_hat)||_2 - 1)**2)`` at ``x_hat = eps*real + (1-eps)*fake``.

    ``eps`` (shape (batch, 1, ..., 1) or broadcastable) defaults to U(0, 1) per sample. The norm
    is over all non-batch axes. Differentiable w.r.t. the critic's weights (nested tapes)."""
    import tensorflow as tf

    real = tf.convert_to_tensor(real, tf.float32)
    fake = tf.convert_to_tensor(fake, tf.float32)
    if eps is None:
        shape = tf.concat([tf.shape(real)[:1], tf.ones([tf.rank(real) - 1], tf.int32)], axis=0)
        eps = tf.random.uniform(shape, 0.0, 1.0)
    eps = tf.cast(eps, tf.float32)
    x_hat = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        score = critic(x_hat, training=True)
    grad = tape.gradient(score, x_hat)
    axes = tf.range(1, tf.rank(grad))
    norm = tf.sqrt(tf.reduce_sum(tf.square(grad), axis=axes) + 1e-12)
    return weight * tf.reduce_mean(tf.square(norm - 1.0))


@dataclass
class GanResult:
    init: str
    generator: object
    critic: object
    history: dict  # step -> losses; "fd": list of {"step", "encoder", "spectra"}
    config: GanConfig
    cpu_seconds: float


def train_wgan_gp(spec: LfpSpec, train_windows: np.ndarray, init: str = "pretrained",
                  ae: TrainedLfpAe | None = None, config: GanConfig = GanConfig(),
                  evaluator: FrechetEvaluator | None = None, n_eval: int | None = None,
                  log=print) -> GanResult:
    """Train a WGAN-GP on ``train_windows``; ``init='pretrained'`` needs the autoencoder ``ae``.
    With an ``evaluator``, FD (of ``n_eval`` generated windows) is recorded every
    ``config.eval_every`` generator steps and at the end."""
    import tensorflow as tf

    from neurocodec.train.backend import keras, set_seed

    k = keras()
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if init == "pretrained" and ae is None:
        raise ValueError("init='pretrained' needs the trained autoencoder (ae=...)")
    train_windows = np.asarray(train_windows, np.float32)
    if train_windows.ndim != 3 or train_windows.shape[1:] != spec.input_shape:
        raise ValueError(f"training windows must have shape (n, {spec.input_shape[0]}, "
                         f"{spec.input_shape[1]}), got {train_windows.shape}")
    if len(train_windows) < config.batch_size:
        raise ValueError(f"{len(train_windows)} training windows < batch size {config.batch_size}")
    set_seed(config.seed)
    t0 = time.process_time()
    gen_parts = build_generator(spec)
    generator = gen_parts[0]
    critic, critic_encoder = build_critic(spec)
    if init == "pretrained":
        init_from_autoencoder(ae, gen_parts, critic_encoder, train_windows)
    opt_g = k.optimizers.Adam(config.lr_generator, beta_1=config.beta_1, beta_2=config.beta_2)
    opt_d = k.optimizers.Adam(config.lr_critic, beta_1=config.beta_1, beta_2=config.beta_2)
    data = tf.constant(train_windows)
    n_data = len(train_windows)
    b = int(config.batch_size)
    latent_shape = [b, *spec.latent_shape]
    gp_weight, drift = float(config.gp_weight), float(config.drift)

    @tf.function
    def critic_step():
        idx = tf.random.uniform([b], 0, n_data, dtype=tf.int32)
        real = tf.gather(data, idx)
        z = tf.random.normal(latent_shape)
        with tf.GradientTape() as tape:
            fake = generator(z, training=True)
            d_real = critic(real, training=True)
            d_fake = critic(fake, training=True)
            gp = gradient_penalty(critic, real, fake, weight=gp_weight)
            w_dist = tf.reduce_mean(d_real) - tf.reduce_mean(d_fake)
            loss = -w_dist + gp + drift * tf.reduce_mean(tf.square(d_real))
        grads = tape.gradient(loss, critic.trainable_variables)
        opt_d.apply_gradients(zip(grads, critic.trainable_variables))
        return loss, w_dist, gp

    @tf.function
    def generator_step():
        z = tf.random.normal(latent_shape)
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(critic(generator(z, training=True), training=True))
        grads = tape.gradient(loss, generator.trainable_variables)
        opt_g.apply_gradients(zip(grads, generator.trainable_variables))
        return loss

    history = {"step": [], "critic_loss": [], "wasserstein": [], "gp": [], "generator_loss": [],
               "fd": []}
    rng = np.random.default_rng(config.seed + 1)
    n_eval = n_eval or (len(evaluator.reference) if evaluator is not None else 0)

    def evaluate(step):
        if evaluator is None:
            return
        fake = sample(generator, n_eval, spec, rng)
        fd = evaluator(fake)
        history["fd"].append({"step": int(step), **fd})
        if log:
            log(f"[lfp_gan {spec.data} {init}] step {step}/{config.steps} FD encoder "
                f"{fd['encoder']:.2f} spectra {fd['spectra']:.3f} ({time.process_time() - t0:.0f} s cpu)")

    evaluate(0)
    for step in range(1, int(config.steps) + 1):
        for _ in range(int(config.n_critic)):
            d_loss, w_dist, gp = critic_step()
        g_loss = generator_step()
        if step % max(1, config.eval_every // 5) == 0 or step == config.steps:
            history["step"].append(step)
            history["critic_loss"].append(float(d_loss))
            history["wasserstein"].append(float(w_dist))
            history["gp"].append(float(gp))
            history["generator_loss"].append(float(g_loss))
        if config.eval_every and (step % config.eval_every == 0 or step == config.steps):
            evaluate(step)
    if not np.all(np.isfinite(history["critic_loss"])):
        raise FloatingPointError(f"WGAN-GP ({init}) diverged: non-finite critic loss")
    return GanResult(init, generator, critic, history, config, time.process_time() - t0)


def sample(generator, n: int, spec: LfpSpec, rng=None, batch_size: int = 256) -> np.ndarray:
    """``n`` generated windows (n, length, channels), float32."""
    rng = rng if rng is not None else np.random.default_rng(0)
    z = rng.standard_normal((int(n), *spec.latent_shape)).astype(np.float32)
    return generator.predict(z, batch_size=batch_size, verbose=0).astype(np.float32)


# ============================================================================ save
def save_gan(result: GanResult, spec: LfpSpec, model_dir, extra: dict | None = None) -> Path:
    model_dir = Path(model_dir)
    with atomic_dir(model_dir) as staged:  # staged, then one rename (files.atomic_dir)
        save_with_atomic(staged / "generator_weights.h5", result.generator.save_weights)
        save_with_atomic(staged / "critic_weights.h5", result.critic.save_weights)
        write_json_atomic(staged / "history.json", result.history)
        write_json_atomic(staged / "metrics.json", {"cpu_seconds": result.cpu_seconds,
                                                       "final_fd": result.history["fd"][-1]
                                                       if result.history["fd"] else None,
                                                       **(extra or {})})
        write_json_atomic(staged / "config.json", {"family": "lfp_gan", "init": result.init,
                                                      "spec": spec.to_dict(),
                                                      "gan": result.config.to_dict()})
    return model_dir


def load_generator(model_dir):
    from neurocodec.train.artifacts import read_family_config

    model_dir = Path(model_dir)
    config = read_family_config(model_dir, "lfp_gan")
    spec = LfpSpec.from_dict(config["spec"])
    generator = build_generator(spec)[0]
    generator.load_weights(str(model_dir / "generator_weights.h5"))
    return spec, generator


def load(model_dir):
    """The registry's one load shape (train.artifacts.LoadedModel)."""
    from neurocodec.train.artifacts import LoadedModel

    spec, generator = load_generator(model_dir)
    config = json.loads((Path(model_dir) / "config.json").read_text())
    return LoadedModel("lfp_gan", spec, {"generator": generator}, config)


def main(argv=None) -> int:
    """``neurocodec train lfp_gan``: WGAN-GP from the saved lfp_ae (pretrained) or scratch."""
    p = argparse.ArgumentParser(prog="neurocodec train lfp_gan", description=__doc__.split("\n")[0])
    p.add_argument("--data", choices=["eeglab", "locust"], default="eeglab")
    p.add_argument("--init", choices=INITS, default="pretrained")
    p.add_argument("--ae-dir", default=None,
                   help="trained lfp_ae folder (default out/models/lfp_ae_<data>; needed for "
                        "--init pretrained and for the FD features)")
    p.add_argument("--steps", type=int, default=GanConfig.steps)
    p.add_argument("--n-critic", type=int, default=GanConfig.n_critic)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default=None, help="folder name (default lfp_gan_<data>_<init>)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    limit_threads(args.threads)
    ae_dir = Path(args.ae_dir) if args.ae_dir else paths.model_dir(f"lfp_ae_{args.data}")
    try:
        ae = load_lfp_ae(ae_dir)
    except FileNotFoundError as exc:
        raise SystemExit(f"{exc}\nrun `neurocodec train lfp_ae --data {args.data}` first")
    spec = ae.spec
    data = build_lfp_data(spec)
    evaluator = FrechetEvaluator(ae.encoder, data.test)
    cfg = GanConfig(steps=args.steps, n_critic=args.n_critic, seed=args.seed)
    result = train_wgan_gp(spec, data.train, args.init, ae, cfg, evaluator)
    out = paths.model_dir(args.name or f"lfp_gan_{args.data}_{args.init}")
    save_gan(result, spec, out, {"ae_dir": str(ae_dir)})
    fd = result.history["fd"][-1]
    print(f"saved {out}: FD encoder {fd['encoder']:.2f}, spectra {fd['spectra']:.3f}")
    return 0


__all__ = [
    "FrechetEvaluator", "GanConfig", "GanResult", "INITS", "build_critic", "build_generator",
    "gaussian_noise_windows", "gradient_penalty", "init_from_autoencoder", "load_generator",
    "log_spectra", "main", "sample", "save_gan", "spec_for", "train_wgan_gp",
]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
