"""`spectro_cae`: 2-D convolutional autoencoder on log-power spectrograms of ECG, EEG and EMG.

Data (``build_dataset``): every source recording (``SOURCES``; channels as listed) is resampled
to 512 Hz, each channel is cut in time into contiguous train / validation / test portions
(default 60 / 20 / 20 %, windows never straddle a boundary), and 5-s windows are taken inside each
portion (hop per signal type; EMG is short, so its windows overlap more). Each window is z-scored
(removes units, gain and offset, which differ between recordings), turned into a
``n_freq x n_time`` log-power spectrogram (``signals.spectrogram``) and mapped from a fixed dB
window to [0, 1]. At most ``max_per_recording`` windows per recording and split are kept
(evenly spaced), which bounds the CPU time and the weight of the long recordings.

Model (``build_spectro_cae``): encoder = 4 x [3x3 conv, 64 filters, ReLU, 2x2 max pooling];
quantization-aware by default (QKeras: 8-bit unsigned input register, QConv2D with
quantized_bits(8, 0, alpha=1) weights, ReLU clipped at the register ceiling then
quantized_relu(8, 3) activations). 64x64 images give a
4x4x64 latent (1024 features). Decoder = 4 stride-2 Conv2DTranspose layers and a sigmoid 3x3
conv (float; the decoder does not go to hardware). MSE loss, Adam, early stopping on the
validation loss (best weights restored).

TFLite: ``export_tflite_int8`` converts a float twin (plain Conv2D/ReLU/MaxPool holding the
QKeras *quantized* weights) with post-training full-integer quantization (int8 in/out,
representative training images); ``run_tflite`` runs it with ai-edge-litert.

CLI: ``neurocodec train spectro_cae [--band full|low] [--epochs N] ...`` -> ``main(argv)``.
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import neurocodec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from neurocodec.quantize import tflite_int8
from neurocodec.quantize.tflite_int8 import (  # noqa: F401  (re-exported: the one TFLite int8 path)
    export_tflite_int8, quantized_weights, run_tflite, tflite_agreement, tflite_output_scale,
)
from neurocodec.files import atomic_dir, savez_atomic, write_json_atomic
from neurocodec import paths
from neurocodec.signals.errors import RecordingError
from neurocodec.signals.segment import resample
from neurocodec.signals.spectrogram import log_spectrogram, spectrogram_frequencies, to_unit_range
from neurocodec.signals.validate import as_2d, check_fs

CLASSES = ("ECG", "EEG", "EMG")


@dataclass(frozen=True)
class Source:
    """One recording of the data set: dataset name (or path), signal type, channels to use."""

    name: str
    label: str
    channels: tuple[str, ...] | None = None  # channel names; None = all
    exclude: tuple[str, ...] = ()


# ECG: MIT-BIH 100 (360 Hz, 2 leads), PTB s0010 (1 kHz, 12 standard leads; the Frank leads are
# left out), BioSPPy ecg (1 kHz, 15 s) and scipy's ecg.dat (MIT-BIH 208, 360 Hz).
# EEG: BioSPPy eyes closed / open (125 Hz) and the EEGLAB sample (128 Hz, 30 EEG channels; the
# two EOG channels are left out). EMG: BioSPPy emg and emg_1 (1 kHz).
SOURCES: tuple[Source, ...] = (
    Source("mitbih100", "ECG"),
    Source("ptb_s0010", "ECG", channels=("i", "ii", "iii", "avr", "avl", "avf",
                                          "v1", "v2", "v3", "v4", "v5", "v6")),
    Source("biosppy_ecg", "ECG"),
    Source("scipy_ecg", "ECG"),
    Source("biosppy_eeg_ec", "EEG"),
    Source("biosppy_eeg_eo", "EEG"),
    Source("eeglab", "EEG", exclude=("EOG1", "EOG2")),
    Source("biosppy_emg", "EMG"),
    Source("biosppy_emg_1", "EMG"),
)

BANDS = {
    # the setting: the whole 0..256 Hz band of the 512 Hz resampled signals
    "full": {"fmax": None, "nperseg": None, "db_min": -110.0, "db_max": 10.0},
    # control: only < 60 Hz, where every source has real content (EEG Nyquist is 62.5/64 Hz)
    "low": {"fmax": 60.0, "nperseg": 256, "db_min": -80.0, "db_max": 10.0},
}


@dataclass(frozen=True)
class SpectroSpec:
    band: str = "full"
    fs: float = 512.0
    segment_s: float = 5.0
    n_freq: int = 64
    n_time: int = 64
    fmax: float | None = None
    nperseg: int | None = None
    db_min: float = -110.0  # dB window (PSD of the z-scored segment, dB re 1/Hz) -> [0, 1]
    db_max: float = 10.0
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    hop_s: dict = field(default_factory=lambda: {"ECG": 1.0, "EEG": 1.0, "EMG": 0.25})
    max_per_recording: tuple[int, int, int] = (150, 50, 50)
    filters: int = 64
    n_conv: int = 4
    decoder_filters: tuple[int, ...] = (64, 64, 32, 16)
    quantized: bool = True
    input_bits: int = 8
    weight_bits: int = 8
    act_bits: int = 8
    act_integer: int = 3

    @staticmethod
    def for_band(band: str = "full", **overrides) -> "SpectroSpec":
        if band not in BANDS:
            raise ValueError(f"unknown band {band!r}; choose one of {sorted(BANDS)}")
        return SpectroSpec(band=band, **{**BANDS[band], **overrides})

    @property
    def segment_length(self) -> int:
        return int(round(self.segment_s * self.fs))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.n_freq, self.n_time, 1)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        s = 2**self.n_conv
        return (self.n_freq // s, self.n_time // s, self.filters)

    def frequencies(self) -> np.ndarray:
        return spectrogram_frequencies(self.fs, self.n_freq, self.fmax)

    def to_dict(self) -> dict:
        from neurocodec.train.artifacts import spec_to_dict

        return spec_to_dict(self)

    @staticmethod
    def from_dict(d: dict) -> "SpectroSpec":
        from neurocodec.train.artifacts import spec_from_dict

        return spec_from_dict(SpectroSpec, d)


# ============================================================================ threads / IO utils
def limit_threads(n: int = 1) -> None:
    """Keep TensorFlow (and BLAS / numba) to ``n`` threads; harmless if TF already started."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    from neurocodec.train.backend import set_tf_threads

    set_tf_threads(n, n)


# ============================================================================ data
def zscore_segments(segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-segment z-score of (n, samples); returns (z, keep) with constant segments dropped."""
    mu = segments.mean(axis=1, keepdims=True)
    sd = segments.std(axis=1, keepdims=True)
    keep = sd[:, 0] > 1e-9 * max(1.0, float(np.abs(mu).max()))
    return (segments[keep] - mu[keep]) / sd[keep], keep


def segments_to_images(segments, spec: SpectroSpec) -> np.ndarray:
    """(n, segment_length) segments at spec.fs -> (n, n_freq, n_time, 1) float32 images in [0, 1].

    Segments are z-scored individually; constant segments raise (they have no spectrum)."""
    x = as_2d(segments, "segments")
    if x.shape[1] != spec.segment_length:
        raise RecordingError(f"segments have {x.shape[1]} samples, expected "
                             f"{spec.segment_length} ({spec.segment_s:g} s at {spec.fs:g} Hz)")
    z, keep = zscore_segments(x)
    if not keep.all():
        raise RecordingError(f"{int((~keep).sum())} constant segment(s): no spectrum to compute")
    db = log_spectrogram(z, spec.fs, spec.n_freq, spec.n_time, spec.nperseg, spec.fmax)
    return to_unit_range(db, spec.db_min, spec.db_max).astype(np.float32)[..., np.newaxis]


def _windows(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """(channels, samples) -> (n, length) windows, channel-major; empty if too short."""
    if x.shape[1] < length:
        return np.empty((0, length))
    w = np.lib.stride_tricks.sliding_window_view(x, length, axis=1)[:, ::hop]
    return w.reshape(-1, length)


def _evenly(n: int, cap: int) -> np.ndarray:
    if n <= cap:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, cap)).astype(int))


def signal_windows(x, fs: float, spec: SpectroSpec, hop_s: float | None = None,
                   what: str = "signal") -> np.ndarray:
    """Resample a 1-D or (channels, samples) signal to spec.fs and cut spec.segment_s windows.

    Raises RecordingError on NaN/Inf, empty input or a signal shorter than one window."""
    fs = check_fs(fs, f"{what}: sampling rate")
    x = as_2d(x, what)
    length = spec.segment_length
    need = int(np.ceil(length * fs / spec.fs))
    if x.shape[1] < need:
        raise RecordingError(f"{what}: {x.shape[1]} samples at {fs:g} Hz "
                             f"({x.shape[1] / fs:.2f} s) is shorter than one {spec.segment_s:g}-s "
                             f"segment ({need} samples)")
    y = resample(x, fs, spec.fs)
    hop = max(1, int(round((hop_s if hop_s is not None else spec.segment_s) * spec.fs)))
    return _windows(y, length, hop)


def images_from_signal(x, fs: float, spec: SpectroSpec, hop_s: float | None = None,
                       what: str = "signal") -> np.ndarray:
    """Signal at ``fs`` -> spectrogram images (n, n_freq, n_time, 1) (non-constant windows)."""
    w = signal_windows(x, fs, spec, hop_s, what)
    z, keep = zscore_segments(w)
    if not keep.any():
        raise RecordingError(f"{what}: every {spec.segment_s:g}-s window is constant")
    db = log_spectrogram(z, spec.fs, spec.n_freq, spec.n_time, spec.nperseg, spec.fmax)
    return to_unit_range(db, spec.db_min, spec.db_max).astype(np.float32)[..., np.newaxis]


@dataclass
class SpectroSplit:
    images: np.ndarray  # (n, n_freq, n_time, 1) float32 in [0, 1]
    labels: np.ndarray  # (n,) str: ECG / EEG / EMG
    groups: np.ndarray  # (n,) str: source recording name
    starts_s: np.ndarray  # (n,) window start time (s) in its channel


@dataclass
class SpectroData:
    train: SpectroSplit
    val: SpectroSplit
    test: SpectroSplit
    spec: SpectroSpec
    counts: dict  # {recording: {"label", "channels", "duration_s", "train", "val", "test"}}

    def split(self, name: str) -> SpectroSplit:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def _select_channels(rec, source: Source) -> np.ndarray:
    names = list(rec.channel_names)
    if source.channels is not None:
        missing = [c for c in source.channels if c not in names]
        if missing:
            raise RecordingError(f"{source.name}: channel(s) {missing} not in {names}")
        idx = [names.index(c) for c in source.channels]
    else:
        idx = [i for i, c in enumerate(names) if c not in source.exclude]
    return rec.data[idx]


def build_dataset(spec: SpectroSpec, sources=SOURCES, max_seconds: float | None = None,
                  max_per_recording: tuple[int, int, int] | None = None,
                  loader=None) -> SpectroData:
    """Spectrogram images of every source, split contiguously in time per channel.

    ``max_seconds`` keeps only the first seconds of each recording (small excerpts for tests);
    ``max_per_recording`` overrides the spec's caps. ``loader`` (default
    ``neurocodec.signals.load_recording``) maps a source name to a Recording.
    """
    if loader is None:
        from neurocodec.signals.loaders import load_recording as loader
    caps = tuple(max_per_recording or spec.max_per_recording)
    fractions = np.asarray(spec.split, float)
    if fractions.shape != (3,) or np.any(fractions <= 0) or abs(fractions.sum() - 1) > 1e-6:
        raise ValueError(f"split must be three positive fractions summing to 1, got {spec.split}")
    edges = np.concatenate([[0.0], np.cumsum(fractions)])
    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    counts: dict = {}
    for source in sources:
        rec = loader(source.name)
        if source.label not in CLASSES:
            raise ValueError(f"{source.name}: label {source.label!r} not in {CLASSES}")
        x = _select_channels(rec, source)
        if max_seconds is not None:
            x = x[:, : int(round(max_seconds * rec.fs))]
        if x.shape[1] < np.ceil(spec.segment_length * rec.fs / spec.fs):
            raise RecordingError(f"{source.name}: {x.shape[1] / rec.fs:.2f} s is shorter than one "
                                 f"{spec.segment_s:g}-s segment")
        y = resample(x, rec.fs, spec.fs)
        hop = max(1, int(round(spec.hop_s[source.label] * spec.fs)))
        n = y.shape[1]
        info = {"label": source.label, "channels": int(y.shape[0]),
                "duration_s": round(n / spec.fs, 2), "fs_original": float(rec.fs)}
        for s, split in enumerate(("train", "val", "test")):
            a, b = int(round(edges[s] * n)), int(round(edges[s + 1] * n))
            w = _windows(y[:, a:b], spec.segment_length, hop)
            per_channel = w.shape[0] // max(1, y.shape[0])
            starts = (a + np.tile(np.arange(per_channel) * hop, y.shape[0])) / spec.fs
            idx = _evenly(w.shape[0], caps[s])
            w, starts = w[idx], starts[idx]
            z, keep = zscore_segments(w) if len(w) else (w, np.zeros(0, bool))
            info[split] = int(keep.sum())
            if keep.any():
                db = log_spectrogram(z, spec.fs, spec.n_freq, spec.n_time, spec.nperseg, spec.fmax)
                img = to_unit_range(db, spec.db_min, spec.db_max).astype(np.float32)[..., None]
                parts[split].append((img, [source.label] * len(img), [source.name] * len(img),
                                     starts[keep]))
        counts[source.name] = info
    out = {}
    for split, items in parts.items():
        if not items:
            raise RecordingError(f"no {split} segments: recordings too short for "
                                 f"{spec.segment_s:g}-s windows")
        out[split] = SpectroSplit(np.concatenate([i[0] for i in items]),
                                  np.concatenate([np.asarray(i[1]) for i in items]),
                                  np.concatenate([np.asarray(i[2]) for i in items]),
                                  np.concatenate([i[3] for i in items]))
    return SpectroData(out["train"], out["val"], out["test"], spec, counts)


# ============================================================================ model
def _act_max(spec: SpectroSpec) -> float:
    """Ceiling of quantized_relu(act_bits, act_integer): 2**integer - 2**-(bits - integer)."""
    return 2.0**spec.act_integer - 2.0 ** -(spec.act_bits - spec.act_integer)


def build_spectro_encoder(spec: SpectroSpec, relu_max: float | None = None):
    """QKeras (spec.quantized) or float encoder: image -> (h/16, w/16, filters) latent.

    ``relu_max`` (float encoder only) clips the ReLUs, as the QKeras activation registers do."""
    from neurocodec.train.backend import keras

    k = keras()
    if spec.n_freq % 2**spec.n_conv or spec.n_time % 2**spec.n_conv:
        raise ValueError(f"image {spec.n_freq}x{spec.n_time} is not divisible by 2**{spec.n_conv}")
    inp = k.Input(shape=spec.image_shape, name="enc_input")
    x = inp
    if spec.quantized:
        from qkeras import QActivation, QConv2D, quantized_bits, quantized_relu

        x = QActivation(quantized_bits(spec.input_bits, 0, keep_negative=False, alpha=1),
                        name="enc_input_q")(x)
    for i in range(spec.n_conv):
        if spec.quantized:
            x = QConv2D(spec.filters, 3, padding="same",
                        kernel_quantizer=quantized_bits(spec.weight_bits, 0, alpha=1),
                        bias_quantizer=quantized_bits(spec.weight_bits, 3, alpha=1),
                        name=f"enc{i + 1}_conv")(x)
            # clip first (zero gradient where the register saturates), then quantize
            x = k.layers.ReLU(max_value=_act_max(spec), name=f"enc{i + 1}_relu")(x)
            x = QActivation(quantized_relu(spec.act_bits, spec.act_integer), name=f"enc{i + 1}_act")(x)
        else:
            x = k.layers.Conv2D(spec.filters, 3, padding="same", name=f"enc{i + 1}_conv")(x)
            x = k.layers.ReLU(max_value=relu_max, name=f"enc{i + 1}_act")(x)
        x = k.layers.MaxPooling2D(2, name=f"enc{i + 1}_pool")(x)
    return k.Model(inp, x, name="spectro_encoder")


def build_spectro_decoder(spec: SpectroSpec):
    """Float decoder: latent -> stride-2 Conv2DTranspose x n_conv -> sigmoid 3x3 conv."""
    from neurocodec.train.backend import keras

    k = keras()
    filters = list(spec.decoder_filters)
    if len(filters) != spec.n_conv:
        raise ValueError(f"decoder_filters needs {spec.n_conv} entries, got {filters}")
    inp = k.Input(shape=spec.latent_shape, name="dec_input")
    x = inp
    for i, f in enumerate(filters):
        x = k.layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu",
                                     name=f"dec{i + 1}_tconv")(x)
    out = k.layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="dec_out")(x)
    return k.Model(inp, out, name="spectro_decoder")


def build_spectro_cae(spec: SpectroSpec):
    """(autoencoder, encoder, decoder); the autoencoder shares the two submodels."""
    from neurocodec.train.backend import keras

    k = keras()
    encoder, decoder = build_spectro_encoder(spec), build_spectro_decoder(spec)
    inp = k.Input(shape=spec.image_shape, name="cae_input")
    return k.Model(inp, decoder(encoder(inp)), name=f"spectro_cae_{spec.band}"), encoder, decoder


def encoder_features(encoder, images, batch_size: int = 128) -> np.ndarray:
    """Flattened latent (n, h*w*filters) of the encoder."""
    z = encoder.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
    return z.reshape(len(z), -1).astype(np.float64)


@dataclass
class TrainedSpectroCae:
    spec: SpectroSpec
    autoencoder: object
    encoder: object
    decoder: object
    history: dict
    metrics: dict


def train_spectro_cae(data: SpectroData, epochs: int = 40, batch_size: int = 32,
                      learning_rate: float = 1e-3, patience: int = 5, seed: int = 0,
                      verbose: int = 0, log=print) -> TrainedSpectroCae:
    """Fit the CAE (MSE) on data.train with early stopping on data.val; best weights restored."""
    from neurocodec.train.backend import set_seed
    from neurocodec.train.progress import best_epoch, fit_autoencoder

    set_seed(seed)
    spec = data.spec
    autoencoder, encoder, decoder = build_spectro_cae(spec)
    t0 = time.time()
    history = fit_autoencoder(autoencoder, data.train.images, data.val.images, epochs, batch_size, patience,
                              learning_rate, label=f"spectro_cae {spec.band}" if log is not None else None,
                              log=log, verbose=verbose)
    metrics = {
        "train_mse": float(autoencoder.evaluate(data.train.images, data.train.images, verbose=0)),
        "val_mse": float(autoencoder.evaluate(data.val.images, data.val.images, verbose=0)),
        "test_mse": float(autoencoder.evaluate(data.test.images, data.test.images, verbose=0)),
        "epochs_run": len(history.get("loss", [])),
        "best_epoch": best_epoch(history),
        "train_seconds": round(time.time() - t0, 1),
    }
    return TrainedSpectroCae(spec, autoencoder, encoder, decoder, history, metrics)


# ============================================================================ features
def umap_project(train_x, test_x, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1):
    """2-D UMAP fitted on (standardized) training features; returns (train_2d, test_2d)."""
    import os

    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import umap  # umap-learn

    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist,
                        random_state=seed, n_jobs=1)
    train_2d = reducer.fit_transform(train_x)
    return train_2d, reducer.transform(test_x)



# ============================================================================ TFLite
def float_twin_encoder(encoder, spec: SpectroSpec):
    """Plain tf-keras copy of the spectrogram encoder holding its quantized weights."""
    twin_spec = SpectroSpec.from_dict({**spec.to_dict(), "quantized": False})
    # keep the activation registers' saturation (quantized_relu ceiling) in the twin;
    # rounding is left to TFLite's int8 quantization.
    twin = build_spectro_encoder(twin_spec, relu_max=_act_max(spec) if spec.quantized else None)
    for i in range(spec.n_conv):
        twin.get_layer(f"enc{i + 1}_conv").set_weights(
            quantized_weights(encoder.get_layer(f"enc{i + 1}_conv")))
    return twin



# ============================================================================ saving
def save_model(trained: TrainedSpectroCae, model_dir, data: SpectroData | None = None,
               tflite: bytes | None = None, extra_metrics: dict | None = None) -> Path:
    """Write config.json, weights.h5, history.json, metrics.json (+ encoder_int8.tflite,
    test_vectors.npz) into ``model_dir``; every file is written atomically."""
    model_dir = Path(model_dir)
    spec = trained.spec
    config = {
        "family": "spectro_cae",
        "spec": spec.to_dict(),
        "data": {"sources": [asdict(s) for s in SOURCES], "counts": data.counts if data else None},
        "scaling": {"per_segment": "z-score", "spectrogram_db_window": [spec.db_min, spec.db_max],
                    "image_range": [0.0, 1.0]},
    }
    with atomic_dir(model_dir) as staged:  # staged, then one rename (files.atomic_dir)
        from neurocodec.train.artifacts import write_trained_files

        write_trained_files(staged, trained.autoencoder, trained.history,
                            {**trained.metrics, **(extra_metrics or {})}, tflite)
        if data is not None and spec.quantized:
            n = min(16, len(data.val.images))
            x = data.val.images[:n]
            frac_in = spec.input_bits
            frac_act = spec.act_bits - spec.act_integer
            codes_in = np.clip(np.round(x[..., 0] * 2.0**frac_in), 0, 2**spec.input_bits - 1)
            latent = trained.encoder.predict(x, verbose=0)
            savez_atomic(staged / "test_vectors.npz", input_codes=codes_in.astype(np.int32),
                         latent_codes=np.round(latent * 2.0**frac_act).astype(np.int32))
        write_json_atomic(staged / "config.json", config)
    return model_dir


def load_model(model_dir) -> tuple[SpectroSpec, object, object, object, dict]:
    """(spec, autoencoder, encoder, decoder, config) of a saved spectro_cae model folder."""
    from neurocodec.train.artifacts import read_family_config

    model_dir = Path(model_dir)
    config = read_family_config(model_dir, "spectro_cae")
    spec = SpectroSpec.from_dict(config["spec"])
    autoencoder, encoder, decoder = build_spectro_cae(spec)
    autoencoder.load_weights(str(model_dir / "weights.h5"))
    return spec, autoencoder, encoder, decoder, config


def load(model_dir):
    """The registry's one load shape (train.artifacts.LoadedModel)."""
    from neurocodec.train.artifacts import LoadedModel

    spec, ae, enc, dec, config = load_model(model_dir)
    return LoadedModel("spectro_cae", spec, {"autoencoder": ae, "encoder": enc, "decoder": dec}, config)


def train_and_export(spec: SpectroSpec, model_dir=None, epochs: int = 40, patience: int = 5,
                     batch_size: int = 32, seed: int = 0, max_seconds: float | None = None,
                     max_per_recording=None, n_calibration: int = 200, log=print):
    """Dataset -> training -> int8 TFLite export + agreement -> model folder. Returns
    (trained, data, tflite_bytes, agreement)."""
    data = build_dataset(spec, max_seconds=max_seconds, max_per_recording=max_per_recording)
    if log:
        log(f"[spectro_cae {spec.band}] images train/val/test = {len(data.train.images)}/"
            f"{len(data.val.images)}/{len(data.test.images)}")
    trained = train_spectro_cae(data, epochs=epochs, patience=patience, batch_size=batch_size,
                                seed=seed, log=log)
    blob, agreement = export_and_compare(trained, data, n_calibration=n_calibration)
    trained.metrics["tflite"] = agreement
    if model_dir is not None:
        save_model(trained, model_dir, data, blob)
    return trained, data, blob, agreement


def export_and_compare(trained: TrainedSpectroCae, data: SpectroData, n_calibration: int = 200):
    """int8 TFLite of the encoder's float twin; agreement with the QKeras encoder on test data."""
    twin = float_twin_encoder(trained.encoder, trained.spec)
    rep = data.train.images[_evenly(len(data.train.images), n_calibration)]
    return tflite_int8.export_and_compare(twin, lambda x: trained.encoder.predict(x, verbose=0), rep,
                                          data.test.images)


# ============================================================================ CLI
def main(argv=None) -> int:
    """``neurocodec train spectro_cae``: train, export int8 TFLite and save the model folder."""
    p = argparse.ArgumentParser(prog="neurocodec train spectro_cae", description=__doc__.split("\n")[0])
    p.add_argument("--band", choices=sorted(BANDS), default="full",
                   help="full = 0..256 Hz (default); low = < 60 Hz control")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--float", action="store_true", help="float encoder (no QKeras)")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="use only the first seconds of each recording (quick runs)")
    p.add_argument("--name", default=None, help="model folder name (default spectro_cae_<band>)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    limit_threads(args.threads)
    spec = SpectroSpec.for_band(args.band, quantized=not args.float)
    model_dir = paths.model_dir(args.name or f"spectro_cae_{args.band}")
    trained, data, _, agreement = train_and_export(
        spec, model_dir, epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
        seed=args.seed, max_seconds=args.max_seconds)
    print(f"saved {model_dir}: val MSE {trained.metrics['val_mse']:.5f}, test MSE "
          f"{trained.metrics['test_mse']:.5f}, TFLite {agreement['size_bytes']} bytes, "
          f"mean |err| {agreement['mean_abs_error_lsb']:.2f} LSB")
    return 0


__all__ = [
    "BANDS", "CLASSES", "SOURCES", "Source", "SpectroSpec", "SpectroData", "SpectroSplit",
    "TrainedSpectroCae", "build_dataset", "build_spectro_cae", "build_spectro_decoder",
    "build_spectro_encoder", "encoder_features", "export_and_compare", "export_tflite_int8",
    "float_twin_encoder", "images_from_signal", "limit_threads", "load_model", "main",
    "run_tflite", "save_model", "segments_to_images", "signal_windows", "tflite_agreement",
    "train_and_export", "train_spectro_cae",
]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
