"""The CLI bad-input walk: every verb with each class of bad input exits 2 with a message naming
the problem, and leaves no output file behind (evaluate's intermediate codes included).

Classes: a missing path, a directory where a file is expected, a path under a regular file
(unreadable / unwritable even for root: tests run as root, so permission bits would not fail),
a corrupt file, a truncated file, a codes file of another model (other name; other weights),
a model folder of another family, a model folder with a corrupt file, an output under a file."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from neurocodec.cli import main
from neurocodec.signals import load_recording


@pytest.fixture(scope="module")
def walk(tiny_cae_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("walk")
    w = {"root": root, "model": Path(tiny_cae_dir)}
    rec = load_recording("locust")
    good = root / "in" / "excerpt.npz"
    good.parent.mkdir()
    np.savez(good, data=rec.data[:, :5000], fs=rec.fs, units=rec.units)
    w["rec"] = good
    blob = good.read_bytes()
    (root / "in" / "corrupt.npz").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes())
    (root / "in" / "truncated.npz").write_bytes(blob[: len(blob) // 2])
    (root / "in" / "odd.raw").write_bytes(b"\x00" * 1001)
    (root / "in" / "a_folder.npz").mkdir()
    (root / "blocker").write_text("a regular file\n")
    codes = root / "in" / "codes.ncb"
    assert main(["encode", "--model-dir", str(tiny_cae_dir), "--input", str(good), "--out", str(codes)]) == 0
    cb = codes.read_bytes()
    (root / "in" / "corrupt.ncb").write_bytes(cb[:40] + bytes(b ^ 0x5A for b in cb[40:80]) + cb[80:])
    (root / "in" / "truncated.ncb").write_bytes(cb[: len(cb) // 2])
    (root / "in" / "old.npz").write_bytes((root / "in" / "excerpt.npz").read_bytes())  # a zip: the 0.1 format
    # the same model under another name, and a model of the same name with other weights
    renamed = root / "models" / "cae_cr64_renamed"
    shutil.copytree(tiny_cae_dir, renamed)
    other = root / "models2" / Path(tiny_cae_dir).name
    shutil.copytree(tiny_cae_dir, other)
    from neurocodec.train.artifacts import load_cae

    _, ae, _, _, _ = load_cae(other)
    ae.set_weights([w_ * 0.5 for w_ in ae.get_weights()])
    ae.save_weights(str(other / "weights.h5"))
    w["renamed"], w["other_weights"] = renamed, other
    # a model folder of another family, and cae folders with one corrupt file each
    fam = root / "models" / "spectro"
    fam.mkdir()
    (fam / "config.json").write_text(json.dumps({"family": "spectro_cae"}))
    w["family"] = fam
    for name, target, how in (("bad_config", "config.json", "truncate"), ("bad_weights", "weights.h5", "truncate"),
                              ("bad_intenc", "int_encoder.json", "truncate"), ("bad_vectors", "test_vectors.npz", "truncate"),
                              ("no_vectors", "test_vectors.npz", "delete")):
        d = root / "models" / name
        shutil.copytree(tiny_cae_dir, d)
        f = d / target
        if how == "delete":
            f.unlink()
        else:
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
        w[name] = d
    w["out"] = root / "outputs"  # every case writes here (and NEUROCODEC_OUT points here)
    return w


def _tree(root: Path) -> set:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _cases(w):
    m, r, i, out, blk = str(w["model"]), str(w["rec"]), w["root"] / "in", w["out"], w["root"] / "blocker"
    missing, a_dir, under_file = str(i / "nope.npz"), str(i / "a_folder.npz"), str(blk / "x.npz")
    fam, cfg, wts, ie, tv, nov = (str(w[k]) for k in ("family", "bad_config", "bad_weights", "bad_intenc",
                                                      "bad_vectors", "no_vectors"))
    codes = str(i / "codes.ncb")
    c = []
    # encode
    enc = lambda model, inp, o=str(out / "c.ncb"): ["encode", "--model-dir", model, "--input", inp, "--out", o]  # noqa: E731
    c += [("encode missing input", enc(m, missing), "file not found"),
          ("encode directory input", enc(m, a_dir), "is a directory"),
          ("encode input under a file", enc(m, str(blk / "in.npz")), "file not found"),
          ("encode corrupt input", enc(m, str(i / "corrupt.npz")), "not a numpy .npz archive"),
          ("encode truncated input", enc(m, str(i / "truncated.npz")), "not a numpy .npz archive"),
          ("encode odd-length raw", enc(m, str(i / "odd.raw")), "corrupt or truncated"),
          ("encode missing model", enc(str(i / "nomodel"), r), "not a trained model folder"),
          ("encode model is a file", enc(str(blk), r), "is a file, not a trained model folder"),
          ("encode other family", enc(fam, r), "'spectro_cae' model, which has no recording codec"),
          ("encode corrupt config", enc(cfg, r), "unreadable model config"),
          ("encode corrupt weights", enc(wts, r), "weights.h5"),
          ("encode corrupt int encoder", enc(ie, r), "int_encoder.json"),
          ("encode output under a file", enc(m, r, under_file), "is a file, not a folder"),
          ("encode output is a folder", enc(m, r, a_dir), "is an existing directory")]
    # decode
    dec = lambda model, cf, o=str(out / "d.npz"): ["decode", "--model-dir", model, "--codes", cf, "--out", o]  # noqa: E731
    c += [("decode missing codes", dec(m, str(i / "nope.ncb")), "codes file not found"),
          ("decode directory codes", dec(m, a_dir), "is a directory"),
          ("decode corrupt codes", dec(m, str(i / "corrupt.ncb")), "corrupt or truncated bitstream"),
          ("decode truncated codes", dec(m, str(i / "truncated.ncb")), "truncated bitstream"),
          ("decode old npz codes", dec(m, str(i / "old.npz")), "codes file of neurocodec 0.1"),
          ("decode random bytes", dec(m, str(i / "corrupt.npz")), "not a neurocodec bitstream"),
          ("decode renamed model", dec(str(w["renamed"]), codes), "renamed copy"),
          ("decode other weights", dec(str(w["other_weights"]), codes), "weights hash"),
          ("decode other family", dec(fam, codes), "has no recording codec"),
          ("decode corrupt weights", dec(wts, codes), "weights.h5"),
          ("decode output under a file", dec(m, codes, under_file), "is a file, not a folder")]
    # evaluate
    ev = lambda model, data, o=str(out / "report"): ["evaluate", "--model-dir", model, "--data", data, "--out", o]  # noqa: E731
    c += [("evaluate missing data", ev(m, missing), "file not found"),
          ("evaluate corrupt data", ev(m, str(i / "corrupt.npz")), "not a numpy .npz archive"),
          ("evaluate directory data", ev(m, a_dir), "is a directory"),
          ("evaluate other family", ev(fam, r), "has no recording codec"),
          ("evaluate corrupt weights", ev(wts, r), "weights.h5"),
          ("evaluate output under a file", ev(m, r, str(blk / "rep")), "is a file, not a folder")]
    # hardware stages and the TFLite export
    for verb in ("hls", "rtl", "cosim", "report-hw", "export-tflite"):
        o = ["--out", str(out / verb)]
        c += [(f"{verb} missing model", [verb, "--model-dir", str(i / "nomodel")] + o, "not a trained model folder"),
              (f"{verb} model is a file", [verb, "--model-dir", str(blk)] + o, "is a file"),
              (f"{verb} other family", [verb, "--model-dir", fam] + o, "does not support"),
              (f"{verb} corrupt config", [verb, "--model-dir", cfg] + o, "unreadable model config"),
              (f"{verb} output under a file", [verb, "--model-dir", m, "--out", str(blk / verb)], "is a file, not a folder")]
        if verb == "export-tflite":
            c += [(f"{verb} corrupt weights", [verb, "--model-dir", wts] + o, "weights.h5")]
        else:
            c += [(f"{verb} corrupt int encoder", [verb, "--model-dir", ie] + o, "int_encoder.json")]
        if verb in ("hls", "cosim", "export-tflite"):
            c += [(f"{verb} truncated test vectors", [verb, "--model-dir", tv] + o, "test_vectors.npz")]
        if verb in ("hls", "cosim"):
            c += [(f"{verb} missing test vectors", [verb, "--model-dir", nov] + o, "test_vectors.npz")]
    # train
    tr = lambda data, o=str(out / "models" / "t"): ["train", "cae", "--data", data, "--epochs", "1", "--out", o]  # noqa: E731
    c += [("train missing data", tr(missing), "file not found"),
          ("train directory data", tr(a_dir), "is a directory"),
          ("train corrupt data", tr(str(i / "corrupt.npz")), "not a numpy .npz archive"),
          ("train truncated data", tr(str(i / "truncated.npz")), "not a numpy .npz archive"),
          ("train output under a file", tr(r, str(blk / "m")), "is a file, not a folder")]
    return c


CASE_IDS = [c[0] for c in _cases({k: Path("/x") for k in (
    "root", "model", "rec", "renamed", "other_weights", "family", "bad_config", "bad_weights", "bad_intenc",
    "bad_vectors", "no_vectors", "out")})]


@pytest.mark.parametrize("case", CASE_IDS)
def test_bad_input_exits_2_with_a_message_and_no_output(walk, case, capsys, monkeypatch):
    name, argv, expected = next(c for c in _cases(walk) if c[0] == case)
    monkeypatch.setenv("NEUROCODEC_OUT", str(walk["out"]))
    before = _tree(walk["root"])
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors of a stage's own parser
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, f"{name}: exit {code}, stderr: {err[-2000:]}"
    assert "Traceback" not in err, err
    assert expected in err, f"{name}: {expected!r} not in stderr: {err[-2000:]}"
    left = _tree(walk["root"]) - before
    assert not left, f"{name}: left files behind: {sorted(left)}"
