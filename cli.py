"""`neurocodec` command line. Every verb is read from the family registry (neurocodec.registry).

* `neurocodec train FAMILY ...`, `neurocodec report FAMILY ...`: the family's trainer / report.
* `neurocodec hls|rtl|cosim|report-hw|export-tflite --model-dir DIR ...`: the stage entry of the
  family that DIR's config.json names; a family that does not support the verb gets a message.
* `neurocodec encode|decode|evaluate --model-dir DIR ...`: the family's codec.

One error contract: any `NeurocodecError` (and an OS error on a path the user named) is caught
here, once, and printed as `neurocodec VERB: error: MESSAGE` with exit code 2.
"""
import argparse
import importlib
import sys
from pathlib import Path

from neurocodec.errors import NeurocodecError, NeurocodecWarning
from neurocodec.registry import FAMILIES, family_of_model_dir, families_supporting, get_family

MODEL_VERBS = {
    "hls": "write an hls4ml project and check its C simulation bit-exact",
    "rtl": "generate the Verilog encoder of a trained model",
    "cosim": "simulate the RTL with cocotb + Verilator against the reference",
    "report-hw": "Yosys resources, latency and power report",
    "export-tflite": "TFLite int8 export and agreement check",
}
# Tools that are not a family's stage (tables over several models).
TOOLS = {
    "hls-summary": ("neurocodec.hls.summary:main", "table of the C-simulation checks of every cae CR (docs/hls_cae.md)"),
    "tflite-summary": ("neurocodec.quantize.tflite_summary:main", "table of the TFLite int8 exports (docs/tflite_cae.md)"),
}


def _call_target(target: str, argv: list[str]) -> int:
    module, func = target.split(":")
    return int(getattr(importlib.import_module(module), func)(argv) or 0)


def _model_dir_arg(argv: list[str]) -> Path | None:
    for i, a in enumerate(argv):
        if a == "--model-dir" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if a.startswith("--model-dir="):
            return Path(a.split("=", 1)[1])
        if a == "--model" and i + 1 < len(argv):
            from neurocodec import paths

            return paths.model_dir(argv[i + 1])
    return None


def _output_args(argv: list[str]) -> list[Path]:
    """Values of --out / --docs in a stage's argv."""
    out = []
    for i, a in enumerate(argv):
        for flag in ("--out", "--docs"):
            if a == flag and i + 1 < len(argv):
                out.append(Path(argv[i + 1]))
            elif a.startswith(flag + "="):
                out.append(Path(a.split("=", 1)[1]))
    return out


def _check_outputs(argv: list[str]) -> None:
    """Before a stage does any work: every output path it was given can be created."""
    for p in _output_args(argv):
        q = p
        while not q.exists() and q != q.parent:
            q = q.parent
        if q.exists() and not q.is_dir() and q != p:
            raise NeurocodecError(f"{p}: cannot write here: {q} is a file, not a folder")
        _check_out(p, is_dir=p.is_dir() or not p.suffix)


def _model_verb(verb: str, argv: list[str]) -> int:
    model_dir = _model_dir_arg(argv)
    if model_dir is None and ("-h" in argv or "--help" in argv):
        family = get_family("cae")
    elif model_dir is None:
        raise NeurocodecError(f"`neurocodec {verb}` needs --model-dir DIR (a trained model folder)")
    else:
        family = family_of_model_dir(model_dir)
    entry = family.entry(verb)
    _check_outputs(argv)
    return int(entry(argv) or 0)


def _check_out(path, is_dir: bool = False) -> Path:
    """Fail early (before any encoding work) when an output path cannot be created: its first
    existing ancestor must be a writable folder (a path under a regular file fails for root too)."""
    import os

    path = Path(path)
    if is_dir and path.exists() and not path.is_dir():
        raise NeurocodecError(f"{path}: output folder is an existing file")
    if not is_dir and path.is_dir():
        raise NeurocodecError(f"{path}: output file is an existing directory")
    p = path.parent if not is_dir else path
    while not p.exists():
        p = p.parent
    if not p.is_dir():
        raise NeurocodecError(f"{path}: cannot write here: {p} is a file, not a folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise NeurocodecError(f"{path}: cannot write here: folder {p} is not writable")
    return path


def _codec_family(model_dir, verb: str):
    family = family_of_model_dir(model_dir)
    if not family.supports(verb):
        raise NeurocodecError(
            f"{model_dir} holds a {family.name!r} model, which has no recording codec for `{verb}`; "
            f"families with one: {', '.join(families_supporting(verb))}")
    return family


def _encode(a) -> int:
    _codec_family(a.model_dir, "encode")
    _check_out(a.out)
    from neurocodec.codec import encode_recording

    from neurocodec.codec.recording import parse_options

    s = encode_recording(a.model_dir, a.input, a.out, a.allow_rate_mismatch, a.rescale, parse_options(a.option))
    print(f"encoded {s['n_channels']} x {s['n_samples']} samples with {s['codec']} -> {s['bitstream_bits']} bits "
          f"(everything transmitted) in {s['codes_file']}")
    return 0


def _decode(a) -> int:
    _codec_family(a.model_dir, "decode")
    _check_out(a.out)
    from neurocodec.codec import decode_codes
    from neurocodec.signals.loaders import save_npz

    rec = decode_codes(a.model_dir, a.codes)
    path = save_npz(rec, a.out)
    print(f"decoded {rec.n_channels} x {rec.n_samples} samples at {rec.fs:g} Hz -> {path}")
    return 0


def _evaluate(a) -> int:
    _codec_family(a.model_dir, "evaluate")
    import tempfile

    from neurocodec import paths
    from neurocodec.codec import decode_codes, encode_recording
    from neurocodec.codec.recording import parse_options
    from neurocodec.codec_report import quality, write_report
    from neurocodec.signals import load_recording
    from neurocodec.train.artifacts import read_json

    data = a.data or read_json(Path(a.model_dir) / "config.json")["source"]
    out = _check_out(Path(a.out) if a.out else paths.stage_dir("reports", Path(a.model_dir).name), is_dir=True)
    original = load_recording(data)
    with tempfile.TemporaryDirectory() as tmp:  # the intermediate codes never outlive a failure
        codes = Path(tmp) / "codes.ncb"
        summary = encode_recording(a.model_dir, original, codes, a.allow_rate_mismatch, a.rescale,
                                   parse_options(a.option))
        decoded = decode_codes(a.model_dir, codes)
        report = write_report(out / "encode_report.md", a.model_dir, summary, quality(original, decoded), a.adc_bits)
    print(report.read_text())
    print(f"report: {report}")
    return 0


def _datasets(a) -> int:
    from neurocodec.signals import list_datasets

    for name, desc in list_datasets().items():
        print(f"{name:16s} {desc}")
    return 0


def _families(a) -> int:
    for f in FAMILIES.values():
        print(f"{f.name:12s} {', '.join(f.verbs()):60s} {f.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neurocodec", description="Neural-signal codecs from training to silicon.")
    sub = p.add_subparsers(dest="command", required=True)
    for verb, helptext in (("train", "train a model of a family"),
                           ("report", "rerunnable report that writes tables/figures into docs/")):
        t = sub.add_parser(verb, help=helptext, add_help=False)
        t.add_argument("model", choices=families_supporting(verb))
    for name, helptext in MODEL_VERBS.items():
        sub.add_parser(name, help=helptext, add_help=False)
    for name, (_, helptext) in TOOLS.items():
        sub.add_parser(name, help=helptext, add_help=False)
    sub.add_parser("datasets", help="list bundled/shared datasets")
    sub.add_parser("families", help="list the model families and the verbs each supports")
    for name, helptext in (("encode", "encode a recording into a bitstream file (bit-exact integer encoder)"),
                           ("evaluate", "encode + decode a recording and write a readable report")):
        e = sub.add_parser(name, help=helptext)
        e.add_argument("--model-dir", required=True, help="trained model folder, e.g. out/models/cae_cr64")
        e.add_argument("--allow-rate-mismatch", action="store_true")
        e.add_argument("--rescale", action="store_true",
                       help="fit the input scaling on this recording instead of clipping it to the model's range")
        e.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="set a codec option (repeatable), e.g. for vq_cae stages=3 (the rate), beam=8 "
                            "(M-best search; 1 = the hardware's greedy search) or rdo=0.03 (variable rate: "
                            "up to `stages` per spike, lambda dB per bit)")
        if name == "encode":
            e.add_argument("--input", required=True, help="recording file or dataset name")
            e.add_argument("--out", required=True, help="bitstream file to write")
        else:
            e.add_argument("--data", help="recording file or dataset name (default: the training recording)")
            e.add_argument("--out", help="report folder (default out/reports/<model>)")
            e.add_argument("--adc-bits", type=int, default=16, help="bits per raw sample for the compression ratio")
    d = sub.add_parser("decode", help="decode a bitstream file back into a recording (.npz)")
    d.add_argument("--model-dir", required=True)
    d.add_argument("--codes", required=True)
    d.add_argument("--out", required=True)
    return p


def _dispatch(argv: list[str], parser: argparse.ArgumentParser) -> int:
    if argv and argv[0] in ("train", "report") and len(argv) > 1 and not argv[1].startswith("-"):
        verb, name = argv[0], argv[1]
        entry = get_family(name).entry(verb)
        _check_outputs(argv[2:])
        return int(entry(argv[2:]) or 0)
    if argv and argv[0] in MODEL_VERBS:
        return _model_verb(argv[0], argv[1:])
    if argv and argv[0] in TOOLS:
        return _call_target(TOOLS[argv[0]][0], argv[1:])
    a = parser.parse_args(argv)
    handlers = {"encode": _encode, "decode": _decode, "evaluate": _evaluate, "datasets": _datasets,
                "families": _families}
    return handlers[a.command](a)


def _print_warnings(verb: str):
    """Show NeurocodecWarning as `neurocodec VERB: warning: MESSAGE` (other warnings as usual)."""
    import warnings

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, NeurocodecWarning):
            print(f"neurocodec {verb}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def main(argv=None) -> int:
    import warnings

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    verb = argv[0] if argv else "neurocodec"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", NeurocodecWarning)
            warnings.showwarning = _print_warnings(verb)
            return _dispatch(argv, parser)
    except NeurocodecError as exc:
        print(f"neurocodec {verb}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an output folder that cannot be written, a path that is a folder...
        where = f" {exc.filename}" if exc.filename else ""
        print(f"neurocodec {verb}: error:{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
