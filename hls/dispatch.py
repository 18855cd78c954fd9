"""`neurocodec hls --model-dir DIR`: hand the model folder to its family's HLS flow.

The family is read from DIR/config.json ("cae", "gamma_cnn", "vq_cae"); each family has its own
`main(argv)` that writes the hls4ml project and checks the C simulation bit-exact.
"""
import importlib
import json
import sys
from pathlib import Path

FLOWS = {
    "cae": "neurocodec.hls.project:main",
    "gamma_cnn": "neurocodec.train.gamma_cnn:hls_main",
    "vq_cae": "neurocodec.quantize.vq_reference:hls_main",
}


def family_of(argv: list[str]) -> str:
    if "--model-dir" not in argv:
        return "cae"
    i = argv.index("--model-dir")
    if i + 1 >= len(argv):
        raise SystemExit("neurocodec hls: error: --model-dir needs a folder")
    config = Path(argv[i + 1]) / "config.json"
    if not config.is_file():
        raise SystemExit(f"neurocodec hls: error: {config.parent} is not a trained model folder (no config.json)")
    config = json.loads(config.read_text())
    return config.get("family") or config.get("model") or "cae"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    family = family_of(argv)
    if family not in FLOWS:
        raise SystemExit(f"neurocodec hls: error: no HLS flow for model family {family!r} (known: {', '.join(FLOWS)})")
    module, func = FLOWS[family].split(":")
    return int(getattr(importlib.import_module(module), func)(argv) or 0)


if __name__ == "__main__":
    sys.exit(main())
