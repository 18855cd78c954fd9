"""A Markdown report of one encoded recording: compression, reconstruction quality, crossings."""
from pathlib import Path

import numpy as np

from neurocodec.metrics.crossings import crossing_analysis, summarize_crossings
from neurocodec.metrics.reconstruction import mse, snr_db
from neurocodec.signals import Recording
from neurocodec.files import write_json_atomic, write_text_atomic
from neurocodec.signals.scaling import apply_scaling, fit_minmax


def quality(original: Recording, decoded: Recording) -> dict:
    """Per-channel SNR/MSE in original units and crossings on the [0, 1]-normalized signals."""
    scaling = fit_minmax(original.data)
    on = apply_scaling(original.data, scaling)
    dn = apply_scaling(decoded.data, scaling, clip=False)
    rows = crossing_analysis(on, dn)
    return {
        "snr_db_per_channel": [float(v) for v in snr_db(original.data, decoded.data, axis=-1)],
        "mse_units_per_channel": [float(v) for v in mse(original.data, decoded.data, axis=-1)],
        "units": original.units,
        "crossings_preserved_pct": float(summarize_crossings(rows)),
        "crossings": rows,
        **_spike_quality(original, decoded),
    }


def _spike_quality(original: Recording, decoded: Recording) -> dict:
    """Whole-band and LFP SNR, spike recall / precision and spike-window SNDR
    (neurocodec.metrics.spike_fidelity; spike values None without a spike band)."""
    from neurocodec.metrics.spike_fidelity import fidelity

    f = fidelity(original.data, decoded.data, original.fs)
    return {"spike_fidelity": {k: (None if v is None else float(v)) for k, v in f.items()}}


def _spike_rows(q: dict) -> list[str]:
    f = q.get("spike_fidelity")
    if not f:
        return []
    rows = [f"| SNR whole band / LFP band < 300 Hz (dB) | {f['snr_db']:.2f} / {f['lfp_snr_db']:.2f} |"]
    if f["spike_recall"] is not None:
        rows.append(f"| spike recall / precision (4.5 x MAD, +-0.5 ms) | {f['spike_recall']:.3f} / {f['spike_precision']:.3f} "
                    f"({int(f['n_spikes_original'])} spikes in the original) |")
        rows.append(f"| spike-window SNDR (+-1 ms, 300-5000 Hz) | {f['spike_sndr_db']:.2f} dB |")
    return rows


def write_report(path: Path, model_dir, summary: dict, q: dict, adc_bits: int = 16) -> Path:
    path = Path(path)
    raw_bits = summary["n_channels"] * summary["n_samples"] * adc_bits
    sent_bits = summary["bitstream_bits"]
    lines = [
        f"# neurocodec encode report: {Path(summary['source']).name}",
        "",
        f"Model `{Path(model_dir).name}` (bit-exact integer encoder, identical to the RTL and HLS C simulation).",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| channels x samples | {summary['n_channels']} x {summary['n_samples']} at {summary['fs']:g} Hz |",
        *([f"| windows per channel | {summary['windows_per_channel']} (last window edge-padded) |",
           f"| samples per latent value | {summary['samples_per_latent_value']:.1f} |"] if "windows_per_channel" in summary else []),
        f"| raw bits ({adc_bits}-bit ADC) | {raw_bits} |",
        (f"| transmitted bits (latent + header, side info, checksum) | {summary['latent_bits']} + {summary['side_info_bits']} = {sent_bits} |"
         if "latent_bits" in summary else
         f"| transmitted bits (LFP + spikes + header, side info, checksum) | {summary['lfp_bits']} + {summary['spike_bits']} + "
         f"{sent_bits - summary['lfp_bits'] - summary['spike_bits']} = {sent_bits} ({summary['n_snippets']} spike snippets) |"),
        f"| bit compression ratio | {raw_bits / sent_bits:.1f} |",
        *([f"| normalization | {summary['scaling']} |"] if "scaling" in summary else []),
        *([f"| samples clipped to the model's calibrated range | {100 * summary['clipped_fraction']:.3g} % "
           f"(per channel: {', '.join(f'{100 * v:.3g} %' for v in summary['clipped_fraction_per_channel'])}) |"]
          if "clipped_fraction" in summary else []),
        f"| SNR per channel (dB) | {', '.join(f'{v:.2f}' for v in q['snr_db_per_channel'])} |",
        f"| MSE per channel ({q['units']}^2) | {', '.join(f'{v:.4g}' for v in q['mse_units_per_channel'])} |",
        f"| threshold crossings preserved | {q['crossings_preserved_pct']:.1f} % |",
        *_spike_rows(q),
        "",
        "SNR = 10 log10(var(x) / mean((x - x_hat)^2)). Crossings: thresholds 0.05..0.95 (not 0.5) on the",
        "min-max normalized signal; a crossing is preserved when the decoded signal crosses at the same sample.",
        "",
        "| threshold | crossings original | crossings decoded | preserved | % |",
        "|---|---|---|---|---|",
    ]
    for r in q["crossings"]:
        pct = "n/a" if np.isnan(r["preserved_pct"]) else f"{r['preserved_pct']:.1f}"
        lines.append(f"| {r['threshold']:.2f} | {r['crossings_original']} | {r['crossings_decoded']} | {r['preserved']} | {pct} |")
    write_json_atomic(path.with_suffix(".json"), {"summary": summary, "quality": q, "raw_bits": raw_bits,
                                                  "sent_bits": sent_bits})
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
