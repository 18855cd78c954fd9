"""Batched `cae` decoder in exact fixed point: the QKeras decoder's arithmetic without TensorFlow.

The quantized decoder is UpSampling1D(2) + QConv1D (stride 1, 'same') + accumulator quantizer +
leaky ReLU + activation quantizer per block, then UpSampling1D(2) + QConv1D(1) + sigmoid. Every
value before the sigmoid is on a fixed-point grid, so the decoder is integer arithmetic like the
encoder (`IntConvLayer`, stride 1, pads 3 | 4) and runs on the same float BLAS GEMM + exact
epilogue as quantize.fast_encoder (exact while the accumulator bound fits the float mantissa;
float64 or the int64 path otherwise). Only the sigmoid is floating point, computed elementwise
in float64 and stored as float32. Consequences: the pre-sigmoid output equals the Keras graph's
bit for bit (tests/test_streaming.py), and a window's decoded samples do not depend on which
other windows share its batch, so chunked (streamed) decoding equals one-shot decoding exactly.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from neurocodec.quantize import fast_encoder as fe
from neurocodec.quantize.fixed_point import quantize_to_int
from neurocodec.quantize.reference import IntConvLayer, conv_layer_int, quantizer_format


@dataclass
class IntDecoder:
    in_frac: int  # latent codes are integers at 2**-in_frac
    in_bits: int
    latent_length: int
    upsample: int
    layers: list[IntConvLayer]  # hidden blocks (requantized, leaky)
    out_layer: IntConvLayer  # last conv: accumulator only (acc/alpha fields unused)

    @property
    def output_length(self) -> int:
        return self.latent_length * self.upsample ** (len(self.layers) + 1)


def extract_int_decoder(decoder, latent_frac: int, latent_bits: int, alpha_frac_bits: int = 8) -> IntDecoder:
    """Integer description of a QKeras `cae` decoder built by neurocodec.train.cae.build_decoder."""
    by_name = {layer.name: layer for layer in decoder.layers}
    frac = latent_frac
    layers = []

    def conv_int(conv, frac):
        w_bits, w_frac, _ = quantizer_format(conv.kernel_quantizer_internal)
        b_bits, b_frac, _ = quantizer_format(conv.bias_quantizer_internal)
        kernel, bias = conv.get_weights()
        if conv.padding != "same" or conv.strides[0] != 1:
            raise ValueError(f"{conv.name}: the fixed-point decoder handles stride-1 'same' convolutions only")
        if b_frac > w_frac + frac:
            raise ValueError(f"{conv.name}: bias is finer (2**-{b_frac}) than the product grid")
        k = conv.kernel_size[0]
        return dict(weights=quantize_to_int(kernel, w_bits, w_frac), bias=quantize_to_int(bias, b_bits, b_frac),
                    weight_frac=w_frac, bias_frac=b_frac, in_frac=frac, stride=1,
                    pad_left=(k - 1) // 2, pad_right=k - 1 - (k - 1) // 2)

    up = None
    i = 1
    while f"dec{i}_conv" in by_name:
        up = int(by_name[f"dec{i}_up"].size)
        acc_bits, acc_frac, _ = quantizer_format(by_name[f"dec{i}_acc"].quantizer)
        out_bits, out_frac, _ = quantizer_format(by_name[f"dec{i}_act"].quantizer)
        alpha_num = float(by_name[f"dec{i}_leaky"].alpha) * 2**alpha_frac_bits
        if alpha_num != int(alpha_num):
            raise ValueError(f"leaky slope of dec{i} is not a multiple of 2**-{alpha_frac_bits}")
        layers.append(IntConvLayer(**conv_int(by_name[f"dec{i}_conv"], frac), acc_bits=acc_bits, acc_frac=acc_frac,
                                   alpha_num=int(alpha_num), alpha_shift=alpha_frac_bits, out_bits=out_bits,
                                   out_frac=out_frac))
        frac = out_frac
        i += 1
    up_out = int(by_name["dec_out_up"].size)
    if up is not None and up != up_out:
        raise ValueError("the fixed-point decoder expects one upsampling factor for every block")
    out = IntConvLayer(**conv_int(by_name["dec_out_conv"], frac), acc_bits=63, acc_frac=0, alpha_num=1,
                       alpha_shift=0, out_bits=63, out_frac=0)
    return IntDecoder(latent_frac, latent_bits, int(decoder.input_shape[1]), up_out, layers, out)


def pre_sigmoid_reference(codes: np.ndarray, dec: IntDecoder) -> np.ndarray:
    """int64 reference: (n, latent_len, ch) latent codes -> pre-sigmoid accumulator (n, length) at
    2**-out_layer.product_frac (numpy integers, conv_layer_int of quantize.reference)."""
    x = np.asarray(codes, np.int64)
    for layer in dec.layers:
        x = conv_layer_int(np.repeat(x, dec.upsample, axis=1), layer)
    x = np.repeat(x, dec.upsample, axis=1)
    lo = dec.out_layer
    xp = np.pad(x, ((0, 0), (lo.pad_left, lo.pad_right), (0, 0)))
    acc = np.zeros((x.shape[0], x.shape[1], 1), np.int64)
    for k in range(lo.kernel):
        acc += xp[:, k : k + x.shape[1], :] @ lo.weights[k]
    return (acc + (lo.bias << (lo.product_frac - lo.bias_frac)))[..., 0]


def _sigmoid(acc: np.ndarray, frac: int) -> np.ndarray:
    x = acc.astype(np.float64) * 2.0**-frac
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


@dataclass
class _UpConvPlan:
    """UpSampling1D(U) + stride-1 conv as one GEMM in the original (not upsampled) domain:
    output t = U*u + ph reads original rows u + dmin .. u + dmax (D rows), so the im2col of D
    original rows times the phase-combined weights (D*C, U*O) gives all U phases of row u at once,
    already interleaved in time. Combined weights are sums of the layer's integer weights, so the
    layer's accumulator bound still bounds every partial sum."""

    base: object  # fe._LayerPlan of the layer (requantization constants, bias, bound)
    length: int  # original (input) rows
    dmin: int
    rows_d: int  # D
    wc: np.ndarray  # (D * C, U * O)


def _plan_upconv(layer: IntConvLayer, in_len: int, up: int, in_max: int, dtype) -> _UpConvPlan:
    base = fe._plan_layer(layer, in_len * up, in_max, dtype)
    if base.out_len != in_len * up:
        raise ValueError(f"conv of the decoder is not length-preserving ({base.out_len} != {in_len * up})")
    offsets = [[(ph - layer.pad_left + k) // up for k in range(layer.kernel)] for ph in range(up)]
    dmin = min(min(o) for o in offsets)
    dmax = max(max(o) for o in offsets)
    d, c, o = dmax - dmin + 1, layer.in_channels, layer.out_channels
    wc = np.zeros((d, c, up, o), np.int64)
    for ph in range(up):
        for k in range(layer.kernel):
            wc[offsets[ph][k] - dmin, :, ph, :] += layer.weights[k]
    return _UpConvPlan(base, in_len, dmin, d, wc.reshape(d * c, up * o).astype(dtype))


class FastDecoder:
    """Batched exact fixed-point decoder: latent codes -> decoded [0, 1] samples (float32)."""

    def __init__(self, dec: IntDecoder, kernels: str = "auto", batch: int = 64):
        self.dec, self.batch = dec, int(batch)
        self.kernels = "numba" if (kernels in ("auto", "numba") and fe._numba is not None) else "numpy"
        all_layers = dec.layers + [dec.out_layer]
        in_max = [1 << (dec.in_bits - 1)] + [1 << (ly.out_bits - 1) for ly in dec.layers]
        self.dtype = None
        for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
            limit = 1 << fe.MANTISSA[dtype]
            if all(fe.accumulator_bound(ly, m) <= limit for ly, m in zip(all_layers, in_max)) and all(
                    fe.leaky_bound(ly) <= limit and ly.acc_bits <= fe.MANTISSA[dtype] for ly in dec.layers):
                self.dtype = dtype
                break
        self.plans = []
        if self.dtype is not None:
            n = dec.latent_length
            for ly, m in zip(all_layers, in_max):
                self.plans.append(_plan_upconv(ly, n, dec.upsample, m, self.dtype))
                n *= dec.upsample
        self._local = threading.local()

    @property
    def path(self) -> str:
        if self.dtype is None:
            return "int64 reference (accumulator bound exceeds float64's 2**53)"
        return (f"{self.dtype.name} BLAS GEMM (upsampling folded into the weights) + {self.kernels} "
                f"epilogue, float64 sigmoid")

    def macs_per_window(self) -> int:
        """Multiply-accumulates of the model as written (upsample, then an 8-tap conv)."""
        n, total = self.dec.latent_length, 0
        for ly in self.dec.layers + [self.dec.out_layer]:
            n *= self.dec.upsample
            total += n * ly.kernel * ly.in_channels * ly.out_channels
        return total

    def _buffers(self, n):
        cache = getattr(self._local, "buffers", None)
        if cache is None or cache[0] != n:
            bufs = [np.zeros((n, p.length + p.rows_d - 1, p.base.layer.in_channels), self.dtype) for p in self.plans]
            self._local.buffers = cache = (n, bufs)
        return cache[1]

    def pre_sigmoid(self, codes: np.ndarray) -> np.ndarray:
        """(n, latent_len, ch) int codes -> exact pre-sigmoid accumulators (n, length) (float)."""
        if self.dtype is None:
            return pre_sigmoid_reference(codes, self.dec)
        n, up = codes.shape[0], self.dec.upsample
        bufs = self._buffers(n)
        p0 = self.plans[0]
        bufs[0][:, -p0.dmin : -p0.dmin + p0.length, :] = codes
        for i, p in enumerate(self.plans):
            c = p.base.layer.in_channels
            src = bufs[i]
            if i == len(self.plans) - 1 and self.kernels == "numba" and p.base.layer.out_channels == 1:
                out = np.empty((n, up * p.length), self.dtype)
                fe._rows_dot_kernel(src, p.rows_d, p.wc, p.base.bias, out)
                return out
            st = src.strides
            cols = np.lib.stride_tricks.as_strided(src, (n, p.length, p.rows_d * c), (st[0], st[1], st[2]))
            z = cols.reshape(n * p.length, p.rows_d * c) @ p.wc  # (n*L, U*O) = (n*U*L, O) in time order
            o = p.base.layer.out_channels
            z = z.reshape(n * up * p.length, o)
            if i == len(self.plans) - 1:
                return (z + p.base.bias).reshape(n, up * p.length)
            dst, off = bufs[i + 1], -self.plans[i + 1].dmin
            if self.kernels == "numba":
                fe._epilogue_kernel(z, n, up * p.length, 1, o, up * p.length, p.base.bias, *p.base.scalars, dst, off, 1)
            else:
                y = fe._requant_np(z + p.base.bias, p.base)
                dst[:, off : off + up * p.length, :] = y.reshape(n, up * p.length, o)

    def _decode_batch(self, codes, out, lo=None, span=None):
        y = _sigmoid(self.pre_sigmoid(codes), self.dec.out_layer.product_frac)
        if lo is None:
            out[...] = y
        else:  # invert_scaling's arithmetic: float64(y) * (max - min) + min
            np.multiply(y.astype(np.float64), span[:, None], out=out)
            out += lo[:, None]

    def decode(self, codes, threads: int | None = None, minimum=None, maximum=None) -> np.ndarray:
        """(n, latent_len, ch) latent codes -> (n, output_length) float32 in [0, 1]; with per-window
        `minimum`/`maximum` (n,), float64 values in the original units, equal to
        invert_scaling(float32 output, ...) element for element."""
        codes = np.asarray(codes)
        n = codes.shape[0]
        scaled = minimum is not None
        out = np.empty((n, self.dec.output_length), np.float64 if scaled else np.float32)
        if scaled:
            lo = np.asarray(minimum, np.float64).reshape(n)
            span = np.asarray(maximum, np.float64).reshape(n) - lo
        starts = range(0, n, self.batch)
        jobs = [(codes[s : s + self.batch], out[s : s + self.batch]) + ((lo[s : s + self.batch], span[s : s + self.batch])
                                                                        if scaled else ()) for s in starts]
        threads = fe._default_threads() if threads is None else max(1, int(threads))
        threads = min(threads, len(starts))
        with fe._blas_limited():  # small GEMMs: BLAS threads only add synchronisation
            if threads <= 1:
                for job in jobs:
                    self._decode_batch(*job)
                return out
            for f in [fe._pool(threads).submit(self._decode_batch, *job) for job in jobs]:
                f.result()
        return out


__all__ = ["IntDecoder", "extract_int_decoder", "pre_sigmoid_reference", "FastDecoder"]
