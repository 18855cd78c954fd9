"""`neurocodec hls-summary`: one table of the hls4ml C-simulation checks of every cae CR.

Reads out/hls/<model>/csim_report.json written by `make hls MODEL=<model>` and writes
docs/hls_cae.md, so the table is exactly what the last runs reported."""
import argparse
import json
import sys
from pathlib import Path

from neurocodec import paths
from neurocodec.files import write_text_atomic


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="neurocodec hls-summary", description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=[f"cae_cr{cr}" for cr in (2, 4, 8, 16, 32, 64, 128)])
    p.add_argument("--docs", default="docs")
    a = p.parse_args(argv)
    lines = [
        "# hls4ml C simulation of every `cae` encoder",
        "",
        "Made by `make hls-all` (`make hls MODEL=cae_crN` for every CR, then `neurocodec hls-summary`).",
        "Each project: hls4ml 1.3.0, Vitis backend, io_stream, types from the QKeras quantizers; its C simulation",
        "(g++, no vendor tool) runs the model's real test vectors (consecutive 1024-sample windows of the locust",
        "recording's validation part) and is compared value by value with the Python integer reference.",
        "The projects keep `build_prj.tcl`, so a user with Vitis HLS can run C synthesis (`vitis_hls -f build_prj.tcl`).",
        "",
        "| model | vectors | samples | latent values | mismatches | output type | compile (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    missing = []
    for name in a.models:
        path = paths.stage_dir("hls", name) / "csim_report.json"
        if not path.is_file():
            missing.append(name)
            continue
        r = json.loads(path.read_text())
        lines.append(f"| {name} | {r['n_vectors']} | {r['n_samples']} | {r['n_outputs']} | {r['mismatches']} | `{r['output_type']}` | {r.get('compile_seconds', 'n/a')} |")
    if missing:
        print(f"neurocodec hls-summary: error: no C-simulation report for {', '.join(missing)} (run `make hls MODEL=...`)", file=sys.stderr)
        return 2
    out = Path(a.docs) / "hls_cae.md"
    write_text_atomic(out, "\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
