"""`neurocodec rtl --model-dir out/models/cae_cr64`: write the Verilog encoder and its schedule."""
import argparse
import json
import sys
from pathlib import Path

from neurocodec import paths


def main(argv=None) -> int:
    from neurocodec.firmware.verilog_gen import balanced_macs_per_layer, generate_encoder_verilog, load_int_encoder, schedule_summary

    p = argparse.ArgumentParser(prog="neurocodec rtl", description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", required=True)
    p.add_argument("--out", help="folder for the .v files (default out/rtl/<model>)")
    p.add_argument("--macs-per-layer", default="1", help="an integer or 'balanced'")
    p.add_argument("--clock-mhz", type=float, default=100.0)
    p.add_argument("--channel-rate-hz", type=float, default=30000.0)
    a = p.parse_args(argv)
    try:
        ie = load_int_encoder(Path(a.model_dir) / "int_encoder.json")
        macs = balanced_macs_per_layer(ie) if a.macs_per_layer == "balanced" else int(a.macs_per_layer)
        out = Path(a.out) if a.out else paths.stage_dir("rtl", Path(a.model_dir).name)
        path = generate_encoder_verilog(ie, out, macs_per_layer=macs)
    except (ValueError, FileNotFoundError) as exc:
        print(f"neurocodec rtl: error: {exc}", file=sys.stderr)
        return 2
    s = schedule_summary(ie, macs, clock_hz=a.clock_mhz * 1e6, channel_rate_hz=a.channel_rate_hz)
    print(f"wrote {path}")
    print(json.dumps({k: v for k, v in s.items() if not isinstance(v, (list, dict))}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
