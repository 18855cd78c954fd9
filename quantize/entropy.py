"""Lossless entropy coding of codeword indices and spike times (adaptive arithmetic coding).

A 32-bit integer arithmetic coder (Witten, Neal & Cleary 1987, with the "bits to follow"
carry handling) driven by adaptive frequency models. Every count and every division is an
integer operation, so the decoder reproduces the encoder's model exactly on any platform.

* ``encode_indices`` / ``decode_indices``: (n, L) codeword indices in [0, K), one adaptive model
  per latent position (context = position), the models start uniform and learn as they go, so
  no table is transmitted. ``empirical_entropy_per_position`` is the matching zeroth-order
  bound (mean over positions of the empirical entropy of that position's indices).
* ``encode_times`` / ``decode_times``: sorted spike sample times as inter-spike intervals,
  adaptive Exp-Golomb: the interval's bit length is coded with an adaptive model, the bits
  below the leading one are coded with an adaptive model per (length, bit position).

The returned ``EncodedStream.n_bits`` is the exact length of the produced bit string (the
byte payload is padded to whole bytes only for storage); compression ratios use ``n_bits``.

Decoders never trust their input. A stream states its length (``n_bits``), its symbol count
(``n_symbols``) and a CRC-32 over both and the bytes (``crc``, set by every encoder); the decoder
checks the CRC first, refuses a negative or non-integer ``n_bits``, bytes beyond the stated length
or non-zero padding bits (trailing garbage), a request for another number of symbols than
encoded, and stops with an error as soon as it would read a bit past the stated length (missing
bits); after the last symbol it requires that exactly ``n_bits`` were used. Every failure is an
``EntropyCodingError`` (a ``NeurocodecError``), never an IndexError/KeyError.
``EncodedStream.to_bytes()`` / ``EncodedStream.from_bytes()`` serialize a stream with its length
fields and checksum (byte layout in docs/container.md); every ``decode_*`` accepts either form.
A stream built by hand without ``crc`` is still decoded with all the length checks (a checksum
is then the caller's job, e.g. the bitstream container's CRC).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from neurocodec.errors import NeurocodecError

_PRECISION = 32
_FULL = (1 << _PRECISION) - 1
_HALF = 1 << (_PRECISION - 1)
_QUARTER = 1 << (_PRECISION - 2)
_MAX_TOTAL = 1 << 16  # model total stays below this (needs < 2**(PRECISION-2))


class EntropyCodingError(NeurocodecError):
    """Invalid input to the entropy coder (symbol out of range, truncated stream...)."""


class AdaptiveModel:
    """Adaptive frequency table over ``size`` symbols with a Fenwick tree for O(log K) updates.

    Every symbol starts with count 1, or with its count in ``counts`` (a learned prior: integers
    >= 1 whose sum stays below ``max_total - increment``); coding a symbol adds ``increment`` to its
    count; when the total reaches ``max_total`` all counts are halved (rounding up, so none
    becomes zero).
    """

    def __init__(self, size: int, increment: int = 24, max_total: int = _MAX_TOTAL, counts=None):
        if size < 1:
            raise EntropyCodingError(f"alphabet size must be >= 1, got {size}")
        if size + increment >= max_total:
            raise EntropyCodingError(f"alphabet of {size} symbols too large for max_total {max_total}")
        self.size = int(size)
        self.increment = int(increment)
        self.max_total = int(max_total)
        if counts is None:
            self.counts = [1] * self.size
        else:
            c = np.asarray(counts)
            if c.shape != (self.size,) or c.dtype.kind not in "iu" or (c.size and c.min() < 1):
                raise EntropyCodingError(f"initial counts must be {self.size} integers >= 1")
            if int(c.sum()) + increment >= max_total:
                raise EntropyCodingError(f"initial counts sum to {int(c.sum())}, above the model's limit "
                                         f"{max_total - increment}")
            self.counts = [int(v) for v in c]
        self._rebuild()

    def _rebuild(self):
        n = self.size
        tree = [0] * (n + 1)
        for i, c in enumerate(self.counts):
            j = i + 1
            while j <= n:
                tree[j] += c
                j += j & -j
        self.tree = tree
        self.total = sum(self.counts)
        self._top = 1 << (n.bit_length() - 1) if n else 0

    def cum(self, symbol: int) -> int:
        """Sum of counts of symbols < symbol."""
        s, j, tree = 0, symbol, self.tree
        while j > 0:
            s += tree[j]
            j -= j & -j
        return s

    def find(self, target: int) -> tuple[int, int]:
        """Symbol s with cum(s) <= target < cum(s + 1), and cum(s)."""
        pos, rem, step, tree, n = 0, target, self._top, self.tree, self.size
        while step:
            nxt = pos + step
            if nxt <= n and tree[nxt] <= rem:
                pos = nxt
                rem -= tree[nxt]
            step >>= 1
        return pos, target - rem

    def update(self, symbol: int) -> None:
        self.counts[symbol] += self.increment
        self.total += self.increment
        if self.total >= self.max_total:
            self.counts = [(c + 1) >> 1 for c in self.counts]
            self._rebuild()
            return
        j, n, inc, tree = symbol + 1, self.size, self.increment, self.tree
        while j <= n:
            tree[j] += inc
            j += j & -j


class _BitWriter:
    def __init__(self):
        self.bits: list[int] = []

    def to_bytes(self) -> bytes:
        n = len(self.bits)
        arr = np.zeros(((n + 7) // 8) * 8, np.uint8)
        arr[:n] = self.bits
        return np.packbits(arr).tobytes()


class ArithmeticEncoder:
    def __init__(self):
        self.low, self.high, self.pending = 0, _FULL, 0
        self.out = _BitWriter()

    def _emit(self, bit: int):
        bits = self.out.bits
        bits.append(bit)
        if self.pending:
            bits.extend([1 - bit] * self.pending)
            self.pending = 0

    def encode(self, model: AdaptiveModel, symbol: int):
        lo_c = model.cum(symbol)
        hi_c = lo_c + model.counts[symbol]
        total = model.total
        rng = self.high - self.low + 1
        self.high = self.low + rng * hi_c // total - 1
        self.low = self.low + rng * lo_c // total
        while True:
            if self.high < _HALF:
                self._emit(0)
            elif self.low >= _HALF:
                self._emit(1)
                self.low -= _HALF
                self.high -= _HALF
            elif self.low >= _QUARTER and self.high < _HALF + _QUARTER:
                self.pending += 1
                self.low -= _QUARTER
                self.high -= _QUARTER
            else:
                break
            self.low <<= 1
            self.high = (self.high << 1) | 1
        model.update(symbol)

    def finish(self) -> tuple[bytes, int]:
        """Flush: two more bits (plus pending) pin the final interval; returns (bytes, n_bits)."""
        self.pending += 1
        self._emit(0 if self.low < _QUARTER else 1)
        return self.out.to_bytes(), len(self.out.bits)


def _check_n_bits(data, n_bits) -> tuple[bytes, int]:
    """The stated bit length against the bytes: no missing bytes, no trailing bytes, zero padding."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise EntropyCodingError(f"stream data must be bytes, got {type(data).__name__}")
    if isinstance(n_bits, bool) or not isinstance(n_bits, (int, np.integer)):
        raise EntropyCodingError(f"n_bits must be an integer, got {type(n_bits).__name__}")
    data, n_bits = bytes(data), int(n_bits)
    if n_bits < 0:
        raise EntropyCodingError(f"negative stream length n_bits={n_bits}")
    n_bytes = (n_bits + 7) // 8
    if n_bytes > len(data):
        raise EntropyCodingError(f"stream claims {n_bits} bits but holds only {8 * len(data)} (missing bits)")
    if len(data) > n_bytes:
        raise EntropyCodingError(f"{len(data) - n_bytes} bytes of trailing garbage after the stated "
                                 f"{n_bits}-bit stream")
    if n_bits % 8 and data[-1] & ((1 << (8 - n_bits % 8)) - 1):
        raise EntropyCodingError("non-zero padding bits after the stated stream length (trailing garbage)")
    return data, n_bits


class ArithmeticDecoder:
    """Decoder of one arithmetic-coded bit string of exactly ``n_bits`` bits.

    The encoder emits one bit per renormalization shift plus two final bits, so after the last
    symbol the decoder has shifted exactly ``n_bits - 2`` times: `finish()` checks that; a shift
    past that point means the stream is missing bits and raises at once (no implicit zeros are
    decoded into symbols beyond the stream, no loop runs past the stated length)."""

    def __init__(self, data: bytes, n_bits: int):
        data, n_bits = _check_n_bits(data, n_bits)
        if n_bits < 2:
            raise EntropyCodingError(f"a {n_bits}-bit stream is shorter than the coder's 2 final bits")
        self.n_bits = n_bits
        self.bits = np.unpackbits(np.frombuffer(data, np.uint8))[:n_bits].tolist()
        self.pos = 0
        self.shifts = 0
        self.low, self.high = 0, _FULL
        self.value = 0
        for _ in range(_PRECISION):
            self.value = (self.value << 1) | self._next()

    def _next(self) -> int:
        p = self.pos
        self.pos += 1
        return self.bits[p] if p < len(self.bits) else 0  # the final interval's tail bits are zeros

    def _shift(self):
        self.shifts += 1
        if self.shifts > self.n_bits - 2:
            raise EntropyCodingError(f"corrupt or truncated stream: decoding runs past its stated {self.n_bits} bits")
        self.value = (self.value << 1) | self._next()

    def finish(self) -> None:
        """After the last symbol: exactly the stated bits must have been used."""
        if self.shifts != self.n_bits - 2:
            raise EntropyCodingError(f"{self.n_bits - 2 - self.shifts} bits of trailing garbage after the "
                                     f"last symbol of the stream")
        if not self.low <= self.value <= self.high:
            raise EntropyCodingError("corrupt arithmetic-coded stream (final interval)")

    def decode(self, model: AdaptiveModel) -> int:
        total = model.total
        rng = self.high - self.low + 1
        target = ((self.value - self.low + 1) * total - 1) // rng
        if not 0 <= target < total:
            raise EntropyCodingError("corrupt arithmetic-coded stream")
        symbol, lo_c = model.find(target)
        hi_c = lo_c + model.counts[symbol]
        self.high = self.low + rng * hi_c // total - 1
        self.low = self.low + rng * lo_c // total
        while True:
            if self.high < _HALF:
                pass
            elif self.low >= _HALF:
                self.value -= _HALF
                self.low -= _HALF
                self.high -= _HALF
            elif self.low >= _QUARTER and self.high < _HALF + _QUARTER:
                self.value -= _QUARTER
                self.low -= _QUARTER
                self.high -= _QUARTER
            else:
                break
            self.low <<= 1
            self.high = (self.high << 1) | 1
            self._shift()
        model.update(symbol)
        return symbol


_STREAM_MAGIC = b"NCAC"
_STREAM_VERSION = 1
_MAX_SYMBOLS = 1 << 40


def _stream_crc(data: bytes, n_bits: int, n_symbols: int) -> int:
    return zlib.crc32(struct.pack("<QQ", n_bits, n_symbols) + bytes(data))


@dataclass
class EncodedStream:
    """Arithmetic-coded payload: ``n_bits`` is the exact transmitted length in bits.

    ``crc`` (CRC-32 over n_bits, n_symbols and data) is set by every encoder and checked by every
    decoder; None (a stream assembled by hand) skips only that check."""

    data: bytes
    n_bits: int
    n_symbols: int
    crc: int | None = None

    @property
    def bits_per_symbol(self) -> float:
        return self.n_bits / self.n_symbols if self.n_symbols else 0.0

    @staticmethod
    def sealed(data: bytes, n_bits: int, n_symbols: int) -> "EncodedStream":
        return EncodedStream(bytes(data), int(n_bits), int(n_symbols), _stream_crc(data, n_bits, n_symbols))

    def to_bytes(self) -> bytes:
        """magic "NCAC", version, uint64 n_bits, uint64 n_symbols, uint32 data length, data, CRC-32."""
        crc = _stream_crc(self.data, self.n_bits, self.n_symbols) if self.crc is None else self.crc
        return (_STREAM_MAGIC + bytes([_STREAM_VERSION]) + struct.pack("<QQI", self.n_bits, self.n_symbols, len(self.data))
                + bytes(self.data) + struct.pack("<I", crc))

    @staticmethod
    def from_bytes(buf) -> "EncodedStream":
        if not isinstance(buf, (bytes, bytearray, memoryview)):
            raise EntropyCodingError(f"a serialized stream is bytes, got {type(buf).__name__}")
        buf = bytes(buf)
        head = len(_STREAM_MAGIC) + 1 + 20
        if len(buf) < head + 4:
            raise EntropyCodingError(f"truncated entropy-coded stream ({len(buf)} bytes, header needs {head + 4})")
        if buf[:4] != _STREAM_MAGIC:
            raise EntropyCodingError(f"not an entropy-coded stream (magic {buf[:4]!r}, expected {_STREAM_MAGIC!r})")
        if buf[4] != _STREAM_VERSION:
            raise EntropyCodingError(f"entropy stream version {buf[4]} is not supported (this reader: {_STREAM_VERSION})")
        n_bits, n_symbols, n_data = struct.unpack("<QQI", buf[5:head])
        if len(buf) != head + n_data + 4:
            what = "truncated" if len(buf) < head + n_data + 4 else "trailing garbage after the"
            raise EntropyCodingError(f"{what} entropy-coded stream: header states {n_data} data bytes, "
                                     f"{len(buf) - head - 4} present")
        (crc,) = struct.unpack("<I", buf[-4:])
        stream = EncodedStream(buf[head:head + n_data], n_bits, n_symbols, crc)
        stream.check()
        return stream

    def check(self, n_symbols: int | None = None) -> "EncodedStream":
        """Checksum, stated lengths and (when given) the number of symbols asked for."""
        for name in ("n_bits", "n_symbols"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise EntropyCodingError(f"{name} must be an integer, got {type(v).__name__}")
            if v < 0:
                raise EntropyCodingError(f"negative {name}={v} in the stream")
        if not isinstance(self.data, (bytes, bytearray, memoryview)):
            raise EntropyCodingError(f"stream data must be bytes, got {type(self.data).__name__}")
        if self.crc is not None and _stream_crc(self.data, int(self.n_bits), int(self.n_symbols)) != self.crc:
            raise EntropyCodingError("checksum mismatch: the entropy-coded stream is corrupt")
        if self.n_symbols > _MAX_SYMBOLS:
            raise EntropyCodingError(f"{self.n_symbols} symbols is beyond the coder's limit")
        if n_symbols is not None:
            if isinstance(n_symbols, bool) or not isinstance(n_symbols, (int, np.integer)) or n_symbols < 0:
                raise EntropyCodingError(f"number of symbols to decode must be a non-negative integer, got {n_symbols!r}")
            if n_symbols != self.n_symbols:
                raise EntropyCodingError(f"asked for {n_symbols} symbols, the stream holds {self.n_symbols}")
        return self


def _as_stream(stream) -> EncodedStream:
    if isinstance(stream, EncodedStream):
        return stream
    if isinstance(stream, (bytes, bytearray, memoryview)):
        return EncodedStream.from_bytes(stream)
    raise EntropyCodingError(f"expected an EncodedStream or its bytes, got {type(stream).__name__}")


def _count(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise EntropyCodingError(f"{name} must be a non-negative integer, got {v!r}")
    return int(v)


def empirical_entropy(symbols, alphabet_size: int | None = None) -> float:
    """Zeroth-order empirical entropy in bits per symbol (0 for an empty sequence)."""
    s = np.asarray(symbols).ravel()
    if s.size == 0:
        return 0.0
    if s.dtype.kind not in "iu":
        raise EntropyCodingError(f"symbols must be integers, got dtype {s.dtype}")
    if s.min() < 0 or (alphabet_size is not None and s.max() >= alphabet_size):
        raise EntropyCodingError(f"symbols outside [0, {alphabet_size})")
    p = np.bincount(s) / s.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def empirical_entropy_per_position(indices, alphabet_size: int | None = None) -> float:
    """Mean over latent positions (columns) of the empirical entropy, bits per index."""
    idx = _check_indices(indices, alphabet_size or (int(np.max(indices)) + 1 if np.size(indices) else 1))
    if idx.size == 0:
        return 0.0
    return float(np.mean([empirical_entropy(idx[:, j]) for j in range(idx.shape[1])]))


def _check_indices(indices, alphabet_size: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim == 1:
        idx = idx[:, None]
    if idx.ndim != 2:
        raise EntropyCodingError(f"indices must be (n, L), got shape {idx.shape}")
    if idx.size and idx.dtype.kind not in "iu":
        raise EntropyCodingError(f"indices must be integers, got dtype {idx.dtype}")
    if int(alphabet_size) < 1:
        raise EntropyCodingError(f"alphabet size must be >= 1, got {alphabet_size}")
    if idx.size and (idx.min() < 0 or idx.max() >= alphabet_size):
        raise EntropyCodingError(f"indices outside [0, {alphabet_size}): min {idx.min()}, max {idx.max()}")
    return idx.astype(np.int64, copy=False)


def _models(alphabet_size: int, length: int, per_position: bool, prior) -> list:
    """The adaptive models of encode_indices / decode_indices; ``prior`` (length, K) initial counts."""
    m = length if per_position else 1
    if prior is None:
        return [AdaptiveModel(alphabet_size) for _ in range(m)]
    prior = np.asarray(prior)
    if prior.shape != (m, alphabet_size):
        raise EntropyCodingError(f"index prior of shape {prior.shape}, the stream needs ({m}, {alphabet_size})")
    return [AdaptiveModel(alphabet_size, counts=prior[j]) for j in range(m)]


def _row_lengths(lengths, n: int, length: int) -> np.ndarray:
    """Symbols coded per row: all ``length`` (None) or the first lengths[i] of row i."""
    if lengths is None:
        return np.full(n, length, np.int64)
    lens = np.asarray(lengths)
    if lens.shape != (n,) or (n and lens.dtype.kind not in "iu"):
        raise EntropyCodingError(f"row lengths must be {n} integers, got shape {lens.shape} dtype {lens.dtype}")
    if n and (lens.min() < 0 or lens.max() > length):
        raise EntropyCodingError(f"row lengths outside [0, {length}]: min {lens.min()}, max {lens.max()}")
    return lens.astype(np.int64)


def encode_indices(indices, alphabet_size: int, per_position: bool = True, prior=None,
                   lengths=None) -> EncodedStream:
    """Arithmetic-code (n, L) indices row by row; one adaptive model per column if per_position.
    ``prior``: (L, K) integer initial counts of the models (a learned entropy model the decoder
    holds too; None: every symbol starts at count 1). ``lengths``: (n,) symbols coded per row
    (the first lengths[i] of row i; the rest is not sent); None: every column."""
    idx = _check_indices(indices, alphabet_size)
    n, length = idx.shape
    lens = _row_lengths(lengths, n, length)
    models = _models(alphabet_size, length, per_position, prior)
    enc = ArithmeticEncoder()
    for row, m in zip(idx.tolist(), lens.tolist()):
        for j in range(m):
            enc.encode(models[j if per_position else 0], row[j])
    data, n_bits = enc.finish()
    return EncodedStream.sealed(data, n_bits, int(lens.sum()))


def decode_indices(stream, n: int, length: int, alphabet_size: int,
                   per_position: bool = True, prior=None, lengths=None) -> np.ndarray:
    """(n, length) indices from an `EncodedStream` (or its `to_bytes()`); exactly n * length symbols,
    or sum(lengths) with the encoder's ``lengths`` (columns past lengths[i] of row i are -1).
    ``prior`` must be the encoder's."""
    n, length = _count("n", n), _count("length", length)
    alphabet_size = _count("alphabet_size", alphabet_size)
    if alphabet_size < 1:
        raise EntropyCodingError("alphabet size must be >= 1")
    lens = _row_lengths(lengths, n, length)
    stream = _as_stream(stream).check(int(lens.sum()))
    models = _models(alphabet_size, length, per_position, prior)
    dec = ArithmeticDecoder(stream.data, stream.n_bits)
    out = np.full((n, length), -1, np.int64)
    for i, m in enumerate(lens.tolist()):
        for j in range(m):
            out[i, j] = dec.decode(models[j if per_position else 0])
    dec.finish()
    return out


_MAX_LOG = 48  # intervals below 2**48 samples


def _check_times(times) -> np.ndarray:
    t = np.asarray(times)
    if t.ndim != 1:
        raise EntropyCodingError(f"spike times must be 1-D, got shape {t.shape}")
    if t.size and t.dtype.kind not in "iu":
        raise EntropyCodingError(f"spike times must be integer sample indices, got dtype {t.dtype}")
    t = t.astype(np.int64)
    if t.size and (t[0] < 0 or np.any(np.diff(t) <= 0)):
        raise EntropyCodingError("spike times must be non-negative and strictly increasing")
    if t.size and int(t[-1]) >= 1 << _MAX_LOG:
        raise EntropyCodingError("spike times too large")
    return t


def encode_times(times) -> EncodedStream:
    """Code strictly increasing sample times as intervals (first one from sample -1)."""
    t = _check_times(times)
    isi = np.diff(np.concatenate([[-1], t])).tolist()  # all >= 1
    enc = ArithmeticEncoder()
    len_model = AdaptiveModel(_MAX_LOG + 1)
    bit_models: dict[tuple[int, int], AdaptiveModel] = {}
    for v in isi:
        nb = v.bit_length()
        enc.encode(len_model, nb)
        for b in range(nb - 2, -1, -1):
            m = bit_models.setdefault((nb, b), AdaptiveModel(2))
            enc.encode(m, (v >> b) & 1)
    data, n_bits = enc.finish()
    return EncodedStream.sealed(data, n_bits, len(isi))


def decode_times(stream, n: int) -> np.ndarray:
    """Spike sample times from an `EncodedStream` (or its `to_bytes()`); exactly n times."""
    n = _count("n", n)
    stream = _as_stream(stream).check(n)
    dec = ArithmeticDecoder(stream.data, stream.n_bits)
    len_model = AdaptiveModel(_MAX_LOG + 1)
    bit_models: dict[tuple[int, int], AdaptiveModel] = {}
    out = np.empty(n, np.int64)
    prev = -1
    for i in range(n):
        nb = dec.decode(len_model)
        if nb < 1:
            raise EntropyCodingError("corrupt spike-time stream (zero-length interval)")
        v = 1
        for b in range(nb - 2, -1, -1):
            m = bit_models.setdefault((nb, b), AdaptiveModel(2))
            v = (v << 1) | dec.decode(m)
        prev += v
        if prev >= 1 << _MAX_LOG:
            raise EntropyCodingError("corrupt spike-time stream (time beyond the coder's range)")
        out[i] = prev
    dec.finish()
    return out


def _signed_parts(q: np.ndarray):
    mag = np.abs(q)
    nb = np.zeros(mag.shape, np.int64)
    nz = mag > 0
    nb[nz] = np.floor(np.log2(mag[nz])).astype(np.int64) + 1
    return mag, nb


def encode_coefficients(q) -> EncodedStream:
    """Code quantized coefficients (n, M) of any sign, row by row (Exp-Golomb binarization).

    The bit length of each magnitude (0 for zero) is arithmetic-coded with one adaptive model
    per column; sign and the bits below the leading one follow as raw bits in a second
    bitstream (``data`` = 4-byte length of the arithmetic part + both parts). ``n_bits``
    counts both parts exactly."""
    q = np.asarray(q)
    if q.ndim != 2 or (q.size and q.dtype.kind not in "iu"):
        raise EntropyCodingError(f"coefficients must be an (n, M) integer array, got {q.shape} {q.dtype}")
    q = q.astype(np.int64)
    if q.size and np.abs(q).max() >= 1 << 40:
        raise EntropyCodingError("coefficient magnitude too large")
    n, m = q.shape
    mag, nb = _signed_parts(q)
    len_models = [AdaptiveModel(42) for _ in range(m)]
    enc = ArithmeticEncoder()
    for row in nb.tolist():
        for j, v in enumerate(row):
            enc.encode(len_models[j], v)
    ar_data, ar_bits = enc.finish()
    raw: list[int] = []
    for v, a, k in zip(q.ravel().tolist(), mag.ravel().tolist(), nb.ravel().tolist()):
        if k:
            raw.append(1 if v < 0 else 0)
            raw.extend((a >> b) & 1 for b in range(k - 2, -1, -1))
    w = _BitWriter()
    w.bits = raw
    data = int(ar_bits).to_bytes(4, "big") + ar_data + w.to_bytes()
    return EncodedStream.sealed(data, ar_bits + len(raw), n * m)


def decode_coefficients(stream, n: int, m: int) -> np.ndarray:
    """(n, m) coefficients from an `EncodedStream` (or its `to_bytes()`); every length checked."""
    n, m = _count("n", n), _count("m", m)
    stream = _as_stream(stream).check(n * m)
    data = bytes(stream.data)
    if len(data) < 4:
        raise EntropyCodingError(f"truncated coefficient stream ({len(data)} bytes, needs a 4-byte length)")
    ar_bits = int.from_bytes(data[:4], "big")
    if ar_bits > stream.n_bits:
        raise EntropyCodingError(f"coefficient stream: arithmetic part of {ar_bits} bits exceeds the stated "
                                 f"{stream.n_bits} bits")
    ar_len = (ar_bits + 7) // 8
    if 4 + ar_len > len(data):
        raise EntropyCodingError(f"truncated coefficient stream: arithmetic part needs {ar_len} bytes, "
                                 f"{len(data) - 4} present")
    dec = ArithmeticDecoder(data[4:4 + ar_len], ar_bits)
    len_models = [AdaptiveModel(42) for _ in range(m)]
    nb = np.zeros((n, m), np.int64)
    for i in range(n):
        for j in range(m):
            nb[i, j] = dec.decode(len_models[j])
    dec.finish()
    raw_data, raw_bits = _check_n_bits(data[4 + ar_len:], stream.n_bits - ar_bits)
    k_all = nb.ravel()
    need = int(np.count_nonzero(k_all)) + int(np.sum(np.maximum(k_all - 1, 0)))
    if need != raw_bits:
        raise EntropyCodingError(f"coefficient stream: signs and mantissas need {need} raw bits, "
                                 f"the stream holds {raw_bits}")
    raw = np.unpackbits(np.frombuffer(raw_data, np.uint8))[:raw_bits].tolist()
    pos = 0
    out = np.zeros(n * m, np.int64)
    for i, k in enumerate(k_all.tolist()):
        if k:
            neg = raw[pos]
            a = 1
            for t in range(k - 1):
                a = (a << 1) | raw[pos + 1 + t]
            pos += k
            out[i] = -a if neg else a
    return out.reshape(n, m)


def coefficient_rate_estimate(q) -> float:
    """Estimated bits for ``encode_coefficients(q)``: per column the empirical entropy of the
    bit lengths, plus the raw sign and mantissa bits (exact); no adaptation cost."""
    q = np.asarray(q, np.int64)
    if q.size == 0:
        return 0.0
    mag, nb = _signed_parts(q)
    bits = 0.0
    for j in range(q.shape[1]):
        bits += empirical_entropy(nb[:, j]) * q.shape[0]
    nzc = int(np.count_nonzero(nb))
    bits += nzc  # raw sign bits
    bits += float(np.sum(np.maximum(nb - 1, 0)))  # raw mantissa bits
    return bits


__all__ = [
    "AdaptiveModel",
    "ArithmeticEncoder",
    "ArithmeticDecoder",
    "EncodedStream",
    "EntropyCodingError",
    "empirical_entropy",
    "empirical_entropy_per_position",
    "encode_indices",
    "decode_indices",
    "encode_times",
    "decode_times",
    "encode_coefficients",
    "decode_coefficients",
    "coefficient_rate_estimate",
]
