"""The bitstream container (codec/container.py): the documented byte layout is the packed one,
every field is checked, and every corruption is refused with a BitstreamError naming it."""
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from neurocodec.codec import container as C
from neurocodec.errors import BitstreamError, NeurocodecError

DOC = Path(__file__).resolve().parents[1] / "docs" / "container.md"


def _bitstream(**kw):
    args = dict(codec_id="cae", payload=bytes(range(37)), fs=15000.0, n_channels=2, n_samples=3000,
                scaling=np.array([-5, -7, 9, 11], np.float32), side=b"adc_counts", model_id="cae_cr64",
                model_hash=bytes(range(16)))
    args.update(kw)
    return C.Bitstream(**args)


def _doc_rows() -> list[tuple[str, str, str]]:
    text = DOC.read_text()
    block = text.split(C.DOC_BEGIN, 1)[1].split(C.DOC_END, 1)[0]
    rows = [tuple(c.strip() for c in ln.strip().strip("|").split("|")) for ln in block.strip().splitlines()]
    assert rows[0] == ("offset", "size", "field")
    return rows[2:]


def _eval(expr: str, env: dict) -> int:
    py = re.sub(r"(\d)\s*([A-Z])", r"\1*\2", expr.replace(" ", ""))
    assert re.fullmatch(r"[0-9A-Z+*]+", py), expr
    return int(eval(py, {}, env))  # noqa: S307 - digits, + and * of the length fields only


def test_doc_table_is_the_code_table_and_the_docstring_table():
    rows = _doc_rows()
    assert rows == [tuple(r) for r in C.LAYOUT]
    assert C.layout_table() in C.__doc__  # the module docstring carries the same table


@pytest.mark.parametrize("kw", [{}, {"model_id": "", "model_hash": C.NO_MODEL, "scaling": np.zeros(0), "side": b""},
                                {"codec_id": "x" * 64, "payload": b""}])
def test_documented_offsets_are_where_pack_writes_each_field(kw):
    bs = _bitstream(**kw)
    buf = bs.pack()
    env = {"C": len(bs.codec_id), "M": len(bs.model_id.encode()), "S": np.asarray(bs.scaling).size,
           "A": len(bs.side), "P": len(bs.payload)}
    rows = _doc_rows()
    spans = [(_eval(o, env), _eval(n, env)) for o, n, _ in rows]
    for (o1, n1), (o2, _) in zip(spans, spans[1:]):
        assert o1 + n1 == o2  # contiguous
    assert spans[-1][0] + spans[-1][1] == len(buf)  # nothing after the checksum
    field = [buf[o:o + n] for o, n in spans]
    scaling = np.asarray(bs.scaling, "<f4")
    expected = [b"NCDC", bytes([1]), bytes([env["C"]]), bs.codec_id.encode(), bytes([env["M"]]),
                bs.model_id.encode(), bs.model_hash, struct.pack("<d", bs.fs), struct.pack("<I", bs.n_channels),
                struct.pack("<Q", bs.n_samples), struct.pack("<H", scaling.size), scaling.tobytes(),
                struct.pack("<I", env["A"]), bs.side, struct.pack("<Q", env["P"]), bs.payload,
                struct.pack("<I", zlib.crc32(buf[:-4]))]
    assert field == expected
    back = C.unpack(buf)
    assert (back.codec_id, back.payload, back.fs, back.n_channels, back.n_samples, back.side, back.model_id,
            back.model_hash) == (bs.codec_id, bs.payload, bs.fs, bs.n_channels, bs.n_samples, bs.side,
                                 bs.model_id, bs.model_hash)
    assert np.array_equal(back.scaling, scaling)


def _repack(buf: bytes, offset: int, new: bytes) -> bytes:
    """Overwrite header bytes and fix the CRC: a well-formed stream with one bad field."""
    b = bytearray(buf[:-4])
    b[offset:offset + len(new)] = new
    return bytes(b) + struct.pack("<I", zlib.crc32(bytes(b)))


def test_every_field_is_bounded_and_named():
    bs = _bitstream()
    buf = bs.pack()
    m = 7 + 3 + len(bs.model_id)  # offset of the model hash
    cases = {
        "not a neurocodec bitstream": b"NCDX" + buf[4:],
        "version 2": buf[:4] + b"\x02" + buf[5:],
        "checksum mismatch": buf[:-5] + bytes([buf[-5] ^ 1]) + buf[-4:],
        "trailing garbage": buf + b"\x00",
        "truncated": buf[:-1],
        "invalid codec id": _repack(buf, 6, b"c e"),
        "not printable": _repack(buf, 7 + 3, b"\x07"),
        "invalid sample rate": _repack(buf, m + 16, struct.pack("<d", float("nan"))),
        "channels in the header": _repack(buf, m + 24, struct.pack("<I", 1 << 20)),
        "samples per channel": _repack(buf, m + 28, struct.pack("<Q", 1 << 50)),
        "not finite": _repack(buf, m + 38, struct.pack("<f", float("inf"))),
    }
    for what, bad in cases.items():
        with pytest.raises(BitstreamError, match=what):
            C.unpack(bad)
    with pytest.raises(BitstreamError, match="codec 'cae', not 'flac'"):
        C.unpack(buf, codec_id="flac")
    with pytest.raises(BitstreamError, match="weights hash"):
        C.unpack(buf, model_id="cae_cr64", model_hash=bytes(16))
    with pytest.raises(BitstreamError, match="renamed copy"):
        C.unpack(buf, model_id="cae_cr32", model_hash=bs.model_hash)
    assert C.unpack(buf, codec_id="cae", model_id="cae_cr64", model_hash=bs.model_hash).payload == bs.payload
    with pytest.raises(BitstreamError, match="payload of 37 bytes, expected 38"):
        C.expect_payload_size(C.unpack(buf), 38, "test")
    for bad in (dict(codec_id="a b"), dict(codec_id=""), dict(fs=float("inf")), dict(n_channels=1 << 16),
                dict(scaling=np.array([np.nan])), dict(model_hash=b"x"), dict(model_id="\n")):
        with pytest.raises(BitstreamError):
            _bitstream(**bad).pack()
    with pytest.raises(BitstreamError):
        C.unpack("not bytes")
    assert issubclass(BitstreamError, NeurocodecError)


def test_every_truncation_and_single_bit_flip_is_refused():
    buf = _bitstream().pack()
    for cut in range(len(buf)):
        with pytest.raises(BitstreamError):
            C.unpack(buf[:cut])
    for bit in range(8 * len(buf)):
        b = bytearray(buf)
        b[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(BitstreamError):
            C.unpack(bytes(b))
