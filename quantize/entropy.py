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
"""
from __future__ import annotations

from neurocodec.errors import NeurocodecError

from dataclasses import dataclass

import numpy as np

_PRECISION = 32
_FULL = (1 << _PRECISION) - 1
_HALF = 1 << (_PRECISION - 1)
_QUARTER = 1 << (_PRECISION - 2)
_MAX_TOTAL = 1 << 16  # model total stays below this (needs < 2**(PRECISION-2))


class EntropyCodingError(NeurocodecError):
    """Invalid input to the entropy coder (symbol out of range, truncated stream...)."""


class AdaptiveModel:
    """Adaptive frequency table over ``size`` symbols with a Fenwick tree for O(log K) updates.

    Every symbol starts with count 1; coding a symbol adds ``increment`` to its count; when the
    total reaches ``max_total`` all counts are halved (rounding up, so none becomes zero).
    """

    def __init__(self, size: int, increment: int = 24, max_total: int = _MAX_TOTAL):
        if size < 1:
            raise EntropyCodingError(f"alphabet size must be >= 1, got {size}")
        if size + increment >= max_total:
            raise EntropyCodingError(f"alphabet of {size} symbols too large for max_total {max_total}")
        self.size = int(size)
        self.increment = int(increment)
        self.max_total = int(max_total)
        self.counts = [1] * self.size
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


class ArithmeticDecoder:
    def __init__(self, data: bytes, n_bits: int):
        bits = np.unpackbits(np.frombuffer(data, np.uint8))
        if n_bits > bits.size:
            raise EntropyCodingError(f"stream claims {n_bits} bits but holds only {bits.size}")
        self.bits = bits[:n_bits].tolist()
        self.pos = 0
        self.low, self.high = 0, _FULL
        self.value = 0
        for _ in range(_PRECISION):
            self.value = (self.value << 1) | self._next()

    def _next(self) -> int:
        p = self.pos
        self.pos += 1
        return self.bits[p] if p < len(self.bits) else 0  # implicit zeros past the end

    def decode(self, model: AdaptiveModel) -> int:
        total = model.total
        rng = self.high - self.low + 1
        target = ((self.value - self.low + 1) * total - 1) // rng
        if target >= total:
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
            self.value = (self.value << 1) | self._next()
        model.update(symbol)
        return symbol


@dataclass
class EncodedStream:
    """Arithmetic-coded payload: ``n_bits`` is the exact transmitted length in bits."""

    data: bytes
    n_bits: int
    n_symbols: int

    @property
    def bits_per_symbol(self) -> float:
        return self.n_bits / self.n_symbols if self.n_symbols else 0.0


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


def encode_indices(indices, alphabet_size: int, per_position: bool = True) -> EncodedStream:
    """Arithmetic-code (n, L) indices row by row; one adaptive model per column if per_position."""
    idx = _check_indices(indices, alphabet_size)
    n, length = idx.shape
    models = [AdaptiveModel(alphabet_size) for _ in range(length if per_position else 1)]
    enc = ArithmeticEncoder()
    for row in idx.tolist():
        for j, s in enumerate(row):
            enc.encode(models[j if per_position else 0], s)
    data, n_bits = enc.finish()
    return EncodedStream(data, n_bits, n * length)


def decode_indices(stream: EncodedStream, n: int, length: int, alphabet_size: int,
                   per_position: bool = True) -> np.ndarray:
    models = [AdaptiveModel(alphabet_size) for _ in range(length if per_position else 1)]
    dec = ArithmeticDecoder(stream.data, stream.n_bits)
    out = np.empty((n, length), np.int64)
    for i in range(n):
        for j in range(length):
            out[i, j] = dec.decode(models[j if per_position else 0])
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
    return EncodedStream(data, n_bits, len(isi))


def decode_times(stream: EncodedStream, n: int) -> np.ndarray:
    dec = ArithmeticDecoder(stream.data, stream.n_bits)
    len_model = AdaptiveModel(_MAX_LOG + 1)
    bit_models: dict[tuple[int, int], AdaptiveModel] = {}
    out = np.empty(n, np.int64)
    prev = -1
    for i in range(n):
        nb = dec.decode(len_model)
        if nb < 1:
            raise EntropyCodingError("corrupt spike-time stream")
        v = 1
        for b in range(nb - 2, -1, -1):
            m = bit_models.setdefault((nb, b), AdaptiveModel(2))
            v = (v << 1) | dec.decode(m)
        prev += v
        out[i] = prev
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
    return EncodedStream(data, ar_bits + len(raw), n * m)


def decode_coefficients(stream: EncodedStream, n: int, m: int) -> np.ndarray:
    ar_bits = int.from_bytes(stream.data[:4], "big")
    ar_len = (ar_bits + 7) // 8
    dec = ArithmeticDecoder(stream.data[4:4 + ar_len], ar_bits)
    len_models = [AdaptiveModel(42) for _ in range(m)]
    nb = np.zeros((n, m), np.int64)
    for i in range(n):
        for j in range(m):
            nb[i, j] = dec.decode(len_models[j])
    raw = np.unpackbits(np.frombuffer(stream.data[4 + ar_len:], np.uint8)).tolist()
    pos = 0
    out = np.zeros(n * m, np.int64)
    for i, k in enumerate(nb.ravel().tolist()):
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
