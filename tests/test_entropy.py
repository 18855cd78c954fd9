"""Entropy coding (quantize/entropy.py): exact roundtrips, achieved rate vs empirical entropy."""
import numpy as np
import pytest

from neurocodec.quantize import entropy as E


def test_index_roundtrip_and_rate_close_to_entropy():
    rng = np.random.default_rng(0)
    k = 64
    probs = [rng.dirichlet(np.full(k, 0.4)) for _ in range(4)]
    idx = np.stack([rng.choice(k, 20000, p=p) for p in probs], axis=1)
    stream = E.encode_indices(idx, k)
    assert np.array_equal(E.decode_indices(stream, *idx.shape, k), idx)
    h = E.empirical_entropy_per_position(idx, k)
    rate = stream.n_bits / idx.size
    assert h <= rate <= 1.03 * h, (h, rate)
    # a single shared model cannot exploit the per-position statistics
    shared = E.encode_indices(idx, k, per_position=False)
    assert np.array_equal(E.decode_indices(shared, *idx.shape, k, per_position=False), idx)
    assert shared.n_bits > stream.n_bits


@pytest.mark.parametrize("k", [2, 3, 5, 256])
def test_small_and_degenerate_alphabets_roundtrip(k):
    rng = np.random.default_rng(k)
    idx = rng.integers(0, k, (300, 3))
    idx[:100] = 0  # long runs of one symbol
    s = E.encode_indices(idx, k)
    assert np.array_equal(E.decode_indices(s, *idx.shape, k), idx)


def test_times_roundtrip_and_rate():
    rng = np.random.default_rng(1)
    isi = 24 + rng.geometric(1 / 150, 20000)
    t = np.cumsum(isi)
    s = E.encode_times(t)
    assert np.array_equal(E.decode_times(s, len(t)), t)
    h = E.empirical_entropy(isi)
    assert s.n_bits / len(t) <= 1.05 * h


def test_coefficients_roundtrip_and_estimate():
    rng = np.random.default_rng(2)
    q = np.round(rng.laplace(0, 3, (2000, 12)) * np.linspace(4, 0.1, 12)).astype(np.int64)
    s = E.encode_coefficients(q)
    assert np.array_equal(E.decode_coefficients(s, *q.shape), q)
    est = E.coefficient_rate_estimate(q)
    assert abs(s.n_bits - est) / est < 0.03


def test_bad_inputs():
    with pytest.raises(E.EntropyCodingError):
        E.encode_indices(np.array([[0, 5]]), 4)
    with pytest.raises(E.EntropyCodingError):
        E.encode_indices(np.array([[0.5, 1.0]]), 4)
    with pytest.raises(E.EntropyCodingError):
        E.encode_times(np.array([5, 5, 7]))
    with pytest.raises(E.EntropyCodingError):
        E.encode_times(np.array([-1, 3]))
    with pytest.raises(E.EntropyCodingError):
        E.empirical_entropy(np.array([0.5]))
    with pytest.raises(E.EntropyCodingError):
        E.ArithmeticDecoder(b"\x00", 100)


def _streams():
    rng = np.random.default_rng(5)
    idx = rng.integers(0, 16, (40, 4))
    t = np.cumsum(1 + rng.geometric(0.01, 100))
    q = np.round(rng.laplace(0, 3, (30, 5))).astype(np.int64)
    return [
        (E.encode_indices(idx, 16), lambda s: E.decode_indices(s, 40, 4, 16), idx),
        (E.encode_times(t), lambda s: E.decode_times(s, len(t)), t),
        (E.encode_coefficients(q), lambda s: E.decode_coefficients(s, 30, 5), q),
    ]


def test_streams_state_their_length_and_checksum_and_serialize():
    for i, (stream, dec, ref) in enumerate(_streams()):
        assert stream.crc is not None
        if i < 2:  # one arithmetic-coded part: whole bytes of the stated bits, nothing more
            assert len(stream.data) == (stream.n_bits + 7) // 8
        assert np.array_equal(dec(stream), ref)
        assert np.array_equal(dec(stream.to_bytes()), ref)  # serialized form decodes the same
        assert E.EncodedStream.from_bytes(stream.to_bytes()) == stream
        # the old three-field constructor (no checksum) still decodes, with every length check
        assert np.array_equal(dec(E.EncodedStream(stream.data, stream.n_bits, stream.n_symbols)), ref)


def test_decoders_refuse_lengths_garbage_and_missing_bits():
    for stream, dec, _ in _streams():
        bare = dict(data=stream.data, n_bits=stream.n_bits, n_symbols=stream.n_symbols)
        bad = [
            E.EncodedStream(**{**bare, "n_bits": -1}),  # negative length
            E.EncodedStream(**{**bare, "n_bits": stream.n_bits - 1}),  # missing bits
            E.EncodedStream(**{**bare, "n_bits": stream.n_bits + 1}),  # one bit more than encoded
            E.EncodedStream(**{**bare, "n_bits": 8 * len(stream.data) + 8}),  # claims bytes that are not there
            E.EncodedStream(**{**bare, "data": stream.data + b"\x00"}),  # trailing garbage byte
            E.EncodedStream(**{**bare, "data": stream.data[:-1]}),  # truncated
            E.EncodedStream(**{**bare, "n_bits": float(stream.n_bits)}),  # not an integer
            E.EncodedStream(stream.data, stream.n_bits, stream.n_symbols, stream.crc ^ 1),  # checksum
            stream.to_bytes()[:-1], stream.to_bytes() + b"\x00", b"", b"NCAC",
        ]
        for s in bad:
            with pytest.raises(E.EntropyCodingError):
                dec(s)
    idx_stream, _, idx = _streams()[0]
    with pytest.raises(E.EntropyCodingError, match="asked for"):
        E.decode_indices(idx_stream, 41, 4, 16)  # more symbols than encoded
    with pytest.raises(E.EntropyCodingError, match="asked for"):
        E.decode_indices(idx_stream, 39, 4, 16)
    with pytest.raises(E.EntropyCodingError):
        E.decode_indices(idx_stream, -1, 4, 16)
    with pytest.raises(E.EntropyCodingError):
        E.decode_times(_streams()[1][0], 101)
    assert issubclass(E.EntropyCodingError, __import__("neurocodec.errors").errors.NeurocodecError)


def test_single_bit_flips_of_coefficient_streams_never_raise_index_error():
    """The issue: decode_coefficients raised a bare IndexError on half of single-bit flips."""
    stream, dec, ref = _streams()[2]
    n = 0
    for pos in range(len(stream.data) * 8):
        b = bytearray(stream.data)
        b[pos // 8] ^= 1 << (pos % 8)
        for s in (E.EncodedStream(bytes(b), stream.n_bits, stream.n_symbols, stream.crc),
                  E.EncodedStream(bytes(b), stream.n_bits, stream.n_symbols)):  # with and without checksum
            try:
                dec(s)
            except E.EntropyCodingError:
                n += 1
    assert n >= len(stream.data) * 8  # every checked flip is refused (unchecked ones may decode)
