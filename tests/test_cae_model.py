"""The cae architecture per CR, training on real data, and the bit-exact integer reference."""
import numpy as np
import pytest

from neurocodec.quantize.reference import IntEncoder, encode_int, extract_int_encoder, quantize_input
from neurocodec.train.artifacts import load_cae
from neurocodec.train.cae import CR_TABLE, CaeSpec, build_cae


@pytest.mark.parametrize("cr", sorted(CR_TABLE))
def test_latent_size_gives_the_compression_rate(cr):
    _, encoder, decoder = build_cae(CaeSpec(cr, hidden_filters=4))
    n_layers, last_filters = CR_TABLE[cr]
    length, channels = encoder.output_shape[1:]
    assert channels == last_filters
    assert 1024 / (length * channels) == cr
    assert sum(layer.name.endswith("_conv") for layer in encoder.layers) == n_layers
    assert decoder.output_shape[1:] == (1024, 1)


def test_unsupported_cr_is_rejected():
    with pytest.raises(ValueError, match="CR=3"):
        build_cae(CaeSpec(3))


def test_quantized_slope_is_dyadic_and_float_slope_exact():
    assert CaeSpec(8).alpha == 77 / 256
    assert CaeSpec(8, quant=None).alpha == 0.3


def test_short_training_reduces_validation_loss(tiny_cae_dir):
    import json

    history = json.loads((tiny_cae_dir / "history.json").read_text())
    assert history["val_loss"][-1] < 0.8 * history["val_loss"][0]
    metrics = json.loads((tiny_cae_dir / "metrics.json").read_text())
    assert metrics["latent_shape"] == [16, 1] and np.isfinite(metrics["snr_db"])
    assert len(metrics["crossings"]) == 18


def test_saved_model_reloads_with_identical_outputs(tiny_cae_dir, locust_data):
    spec, ae, enc, dec, meta = load_cae(tiny_cae_dir)
    assert spec.cr == 64 and meta["fs"] == 15000.0 and meta["units"] == "adc_counts"
    ie = IntEncoder.from_dict(json_load(tiny_cae_dir / "int_encoder.json"))
    vectors = np.load(tiny_cae_dir / "test_vectors.npz")
    assert vectors["input_codes"].shape == (16, 1024)
    assert np.array_equal(encode_int(vectors["input_codes"], ie), vectors["latent_codes"])
    assert np.array_equal(encode_int(vectors["input_codes"], extract_int_encoder(enc)), vectors["latent_codes"])


def json_load(path):
    import json

    return json.loads(path.read_text())


@pytest.mark.parametrize("cr", [8, 64])
def test_integer_reference_is_bit_exact_with_qkeras_on_real_data(cr, locust_data):
    """Every layer's integer output equals the QKeras model's on >= 100 real windows."""
    from neurocodec.train.backend import keras

    ae, enc, _ = build_cae(CaeSpec(cr, hidden_filters=8))
    ae.compile("adam", "mse")
    ae.fit(locust_data.train[:128, :, None], locust_data.train[:128, :, None], epochs=2, verbose=0)
    ie = extract_int_encoder(enc)
    x = np.concatenate([locust_data.train, locust_data.val])[:160]
    codes = quantize_input(x, ie)
    n_compared = 0
    for depth, layer in enumerate(ie.layers, start=1):
        sub = keras().Model(enc.input, enc.get_layer(f"enc{depth}_act").output)
        qkeras_codes = sub.predict(codes[..., None] / 2**ie.input_frac, verbose=0) * 2**layer.out_frac
        reference = encode_int(codes, ie, upto=depth)
        assert np.array_equal(qkeras_codes, reference), f"layer {depth}: {np.count_nonzero(qkeras_codes != reference)} mismatches"
        n_compared += reference.size
    assert n_compared > 100_000


def test_reference_rejects_float_models_and_bad_inputs():
    _, float_encoder, _ = build_cae(CaeSpec(64, hidden_filters=4, quant=None))
    with pytest.raises(ValueError, match="quant=None"):
        extract_int_encoder(float_encoder)
    _, enc, _ = build_cae(CaeSpec(64, hidden_filters=4))
    ie = extract_int_encoder(enc)
    with pytest.raises(ValueError, match="shape"):
        encode_int(np.zeros((2, 1000), np.int64), ie)
    with pytest.raises(ValueError, match="outside"):
        encode_int(np.full((1, 1024), 256), ie)
