"""The `stream` codec: a tiny model trained briefly on locust trial 01, then

* the codec contract (check_codec) and every transmitted bit in the container;
* the integer encoder = the QKeras encoder on thousands of real snippets;
* hls4ml C simulation and RTL co-simulation (Verilator) of the snippet encoder bit-exact on the
  model's test vectors (thousands of real held-out snippets), through the family's registry entries;
* `neurocodec encode / decode / evaluate` with the encode report's spike figures;
* spikes survive on the held-out part, and the latent step sets the rate.
"""
import json
import os

import numpy as np
import pytest

from neurocodec.codec.testing import check_codec
from neurocodec.errors import BitstreamError
from neurocodec.metrics.spike_fidelity import fidelity
from neurocodec.registry import get_family
from neurocodec.signals import load_recording

FS = 15000.0


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from neurocodec.train.backend import set_tf_threads

    set_tf_threads(1, 1)
    from neurocodec.train.stream_codec import StreamSpec, train_locust

    out = tmp_path_factory.mktemp("models") / "stream_tiny"
    spec = StreamSpec(hidden_filters=8, latent_filters=3, leaky_alpha=1.0, jitter=1)
    train_locust(out, spec, epochs=4, max_seconds=12.0, verbose=False, n_test_vectors=2048)
    return out


@pytest.fixture(scope="module")
def held_out():
    from neurocodec.train.stream_codec import LOCUST_SPLIT_SAMPLE

    return load_recording("locust").data[:, LOCUST_SPLIT_SAMPLE:LOCUST_SPLIT_SAMPLE + 45000]  # 3 s never trained on


def test_model_folder_and_registry(model_dir):
    fam = get_family("stream")
    assert fam.codec == "stream" and {"train", "hls", "rtl", "cosim", "report-hw"} <= set(fam.stages)
    for name in ("config.json", "weights.h5", "int_encoder.json", "test_vectors.npz"):
        assert (model_dir / name).is_file(), name
    with np.load(model_dir / "test_vectors.npz") as z:
        assert z["input_codes"].shape == (2048, 48) and z["latent_codes"].shape == (2048, 12, 3)
        assert len(np.unique(z["latent_codes"])) > 20


def test_integer_encoder_equals_qkeras_on_real_snippets(model_dir):
    from neurocodec.quantize.reference import IntEncoder, encode_int
    from neurocodec.train.stream_codec import load_model

    _, _, enc, _, _ = load_model(model_dir)
    ie = IntEncoder.from_dict(json.loads((model_dir / "int_encoder.json").read_text()))
    codes = np.load(model_dir / "test_vectors.npz")["input_codes"]
    q = enc.predict(codes[..., None] / 256.0, verbose=0, batch_size=512) * 2 ** ie.layers[-1].out_frac
    assert np.array_equal(np.round(q).astype(np.int64), encode_int(codes, ie))


def test_codec_contract(model_dir, held_out):
    from neurocodec.codec.stream import StreamCodec

    codec = StreamCodec(model_dir, latent_step=4)
    r = check_codec(codec, held_out[:, :12000], n_flips=40)
    assert r["rejected"] > 0
    other = StreamCodec(model_dir, latent_step=8)
    with pytest.raises(BitstreamError):  # the same model, but the bitstream names its weights hash
        from neurocodec.codec import container

        bs = container.unpack(codec.encode(held_out[:, :6000]))
        bs.model_hash = bytes(16)
        other.decode(bs.pack())


def test_spikes_survive_and_step_sets_rate(model_dir, held_out):
    from neurocodec.codec.stream import StreamCodec

    res = []
    for step in (2, 16):
        c = StreamCodec(model_dir, latent_step=step)
        buf, d = c.encode_with_details(held_out)
        assert 8 * len(buf) > d["lfp_bits"] + d["spike_bits"] and d["n_snippets"] > 50
        res.append(fidelity(held_out, c.decode(buf), FS, len(buf)))
    assert res[1]["bit_cr"] > res[0]["bit_cr"] > 8
    assert res[0]["spike_recall"] > 0.9 and res[0]["spike_precision"] > 0.85 and res[0]["spike_sndr_db"] > 12
    assert res[0]["spike_sndr_db"] > res[1]["spike_sndr_db"]


def test_context_latent_coder_round_trip_and_beats_per_column(model_dir, held_out):
    from neurocodec.codec.continuous_baselines import code_ints, cut
    from neurocodec.codec.stream import StreamCodec, code_latents, decode_latents

    c = StreamCodec(model_dir, latent_step=4)
    a = c.analyse(held_out)
    g, t = a["groups"][0], a["times"][0]
    k, lat = c.latent_codes(cut(a["residual"][g], t, c.snippet, c.pre), a["sigma"][g])
    q = np.round(lat / c.steps(k)[:, :, None, None]).astype(np.int64).reshape(len(t), len(g), -1)
    assert len(t) > 50 and np.count_nonzero(q) > q.size // 4
    buf = code_latents(q)
    assert np.array_equal(decode_latents(buf, *q.shape), q)
    # the previous channel's latent is context: fewer bits than one adaptive model per column
    assert len(buf) < 0.97 * len(code_ints(q.reshape(-1, q.shape[-1])))
    with pytest.raises(BitstreamError):
        decode_latents(buf[:-3], *q.shape)


def test_cli_encode_decode_evaluate(model_dir, tmp_path):
    from neurocodec.cli import main
    from neurocodec.signals import Recording
    from neurocodec.signals.loaders import save_npz

    rec = load_recording("locust")
    short = Recording(rec.data[:, -30000:], rec.fs, rec.units, rec.channel_names, "locust_tail")
    src = save_npz(short, tmp_path / "tail.npz")
    assert main(["encode", "--model-dir", str(model_dir), "--input", str(src), "--out", str(tmp_path / "c.ncb")]) == 0
    assert main(["decode", "--model-dir", str(model_dir), "--codes", str(tmp_path / "c.ncb"),
                 "--out", str(tmp_path / "d.npz")]) == 0
    assert np.load(tmp_path / "d.npz")["data"].shape == short.data.shape
    assert main(["evaluate", "--model-dir", str(model_dir), "--data", str(src), "--out", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "encode_report.md").read_text()
    assert "bit compression ratio" in text and "spike recall / precision" in text and "spike-window SNDR" in text


@pytest.fixture(scope="module")
def hls_dir(model_dir, tmp_path_factory):
    from neurocodec.train.stream_codec import hls_main

    out = tmp_path_factory.mktemp("hls") / "stream_tiny"
    assert get_family("stream").stages["hls"] == "neurocodec.train.stream_codec:hls_main"
    assert hls_main(["--model-dir", str(model_dir), "--out", str(out)]) == 0
    return out


def test_hls_csim_bit_exact(hls_dir):
    report = json.loads((hls_dir / "csim_report.json").read_text())
    assert report["mismatches"] == 0 and report["n_vectors"] == 2048 and report["bit_exact"]
    assert report["stored_latent_mismatches"] == 0


@pytest.mark.skipif(not __import__("neurocodec.sim.runner", fromlist=["x"]).verilator_available(),
                    reason="Verilator not available")
def test_rtl_cosim_bit_exact(model_dir, hls_dir, tmp_path):
    from neurocodec.sim.cosim_cli import compare_rtl

    assert get_family("stream").stages["cosim"] == "neurocodec.sim.cosim_cli:main"
    r = compare_rtl(model_dir, macs_per_layer="balanced", out_dir=tmp_path / "sim", hls_dir=hls_dir)
    assert r["n_real_vectors"] == 2048 and r["n_outputs"] >= 2048 * 36
    assert r["mismatches_vs_reference"] == 0 and r["mismatches_vs_hls_csim"] == 0
