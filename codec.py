"""Encode a recording with a trained cae exactly as the hardware would, decode it, report.

`encode_recording` runs the bit-exact integer encoder (quantize.reference, identical to the RTL
and the HLS C simulation) over every channel in 1024-sample windows and writes a codes file
(.npz: int8 latent codes + the side information needed to decode). `decode_codes` runs the
Keras decoder and returns the recording in its original units. `encode_report` writes a
Markdown report with compression and reconstruction quality a person can read.
"""
import os
import tempfile
from pathlib import Path

import numpy as np

from neurocodec.quantize.reference import IntEncoder, encode_int, latent_to_real, quantize_input
from neurocodec.signals import Recording, load_recording
from neurocodec.signals.scaling import MinMaxScaling, apply_scaling, fit_minmax, invert_scaling
from neurocodec.train import artifacts

CODES_FORMAT = "neurocodec-cae-codes-1"
WINDOWS_PER_BATCH = 64


def _load_model(model_dir):
    spec, ae, enc, dec, meta = artifacts.load_cae(model_dir)
    if spec.quant is None:
        raise ValueError(f"{model_dir} is a float model; encoding needs a quantized (QAT) cae")
    ie = IntEncoder.from_dict(artifacts.read_json(Path(model_dir) / "int_encoder.json"))
    return spec, dec, meta, ie


def _scaling_for(rec: Recording, meta: dict) -> tuple[MinMaxScaling, str]:
    stored = MinMaxScaling.from_dict(meta["scaling"])
    if stored.minimum.size == rec.n_channels:
        return stored, "model's stored per-channel min-max (fitted on its training data)"
    return fit_minmax(rec.data), "min-max fitted on this recording (channel count differs from training)"


def encode_recording(model_dir, recording, out_path, allow_rate_mismatch=False) -> dict:
    """Encode `recording` (Recording, dataset name or file) into `out_path` (.npz). Returns a summary."""
    spec, _, meta, ie = _load_model(model_dir)
    rec = recording if isinstance(recording, Recording) else load_recording(recording)
    if not allow_rate_mismatch and abs(rec.fs - meta["fs"]) > 1e-6 * meta["fs"]:
        raise ValueError(
            f"{rec.source}: sampling rate {rec.fs:g} Hz does not match the model's {meta['fs']:g} Hz "
            f"(resample first, or pass --allow-rate-mismatch)"
        )
    n = spec.segment_length
    if rec.n_samples < n:
        raise ValueError(f"{rec.source}: {rec.n_samples} samples, shorter than one {n}-sample window")
    scaling, scaling_note = _scaling_for(rec, meta)
    xn = apply_scaling(rec.data, scaling, clip=True)
    n_windows = -(-rec.n_samples // n)
    padded = np.pad(xn, ((0, 0), (0, n_windows * n - rec.n_samples)), mode="edge")
    codes = quantize_input(padded.reshape(-1, n), ie)
    # windows in batches: the integer reference holds (batch, length, filters) int64 per layer
    latent = np.concatenate([encode_int(codes[i : i + WINDOWS_PER_BATCH], ie) for i in range(0, len(codes), WINDOWS_PER_BATCH)])
    latent = latent.reshape(rec.n_channels, n_windows, *ie.latent_shape)
    out_path = Path(out_path)
    _atomic_savez(
        out_path,
        format=CODES_FORMAT,
        latent_codes=latent.astype(np.int8),
        latent_frac=ie.layers[-1].out_frac,
        n_samples=rec.n_samples,
        fs=rec.fs,
        units=rec.units,
        channel_names=np.array(rec.channel_names, dtype=str),
        scaling_min=scaling.minimum,
        scaling_max=scaling.maximum,
        model=str(Path(model_dir).name),
    )
    latent_bits = latent.size * ie.layers[-1].out_bits
    side_bits = 2 * 32 * rec.n_channels + 64  # float32 min/max per channel + sample count
    return {
        "source": rec.source,
        "codes_file": str(out_path),
        "n_channels": rec.n_channels,
        "n_samples": rec.n_samples,
        "fs": rec.fs,
        "windows_per_channel": n_windows,
        "latent_values": int(latent.size),
        "latent_bits": int(latent_bits),
        "side_info_bits": side_bits,
        "samples_per_latent_value": rec.n_channels * rec.n_samples / latent.size,
        "scaling": scaling_note,
    }


def decode_codes(model_dir, codes_path) -> Recording:
    """Codes file -> Recording in the original units (Keras decoder of the same model)."""
    _, dec, _, ie = _load_model(model_dir)
    try:
        z = np.load(codes_path, allow_pickle=False)
        if str(z["format"]) != CODES_FORMAT:
            raise ValueError(f"{codes_path}: not a neurocodec cae codes file (format {z['format']})")
        latent = z["latent_codes"].astype(np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{codes_path}: unreadable codes file ({exc})") from None
    if latent.shape[2:] != ie.latent_shape:
        raise ValueError(f"{codes_path}: latent shape {latent.shape[2:]} does not match the model's {ie.latent_shape}")
    n_ch, n_win = latent.shape[:2]
    real = latent_to_real(latent.reshape(n_ch * n_win, *ie.latent_shape), ie)
    decoded = dec.predict(real, verbose=0)[..., 0].reshape(n_ch, -1)[:, : int(z["n_samples"])]
    scaling = MinMaxScaling(z["scaling_min"], z["scaling_max"])
    return Recording(invert_scaling(decoded, scaling), float(z["fs"]), str(z["units"]), list(z["channel_names"]), str(codes_path))


def _atomic_savez(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
