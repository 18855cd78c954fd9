"""The one bitstream container for every codec (cae codes, spike streams, baselines).

Byte layout (little-endian; documented with the same table in docs/container.md):

| offset | size | field |
|---|---|---|
| 0 | 4 | magic `NCDC` |
| 4 | 1 | format version (1) |
| 5 | 1 | length C of the codec id |
| 6 | C | codec id (ASCII) |
| . | 1 | length M of the model id |
| . | M | model id (UTF-8; empty for model-free codecs) |
| . | 16 | model hash: first 16 bytes of SHA-256 over the model's weights (zeros: no model) |
| . | 8 | sample rate, float64 Hz |
| . | 4 | channel count, uint32 |
| . | 8 | sample count per channel, uint64 |
| . | 2 | count S of scaling values, uint16 |
| . | 4 S | scaling values, float32 (e.g. per-channel min then max) |
| . | 4 | length A of the codec's side information, uint32 |
| . | A | side information (codec-defined bytes) |
| . | 8 | payload length P, uint64 |
| . | P | payload (codec-defined, e.g. entropy-coded latents) |
| . | 4 | CRC-32 (zlib) over every byte before it |

`unpack` checks the magic, version, every length against the bytes present, the checksum, and
(when asked) the codec id, model id and model hash, and raises `BitstreamError` naming the field
that does not match. Nothing after the checksum is allowed.
"""
from __future__ import annotations

import hashlib
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
    scaling = np.asarray(bs.scaling, dtype="<f4").ravel()
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
            raise BitstreamError(f"truncated bitstream: {what} needs {n} bytes at offset {self.pos}, "
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
    if not np.isfinite(fs) or fs < 0:
        raise BitstreamError(f"invalid sample rate {fs!r} in the header")
    if codec_id is not None and cid != codec_id:
        raise BitstreamError(f"bitstream was written by codec {cid!r}, not {codec_id!r}")
    if model_id is not None and mid != model_id:
        raise BitstreamError(f"bitstream was encoded with model {mid!r}, not {model_id!r}")
    if model_hash is not None and mhash != model_hash:
        raise BitstreamError(f"bitstream was encoded with other weights than model {mid or model_id!r} "
                             f"(weights hash {mhash.hex()} != {model_hash.hex()})")
    return Bitstream(cid, payload, fs, n_ch, n_s, scaling, side, mid, mhash)


__all__ = ["Bitstream", "pack", "unpack", "model_hash", "file_hash", "MAGIC", "VERSION", "NO_MODEL"]
