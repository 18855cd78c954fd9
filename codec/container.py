"""The one bitstream container for every codec (cae codes, spike streams, baselines).

Byte layout (little-endian): `LAYOUT` below is the single description; docs/container.md holds
the same table, written from it by `python -m neurocodec.codec.container --docs docs` (part of
`make fuzz`) and checked against `pack` by tests/test_container.py.

| offset | size | field |
|---|---|---|
| 0 | 4 | magic `NCDC` |
| 4 | 1 | format version (1) |
| 5 | 1 | length C of the codec id (1..64) |
| 6 | C | codec id (ASCII letters, digits, `_`, `-`, `.`) |
| 6+C | 1 | length M of the model id (0..255) |
| 7+C | M | model id (printable UTF-8; empty for model-free codecs) |
| 7+C+M | 16 | model hash: first 16 bytes of SHA-256 over the model's weights (zeros: no model) |
| 23+C+M | 8 | sample rate, float64 Hz (finite, 0 <= fs <= 1e9; 0: not applicable) |
| 31+C+M | 4 | channel count, uint32 (< 65536) |
| 35+C+M | 8 | sample count per channel, uint64 (< 2**40) |
| 43+C+M | 2 | count S of scaling values, uint16 |
| 45+C+M | 4 S | scaling values, float32, all finite (e.g. per-channel min then max) |
| 45+C+M+4S | 4 | length A of the codec's side information, uint32 |
| 49+C+M+4S | A | side information (codec-defined bytes) |
| 49+C+M+4S+A | 8 | payload length P, uint64 |
| 57+C+M+4S+A | P | payload (codec-defined, e.g. int8 latent codes or an entropy-coded stream) |
| 57+C+M+4S+A+P | 4 | CRC-32 (zlib) over every byte before it |

`unpack` checks the magic, version, every length against the bytes present, the checksum, the
bounds of every field, and (when asked) the codec id, model id and model hash, and raises
`BitstreamError` naming the field that does not match. Nothing after the checksum is allowed.
A codec then checks its payload against the sample count (`expect_payload_size`).
"""
from __future__ import annotations

import hashlib
import re
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from neurocodec.errors import BitstreamError

MAGIC = b"NCDC"
VERSION = 1
NO_MODEL = bytes(16)
MAX_CHANNELS = 1 << 16
MAX_SAMPLES = 1 << 40
MAX_FS = 1e9
MAX_CODEC_ID = 64
_CODEC_ID = re.compile(r"[A-Za-z0-9_.\-]+")

#: (offset, size, field) of every field, in order: the table of docs/container.md.
LAYOUT = [
    ("0", "4", "magic `NCDC`"),
    ("4", "1", "format version (1)"),
    ("5", "1", "length C of the codec id (1..64)"),
    ("6", "C", "codec id (ASCII letters, digits, `_`, `-`, `.`)"),
    ("6+C", "1", "length M of the model id (0..255)"),
    ("7+C", "M", "model id (printable UTF-8; empty for model-free codecs)"),
    ("7+C+M", "16", "model hash: first 16 bytes of SHA-256 over the model's weights (zeros: no model)"),
    ("23+C+M", "8", "sample rate, float64 Hz (finite, 0 <= fs <= 1e9; 0: not applicable)"),
    ("31+C+M", "4", "channel count, uint32 (< 65536)"),
    ("35+C+M", "8", "sample count per channel, uint64 (< 2**40)"),
    ("43+C+M", "2", "count S of scaling values, uint16"),
    ("45+C+M", "4 S", "scaling values, float32, all finite (e.g. per-channel min then max)"),
    ("45+C+M+4S", "4", "length A of the codec's side information, uint32"),
    ("49+C+M+4S", "A", "side information (codec-defined bytes)"),
    ("49+C+M+4S+A", "8", "payload length P, uint64"),
    ("57+C+M+4S+A", "P", "payload (codec-defined, e.g. int8 latent codes or an entropy-coded stream)"),
    ("57+C+M+4S+A+P", "4", "CRC-32 (zlib) over every byte before it"),
]


def layout_table() -> str:
    """The byte-layout table (Markdown) of docs/container.md."""
    rows = ["| offset | size | field |", "|---|---|---|"]
    rows += [f"| {o} | {n} | {f} |" for o, n, f in LAYOUT]
    return "\n".join(rows) + "\n"


@dataclass
class Bitstream:
    codec_id: str
    payload: bytes
    fs: float = 0.0
    n_channels: int = 0
    n_samples: int = 0
    scaling: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    side: bytes = b""
    model_id: str = ""
    model_hash: bytes = NO_MODEL

    def pack(self) -> bytes:
        return pack(self)

    @property
    def header_bits(self) -> int:
        """Bits of everything but the payload (header, side information, checksum)."""
        return 8 * (len(pack(self)) - len(self.payload))


def model_hash(*arrays) -> bytes:
    """16-byte SHA-256 digest over arrays (the model's weights, in order, with their shapes/dtypes)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.digest()[:16]


def file_hash(path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()[:16]


def _short(s: str, what: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 255:
        raise BitstreamError(f"{what} {s[:40]!r}... is longer than 255 bytes")
    return bytes([len(b)]) + b


def pack(bs: Bitstream) -> bytes:
    if not isinstance(bs.codec_id, str) or not _CODEC_ID.fullmatch(bs.codec_id) or len(bs.codec_id) > MAX_CODEC_ID:
        raise BitstreamError(f"codec id {bs.codec_id!r}: 1..{MAX_CODEC_ID} ASCII letters, digits, '_', '-', '.'")
    if not bs.model_id.isprintable():
        raise BitstreamError(f"model id {bs.model_id!r} is not printable text")
    if not (np.isfinite(bs.fs) and 0 <= bs.fs <= MAX_FS):
        raise BitstreamError(f"sample rate {bs.fs!r} out of the container's range [0, {MAX_FS:g}]")
    scaling = np.asarray(bs.scaling, dtype="<f4").ravel()
    if not np.all(np.isfinite(scaling)):
        raise BitstreamError("scaling values must be finite")
    if scaling.size >= 1 << 16:
        raise BitstreamError(f"{scaling.size} scaling values do not fit the container (max 65535)")
    if len(bs.model_hash) != 16:
        raise BitstreamError("model hash must be 16 bytes")
    if not (0 <= bs.n_channels < MAX_CHANNELS and 0 <= bs.n_samples < MAX_SAMPLES):
        raise BitstreamError(f"{bs.n_channels} channels x {bs.n_samples} samples out of the container's range")
    head = b"".join([
        MAGIC, bytes([VERSION]), _short(bs.codec_id, "codec id"), _short(bs.model_id, "model id"), bs.model_hash,
        struct.pack("<dIQH", float(bs.fs), int(bs.n_channels), int(bs.n_samples), scaling.size), scaling.tobytes(),
        struct.pack("<I", len(bs.side)), bytes(bs.side), struct.pack("<Q", len(bs.payload)), bytes(bs.payload),
    ])
    return head + struct.pack("<I", zlib.crc32(head))


class _Reader:
    def __init__(self, buf: bytes):
        self.buf, self.pos = buf, 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise BitstreamError(f"corrupt or truncated bitstream: {what} needs {n} bytes at offset {self.pos}, "
                                 f"only {len(self.buf) - self.pos} left")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def unpack(buf, codec_id: str | None = None, model_id: str | None = None,
           model_hash: bytes | None = None) -> Bitstream:
    """Parse and check a bitstream; optionally require a codec id, model id and model hash."""
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise BitstreamError(f"a bitstream is bytes, got {type(buf).__name__}")
    buf = bytes(buf)
    r = _Reader(buf)
    magic = r.take(4, "magic")
    if magic != MAGIC:
        raise BitstreamError(f"not a neurocodec bitstream (magic {magic!r}, expected {MAGIC!r})")
    (version,) = r.take(1, "version")
    if version != VERSION:
        raise BitstreamError(f"bitstream format version {version} is not supported (this reader: {VERSION})")
    # the checksum is checked before any field is trusted
    if len(buf) < r.pos + 4:
        raise BitstreamError("truncated bitstream: no checksum")
    try:
        cid = r.take(r.take(1, "codec id length")[0], "codec id").decode("ascii")
        mid = r.take(r.take(1, "model id length")[0], "model id").decode("utf-8")
    except UnicodeDecodeError:
        raise BitstreamError("corrupt bitstream: codec or model id is not text") from None
    mhash = r.take(16, "model hash")
    fs, n_ch, n_s, n_scale = r.unpack("<dIQH", "sample rate / channel / sample / scaling counts")
    scaling = np.frombuffer(r.take(4 * n_scale, "scaling values"), dtype="<f4").astype(np.float32)
    (side_len,) = r.unpack("<I", "side information length")
    side = r.take(side_len, "side information")
    (pay_len,) = r.unpack("<Q", "payload length")
    payload = r.take(pay_len, "payload")
    end = r.pos
    (crc,) = r.unpack("<I", "checksum")
    if r.pos != len(buf):
        raise BitstreamError(f"{len(buf) - r.pos} bytes of trailing garbage after the checksum")
    if zlib.crc32(buf[:end]) != crc:
        raise BitstreamError("checksum mismatch: the bitstream is corrupt")
    if not 1 <= len(cid) <= MAX_CODEC_ID or not _CODEC_ID.fullmatch(cid):
        raise BitstreamError(f"corrupt bitstream: invalid codec id {cid!r}")
    if not mid.isprintable():
        raise BitstreamError(f"corrupt bitstream: model id {mid!r} is not printable text")
    if not np.isfinite(fs) or not 0 <= fs <= MAX_FS:
        raise BitstreamError(f"invalid sample rate {fs!r} in the header")
    if n_ch >= MAX_CHANNELS:
        raise BitstreamError(f"{n_ch} channels in the header (the container holds < {MAX_CHANNELS})")
    if n_s >= MAX_SAMPLES:
        raise BitstreamError(f"{n_s} samples per channel in the header (the container holds < {MAX_SAMPLES})")
    if not np.all(np.isfinite(scaling)):
        raise BitstreamError("scaling values in the header are not finite")
    if codec_id is not None and cid != codec_id:
        raise BitstreamError(f"bitstream was written by codec {cid!r}, not {codec_id!r}")
    if model_hash is not None and mhash != model_hash:
        raise BitstreamError(f"bitstream was encoded with model {mid!r} (weights hash {mhash.hex()}), not with "
                             f"this model {model_id or ''!r} (weights hash {model_hash.hex()}): decode it with "
                             f"the model that encoded it")
    if model_id is not None and mid != model_id:
        raise BitstreamError(f"bitstream was encoded with model {mid!r}, not {model_id!r} "
                             f"(same weights hash: a renamed copy of the model folder?)")
    return Bitstream(cid, payload, fs, n_ch, n_s, scaling, side, mid, mhash)


def expect_payload_size(bs: Bitstream, n_bytes: int, what: str) -> None:
    """The payload must be exactly what the header's channel and sample counts imply."""
    if len(bs.payload) != n_bytes:
        raise BitstreamError(f"payload of {len(bs.payload)} bytes, expected {n_bytes} for {what} "
                             f"({bs.n_channels} channels x {bs.n_samples} samples)")


DOC_BEGIN = "<!-- container-layout:begin (written by python -m neurocodec.codec.container) -->"
DOC_END = "<!-- container-layout:end -->"


def write_doc(docs) -> "Path":
    """Rewrite the layout table between the markers of docs/container.md (the prose stays)."""
    from pathlib import Path

    from neurocodec.files import write_text_atomic

    path = Path(docs) / "container.md"
    text = path.read_text()
    if DOC_BEGIN not in text or DOC_END not in text:
        raise BitstreamError(f"{path} has no layout markers {DOC_BEGIN!r} ... {DOC_END!r}")
    head, rest = text.split(DOC_BEGIN, 1)
    _, tail = rest.split(DOC_END, 1)
    return write_text_atomic(path, head + DOC_BEGIN + "\n" + layout_table() + DOC_END + tail)


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m neurocodec.codec.container",
                                description="write the container byte-layout table into DOCS/container.md")
    p.add_argument("--docs", default="docs")
    a = p.parse_args(argv)
    print(f"wrote {write_doc(a.docs)}")
    return 0


__all__ = ["Bitstream", "pack", "unpack", "model_hash", "file_hash", "expect_payload_size", "layout_table",
           "LAYOUT", "MAGIC", "VERSION", "NO_MODEL"]


if __name__ == "__main__":
    import sys

    sys.exit(main())
