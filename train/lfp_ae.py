"""`lfp_ae`: multichannel 1-D convolutional autoencoder (the encoder/decoder a WGAN-GP reuses).

Data (``build_lfp_data``): a multichannel recording (default: the 32-channel EEGLAB sample at
128 Hz; also the 4-channel locust tetrode at 15 kHz) is split contiguously in time into
train / validation / test portions (default 70 / 10 / 20 %), windows of ``segment_length``
samples x all channels are cut inside each portion with hop ``hop``, and every window is
normalized on its own ("per-sample normalization"): channel means removed, then divided by the
window's standard deviation over all channels and samples (one scale per window, so the relative
amplitudes of the channels are kept).

Model (``build_lfp_ae``), the reference's 9-layer encoder / 9-layer decoder shape scaled to the
data (``LfpSpec.filters`` / ``strides``; default for 256-sample windows):

    encoder: 8 x [Conv1D k5, filters 16 16 32 32 64 64 64 64, strides 1 2 1 2 1 2 2 2, leaky ReLU]
             + Conv1D k3 -> latent (segment_length / 32, 16)  (linear)
    decoder: Conv1D k3 (64) + 7 x [(UpSampling1D 2) Conv1D k5, mirrored filters/strides]
             + Conv1D k5 -> (segment_length, channels)  (linear)

The encoder is quantization-aware by default (QKeras: 8-bit signed input register
quantized_bits(8, 3) for the z-scored window, QConv1D with quantized_bits(8, 0, alpha=1) weights,
leaky ReLU with a dyadic slope (0.2 -> 51/256), 8-bit activation registers quantized_bits(8, 3),
each preceded by a clip to the register's range so saturated values get no gradient);
the decoder is float (it is the GAN generator). TFLite: ``export_encoder_tflite`` converts a
float twin (quantized weights, registers' saturation kept as clips) with post-training full-int8
quantization and runs it with ai-edge-litert (see ``train.spectro_cae.run_tflite``).

CLI: ``neurocodec train lfp_ae [--data eeglab|locust] [--epochs N]`` -> ``main(argv)``.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import neurocodec  # noqa: F401
from neurocodec import paths
from neurocodec.signals.errors import RecordingError
from neurocodec.signals.validate import check_fs, check_signal
from neurocodec.files import atomic_dir, savez_atomic, write_json_atomic
from neurocodec.train.artifacts import write_trained_files
from neurocodec.quantize.tflite_int8 import evenly, export_and_compare, quantized_weights
from neurocodec.train.spectro_cae import limit_threads


@dataclass(frozen=True)
class LfpSpec:
    data: str = "eeglab"
    n_channels: int = 32
    fs: float = 128.0
    segment_length: int = 256
    hop: int = 32
    split: tuple[float, float, float] = (0.7, 0.1, 0.2)
    max_train_segments: int = 1200
    filters: tuple[int, ...] = (16, 16, 32, 32, 64, 64, 64, 64)
    strides: tuple[int, ...] = (1, 2, 1, 2, 1, 2, 2, 2)
    kernel_size: int = 5
    latent_channels: int = 16
    leaky_alpha: float = 0.2
    quantized: bool = True
    input_bits: int = 8
    input_integer: int = 3
    weight_bits: int = 8
    act_bits: int = 8
    act_integer: int = 3

    @property
    def downsampling(self) -> int:
        return int(np.prod(self.strides))

    @property
    def latent_shape(self) -> tuple[int, int]:
        return (self.segment_length // self.downsampling, self.latent_channels)

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.segment_length, self.n_channels)

    @property
    def alpha(self) -> float:
        """Leaky slope used: a multiple of 2**-8 (51/256 for 0.2), in float and QKeras alike."""
        return round(self.leaky_alpha * 256) / 256

    @property
    def act_range(self) -> tuple[float, float]:
        frac = self.act_bits - 1 - self.act_integer
        return -(2.0**self.act_integer), 2.0**self.act_integer - 2.0**-frac

    def to_dict(self) -> dict:
        from neurocodec.train.artifacts import spec_to_dict

        return spec_to_dict(self)

    @staticmethod
    def from_dict(d: dict) -> "LfpSpec":
        from neurocodec.train.artifacts import spec_from_dict

        return spec_from_dict(LfpSpec, d)


#: per-dataset settings ("scaled to the data at hand")
PRESETS = {
    # 32 ch x 128 Hz: 2-s windows, hop 0.25 s
    "eeglab": {"data": "eeglab", "n_channels": 32, "fs": 128.0, "segment_length": 256, "hop": 32},
    # locust tetrode, 4 ch x 15 kHz: 17-ms windows, hop 128 (spike band: it is high-pass filtered)
    "locust": {"data": "locust", "n_channels": 4, "fs": 15000.0, "segment_length": 256,
               "hop": 128},
}


def spec_for(data: str = "eeglab", **overrides) -> LfpSpec:
    if data not in PRESETS:
        raise ValueError(f"unknown LFP data set {data!r}; choose one of {sorted(PRESETS)}")
    return LfpSpec(**{**PRESETS[data], **overrides})


# ============================================================================ data
def normalize_windows(windows) -> np.ndarray:
    """Per-window normalization of (n, length, channels): channel means removed, one std per
    window over channels and samples. Raises on NaN/Inf or on a constant window."""
    w = np.asarray(windows, np.float64)
    if w.ndim != 3:
        raise RecordingError(f"windows: expected (n, length, channels), got shape {w.shape}")
    check_signal(w.reshape(len(w), -1), "windows")
    w = w - w.mean(axis=1, keepdims=True)
    sd = w.std(axis=(1, 2), keepdims=True)
    if np.any(sd[:, 0, 0] <= 1e-12):
        raise RecordingError(f"{int(np.sum(sd <= 1e-12))} constant window(s) cannot be normalized")
    return (w / sd).astype(np.float32)


def cut_windows(x, length: int, hop: int) -> np.ndarray:
    """(channels, samples) -> (n, length, channels) windows with hop ``hop``."""
    x = np.asarray(x)
    if x.shape[1] < length:
        return np.empty((0, length, x.shape[0]), np.float64)
    w = np.lib.stride_tricks.sliding_window_view(x, length, axis=1)[:, ::hop]  # (C, n, L)
    return np.ascontiguousarray(np.transpose(w, (1, 2, 0)))


@dataclass
class LfpData:
    train: np.ndarray  # (n, length, channels) float32, per-window normalized
    val: np.ndarray
    test: np.ndarray
    spec: LfpSpec
    info: dict


def windows_from_array(x, fs: float, spec: LfpSpec, what: str = "recording") -> LfpData:
    """Split a (channels, samples) array at ``fs`` into normalized train/val/test windows."""
    fs = check_fs(fs, f"{what}: sampling rate")
    x = check_signal(x, what)
    if x.ndim != 2:
        raise RecordingError(f"{what}: expected (channels, samples), got shape {x.shape}")
    if x.shape[0] != spec.n_channels:
        raise RecordingError(f"{what}: {x.shape[0]} channels, the model expects {spec.n_channels}")
    if abs(fs - spec.fs) > 1e-6 * spec.fs:
        raise RecordingError(f"{what}: sampled at {fs:g} Hz, the spec expects {spec.fs:g} Hz")
    fr = np.asarray(spec.split, float)
    if fr.shape != (3,) or np.any(fr <= 0) or abs(fr.sum() - 1) > 1e-6:
        raise ValueError(f"split must be three positive fractions summing to 1, got {spec.split}")
    n = x.shape[1]
    edges = np.round(np.concatenate([[0.0], np.cumsum(fr)]) * n).astype(int)
    parts = []
    for s, name in enumerate(("train", "val", "test")):
        w = cut_windows(x[:, edges[s]: edges[s + 1]], spec.segment_length, spec.hop)
        if len(w) == 0:
            raise RecordingError(
                f"{what}: too short: the {name} portion ({edges[s + 1] - edges[s]} samples, "
                f"{100 * fr[s]:.0f} % of {n}) holds no {spec.segment_length}-sample window")
        if name == "train" and len(w) > spec.max_train_segments:
            w = w[np.unique(np.round(np.linspace(0, len(w) - 1, spec.max_train_segments)).astype(int))]
        parts.append(normalize_windows(w))
    info = {"source": what, "n_samples": int(n), "duration_s": round(n / fs, 3),
            "split_samples": edges.tolist(), "n_train": len(parts[0]), "n_val": len(parts[1]),
            "n_test": len(parts[2])}
    return LfpData(parts[0], parts[1], parts[2], spec, info)


def build_lfp_data(spec: LfpSpec, max_seconds: float | None = None, loader=None) -> LfpData:
    """Load ``spec.data`` (dataset name or path) and cut it (optionally only the first seconds)."""
    if loader is None:
        from neurocodec.signals.loaders import load_recording as loader
    rec = loader(spec.data)
    x = rec.data
    if max_seconds is not None:
        x = x[:, : int(round(max_seconds * rec.fs))]
    data = windows_from_array(x, rec.fs, spec, what=str(spec.data))
    data.info.update({"units": rec.units, "channel_names": list(rec.channel_names)})
    return data


# ============================================================================ model
def _qbits(bits, integer, **kw):
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=1, **kw)


def build_lfp_encoder(spec: LfpSpec, quantized: bool | None = None, clip: bool = False,
                      name: str = "lfp_encoder"):
    """Encoder (input_shape -> latent_shape). ``quantized`` defaults to spec.quantized; a float
    encoder with ``clip`` keeps the QKeras registers' saturation (the TFLite twin)."""
    from neurocodec.train.backend import keras

    k = keras()
    quantized = spec.quantized if quantized is None else quantized
    if len(spec.filters) != len(spec.strides):
        raise ValueError("filters and strides must have the same length")
    if spec.segment_length % spec.downsampling:
        raise ValueError(f"segment_length {spec.segment_length} is not divisible by "
                         f"{spec.downsampling} (product of the strides)")
    lo, hi = spec.act_range
    inp = k.Input(shape=spec.input_shape, name="enc_input")
    x = inp
    if quantized:
        from qkeras import QActivation

        x = QActivation(_qbits(spec.input_bits, spec.input_integer), name="enc_input_q")(x)
    elif clip:
        frac_in = spec.input_bits - 1 - spec.input_integer
        x = k.layers.Lambda(_clipper(-(2.0**spec.input_integer),
                                     2.0**spec.input_integer - 2.0**-frac_in), name="enc_input_clip")(x)
    layers = list(zip(spec.filters, spec.strides, [spec.kernel_size] * len(spec.filters)))
    layers.append((spec.latent_channels, 1, 3))
    for i, (f, s, ks) in enumerate(layers):
        last = i == len(layers) - 1
        if quantized:
            from qkeras import QActivation, QConv1D

            x = QConv1D(f, ks, strides=s, padding="same",
                        kernel_quantizer=_qbits(spec.weight_bits, 0),
                        bias_quantizer=_qbits(spec.weight_bits, spec.act_integer),
                        name=f"enc{i + 1}_conv")(x)
        else:
            x = k.layers.Conv1D(f, ks, strides=s, padding="same", name=f"enc{i + 1}_conv")(x)
        if not last:
            x = k.layers.LeakyReLU(alpha=spec.alpha, name=f"enc{i + 1}_leaky")(x)
        if quantized or clip:
            # saturation of the 8-bit register as a real clip: zero gradient outside the range
            # (QKeras' straight-through estimator alone passes gradients through saturated
            # values; activations then drift out of range and training stalls)
            x = k.layers.Lambda(_clipper(lo, hi), name=f"enc{i + 1}_clip")(x)
        if quantized:
            x = QActivation(_qbits(spec.act_bits, spec.act_integer), name=f"enc{i + 1}_act")(x)
    return k.Model(inp, x, name=name)


def _clipper(lo, hi):
    def clip(t):
        import tensorflow as tf

        return tf.clip_by_value(t, lo, hi)

    return clip


def build_lfp_decoder(spec: LfpSpec, name: str = "lfp_decoder"):
    """Float decoder (latent_shape -> input_shape), linear output."""
    from neurocodec.train.backend import keras

    k = keras()
    inp = k.Input(shape=spec.latent_shape, name="dec_input")
    x = k.layers.Conv1D(spec.filters[-1], 3, padding="same", name="dec1_conv")(inp)
    x = k.layers.LeakyReLU(alpha=spec.alpha, name="dec1_leaky")(x)
    mirrored = list(zip(reversed(spec.filters[:-1]), reversed(spec.strides[1:])))
    for j, (f, s) in enumerate(mirrored, start=2):
        if s > 1:
            x = k.layers.UpSampling1D(s, name=f"dec{j}_up")(x)
        x = k.layers.Conv1D(f, spec.kernel_size, padding="same", name=f"dec{j}_conv")(x)
        x = k.layers.LeakyReLU(alpha=spec.alpha, name=f"dec{j}_leaky")(x)
    if spec.strides[0] > 1:
        x = k.layers.UpSampling1D(spec.strides[0], name="dec_out_up")(x)
    out = k.layers.Conv1D(spec.n_channels, spec.kernel_size, padding="same", name="dec_out")(x)
    return k.Model(inp, out, name=name)


def build_lfp_ae(spec: LfpSpec):
    """(autoencoder, encoder, decoder)."""
    from neurocodec.train.backend import keras

    k = keras()
    encoder, decoder = build_lfp_encoder(spec), build_lfp_decoder(spec)
    inp = k.Input(shape=spec.input_shape, name="ae_input")
    return k.Model(inp, decoder(encoder(inp)), name=f"lfp_ae_{Path(str(spec.data)).stem}"), \
        encoder, decoder


def encoder_conv_layers(spec: LfpSpec) -> list[str]:
    return [f"enc{i + 1}_conv" for i in range(len(spec.filters) + 1)]


def copy_encoder_weights(src, dst, spec: LfpSpec, quantize: bool = True) -> None:
    """Copy the conv weights of encoder ``src`` into ``dst`` (same layer names); with
    ``quantize`` the QKeras-quantized values (what the forward pass used) are copied."""
    for name in encoder_conv_layers(spec):
        layer = src.get_layer(name)
        w = quantized_weights(layer) if quantize else [np.asarray(v) for v in layer.get_weights()]
        dst.get_layer(name).set_weights(w)


@dataclass
class TrainedLfpAe:
    spec: LfpSpec
    autoencoder: object
    encoder: object
    decoder: object
    history: dict
    metrics: dict


def train_lfp_ae(data: LfpData, epochs: int = 60, batch_size: int = 32, learning_rate: float = 1e-3,
                 patience: int = 6, seed: int = 0, log=print) -> TrainedLfpAe:
    """MSE training on data.train with early stopping on data.val (best weights restored)."""
    from neurocodec.train.backend import set_seed
    from neurocodec.train.progress import best_epoch, fit_autoencoder

    set_seed(seed)
    spec = data.spec
    ae, enc, dec = build_lfp_ae(spec)
    t0 = time.time()
    history = fit_autoencoder(ae, data.train, data.val, epochs, batch_size, patience, learning_rate,
                              label=f"lfp_ae {spec.data}" if log is not None else None, log=log)
    metrics = {f"{s}_mse": float(ae.evaluate(getattr(data, s), getattr(data, s), verbose=0))
               for s in ("train", "val", "test")}
    # the normalized windows have unit variance, so 1 - MSE is the explained variance
    metrics.update({"epochs_run": len(history["loss"]),
                    "best_epoch": best_epoch(history),
                    "train_seconds": round(time.time() - t0, 1),
                    "compression_ratio": float(np.prod(spec.input_shape) / np.prod(spec.latent_shape))})
    return TrainedLfpAe(spec, ae, enc, dec, history, metrics)


def latent_codes(encoder, x, batch_size: int = 256) -> np.ndarray:
    return encoder.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0)


# ============================================================================ TFLite
def float_twin(encoder, spec: LfpSpec):
    """Float copy of the QKeras encoder (quantized weights, register saturation as clips)."""
    twin = build_lfp_encoder(spec, quantized=False, clip=spec.quantized, name="lfp_encoder_twin")
    copy_encoder_weights(encoder, twin, spec, quantize=True)
    return twin


def export_encoder_tflite(trained: TrainedLfpAe, data: LfpData, n_calibration: int = 200,
                          path=None):
    """int8 TFLite of the encoder + agreement with the QKeras encoder on data.test."""
    twin = float_twin(trained.encoder, trained.spec)
    rep = data.train[evenly(len(data.train), n_calibration)]
    return export_and_compare(twin, lambda x: latent_codes(trained.encoder, x), rep, data.test, path)


# ============================================================================ save / load
def save_lfp_ae(trained: TrainedLfpAe, model_dir, data: LfpData | None = None,
                tflite: bytes | None = None, extra: dict | None = None) -> Path:
    model_dir = Path(model_dir)
    with atomic_dir(model_dir) as staged:  # staged, then one rename (files.atomic_dir)
        spec = trained.spec
        write_trained_files(staged, trained.autoencoder, trained.history, {**trained.metrics, **(extra or {})}, tflite)
        if data is not None and spec.quantized:
            x = data.val[:16]
            frac_in = spec.input_bits - 1 - spec.input_integer
            frac_act = spec.act_bits - 1 - spec.act_integer
            lo_in = -(2 ** (spec.input_bits - 1))
            codes_in = np.clip(np.round(x * 2.0**frac_in), lo_in, -lo_in - 1).astype(np.int32)
            codes_lat = np.round(latent_codes(trained.encoder, x) * 2.0**frac_act).astype(np.int32)
            savez_atomic(staged / "test_vectors.npz", input_codes=codes_in, latent_codes=codes_lat)
        config = {"family": "lfp_ae", "spec": spec.to_dict(),
                  "data": data.info if data is not None else None,
                  "scaling": {"per_window": "channel means removed, divided by the window std "
                                            "(all channels and samples)"}}
        write_json_atomic(staged / "config.json", config)
    return model_dir


def load_lfp_ae(model_dir) -> TrainedLfpAe:
    from neurocodec.train.artifacts import read_family_config

    model_dir = Path(model_dir)
    config = read_family_config(model_dir, "lfp_ae")
    spec = LfpSpec.from_dict(config["spec"])
    ae, enc, dec = build_lfp_ae(spec)
    ae.load_weights(str(model_dir / "weights.h5"))
    metrics = json.loads((model_dir / "metrics.json").read_text())
    history = json.loads((model_dir / "history.json").read_text())
    return TrainedLfpAe(spec, ae, enc, dec, history, metrics)


def load(model_dir):
    """The registry's one load shape (train.artifacts.LoadedModel)."""
    from neurocodec.train.artifacts import LoadedModel

    t = load_lfp_ae(model_dir)
    config = json.loads((Path(model_dir) / "config.json").read_text())
    return LoadedModel("lfp_ae", t.spec, {"autoencoder": t.autoencoder, "encoder": t.encoder, "decoder": t.decoder},
                       config)


def train_and_save(spec: LfpSpec, model_dir=None, epochs: int = 60, patience: int = 6,
                   seed: int = 0, max_seconds=None, log=print):
    """Data -> training -> int8 TFLite -> model folder. Returns (trained, data, blob, agreement)."""
    data = build_lfp_data(spec, max_seconds=max_seconds)
    if log:
        log(f"[lfp_ae {spec.data}] windows train/val/test = {len(data.train)}/{len(data.val)}/"
            f"{len(data.test)} of {spec.segment_length} x {spec.n_channels}")
    trained = train_lfp_ae(data, epochs=epochs, patience=patience, seed=seed, log=log)
    blob, agreement = export_encoder_tflite(trained, data)
    trained.metrics["tflite"] = agreement
    if model_dir is not None:
        save_lfp_ae(trained, model_dir, data, blob)
    return trained, data, blob, agreement


def main(argv=None) -> int:
    """``neurocodec train lfp_ae``: train the multichannel autoencoder and export its encoder."""
    p = argparse.ArgumentParser(prog="neurocodec train lfp_ae", description=__doc__.split("\n")[0])
    p.add_argument("--data", choices=sorted(PRESETS), default="eeglab")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--patience", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--float", action="store_true", help="float encoder (no QKeras)")
    p.add_argument("--max-seconds", type=float, default=None)
    p.add_argument("--name", default=None, help="model folder name (default lfp_ae_<data>)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    limit_threads(args.threads)
    spec = spec_for(args.data, quantized=not args.float)
    model_dir = paths.model_dir(args.name or f"lfp_ae_{args.data}")
    trained, _, _, agreement = train_and_save(spec, model_dir, epochs=args.epochs,
                                              patience=args.patience, seed=args.seed,
                                              max_seconds=args.max_seconds)
    print(f"saved {model_dir}: val MSE {trained.metrics['val_mse']:.4f} (unit-variance windows), "
          f"TFLite {agreement['size_bytes']} bytes, mean |err| "
          f"{agreement['mean_abs_error_lsb']:.2f} LSB")
    return 0


__all__ = [
    "LfpData", "LfpSpec", "PRESETS", "TrainedLfpAe", "build_lfp_ae", "build_lfp_data",
    "build_lfp_decoder", "build_lfp_encoder", "copy_encoder_weights", "cut_windows",
    "export_encoder_tflite", "float_twin", "latent_codes", "load_lfp_ae", "main",
    "normalize_windows", "save_lfp_ae", "spec_for", "train_and_save", "train_lfp_ae",
    "windows_from_array",
]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
