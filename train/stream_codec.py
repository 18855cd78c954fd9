"""`stream`: the spike-aware stream codec with a learned snippet transform coder.

Structure (codec: neurocodec.codec.stream): the band split of the classical spike-aware hybrid
(neurocodec.codec.continuous_baselines) - decimated, quantized, entropy-coded LFP path at ~1 kHz,
and a spike path that spends bits only where spikes are - with the snippet coder learned:

* snippets: `snippet` samples (peak at `pre`) of the residual x - LFP(decoded) around spikes
  detected at `threshold` x MAD sigma (300-5000 Hz band, max over a group of up to 4 channels),
  every channel of the group;
* block floating point: per channel-snippet gain g = sigma * 2**(k/8) >= max |s|, k entropy
  coded; the encoder input is u = 1/2 + s / (2 g) in [0, 1), 8-bit unsigned codes;
* encoder: the `cae` building block (QKeras: `enc{i}_conv`, `enc{i}_acc`, `enc{i}_leaky`,
  `enc{i}_act`, kernel 8, stride 2, 8-bit weights/activations, 16-bit accumulators), 2 layers
  (16 filters, then `latent_filters` = 3): a snippet of 48 samples -> 12 x 3 int8 latent codes. It
  is the model the integer reference (quantize.reference), hls4ml and Verilog flows already
  handle. The leaky slope is 1 by default (a learned linear transform: with the cae's 0.3 the
  same training reached 2-3 dB less spike-window SNDR at equal rate);
* rate: the int8 latent codes are uniformly requantized (round half even) with a step of
  `latent_step` x 8 sigma / gain codes (the same step in recording units for every snippet, see
  codec.stream.StreamCodec.steps), entropy coded with context-adaptive models (codec.stream.code_latents);
* decoder (receiver only, float): an MLP of 2 x 256 units (GELU) from the dequantized latent and
  the step to the normalized snippet s / g.

Training (`neurocodec train stream`, about 2 min on 2 threads): snippets of locust trial 01's
first 80 % (the cae's training part; 80 % -> 100 % is held out), detected at `train_threshold`
(3.0) and also cut +-1..`jitter` samples off the peak (about 48,000 channel snippets); quantizer
in the loop: the latent receives additive uniform noise of the width of a step drawn
log-uniformly from `train_steps` codes (the decoder is told the step), QKeras rounds the
activations to their int8 grid (straight-through); loss = squared error of the 300-5000 Hz
band-passed snippet (a fixed 31-tap FIR) weighted by the snippet's gain squared (the spike-band
error in recording units) + `rate_weight` x a rate proxy mean log2(1 + |z| / step).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurocodec import paths
from neurocodec.files import savez_atomic, write_json_atomic
from neurocodec.train.backend import keras, set_seed

LOCUST_SPLIT_SAMPLE = 337 * 1024  # the cae's train/validation split of locust trial 01 (80 % of 1024-windows)
GAIN_STEPS_PER_OCTAVE = 8
GAIN_CODES = 96


@dataclass(frozen=True)
class StreamSpec:
    snippet: int = 48
    pre: int = 20
    hidden_filters: int = 16
    latent_filters: int = 3
    n_layers: int = 2
    decoder_units: int = 256
    decoder_layers: int = 2
    threshold: float = 3.5
    lfp_step: float = 1.0
    lfp_fs: float = 1000.0
    latent_step: int = 8  # default rate of the model folder's codec (about 32x on locust)
    train_steps: tuple = (1, 32)
    rate_weight: float = 0.002  # lambda of the rate proxy sum log2(1 + |z| / step) per latent value
    leaky_alpha: float = 1.0  # 1.0: a linear learned transform (0.3, the cae's slope, trained worse here)
    train_threshold: float = 3.0  # detection threshold of the training snippets (more data)
    jitter: int = 2  # training snippets also cut at +-1..jitter samples from the peak

    @property
    def latent_length(self) -> int:
        return self.snippet // 2**self.n_layers

    @property
    def latent_size(self) -> int:
        return self.latent_length * self.latent_filters

    def cae_spec(self):
        from neurocodec.train.cae import CaeSpec

        # cr is only a label here: the layers are built below from this spec's widths
        return CaeSpec(cr=4, segment_length=self.snippet, hidden_filters=self.hidden_filters,
                       leaky_alpha=self.leaky_alpha)

    def to_dict(self):
        from neurocodec.train.artifacts import spec_to_dict

        return spec_to_dict(self)

    @staticmethod
    def from_dict(d):
        from neurocodec.train.artifacts import spec_from_dict

        return spec_from_dict(StreamSpec, d)


def build_encoder(spec: StreamSpec):
    """QKeras snippet encoder with the cae layer names (quantize.reference reads it)."""
    from qkeras import QActivation, quantized_bits

    from neurocodec.train.cae import _conv_block

    k = keras()
    cs = spec.cae_spec()
    inp = k.Input(shape=(spec.snippet, 1), name="enc_input")
    x = QActivation(quantized_bits(cs.quant.input_bits, 0, keep_negative=False, alpha=1), name="enc_input_q")(inp)
    filters = [spec.hidden_filters] * (spec.n_layers - 1) + [spec.latent_filters]
    for i, f in enumerate(filters):
        x = _conv_block(x, f, 2, cs, f"enc{i + 1}")
    return k.Model(inp, x, name="encoder")


def build_decoder(spec: StreamSpec):
    k = keras()
    z = k.Input(shape=(spec.latent_length, spec.latent_filters), name="latent")
    step = k.Input(shape=(1,), name="step")
    x = k.layers.Concatenate(name="dec_in")([k.layers.Flatten(name="dec_flat")(z), step])
    for i in range(spec.decoder_layers):
        x = k.layers.Dense(spec.decoder_units, activation="gelu", name=f"dec{i + 1}")(x)
    out = k.layers.Dense(spec.snippet, name="dec_out")(x)
    return k.Model([z, step], out, name="decoder")


def build_models(spec: StreamSpec):
    """(joint model holding both, encoder, decoder)."""
    k = keras()
    enc, dec = build_encoder(spec), build_decoder(spec)
    u = k.Input(shape=(spec.snippet, 1), name="u")
    step = k.Input(shape=(1,), name="step_in")
    joint = k.Model([u, step], dec([enc(u), step]), name="stream")
    return joint, enc, dec


def latent_code_scale(encoder_or_ie) -> int:
    """Latent codes per unit of the encoder's real-valued output (2**out_frac)."""
    from neurocodec.quantize.reference import IntEncoder, extract_int_encoder

    ie = encoder_or_ie if isinstance(encoder_or_ie, IntEncoder) else extract_int_encoder(encoder_or_ie)
    return 2 ** ie.layers[-1].out_frac


# ------------------------------------------------------------------- snippets

def gain_codes(s: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(n, ch, L) snippets, (ch,) sigma -> (n, ch) gain codes k with sigma 2**(k/8) >= max|s|."""
    peak = np.abs(s).max(axis=-1) / sigma[None, :]
    k = np.ceil(GAIN_STEPS_PER_OCTAVE * np.log2(np.maximum(peak, 1e-9)) + 1e-9)
    return np.clip(k, 0, GAIN_CODES - 1).astype(np.int64)


def gains(k: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    return sigma.astype(np.float64)[None, :] * 2.0 ** (k / GAIN_STEPS_PER_OCTAVE)


def normalize(s: np.ndarray, g: np.ndarray) -> np.ndarray:
    """u = 1/2 + s / (2 g), in [0, 1) (8-bit input grid: top code 255/256)."""
    return np.clip(0.5 + s / (2.0 * g[..., None]), 0.0, 255.0 / 256.0)


def snippet_dataset(data: np.ndarray, fs: float, spec: StreamSpec, threshold: float | None = None,
                    jitter: int = 0) -> dict:
    """Residual snippets of a recording as the codec's encoder sees them (band split of
    codec.continuous_baselines), normalized: u (n, L), gain g (n,), sigma (n,); optionally
    detected at another threshold and also cut at +-1..jitter samples from each peak."""
    from neurocodec.codec.stream import StreamCodec

    probe = StreamCodec.__new__(StreamCodec)
    probe._init_hybrid(fs, spec, threshold=threshold)
    a = probe.analyse(data)
    from neurocodec.codec.continuous_baselines import cut

    us, gs, ss = [], [], []
    n = data.shape[1]
    for g, t0 in zip(a["groups"], a["times"]):
        t = np.concatenate([t0 + d for d in range(-jitter, jitter + 1)])
        t = t[(t >= spec.pre) & (t - spec.pre + spec.snippet <= n)]
        if not len(t):
            continue
        s = cut(a["residual"][g], t, spec.snippet, spec.pre)
        sig = a["sigma"][g].astype(np.float64)
        k = gain_codes(s, sig)
        gg = gains(k, sig)
        us.append(normalize(s, gg).reshape(-1, spec.snippet))
        gs.append(gg.reshape(-1))
        ss.append(np.broadcast_to(sig, gg.shape).reshape(-1))
    return {"u": np.concatenate(us), "g": np.concatenate(gs), "sigma": np.concatenate(ss)}


def band_fir(fs: float, n_taps: int = 31) -> np.ndarray:
    from scipy.signal import firwin

    return firwin(n_taps, [300.0, min(5000.0, 0.45 * fs)], pass_zero=False, fs=fs)


# ------------------------------------------------------------------- training

def train(spec: StreamSpec, u: np.ndarray, g: np.ndarray, sigma: np.ndarray, fs: float, epochs: int = 60,
          batch_size: int = 256, learning_rate: float = 2e-3, seed: int = 0, val_fraction: float = 0.1,
          verbose: bool = True):
    import tensorflow as tf

    set_seed(seed)
    joint, enc, dec = build_models(spec)
    n = len(u)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_val = max(1, int(val_fraction * n))
    val, tr = order[:n_val], order[n_val:]
    w = (g / sigma) ** 2
    w_mean = float(w.mean())
    w = (w / w_mean).astype(np.float32)
    target = (2.0 * (u - 0.5)).astype(np.float32)
    fir = tf.constant(band_fir(fs)[::-1].reshape(-1, 1, 1), tf.float32)
    scale = float(2 ** (spec.cae_spec().quant.act_bits - 1 - spec.cae_spec().quant.act_integer))
    lo, hi = np.log(spec.train_steps[0]), np.log(spec.train_steps[1])
    opt = keras().optimizers.Adam(learning_rate)

    def loss_fn(ub, tb, wb, training):
        nb = tf.shape(ub)[0]
        # latent step (log-uniform in train_steps codes), in real latent units; the codec scales
        # its step per snippet (codec.stream.StreamCodec.steps), the decoder is told the step
        step = tf.exp(tf.random.uniform((nb, 1), lo, hi)) / scale
        z = enc(ub[..., None], training=training)
        zq = z + (tf.random.uniform(tf.shape(z)) - 0.5) * step[:, :, None]
        v = dec([zq, step * scale / 32.0], training=training)
        e = tf.nn.conv1d((v - tb)[..., None], fir, 1, "SAME")[..., 0]
        distortion = tf.reduce_mean(tf.reduce_mean(e**2, axis=1) * wb)
        rate = tf.reduce_mean(tf.math.log(1.0 + tf.abs(z) / step[:, :, None])) / np.log(2.0)
        return distortion + spec.rate_weight * rate

    @tf.function
    def step_fn(ub, tb, wb):
        with tf.GradientTape() as tape:
            loss = loss_fn(ub, tb, wb, True)
        variables = joint.trainable_variables
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    history = {"loss": [], "val_loss": []}
    best, best_weights = np.inf, None
    t0 = time.perf_counter()
    for ep in range(epochs):
        rng.shuffle(tr)
        losses = []
        for i in range(0, len(tr), batch_size):
            b = tr[i:i + batch_size]
            losses.append(float(step_fn(u[b].astype(np.float32), target[b], w[b])))
        vl = float(loss_fn(u[val].astype(np.float32), target[val], w[val], False))
        history["loss"].append(float(np.mean(losses)))
        history["val_loss"].append(vl)
        if vl < best:
            best, best_weights = vl, joint.get_weights()
        if epochs > 10 and (ep + 1) % max(1, epochs // 10) == 0:
            opt.learning_rate.assign(opt.learning_rate * 0.8)
        if verbose:
            print(f"[stream] epoch {ep + 1}/{epochs} loss {history['loss'][-1]:.5f} val_loss {vl:.5f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    joint.set_weights(best_weights)
    return joint, enc, dec, history


# ------------------------------------------------------------------- model folder

def save_model(folder: Path, spec: StreamSpec, joint, enc, u_val: np.ndarray, meta: dict, history: dict) -> Path:
    """config.json, weights.h5, int_encoder.json, test_vectors.npz (real snippets), history.json."""
    from neurocodec.files import atomic_dir, save_with_atomic
    from neurocodec.quantize.reference import encode_int, extract_int_encoder, quantize_input

    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        tmp = Path(tmp)
        write_json_atomic(tmp / "config.json", {"family": "stream", "spec": spec.to_dict(), **meta})
        save_with_atomic(tmp / "weights.h5", lambda p: joint.save_weights(str(p)))
        ie = extract_int_encoder(enc)
        write_json_atomic(tmp / "int_encoder.json", ie.to_dict())
        codes = quantize_input(u_val, ie)
        savez_atomic(tmp / "test_vectors.npz", input_codes=codes, latent_codes=encode_int(codes, ie))
        write_json_atomic(tmp / "history.json", history)
    return folder


def load_model(model_dir):
    """(spec, joint, encoder, decoder, meta) of a stream model folder."""
    from neurocodec.train.artifacts import read_family_config

    model_dir = Path(model_dir)
    meta = read_family_config(model_dir, "stream")
    spec = StreamSpec.from_dict(meta.pop("spec"))
    joint, enc, dec = build_models(spec)
    joint.load_weights(str(model_dir / "weights.h5"))
    return spec, joint, enc, dec, meta


def train_locust(out_dir, spec: StreamSpec = StreamSpec(), epochs: int = 60, max_seconds: float | None = None,
                 seed: int = 0, verbose: bool = True, n_test_vectors: int = 4096) -> dict:
    """Train on locust trial 01's first 80 % (or its first max_seconds) and save the model folder."""
    from neurocodec.signals import load_recording

    rec = load_recording("locust")
    end = LOCUST_SPLIT_SAMPLE if max_seconds is None else min(LOCUST_SPLIT_SAMPLE, int(max_seconds * rec.fs))
    t0 = time.perf_counter()
    ds = snippet_dataset(rec.data[:, :end], rec.fs, spec, threshold=spec.train_threshold, jitter=spec.jitter)
    joint, enc, dec, hist = train(spec, ds["u"], ds["g"], ds["sigma"], rec.fs, epochs=epochs, seed=seed, verbose=verbose)
    # hardware test vectors: real snippets of the held-out part
    held = snippet_dataset(rec.data[:, LOCUST_SPLIT_SAMPLE:], rec.fs, spec, threshold=spec.train_threshold,
                           jitter=1)["u"][:n_test_vectors]
    meta = {"fs": rec.fs, "data": "locust", "source": "locust", "train_samples": [0, int(end)],
            "held_out_samples": [LOCUST_SPLIT_SAMPLE, int(rec.n_samples)], "n_train_snippets": int(len(ds["u"])),
            "epochs": epochs, "seed": seed, "train_seconds": round(time.perf_counter() - t0, 1)}
    save_model(out_dir, spec, joint, enc, held, meta, hist)
    return meta


def hls_main(argv=None) -> int:
    """`neurocodec hls --model-dir out/models/stream`: the shared hls4ml flow (hls/flow.py) on the
    cae hardware target (QKeras encoder + integer reference + test vectors) with this family's loader."""
    from neurocodec.hls import project
    from neurocodec.hls.flow import hls_main as flow_main

    return flow_main("stream", lambda d, mv=None: project.hardware_target(d, mv, loader=load_model), argv)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="neurocodec train stream", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--max-seconds", type=float, help="train on only the first seconds of locust trial 01")
    p.add_argument("--latent-filters", type=int, default=StreamSpec.latent_filters)
    p.add_argument("--hidden-filters", type=int, default=16)
    p.add_argument("--snippet", type=int, default=48)
    p.add_argument("--pre", type=int, default=20)
    p.add_argument("--decoder-units", type=int, default=StreamSpec.decoder_units)
    p.add_argument("--decoder-layers", type=int, default=StreamSpec.decoder_layers)
    p.add_argument("--rate-weight", type=float, default=StreamSpec.rate_weight)
    p.add_argument("--threshold", type=float, default=StreamSpec.threshold, help="detection threshold (x MAD)")
    p.add_argument("--leaky-alpha", type=float, default=StreamSpec.leaky_alpha)
    p.add_argument("--train-threshold", type=float, default=StreamSpec.train_threshold)
    p.add_argument("--jitter", type=int, default=StreamSpec.jitter)
    p.add_argument("--train-steps", type=float, nargs=2, default=StreamSpec.train_steps)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="model folder (default out/models/stream)")
    a = p.parse_args(argv)
    from neurocodec.train.backend import set_tf_threads

    set_tf_threads(2, 1)
    spec = StreamSpec(snippet=a.snippet, pre=a.pre, latent_filters=a.latent_filters, hidden_filters=a.hidden_filters,
                      decoder_units=a.decoder_units, decoder_layers=a.decoder_layers,
                      rate_weight=a.rate_weight, threshold=a.threshold, leaky_alpha=a.leaky_alpha,
                      train_threshold=a.train_threshold, jitter=a.jitter, train_steps=tuple(a.train_steps))
    out = Path(a.out) if a.out else paths.model_dir("stream")
    meta = train_locust(out, spec, epochs=a.epochs, max_seconds=a.max_seconds, seed=a.seed)
    print(f"stream codec trained on {meta['n_train_snippets']} channel snippets in {meta['train_seconds']} s -> {out}")
    return 0


__all__ = ["StreamSpec", "build_encoder", "build_decoder", "build_models", "train", "train_locust", "save_model",
           "load_model", "snippet_dataset", "gain_codes", "gains", "normalize", "hls_main", "main"]
