"""Baseline codecs of continuous recordings: the codec contract (check_codec) on the real locust
tetrode, every transmitted bit counted, and the rate / spike-fidelity behaviour they are used for."""
import numpy as np
import pytest

from neurocodec.codec import container
from neurocodec.codec.continuous_baselines import (
    DctCodec, DecimateCodec, FlacCodec, SpikeHybridCodec, WavPackCodec, int16_map, int16_unmap,
)
from neurocodec.codec.registry import codec_ids, get_codec
from neurocodec.codec.testing import check_codec
from neurocodec.errors import BitstreamError, NeurocodecError
from neurocodec.metrics.spike_fidelity import bit_cr, fidelity
from neurocodec.signals import load_recording

FS = 15000.0


@pytest.fixture(scope="module")
def locust():
    rec = load_recording("locust")
    assert rec.fs == FS
    return rec.data[:, 200000:230000]  # 2 s of the real tetrode, integer ADC counts


CODECS = [
    WavPackCodec(FS, bits=2.2), WavPackCodec(FS, bits=4), FlacCodec(FS), DecimateCodec(FS, factor=3, bits=6),
    DctCodec(FS, step_sigma=0.5), SpikeHybridCodec(FS, spike_step=1.0, lfp_step=1.0, threshold=3.5),
]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.codec_id + str(c.get_config().get("bits", "")))
def test_codec_contract_on_real_tetrode(codec, locust):
    x = locust[:, :6000]
    r = check_codec(codec, x, n_flips=60)
    assert r["bits"] == 8 * len(codec.encode(x))
    assert r["rejected"] > 0


def test_registered():
    assert {"wavpack", "flac", "decimate", "dct", "spike_hybrid"} <= set(codec_ids())
    assert get_codec({"id": "wavpack", "fs": FS, "bits": 3}).label == "wavpack -b3"


def test_flac_is_lossless_and_compresses(locust):
    codec = FlacCodec(FS)
    buf = codec.encode(locust)
    assert np.array_equal(codec.decode(buf), locust)
    assert 1.3 < bit_cr(*locust.shape, len(buf)) < 4


def test_flac_beyond_eight_channels_and_float_data(locust):
    x = np.concatenate([locust[:, :3000]] * 3) / 7.3  # 12 channels, not integers
    codec = FlacCodec(FS)
    y = codec.decode(codec.encode(x))
    step = (x.max(axis=1) - x.min(axis=1)) / 65534
    assert np.all(np.abs(y - x) <= step[:, None] * 0.5 + 1e-6)  # exact to the 16-bit code


def test_int16_map_is_exact_for_adc_counts(locust):
    codes, off, step = int16_map(locust)
    assert np.all(step == 1) and np.array_equal(int16_unmap(codes, off, step), locust)


def test_wavpack_rate_follows_bits(locust):
    sizes = [len(WavPackCodec(FS, bits=b).encode(locust)) for b in (2.2, 3.0, 5.0)]
    assert sizes[0] < sizes[1] < sizes[2]
    f = fidelity(locust, WavPackCodec(FS, bits=5.0).decode(WavPackCodec(FS, bits=5.0).encode(locust)), FS)
    assert f["spike_recall"] > 0.95 and f["snr_db"] > 15


def test_dct_rate_distortion_is_monotone(locust):
    out = []
    for q in (0.25, 1.0, 4.0):
        c = DctCodec(FS, step_sigma=q)
        b = c.encode(locust)
        out.append((len(b), fidelity(locust, c.decode(b), FS)["snr_db"]))
    assert out[0][0] > out[1][0] > out[2][0] and out[0][1] > out[1][1] > out[2][1]


def test_spike_hybrid_keeps_the_spikes_at_high_compression(locust):
    codec = SpikeHybridCodec(FS, spike_step=0.7, lfp_step=1.0, threshold=3.5)
    buf, details = codec.encode_with_details(locust)
    f = fidelity(locust, codec.decode(buf), FS, len(buf))
    assert f["bit_cr"] > 20
    assert f["spike_recall"] > 0.9 and f["spike_precision"] > 0.9 and f["spike_sndr_db"] > 18
    assert details["n_snippets"] > 20
    # every part is in the bitstream: header + LFP + spike parts
    assert 8 * len(buf) > details["lfp_bits"] + details["spike_bits"]


def test_spike_hybrid_on_slow_recording_codes_only_lfp():
    rec = load_recording("mitbih100")
    x = rec.data[:, :20000]
    codec = SpikeHybridCodec(rec.fs, lfp_step=0.05)
    buf, d = codec.encode_with_details(x)
    assert d["n_snippets"] == 0
    assert fidelity(x, codec.decode(buf), rec.fs)["snr_db"] > 10


def test_wrong_codec_and_bad_parameters_are_refused(locust):
    buf = FlacCodec(FS).encode(locust[:, :2000])
    with pytest.raises(BitstreamError):
        WavPackCodec(FS).decode(buf)
    with pytest.raises(NeurocodecError):
        WavPackCodec(FS, bits=1.0)
    with pytest.raises(NeurocodecError):
        DctCodec(FS).encode(np.full((2, 100), np.nan))
    bs = container.unpack(SpikeHybridCodec(FS).encode(locust[:, :3000]))
    bs.side = bs.side[:-4]
    with pytest.raises(BitstreamError):
        SpikeHybridCodec(FS).decode(bs.pack())
