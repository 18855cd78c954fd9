"""End-to-end CLI: encode a real recording with the bit-exact encoder, decode, report; bad inputs."""
import json

import numpy as np

from neurocodec.cli import main
from neurocodec.codec.cae import CaeCodec
from neurocodec.signals import load_recording


def test_encode_decode_roundtrip_keeps_units_and_length(tiny_cae_dir, tmp_path):
    rec = load_recording("locust")
    excerpt = tmp_path / "excerpt.npz"
    np.savez(excerpt, data=rec.data[:, :20000], fs=rec.fs, units=rec.units)
    codes = tmp_path / "codes.ncb"
    assert main(["encode", "--model-dir", str(tiny_cae_dir), "--input", str(excerpt), "--out", str(codes)]) == 0
    bs, latent = CaeCodec(tiny_cae_dir).read(codes.read_bytes())
    assert latent.shape == (4, 20, 16, 1) and latent.dtype == np.int8
    assert (bs.n_channels, bs.n_samples, bs.fs) == (4, 20000, rec.fs)
    out = tmp_path / "decoded.npz"
    assert main(["decode", "--model-dir", str(tiny_cae_dir), "--codes", str(codes), "--out", str(out)]) == 0
    decoded = load_recording(out)
    assert decoded.data.shape == (4, 20000) and decoded.units == "adc_counts"
    # the decoder is weak after a few epochs, but the output lives in the original range
    assert np.all(decoded.data.min(axis=1) >= rec.data[:, :20000].min(axis=1) - 1)


def test_evaluate_writes_a_readable_report(tiny_cae_dir, tmp_path, capsys):
    rec = load_recording("locust")
    excerpt = tmp_path / "excerpt.npz"
    np.savez(excerpt, data=rec.data[:2, :30000], fs=rec.fs, units=rec.units)
    out = tmp_path / "report"
    assert main(["evaluate", "--model-dir", str(tiny_cae_dir), "--data", str(excerpt), "--out", str(out), "--adc-bits", "16"]) == 0
    text = (out / "encode_report.md").read_text()
    assert "bit compression ratio" in text and "SNR per channel" in text
    data = json.loads((out / "encode_report.json").read_text())
    assert data["raw_bits"] == 2 * 30000 * 16
    assert data["summary"]["latent_values"] == 2 * 30 * 16


def test_wrong_sampling_rate_is_refused_without_output(tiny_cae_dir, tmp_path, capsys):
    codes = tmp_path / "codes.npz"
    assert main(["encode", "--model-dir", str(tiny_cae_dir), "--input", "mitbih100", "--out", str(codes)]) == 2
    assert "360 Hz does not match the model's 15000 Hz" in capsys.readouterr().err
    assert not codes.exists()


def test_nan_recording_is_refused_without_output(tiny_cae_dir, tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    data = np.random.default_rng(0).normal(size=(1, 5000))
    data[0, 100] = np.nan
    np.savez(bad, data=data, fs=15000.0)
    codes = tmp_path / "codes.npz"
    assert main(["encode", "--model-dir", str(tiny_cae_dir), "--input", str(bad), "--out", str(codes)]) == 2
    assert "NaN" in capsys.readouterr().err
    assert not codes.exists()


def test_corrupt_codes_file_and_missing_model_are_clear_errors(tiny_cae_dir, tmp_path, capsys):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    assert main(["decode", "--model-dir", str(tiny_cae_dir), "--codes", str(junk), "--out", str(tmp_path / "o.npz")]) == 2
    assert "not a neurocodec bitstream" in capsys.readouterr().err
    assert main(["encode", "--model-dir", str(tmp_path / "nope"), "--input", "locust", "--out", str(tmp_path / "c.npz")]) == 2
    assert "not a trained model folder" in capsys.readouterr().err


def test_too_short_recording_is_refused(tiny_cae_dir, tmp_path, capsys):
    short = tmp_path / "short.npz"
    np.savez(short, data=np.random.default_rng(1).normal(size=(1, 500)), fs=15000.0)
    assert main(["encode", "--model-dir", str(tiny_cae_dir), "--input", str(short), "--out", str(tmp_path / "c.npz")]) == 2
    assert "shorter than one 1024-sample window" in capsys.readouterr().err


def test_cae_codec_passes_the_codec_conformance_contract(tiny_cae_dir):
    """The shared numcodecs-style contract: bytes out, deterministic, config round trip, and every
    truncation / bit flip of the bitstream rejected with BitstreamError (the checksum)."""
    from neurocodec.codec.testing import check_codec

    data = load_recording("locust").data[:2, :3000]
    result = check_codec(CaeCodec(tiny_cae_dir), data, n_flips=300)
    assert result["rejected"] >= 300 and result["identical"] == 0
    # 2 channels x 3 windows x 16 int8 latent values + header: every transmitted bit
    assert 8 * 2 * 3 * 16 < result["bits"] < 8 * (2 * 3 * 16 + 120)


def test_outputs_are_0644_files_in_0755_folders_whatever_the_umask(tiny_cae_dir, tmp_path):
    import os
    import stat

    rec = load_recording("locust")
    excerpt = tmp_path / "excerpt.npz"
    np.savez(excerpt, data=rec.data[:2, :6000], fs=rec.fs, units=rec.units)
    old = os.umask(0o077)  # a strict umask would give 0600 / 0700 to naive writers
    try:
        codes = tmp_path / "new" / "codes.ncb"
        out = tmp_path / "new2" / "decoded.npz"
        rep = tmp_path / "new3" / "report"
        m = str(tiny_cae_dir)
        assert main(["encode", "--model-dir", m, "--input", str(excerpt), "--out", str(codes)]) == 0
        assert main(["decode", "--model-dir", m, "--codes", str(codes), "--out", str(out)]) == 0
        assert main(["evaluate", "--model-dir", m, "--data", str(excerpt), "--out", str(rep)]) == 0
    finally:
        os.umask(old)
    files = [codes, out, rep / "encode_report.md", rep / "encode_report.json"]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, (f, oct(f.stat().st_mode))
    for d in (codes.parent, out.parent, rep.parent, rep):
        assert stat.S_IMODE(d.stat().st_mode) == 0o755, (d, oct(d.stat().st_mode))
    # nothing else left in the output folders (no temp files, no intermediate codes)
    assert sorted(p.name for p in rep.iterdir()) == ["encode_report.json", "encode_report.md"]
    assert [p.name for p in codes.parent.iterdir()] == ["codes.ncb"]


def test_out_of_range_recording_warns_reports_clipping_and_rescales_on_request(tiny_cae_dir, tmp_path, capsys):
    rec = load_recording("locust")
    loud = tmp_path / "loud.npz"
    data = rec.data[:, :6000].copy()  # all 4 channels: the model's stored scaling applies
    data[:, 1000:1300] *= 40.0  # far beyond the training range
    np.savez(loud, data=data, fs=rec.fs, units=rec.units)
    rep = tmp_path / "rep"
    assert main(["evaluate", "--model-dir", str(tiny_cae_dir), "--data", str(loud), "--out", str(rep)]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "outside the model's calibrated range" in err and "--rescale" in err
    summary = json.loads((rep / "encode_report.json").read_text())["summary"]
    lo = np.asarray(json.loads((tiny_cae_dir / "config.json").read_text())["scaling"]["minimum"]).reshape(-1, 1)
    hi = np.asarray(json.loads((tiny_cae_dir / "config.json").read_text())["scaling"]["maximum"]).reshape(-1, 1)
    expected = np.mean((data < lo) | (data > hi), axis=1)
    assert np.allclose(summary["clipped_fraction_per_channel"], expected) and summary["clipped_fraction"] > 0
    assert "samples clipped to the model's calibrated range" in (rep / "encode_report.md").read_text()
    # --rescale: the scaling is fitted on this recording, nothing is clipped, no warning
    rep2 = tmp_path / "rep2"
    assert main(["evaluate", "--model-dir", str(tiny_cae_dir), "--data", str(loud), "--out", str(rep2), "--rescale"]) == 0
    assert "warning:" not in capsys.readouterr().err
    s2 = json.loads((rep2 / "encode_report.json").read_text())["summary"]
    assert s2["clipped_fraction"] == 0 and "--rescale" in s2["scaling"]
    # the Python API warns too
    import warnings

    from neurocodec.codec.cae import OutOfRangeWarning

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        CaeCodec(tiny_cae_dir).encode(data)
    assert any(issubclass(x.category, OutOfRangeWarning) for x in w)
