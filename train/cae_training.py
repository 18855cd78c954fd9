"""Train, evaluate and save a `cae` (`neurocodec train cae --cr 64 --data locust`)."""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from neurocodec import paths
from neurocodec.metrics.crossings import crossing_analysis, summarize_crossings
from neurocodec.metrics.reconstruction import mse, sndr_db, snr_db
from neurocodec.signals.scaling import invert_scaling
from neurocodec.files import atomic_dir, savez_atomic
from neurocodec.train import artifacts
from neurocodec.train.backend import set_seed
from neurocodec.train.cae import CR_TABLE, CaeSpec, QuantSpec, build_cae, check_cr
from neurocodec.train.cae_data import CaeData, prepare_cae_data
from neurocodec.train.progress import fit_autoencoder

N_TEST_VECTORS = 16  # consecutive validation windows of channel 0 kept as hardware test vectors


def model_name(cr: int, quantized: bool = True, bits: int = 8) -> str:
    if not quantized:
        return f"cae_cr{cr}_float"
    return f"cae_cr{cr}" if bits == 8 else f"cae_cr{cr}_{bits}b"


def make_spec(cr, hidden_filters=16, bits=8, quantized=True, segment_length=1024) -> CaeSpec:
    check_cr(cr)
    quant = QuantSpec(weight_bits=bits, act_bits=bits, input_bits=8) if quantized else None
    return CaeSpec(cr=cr, segment_length=segment_length, hidden_filters=hidden_filters, quant=quant)


def fit_cae(spec: CaeSpec, data: CaeData, epochs=200, batch_size=32, patience=15, learning_rate=1e-3, seed=0, verbose=True):
    """Adam + MSE with early stopping on the validation loss (best weights restored)."""
    set_seed(seed)
    autoencoder, encoder, decoder = build_cae(spec)
    label = f"cae cr{spec.cr}{'' if spec.quant else ' float'}" if verbose else None
    history = fit_autoencoder(autoencoder, data.train[..., None], data.val[..., None], epochs, batch_size, patience,
                              learning_rate, label)
    return autoencoder, encoder, decoder, history


def reconstruction_metrics(original01: np.ndarray, decoded01: np.ndarray, data: CaeData) -> dict:
    """Metrics on normalized segments (n, length) and, for MSE, in the recording's units."""
    rows = crossing_analysis(original01, decoded01)
    per_channel = len(data.channels)
    orig_units = invert_scaling(_channel_rows(original01, per_channel), data.scaling)
    dec_units = invert_scaling(_channel_rows(decoded01, per_channel), data.scaling)
    return {
        "n_segments": int(original01.shape[0]),
        "mse": float(mse(original01, decoded01)),
        "mse_units": float(mse(orig_units, dec_units)),
        "units": data.units,
        "snr_db": float(snr_db(original01, decoded01)),
        "sndr_db_mean": float(np.mean(sndr_db(original01, decoded01))),
        "crossings_preserved_pct": float(summarize_crossings(rows)),
        "crossings": rows,
    }


def _channel_rows(segments: np.ndarray, n_channels: int) -> np.ndarray:
    """(n_channels * k, length) channel-major segments -> (n_channels, k * length)."""
    return segments.reshape(n_channels, -1)


def test_vectors(encoder, data: CaeData) -> dict:
    """Integer test vectors: consecutive validation windows of the first channel."""
    from neurocodec.quantize.reference import encode_int, extract_int_encoder, quantize_input

    ie = extract_int_encoder(encoder)
    windows = data.val[: min(N_TEST_VECTORS, data.val_per_channel)]
    codes = quantize_input(windows, ie)
    return {"int_encoder": ie, "input_codes": codes, "latent_codes": encode_int(codes, ie)}


def train_cae(
    data="locust",
    cr=64,
    epochs=200,
    batch_size=32,
    patience=15,
    hidden_filters=16,
    bits=8,
    quantized=True,
    seed=0,
    channels=None,
    max_seconds=None,
    out_dir=None,
    plots=True,
    verbose=True,
) -> tuple[Path, dict]:
    """Train one cae and write its model folder; returns (folder, metrics)."""
    t0 = time.time()
    spec = make_spec(cr, hidden_filters, bits, quantized)
    cae_data = data if isinstance(data, CaeData) else prepare_cae_data(data, spec.segment_length, channels=channels, max_seconds=max_seconds)
    if verbose:
        print(f"[cae cr{cr}] {cae_data.train.shape[0]} training / {cae_data.val.shape[0]} validation segments of {spec.segment_length} samples from {cae_data.source}", flush=True)
    autoencoder, encoder, decoder, history = fit_cae(spec, cae_data, epochs, batch_size, patience, seed=seed, verbose=verbose)
    decoded = autoencoder.predict(cae_data.val[..., None], verbose=0)[..., 0]
    metrics = reconstruction_metrics(cae_data.val, decoded, cae_data)
    metrics.update(cr=cr, quantized=quantized, bits=bits if quantized else 32, epochs_run=len(history["loss"]),
                   latent_shape=list(encoder.output_shape[1:]), train_seconds=round(time.time() - t0, 1))
    final = Path(out_dir) if out_dir else paths.model_dir(model_name(cr, quantized, bits))
    with atomic_dir(final) as staged:  # staged, then one rename (files.atomic_dir)
        meta = {
            "data": str(data) if not isinstance(data, CaeData) else cae_data.source,
            "source": cae_data.source,
            "fs": cae_data.fs,
            "units": cae_data.units,
            "channels": cae_data.channels,
            "scaling": cae_data.scaling.to_dict(),
            "seed": seed,
        }
        artifacts.save_cae(staged, spec, autoencoder, meta)
        artifacts.write_json(staged / "history.json", history)
        artifacts.write_json(staged / "metrics.json", metrics)
        if quantized:
            tv = test_vectors(encoder, cae_data)
            artifacts.write_json(staged / "int_encoder.json", tv["int_encoder"].to_dict())
            savez_atomic(staged / "test_vectors.npz", input_codes=tv["input_codes"], latent_codes=tv["latent_codes"])
        if plots:
            from neurocodec.train.cae_plots import plot_training

            plot_training(staged, history, cae_data.val, decoded, metrics, cae_data.fs)
    if verbose:
        print(f"[cae cr{cr}] val MSE {metrics['mse']:.3g}, SNR {metrics['snr_db']:.2f} dB, crossings preserved {metrics['crossings_preserved_pct']:.1f} % -> {final}", flush=True)
    return final, metrics


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="neurocodec train cae", description="Train a quantization-aware cae on a recording.")
    p.add_argument("--cr", type=int, default=64, choices=sorted(CR_TABLE), help="compression rate (samples per latent value)")
    p.add_argument("--data", default="locust", help="bundled dataset name (see `neurocodec datasets`) or a recording file")
    p.add_argument("--channels", type=int, nargs="*", help="channel indices to use (default all)")
    p.add_argument("--max-seconds", type=float, help="use only the first seconds of the recording")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--patience", type=int, default=15, help="early-stopping patience on validation loss")
    p.add_argument("--hidden-filters", type=int, default=16)
    p.add_argument("--bits", type=int, default=8, help="weight/activation bit width of the QAT model")
    p.add_argument("--float", dest="quantized", action="store_false", help="train the float (not quantized) twin")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="model folder (default out/models/<name>)")
    a = p.parse_args(argv)
    train_cae(a.data, a.cr, a.epochs, a.batch_size, a.patience, a.hidden_filters, a.bits, a.quantized, a.seed, a.channels, a.max_seconds, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
