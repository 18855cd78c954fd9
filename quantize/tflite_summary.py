"""`neurocodec tflite-summary`: table of the TFLite int8 exports (agreement with QKeras, size).

Reads out/tflite/<model>/encoder_int8_report.json written by `neurocodec export-tflite` and
writes docs/tflite_cae.md, so every number is what the last export measured."""
import argparse
import json
import sys
from pathlib import Path

from neurocodec import paths
from neurocodec.files import write_text_atomic


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="neurocodec tflite-summary", description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["cae_cr8", "cae_cr32", "cae_cr64"])
    p.add_argument("--docs", default="docs")
    a = p.parse_args(argv)
    lines = [
        "# TFLite int8 export of the `cae` encoder (Raspberry Pi 4/5 path)",
        "",
        "Made by `make report-tflite` (`neurocodec export-tflite --model-dir out/models/<model> --data recording`, then",
        "`neurocodec tflite-summary`). The QKeras encoder's quantized weights go into a Conv2D (1,k) twin (slope 77/256, exported",
        "as PRELU); activation grids are pinned to the QKeras 8-bit grids, so output int8 codes are latent codes (LSB 2^-5);",
        "calibration on the training part of the locust recording, evaluation on its validation windows, run with ai-edge-litert",
        "(the runtime used on the Pi; measured here on x86). TFLite rounds once per layer where QKeras rounds at the 16-bit",
        "accumulator and again at the 8-bit register, so the two differ by a few LSB: not bit-exact, see the agreement columns.",
        "",
        "| model | file size (bytes) | latent values compared | exact | within 1 LSB | within 2 LSB | max error (LSB) | SNR vs QKeras latent (dB) | correlation |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in a.models:
        path = paths.stage_dir("tflite", name) / "encoder_int8_report.json"
        if not path.is_file():
            print(f"neurocodec tflite-summary: error: {path} missing (run `neurocodec export-tflite --model-dir out/models/{name}`)", file=sys.stderr)
            return 2
        r = json.loads(path.read_text())
        lines.append(
            f"| {name} | {r['size_bytes']} | {r['n_values']} | {100 * r['frac_exact']:.1f} % | {100 * r['frac_within_1lsb']:.1f} % | "
            f"{100 * r['frac_within_2lsb']:.1f} % | {r['max_abs_error_lsb']:.0f} | {r['snr_db']:.1f} | {r['correlation']:.4f} |"
        )
    out = Path(a.docs) / "tflite_cae.md"
    write_text_atomic(out, "\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
