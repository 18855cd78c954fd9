"""The three implementations of the trained encoder agree bit for bit on real data:
Python integer reference == hls4ml C simulation == Verilog RTL under cocotb + Verilator."""
import json
import re

import numpy as np
import pytest

from neurocodec.cli import main


@pytest.mark.slow
def test_rtl_equals_reference_and_hls_csim_on_real_vectors(tiny_cae_dir, hls_run, tmp_path, monkeypatch, capsys):
    code, hls_dir, hls_report, _ = hls_run
    assert code == 0 and hls_report["mismatches"] == 0
    monkeypatch.setenv("NEUROCODEC_OUT", str(tmp_path))
    assert main(["cosim", "--model-dir", str(tiny_cae_dir), "--hls-dir", str(hls_dir)]) == 0
    printed = capsys.readouterr().out
    # the 16 real test vectors (cosim may add coverage vectors of its own)
    assert re.search(r"0 mismatches vs Python reference on (16|\d+) vectors \((16 real|16384 samples)", printed), printed
    assert "0 mismatches vs hls4ml C simulation" in printed
    report = json.loads((tmp_path / "sim" / tiny_cae_dir.name / "cosim_report.json").read_text())
    assert report["n_samples"] >= 10_000
    assert report["mismatches_vs_reference"] == 0 and report["mismatches_vs_hls_csim"] == 0
    hls_codes = np.load(hls_dir / "csim_output_codes.npy")
    latent = np.load(tiny_cae_dir / "test_vectors.npz")["latent_codes"]
    assert np.array_equal(hls_codes.reshape(latent.shape), latent)
    assert len(np.unique(latent)) > 3  # a real, varying latent, not a constant


def test_cosim_without_test_vectors_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text('{"family": "cae"}')  # a cae folder without its vectors
    assert main(["cosim", "--model-dir", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"(test_vectors\.npz is missing|int_encoder\.json)", err), err
