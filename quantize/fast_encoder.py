"""Fast bit-exact integer `cae` encoder: the arithmetic of `quantize.reference.encode_int`, batched
over windows and channels, on BLAS matrix products in floating point.

Why it is exact. Every value of the integer reference is an integer; a floating-point type holds
every integer of magnitude <= 2**m exactly (m = 24 for float32, 53 for float64), and a sum or
product of such integers is exact while the result stays in that range. For one output of a
layer, every partial sum of sum_{k,c} w[k,c,o] x[.,c] + bias_o -- in whatever order BLAS adds
them -- is bounded by

    B_o = max|x| * sum_{k,c} |w[k,c,o]| + |bias_o << (f_acc_in - f_b)|

so the matmul is exact when max_o B_o <= 2**m (`accumulator_bound`). The requantization is then
done on the exact float value: x * 2**-s is exact (a power of two only changes the exponent),
`rint` rounds half to even like `shift_round_half_even`, clipping is the saturation, and the
leaky product a * alpha_num is exact when 2**(acc_bits-1) * |alpha_num| <= 2**m. The plan picks
float32 when every layer satisfies its float32 bound, else float64, else it runs the int64
reference itself; `FastEncoder.path` says which ran. Tests (tests/test_fast_encoder.py) compare
the result with `encode_int` bit for bit on real and adversarial inputs.

How it is fast. A stride-s layer is a matmul on the padded input seen as rows of s samples: row r
holds samples s*r .. s*r+s-1 (all channels), so output t is sum_j row(t+j) @ W_j over the
J = ceil(k/s) tap groups. One GEMM Z = rows @ [W_0 | ... | W_{J-1}] (no im2col copy) and an
epilogue sum_j Z[t+j, j-th block] + bias -> requantize -> leaky -> requantize that writes straight
into the next layer's zero-padded input. The first layer (one input channel, 8 taps) is a direct
convolution. Epilogue and first layer are numba kernels (nogil) when numba is installed, numpy
otherwise. `encode` splits the windows into batches run on a thread pool (numba and BLAS release
the GIL; BLAS is held to one thread per worker so the workers do not oversubscribe the cores).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from neurocodec.quantize.reference import IntConvLayer, IntEncoder, encode_int, quantize_input

MANTISSA = {np.dtype(np.float32): 24, np.dtype(np.float64): 53}

try:  # optional (pyproject extras): compiled epilogue; numpy otherwise
    import numba as _numba
except ImportError:  # pragma: no cover - exercised only where numba is absent
    _numba = None


def accumulator_bound(layer: IntConvLayer, in_max: int) -> int:
    """Largest |partial sum| of the layer's accumulator for inputs of magnitude <= in_max."""
    w = np.abs(np.asarray(layer.weights, dtype=np.int64))
    b = np.abs(np.asarray(layer.bias, dtype=np.int64)) << (layer.product_frac - layer.bias_frac)
    per_output = in_max * w.sum(axis=(0, 1)) + b
    return int(per_output.max()) if per_output.size else 0


def leaky_bound(layer: IntConvLayer) -> int:
    """Largest |a * alpha_num| (the negative side of the leaky ReLU; the positive side is a shift)."""
    return (1 << (layer.acc_bits - 1)) * abs(int(layer.alpha_num))


def layer_input_max(enc: IntEncoder, index: int) -> int:
    if index == 0:
        return (1 << enc.input_bits) - 1
    return 1 << (enc.layers[index - 1].out_bits - 1)


def exact_dtype(enc: IntEncoder):
    """float32 or float64 if every layer's arithmetic is exact in it, else None (int64 path)."""
    for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        limit = 1 << MANTISSA[dtype]
        ok = all(
            accumulator_bound(layer, layer_input_max(enc, i)) <= limit
            and leaky_bound(layer) <= limit
            and layer.acc_bits <= MANTISSA[dtype] and layer.out_bits <= MANTISSA[dtype]
            for i, layer in enumerate(enc.layers)
        )
        if ok:
            return dtype
    return None


@dataclass
class _LayerPlan:
    layer: IntConvLayer
    in_len: int
    out_len: int
    rows: int  # rows of `stride` samples in the padded input (per window)
    groups: int  # J tap groups
    wcat: np.ndarray  # (stride * C, J * O): [W_0 | ... | W_{J-1}]
    wdirect: np.ndarray  # (kernel, O) for the direct first layer (C == 1)
    bias: np.ndarray  # (O,) bias on the accumulator grid
    sc1: float
    lo1: float
    hi1: float
    pos: float  # leaky: a > 0 -> a * pos * sc2
    neg: float  # a <= 0 -> a * neg * sc2
    sc2: float
    lo2: float
    hi2: float
    bound: int

    @property
    def scalars(self) -> tuple:
        """(sc1, lo1, hi1, pos * sc2, neg * sc2, lo2, hi2) in the plan's float type (numba kernels)."""
        t = self.wcat.dtype.type
        return tuple(t(v) for v in (self.sc1, self.lo1, self.hi1, self.pos * self.sc2, self.neg * self.sc2,
                                    self.lo2, self.hi2))


def _plan_layer(layer: IntConvLayer, in_len: int, in_max: int, dtype) -> _LayerPlan:
    k, s, c, o = layer.kernel, layer.stride, layer.in_channels, layer.out_channels
    out_len = (in_len + layer.pad_left + layer.pad_right - k) // s + 1
    groups = -(-k // s)
    rows = max(-(-(in_len + layer.pad_left + layer.pad_right) // s), out_len - 1 + groups)
    w = np.zeros((groups * s, c, o), np.int64)
    w[:k] = layer.weights
    # row r of the padded input is samples s*r .. s*r+s-1, channels innermost: (s*C) values
    wcat = w.reshape(groups, s * c, o).transpose(1, 0, 2).reshape(s * c, groups * o)
    s1 = layer.product_frac - layer.acc_frac
    s2 = layer.acc_frac + layer.alpha_shift - layer.out_frac
    return _LayerPlan(
        layer, in_len, out_len, rows, groups, wcat.astype(dtype), layer.weights[:, 0, :].astype(dtype) if c == 1 else None,
        (layer.bias << (layer.product_frac - layer.bias_frac)).astype(dtype),
        2.0**-s1, -(1 << (layer.acc_bits - 1)), (1 << (layer.acc_bits - 1)) - 1,
        float(1 << layer.alpha_shift), float(layer.alpha_num), 2.0**-s2,
        -(1 << (layer.out_bits - 1)), (1 << (layer.out_bits - 1)) - 1,
        accumulator_bound(layer, in_max),
    )


# ---------------------------------------------------------------- kernels (numpy and numba)
def _requant_np(acc, p: _LayerPlan):
    """Exact requantize -> leaky -> requantize of float accumulators (in place where possible)."""
    acc *= acc.dtype.type(p.sc1)
    np.rint(acc, out=acc)
    np.clip(acc, p.lo1, p.hi1, out=acc)
    factor = np.where(acc > 0, acc.dtype.type(p.pos * p.sc2), acc.dtype.type(p.neg * p.sc2))
    acc *= factor
    np.rint(acc, out=acc)
    np.clip(acc, p.lo2, p.hi2, out=acc)
    return acc


def _first_np(xp, p: _LayerPlan, dst, off):
    """Direct conv of a one-channel padded input xp (n, padded_len) into dst[:, off:off+out_len]."""
    n = xp.shape[0]
    k, s = p.layer.kernel, p.layer.stride
    st = xp.strides
    cols = np.lib.stride_tricks.as_strided(xp, (n, p.out_len, k), (st[0], s * st[1], st[1]))
    acc = cols.reshape(n * p.out_len, k) @ p.wdirect
    acc += p.bias
    dst[:, off : off + p.out_len, :] = _requant_np(acc, p).reshape(n, p.out_len, -1)


def _accumulate_np(z, p: _LayerPlan, n):
    o = p.layer.out_channels
    z3 = z.reshape(n, p.rows, p.groups * o)
    acc = z3[:, 0 : p.out_len, 0:o] + p.bias
    for j in range(1, p.groups):
        acc += z3[:, j : j + p.out_len, j * o : (j + 1) * o]
    return acc


def _epilogue_np(z, p: _LayerPlan, dst, off, rep=1):
    y = _requant_np(_accumulate_np(z, p, dst.shape[0]), p)
    for r in range(rep):
        dst[:, off + r : off + r + rep * p.out_len : rep, :] = y


def _requant_scalar(acc, sc1, lo1, hi1, pos, neg, lo2, hi2):
    a = np.rint(acc * sc1)
    a = min(max(a, lo1), hi1)
    y = np.rint(a * pos) if a > 0 else np.rint(a * neg)
    return min(max(y, lo2), hi2)


def _first_nb(xp, k, s, w, bias, out_len, sc1, lo1, hi1, pos, neg, lo2, hi2, dst, off):
    n = xp.shape[0]
    o_n = w.shape[1]
    acc = np.empty(o_n, dtype=w.dtype)
    for i in range(n):
        for t in range(out_len):
            for o in range(o_n):
                acc[o] = bias[o]
            for kk in range(k):
                xv = xp[i, s * t + kk]
                for o in range(o_n):
                    acc[o] += xv * w[kk, o]
            for o in range(o_n):
                dst[i, off + t, o] = _requant_kernel(acc[o], sc1, lo1, hi1, pos, neg, lo2, hi2)


def _epilogue_nb(z, n, rows, groups, o_n, out_len, bias, sc1, lo1, hi1, pos, neg, lo2, hi2, dst, off, rep):
    """sum_j Z[t + j, j-th block] + bias -> requantize -> leaky -> requantize, written `rep` times
    (UpSampling1D of the next layer's input) at dst[i, off + rep * t + r]."""
    acc = np.empty(o_n, dtype=z.dtype)
    for i in range(n):
        base = i * rows
        for t in range(out_len):
            for o in range(o_n):
                acc[o] = bias[o] + z[base + t, o]
            for j in range(1, groups):
                for o in range(o_n):
                    acc[o] += z[base + t + j, j * o_n + o]
            for o in range(o_n):
                y = _requant_kernel(acc[o], sc1, lo1, hi1, pos, neg, lo2, hi2)
                for r in range(rep):
                    dst[i, off + rep * t + r, o] = y


def _scaled_codes_nb(data, lo, hi, w0, nw, n_windows, seg, scale, qmax, dst, off):
    """Input codes of windows w0 .. w0+nw (channel-major) straight from the samples, exactly as
    quantize_input(np.pad(apply_scaling(data, clip=True), edge)): (x - lo) / (hi - lo) clipped to
    [0, 1], times 2**frac, rounded half to even, clipped to [0, qmax]; the last window of a channel
    repeats its last sample."""
    n_s = data.shape[1]
    for b in range(nw):
        w = w0 + b
        c = w // n_windows
        start = (w % n_windows) * seg
        den = hi[c] - lo[c]
        for j in range(seg):
            t = start + j
            if t > n_s - 1:
                t = n_s - 1
            v = (data[c, t] - lo[c]) / den
            v = min(max(v, 0.0), 1.0)
            q = np.rint(v * scale)
            dst[b, off + j] = min(max(q, 0.0), qmax)


def _rows_dot_nb(src, d_rows, wc, bias, out):
    """out[i, up*u + ph] = bias + sum_k src[i, u*C + k] * wc[k, ph], k < D*C: an im2col-free GEMM
    with a narrow output (the decoder's last, one-filter layer). Sums of exact integers: any order."""
    n, length, c = src.shape[0], out.shape[1] // wc.shape[1], src.shape[2]
    up = wc.shape[1]
    flat = src.reshape(n, -1)
    kk = d_rows * c
    for i in range(n):
        for u in range(length):
            base = u * c
            for ph in range(up):
                acc = bias[0]
                for k in range(kk):
                    acc += flat[i, base + k] * wc[k, ph]
                out[i, up * u + ph] = acc


if _numba is not None:
    _rows_dot_kernel = _numba.njit(nogil=True, fastmath={"reassoc", "contract"})(_rows_dot_nb)
    _scaled_kernel = _numba.njit(nogil=True, error_model="numpy")(_scaled_codes_nb)
    _requant_kernel = _numba.njit(nogil=True, inline="always")(_requant_scalar)
    _first_kernel = _numba.njit(nogil=True)(_first_nb)
    _epilogue_kernel = _numba.njit(nogil=True)(_epilogue_nb)
else:  # pragma: no cover
    _requant_kernel = _first_kernel = _epilogue_kernel = _scaled_kernel = _rows_dot_kernel = None


# ---------------------------------------------------------------- the encoder
def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOL_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    with _POOL_LOCK:
        if threads not in _POOLS:
            _POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="neurocodec-enc")
        return _POOLS[threads]


class FastEncoder:
    """Bit-exact batched encoder of one IntEncoder. `path` names the arithmetic that runs.

    kernels: "auto" (numba when installed), "numba" or "numpy"; dtype: "auto" (narrowest exact
    float), "float32", "float64" or "int64" (the reference itself)."""

    def __init__(self, enc: IntEncoder, kernels: str = "auto", dtype: str = "auto", batch: int = 64):
        self.enc = enc
        self.batch = int(batch)
        if dtype == "auto":
            self.dtype = exact_dtype(enc)
        elif dtype == "int64":
            self.dtype = None
        else:
            self.dtype = np.dtype(dtype)
            if self.dtype not in MANTISSA:
                raise ValueError(f"dtype must be auto, float32, float64 or int64, got {dtype!r}")
            exact = exact_dtype(enc)
            if exact is None or MANTISSA[exact] > MANTISSA[self.dtype]:
                raise ValueError(f"the encoder's accumulators do not fit {self.dtype} exactly "
                                 f"(bounds {self.bounds()}); use dtype='auto'")
        if kernels not in ("auto", "numba", "numpy"):
            raise ValueError(f"kernels must be auto, numba or numpy, got {kernels!r}")
        if kernels == "numba" and _numba is None:
            raise ValueError("kernels='numba' but numba is not installed")
        self.kernels = "numba" if (kernels in ("auto", "numba") and _numba is not None) else "numpy"
        self.plans: list[_LayerPlan] = []
        if self.dtype is not None:
            n = enc.segment_length
            for i, layer in enumerate(enc.layers):
                plan = _plan_layer(layer, n, layer_input_max(enc, i), self.dtype)
                self.plans.append(plan)
                n = plan.out_len
        self._local = threading.local()

    def bounds(self) -> list[int]:
        return [accumulator_bound(layer, layer_input_max(self.enc, i)) for i, layer in enumerate(self.enc.layers)]

    @property
    def path(self) -> str:
        if self.dtype is None:
            return "int64 reference (accumulator bound exceeds float64's 2**53)"
        return (f"{self.dtype.name} BLAS GEMM + {self.kernels} epilogue (exact: accumulator bound "
                f"{max(self.bounds())} <= 2**{MANTISSA[self.dtype]})")

    def macs_per_window(self) -> int:
        """Multiply-accumulates of the integer arithmetic of one window (the model, not our GEMM)."""
        total, n = 0, self.enc.segment_length
        for layer in self.enc.layers:
            n = (n + layer.pad_left + layer.pad_right - layer.kernel) // layer.stride + 1
            total += n * layer.kernel * layer.in_channels * layer.out_channels
        return total

    # -- buffers: per thread, per batch size (kept zero outside the written region)
    def _buffers(self, n: int):
        cache = getattr(self._local, "buffers", None)
        if cache is None or cache[0] != n:
            bufs = []
            for i, p in enumerate(self.plans):
                width = p.layer.in_channels
                bufs.append(np.zeros((n, p.rows * p.layer.stride, width), self.dtype))
            self._local.buffers = cache = (n, bufs)
        return cache[1]

    def _check(self, codes) -> np.ndarray:
        x = np.asarray(codes)
        if x.ndim == 3 and x.shape[2] == 1:
            x = x[:, :, 0]
        if x.ndim != 2 or x.shape[1] != self.enc.segment_length:
            raise ValueError(f"expected input codes of shape (n, {self.enc.segment_length}), got {np.shape(codes)}")
        lo, hi = 0, (1 << self.enc.input_bits) - 1
        if x.size and (x.min() < lo or x.max() > hi):
            raise ValueError(f"input codes outside [{lo}, {hi}] for {self.enc.input_bits}-bit unsigned input")
        return x

    def _encode_batch(self, x: np.ndarray, out: np.ndarray) -> None:
        """x: (n, length) integer codes (already checked) -> out (n, latent_len, ch)."""
        if self.dtype is None:
            out[...] = encode_int(x, self.enc)
            return
        bufs = self._buffers(x.shape[0])
        p0 = self.plans[0]
        bufs[0][:, p0.layer.pad_left : p0.layer.pad_left + p0.in_len, 0] = x
        self._layers(bufs, out)

    def _encode_scaled_batch(self, data, lo, hi, w0, nw, n_windows, out) -> None:
        """Windows w0 .. w0+nw of (channels, samples) float64 data -> out: scaling and input
        quantization happen here, per batch, on the worker thread."""
        seg, enc = self.enc.segment_length, self.enc
        if self.dtype is None or self.kernels == "numpy":
            idx = np.minimum((np.arange(w0, w0 + nw) % n_windows)[:, None] * seg + np.arange(seg), data.shape[1] - 1)
            ch = (np.arange(w0, w0 + nw) // n_windows)[:, None]
            xn = np.clip((data[ch, idx] - lo[ch]) / (hi[ch] - lo[ch]), 0.0, 1.0)
            codes = quantize_input(xn, enc)
            if self.dtype is None:
                out[...] = encode_int(codes, enc)
                return
            self._encode_batch(codes, out)
            return
        bufs = self._buffers(nw)
        _scaled_kernel(data, lo, hi, w0, nw, n_windows, seg, float(2**enc.input_frac),
                       float((1 << enc.input_bits) - 1), bufs[0][:, :, 0], self.plans[0].layer.pad_left)
        self._layers(bufs, out)

    def _layers(self, bufs, out) -> None:
        n = bufs[0].shape[0]
        for i, p in enumerate(self.plans):
            last = i == len(self.plans) - 1
            if last:
                dst, off = np.empty((n, p.out_len, p.layer.out_channels), self.dtype), 0
            else:
                dst, off = bufs[i + 1], self.plans[i + 1].layer.pad_left
            src = bufs[i]
            if i == 0 and p.layer.in_channels == 1:
                xp = src[:, :, 0]
                if self.kernels == "numba":
                    _first_kernel(xp, p.layer.kernel, p.layer.stride, p.wdirect, p.bias, p.out_len, *p.scalars, dst, off)
                else:
                    _first_np(np.ascontiguousarray(xp), p, dst, off)
            else:
                z = src.reshape(n * p.rows, p.layer.stride * p.layer.in_channels) @ p.wcat
                if self.kernels == "numba":
                    _epilogue_kernel(z, n, p.rows, p.groups, p.layer.out_channels, p.out_len, p.bias,
                                     *p.scalars, dst, off, 1)
                else:
                    _epilogue_np(z, p, dst, off)
            if last:
                out[...] = dst

    def encode(self, codes, threads: int | None = None, out_dtype=np.int64) -> np.ndarray:
        """(n, length) unsigned input codes -> (n, latent_len, channels) latent codes, equal to
        `encode_int(codes, enc)`; windows run in batches on `threads` threads (default: all cores)."""
        x = self._check(codes)
        n = x.shape[0]
        out = np.empty((n, *self.enc.latent_shape), dtype=out_dtype)
        if n == 0:
            return out
        starts = range(0, n, self.batch)
        threads = _default_threads() if threads is None else max(1, int(threads))
        threads = min(threads, len(starts))
        if threads == 1:
            with _blas_limited():  # small GEMMs: BLAS threads only add synchronisation
                for s in starts:
                    self._encode_batch(x[s : s + self.batch], out[s : s + self.batch])
            return out
        with _blas_limited():
            futures = [_pool(threads).submit(self._encode_batch, x[s : s + self.batch], out[s : s + self.batch])
                       for s in starts]
            for f in futures:
                f.result()
        return out


    def encode_scaled(self, data, minimum, maximum, threads: int | None = None, out_dtype=np.int64) -> np.ndarray:
        """(channels, samples) float64 recording -> latent codes (channels * windows, latent_len, ch),
        equal to encode_int(quantize_input(np.pad(apply_scaling(data, MinMaxScaling(minimum, maximum),
        clip=True), edge-padded to whole windows).reshape(-1, length))), without those full-size
        intermediates: each batch of windows is scaled and quantized on its worker thread."""
        data = np.ascontiguousarray(data, dtype=np.float64)
        n_ch, n_s = data.shape
        lo = np.broadcast_to(np.asarray(minimum, np.float64).ravel(), (n_ch,)).copy()
        hi = np.broadcast_to(np.asarray(maximum, np.float64).ravel(), (n_ch,)).copy()
        seg = self.enc.segment_length
        n_windows = -(-n_s // seg)
        total = n_ch * n_windows
        out = np.empty((total, *self.enc.latent_shape), dtype=out_dtype)
        starts = range(0, total, self.batch)
        threads = _default_threads() if threads is None else max(1, int(threads))
        threads = min(threads, len(starts))
        jobs = [(data, lo, hi, s, min(self.batch, total - s), n_windows, out[s : s + self.batch]) for s in starts]
        if threads == 1:
            with _blas_limited():
                for job in jobs:
                    self._encode_scaled_batch(*job)
            return out
        with _blas_limited():
            for f in [_pool(threads).submit(self._encode_scaled_batch, *job) for job in jobs]:
                f.result()
        return out


class _blas_limited:
    """One BLAS thread per worker while the worker threads run (threadpoolctl when available)."""

    def __enter__(self):
        try:
            from threadpoolctl import threadpool_limits

            self._ctl = threadpool_limits(limits=1, user_api="blas")
        except ImportError:  # pragma: no cover
            self._ctl = None
        return self

    def __exit__(self, *exc):
        if self._ctl is not None:
            self._ctl.restore_original_limits()


_CACHE: dict = {}


def fast_encoder(enc: IntEncoder, **kwargs) -> FastEncoder:
    """FastEncoder of `enc`, built once per IntEncoder object (and options)."""
    key = (id(enc), tuple(sorted(kwargs.items())))
    hit = _CACHE.get(key)
    if hit is None or hit.enc is not enc:
        hit = _CACHE[key] = FastEncoder(enc, **kwargs)
    return hit


def encode_fast(codes, enc: IntEncoder, threads: int | None = None, **kwargs) -> np.ndarray:
    """Drop-in for `quantize.reference.encode_int` (same result, bit for bit)."""
    return fast_encoder(enc, **kwargs).encode(codes, threads=threads)


__all__ = ["FastEncoder", "fast_encoder", "encode_fast", "accumulator_bound", "leaky_bound", "exact_dtype"]
