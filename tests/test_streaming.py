"""Chunked encode/decode of a recording on disk (codec.streaming) gives the one-shot bytes and
arrays exactly; the fixed-point decoder (quantize.fast_decoder) equals the Keras decoder before
its sigmoid bit for bit and does not depend on batching."""
import warnings

import numpy as np
import pytest

import neurocodec  # noqa: F401
from neurocodec.codec.cae import CaeCodec
from neurocodec.codec.streaming import DiskRecording, decode_file, encode_file
from neurocodec.errors import BitstreamError
from neurocodec.signals import dataset_path, load_locust_raw

FS = 15000.0


@pytest.fixture(scope="module")
def raw_prefix(tmp_path_factory):
    """First 5 s + 337 frames of the bundled locust tetrode as its own .raw file (not a whole
    number of 1024-sample windows, so the last window is padded)."""
    src = dataset_path("locust")
    frames = int(5 * FS) + 337
    data = np.fromfile(src, "<i2", count=frames * 4)
    path = tmp_path_factory.mktemp("rec") / "prefix.raw"
    data.tofile(path)
    return path


def _one_shot(codec, path):
    rec = load_locust_raw(path, 4, FS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return codec.encode_recording(rec)[0], rec


@pytest.mark.parametrize("rescale", [False, True])
def test_chunked_encode_is_byte_identical(tiny_cae_dir, raw_prefix, tmp_path, rescale):
    codec = CaeCodec(tiny_cae_dir, rescale=rescale)
    blob, rec = _one_shot(codec, raw_prefix)
    for chunk_windows in (1, 7, 1000):
        out = tmp_path / f"c{chunk_windows}.ncdc"
        info = encode_file(codec, DiskRecording.raw(raw_prefix, 4, FS), out, chunk_windows=chunk_windows)
        assert out.read_bytes() == blob, chunk_windows
        assert info["n_samples"] == rec.n_samples and info["bitstream_bits"] == 8 * len(blob)
    # a .npy source, both layouts
    for arr in (np.ascontiguousarray(rec.data, np.int16), np.ascontiguousarray(rec.data.T, np.int16)):
        npy = tmp_path / "rec.npy"
        np.save(npy, arr)
        encode_file(codec, DiskRecording.npy(npy, FS), tmp_path / "npy.ncdc", chunk_windows=5)
        assert (tmp_path / "npy.ncdc").read_bytes() == blob


def test_chunked_decode_equals_one_shot(tiny_cae_dir, raw_prefix, tmp_path):
    codec = CaeCodec(tiny_cae_dir)
    blob, rec = _one_shot(codec, raw_prefix)
    codes = tmp_path / "x.ncdc"
    codes.write_bytes(blob)
    ref = codec.decode(blob)
    for chunk_windows in (3, 1000):
        out = tmp_path / f"d{chunk_windows}.npy"
        decode_file(codec, codes, out, chunk_windows=chunk_windows)
        got = np.load(out)
        assert got.shape == rec.data.shape
        np.testing.assert_array_equal(got, ref)
    # a corrupted payload byte is refused (CRC), a truncated file too
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0x10
    (tmp_path / "bad.ncdc").write_bytes(bytes(bad))
    with pytest.raises(BitstreamError):
        decode_file(codec, tmp_path / "bad.ncdc", tmp_path / "bad.npy")
    (tmp_path / "short.ncdc").write_bytes(blob[:-100])
    with pytest.raises(BitstreamError):
        decode_file(codec, tmp_path / "short.ncdc", tmp_path / "short.npy")
    assert not (tmp_path / "bad.npy").exists() and not (tmp_path / "short.npy").exists()


def test_fixed_point_decoder_equals_keras(tiny_cae_dir):
    from neurocodec.quantize.fast_decoder import FastDecoder, extract_int_decoder, pre_sigmoid_reference
    from neurocodec.train.backend import keras

    codec = CaeCodec(tiny_cae_dir)
    m = codec._m
    last = m.ie.layers[-1]
    dec = extract_int_decoder(m.decoder, last.out_frac, last.out_bits)
    tv = np.load(tiny_cae_dir / "test_vectors.npz")
    rng = np.random.default_rng(0)
    codes = np.concatenate([tv["latent_codes"], rng.integers(-128, 128, (64, *m.ie.latent_shape)),
                            np.full((2, *m.ie.latent_shape), 127), np.full((2, *m.ie.latent_shape), -128)])
    real = codes / 2.0**last.out_frac
    pre_keras = keras().Model(m.decoder.input, m.decoder.get_layer("dec_out_conv").output).predict(real, verbose=0)
    ref = pre_sigmoid_reference(codes, dec)
    np.testing.assert_array_equal(pre_keras[..., 0].astype(np.float64), ref * 2.0**-dec.out_layer.product_frac)
    for kernels in ("numba", "numpy"):
        fd = FastDecoder(dec, kernels=kernels, batch=13)
        np.testing.assert_array_equal(fd.pre_sigmoid(codes), ref)
        out = fd.decode(codes, threads=2)
        # batch-independent: one window at a time gives the same floats
        np.testing.assert_array_equal(np.concatenate([fd.decode(codes[i : i + 1], threads=1) for i in range(5)]), out[:5])
    np.testing.assert_allclose(out, m.decoder.predict(real, verbose=0)[..., 0], rtol=0, atol=3e-7)
    # decoding straight into the original units equals invert_scaling of the [0, 1] output
    from neurocodec.signals.scaling import MinMaxScaling, invert_scaling

    lo, hi = rng.uniform(-900, 0, len(codes)), rng.uniform(1, 900, len(codes))
    ref_units = invert_scaling(out, MinMaxScaling(lo, hi))
    np.testing.assert_array_equal(fd.decode(codes, threads=2, minimum=lo, maximum=hi), ref_units)
