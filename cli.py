"""`neurocodec` command line: each command hands its arguments to a stage module's main(argv)."""
import argparse
import importlib
import sys
from pathlib import Path

# command -> "module:function" taking argv; imported only when used (TensorFlow is slow to load).
TRAINERS = {
    "cae": "neurocodec.train.cae_training:main",
    "vq_cae": "neurocodec.train.vq_training:main",
    "gamma_cnn": "neurocodec.train.gamma_training:main",
    "spectro_cae": "neurocodec.train.spectro_cae:main",
    "lfp_ae": "neurocodec.train.lfp_ae:main",
    "lfp_gan": "neurocodec.train.lfp_gan:main",
}
REPORTS = {
    "cae": "neurocodec.train.cae_report:main",
    "vq_cae": "neurocodec.train.vq_report:main",
    "gamma_cnn": "neurocodec.train.gamma_report:main",
    "spectro_cae": "neurocodec.train.spectro_report:main",
    "lfp_gan": "neurocodec.train.lfp_report:main",
}
STAGES = {
    "hls": ("neurocodec.hls.dispatch:main", "write an hls4ml project and check its C simulation bit-exact"),
    "rtl": ("neurocodec.firmware.rtl_cli:main", "generate the Verilog encoder of a trained model"),
    "cosim": ("neurocodec.sim.cosim_cli:main", "simulate the RTL with cocotb + Verilator against the reference"),
    "hls-summary": ("neurocodec.hls.summary:main", "table of the C-simulation checks of every cae CR (docs/hls_cae.md)"),
    "tflite-summary": ("neurocodec.quantize.tflite_summary:main", "table of the TFLite int8 exports (docs/tflite_cae.md)"),
    "report-hw": ("neurocodec.firmware.hw_report:main", "Yosys resources, latency and power report"),
    "export-tflite": ("neurocodec.quantize.tflite_runner:main", "TFLite int8 export and agreement check"),
}


def _call(target: str, argv: list[str]) -> int:
    module, func = target.split(":")
    return int(getattr(importlib.import_module(module), func)(argv) or 0)


def _encode(a) -> int:
    from neurocodec.codec import encode_recording

    s = encode_recording(a.model_dir, a.input, a.out, a.allow_rate_mismatch)
    print(f"encoded {s['n_channels']} x {s['n_samples']} samples -> {s['latent_values']} latent values ({s['latent_bits']} bits) in {s['codes_file']}")
    return 0


def _decode(a) -> int:
    from neurocodec.codec import decode_codes
    from neurocodec.signals.loaders import save_npz

    rec = decode_codes(a.model_dir, a.codes)
    path = save_npz(rec, a.out)
    print(f"decoded {rec.n_channels} x {rec.n_samples} samples at {rec.fs:g} Hz -> {path}")
    return 0


def _evaluate(a) -> int:
    from neurocodec import paths
    from neurocodec.codec import decode_codes, encode_recording
    from neurocodec.codec_report import quality, write_report
    from neurocodec.signals import load_recording
    from neurocodec.train.artifacts import read_json

    data = a.data or read_json(Path(a.model_dir) / "config.json")["source"]
    out = Path(a.out) if a.out else paths.stage_dir("reports", Path(a.model_dir).name)
    original = load_recording(data)
    summary = encode_recording(a.model_dir, original, out / "codes.npz", a.allow_rate_mismatch)
    decoded = decode_codes(a.model_dir, out / "codes.npz")
    report = write_report(out / "encode_report.md", a.model_dir, summary, quality(original, decoded), a.adc_bits)
    print(report.read_text())
    print(f"report: {report}")
    return 0


def _datasets(a) -> int:
    from neurocodec.signals import list_datasets

    for name, desc in list_datasets().items():
        print(f"{name:16s} {desc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neurocodec", description="Neural-signal codecs from training to silicon.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model", add_help=False)
    t.add_argument("model", choices=sorted(TRAINERS))
    r = sub.add_parser("report", help="rerunnable report that writes tables/figures into docs/", add_help=False)
    r.add_argument("model", choices=sorted(REPORTS))
    for name, (_, helptext) in STAGES.items():
        sub.add_parser(name, help=helptext, add_help=False)
    sub.add_parser("datasets", help="list bundled/shared datasets")
    for name, helptext in (("encode", "encode a recording into a codes file (bit-exact integer encoder)"),
                           ("evaluate", "encode + decode a recording and write a readable report")):
        e = sub.add_parser(name, help=helptext)
        e.add_argument("--model-dir", required=True, help="trained model folder, e.g. out/models/cae_cr64")
        e.add_argument("--allow-rate-mismatch", action="store_true")
        if name == "encode":
            e.add_argument("--input", required=True, help="recording file or dataset name")
            e.add_argument("--out", required=True, help="codes file to write (.npz)")
        else:
            e.add_argument("--data", help="recording file or dataset name (default: the training recording)")
            e.add_argument("--out", help="report folder (default out/reports/<model>)")
            e.add_argument("--adc-bits", type=int, default=16, help="bits per raw sample for the compression ratio")
    d = sub.add_parser("decode", help="decode a codes file back into a recording (.npz)")
    d.add_argument("--model-dir", required=True)
    d.add_argument("--codes", required=True)
    d.add_argument("--out", required=True)
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if argv and argv[0] in ("train", "report") and len(argv) > 1 and not argv[1].startswith("-"):
        table = TRAINERS if argv[0] == "train" else REPORTS
        if argv[1] not in table:
            parser.error(f"unknown model {argv[1]!r} for {argv[0]}; choose from {', '.join(sorted(table))}")
        return _call(table[argv[1]], argv[2:])
    if argv and argv[0] in STAGES:
        return _call(STAGES[argv[0]][0], argv[1:])
    a = parser.parse_args(argv)
    handlers = {"encode": _encode, "decode": _decode, "evaluate": _evaluate, "datasets": _datasets}
    try:
        return handlers[a.command](a)
    except (ValueError, FileNotFoundError) as exc:
        print(f"neurocodec {a.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
