"""Bit-exact integer reference of a quantized `cae` encoder (the "Python reference").

`extract_int_encoder` reads the integer weights and fixed-point formats from a trained QKeras
encoder; `encode_int` runs it with integer arithmetic only. Every RTL and HLS result is compared
with `encode_int`. Per layer (t = output position, k = tap, c = input channel):

    acc[t, o]  = sum_{k,c} w[k, c, o] * x[stride*t - pad_left + k, c] + (b[o] << (f_acc_in - f_b))
    a          = sat_{acc_bits}(round_half_even(acc >> (f_acc_in - f_acc)))        # "acc" register
    l          = a << alpha_shift   if a > 0   else   a * alpha_num                  # leaky ReLU
    y          = sat_{out_bits}(round_half_even(l >> (f_acc + alpha_shift - f_out)))  # "act" register

with zero padding outside the segment ('same' padding: pad_left = 3, pad_right = 3 for k=8, s=2).
"""
from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from neurocodec.errors import NeurocodecError
from neurocodec.quantize.fixed_point import quantize_to_int, requantize, shift_round_half_even


class IntReferenceError(NeurocodecError):
    """A model the integer reference cannot describe, or input codes it cannot take."""


@runtime_checkable
class IntReference(Protocol):
    """The one integer-reference interface of every family's hardware form (what the hls4ml C
    simulation, the RTL and the cosim are compared with): integer input codes on 2**-input_frac ->
    integer output codes on 2**-output_frac, computed with integer arithmetic only.

    Implemented by the cae `IntEncoder`, gamma_cnn's `IntDecoder` and vq_cae's index reference
    (neurocodec.hls.vq_cae.VqIndexReference)."""

    input_frac: int

    @property
    def output_frac(self) -> int: ...

    def run(self, codes: np.ndarray) -> np.ndarray: ...


@dataclass
class IntConvLayer:
    weights: np.ndarray  # (kernel, in_channels, out_channels) int
    bias: np.ndarray  # (out_channels,) int at 2**-bias_frac
    weight_frac: int
    bias_frac: int
    in_frac: int
    acc_bits: int
    acc_frac: int
    alpha_num: int  # leaky slope = alpha_num / 2**alpha_shift
    alpha_shift: int
    out_bits: int
    out_frac: int
    stride: int = 2
    pad_left: int = 3
    pad_right: int = 3

    @property
    def kernel(self) -> int:
        return self.weights.shape[0]

    @property
    def in_channels(self) -> int:
        return self.weights.shape[1]

    @property
    def out_channels(self) -> int:
        return self.weights.shape[2]

    @property
    def weight_bits(self) -> int:
        m = int(np.max(np.abs(self.weights))) if self.weights.size else 0
        return max(2, m.bit_length() + 1)

    @property
    def product_frac(self) -> int:
        return self.weight_frac + self.in_frac


@dataclass
class IntEncoder:
    input_bits: int
    input_frac: int
    segment_length: int
    layers: list[IntConvLayer] = field(default_factory=list)

    @property
    def latent_shape(self) -> tuple[int, int]:
        n = self.segment_length
        for layer in self.layers:
            n = (n + layer.pad_left + layer.pad_right - layer.kernel) // layer.stride + 1
        return n, self.layers[-1].out_channels

    @property
    def output_frac(self) -> int:
        return self.layers[-1].out_frac

    def run(self, codes: np.ndarray) -> np.ndarray:
        """IntReference: (n, length) input codes -> (n, latent_len, channels) latent codes."""
        return encode_int(codes, self)

    def to_dict(self) -> dict:
        d = asdict(self)
        for layer in d["layers"]:
            layer["weights"] = np.asarray(layer["weights"]).tolist()
            layer["bias"] = np.asarray(layer["bias"]).tolist()
        return d

    @staticmethod
    def from_dict(d: dict) -> "IntEncoder":
        layers = [
            IntConvLayer(**{**ld, "weights": np.array(ld["weights"], np.int64), "bias": np.array(ld["bias"], np.int64)})
            for ld in d["layers"]
        ]
        return IntEncoder(d["input_bits"], d["input_frac"], d["segment_length"], layers)


def quantizer_format(quantizer) -> tuple[int, int, bool]:
    """(bits, frac, signed) of a QKeras quantized_bits with alpha=1."""
    name = type(quantizer).__name__
    if name != "quantized_bits":
        raise IntReferenceError(f"unsupported quantizer {name}: the integer reference handles quantized_bits only")
    if quantizer.alpha not in (1, 1.0):
        raise IntReferenceError(f"quantizer alpha={quantizer.alpha!r} is a scale factor; the reference needs alpha=1")
    if getattr(quantizer, "symmetric", 0):
        raise IntReferenceError("symmetric quantized_bits is not supported by the integer reference")
    signed = bool(quantizer.keep_negative)
    bits = int(quantizer.bits)
    frac = bits - int(signed) - int(quantizer.integer)
    return bits, frac, signed


def extract_int_encoder(encoder, alpha_frac_bits: int = 8) -> IntEncoder:
    """Integer description of a QKeras `cae` encoder built by neurocodec.train.cae."""
    layers_by_name = {layer.name: layer for layer in encoder.layers}
    if "enc_input_q" not in layers_by_name:
        raise IntReferenceError("encoder has no input quantizer 'enc_input_q': was it built with quant=None (float)?")
    in_bits, in_frac, in_signed = quantizer_format(layers_by_name["enc_input_q"].quantizer)
    if in_signed:
        raise IntReferenceError("the encoder input quantizer must be unsigned (min-max normalized input)")
    segment_length = int(encoder.input_shape[1])
    result = IntEncoder(in_bits, in_frac, segment_length)
    frac = in_frac
    i = 1
    while f"enc{i}_conv" in layers_by_name:
        conv = layers_by_name[f"enc{i}_conv"]
        acc_bits, acc_frac, _ = quantizer_format(layers_by_name[f"enc{i}_acc"].quantizer)
        out_bits, out_frac, _ = quantizer_format(layers_by_name[f"enc{i}_act"].quantizer)
        alpha = float(layers_by_name[f"enc{i}_leaky"].alpha)
        alpha_num = alpha * 2**alpha_frac_bits
        if alpha_num != int(alpha_num):
            raise IntReferenceError(f"leaky slope {alpha} of enc{i} is not a multiple of 2**-{alpha_frac_bits}")
        w_bits, w_frac, _ = quantizer_format(conv.kernel_quantizer_internal)
        b_bits, b_frac, _ = quantizer_format(conv.bias_quantizer_internal)
        kernel, bias = conv.get_weights()
        w_int = quantize_to_int(kernel, w_bits, w_frac)
        b_int = quantize_to_int(bias, b_bits, b_frac)
        k = conv.kernel_size[0]
        s = conv.strides[0]
        if conv.padding != "same":
            raise IntReferenceError(f"{conv.name}: only 'same' padding is supported, got {conv.padding!r}")
        pad_total = k - s  # 'same' padding for an even input length and stride dividing it
        if b_frac > w_frac + frac:
            raise IntReferenceError(f"{conv.name}: bias is finer (2**-{b_frac}) than the product grid")
        result.layers.append(
            IntConvLayer(
                weights=w_int,
                bias=b_int,
                weight_frac=w_frac,
                bias_frac=b_frac,
                in_frac=frac,
                acc_bits=acc_bits,
                acc_frac=acc_frac,
                alpha_num=int(alpha_num),
                alpha_shift=alpha_frac_bits,
                out_bits=out_bits,
                out_frac=out_frac,
                stride=s,
                pad_left=pad_total // 2,
                pad_right=pad_total - pad_total // 2,
            )
        )
        frac = out_frac
        i += 1
    if not result.layers:
        raise IntReferenceError("no encoder convolution layers named enc1_conv, enc2_conv, ... found")
    return result


def quantize_input(x01: np.ndarray, enc: IntEncoder) -> np.ndarray:
    """Normalized samples in [0, 1] -> unsigned input codes (round half even, saturate)."""
    return quantize_to_int(x01, enc.input_bits, enc.input_frac, signed=False)


def conv_acc_int(x: np.ndarray, layer: IntConvLayer) -> np.ndarray:
    """The exact accumulator of a layer (before any rounding): x (n, length, in_channels) int64 at
    2**-layer.in_frac -> (n, out_len, out_channels) at 2**-layer.product_frac, bias included."""
    n, length, _ = x.shape
    xp = np.pad(x, ((0, 0), (layer.pad_left, layer.pad_right), (0, 0)))
    out_len = (length + layer.pad_left + layer.pad_right - layer.kernel) // layer.stride + 1
    acc = np.zeros((n, out_len, layer.out_channels), dtype=np.int64)
    for k in range(layer.kernel):
        taps = xp[:, k : k + layer.stride * (out_len - 1) + 1 : layer.stride, :]
        acc += taps @ layer.weights[k]
    return acc + (layer.bias << (layer.product_frac - layer.bias_frac))


def conv_layer_int(x: np.ndarray, layer: IntConvLayer) -> np.ndarray:
    """x: (n, length, in_channels) int64 at 2**-layer.in_frac -> (n, out_len, out_channels)."""
    acc = conv_acc_int(x, layer)
    a = requantize(acc, layer.product_frac, layer.acc_bits, layer.acc_frac)
    leaky = np.where(a > 0, a << layer.alpha_shift, a * layer.alpha_num)
    return requantize(leaky, layer.acc_frac + layer.alpha_shift, layer.out_bits, layer.out_frac)


def encode_int(x_codes: np.ndarray, enc: IntEncoder, upto: int | None = None) -> np.ndarray:
    """Integer encoder: (n, length) or (n, length, 1) input codes -> (n, latent_len, channels) codes.

    `upto` stops after that many layers (for per-layer debugging)."""
    x = np.asarray(x_codes, dtype=np.int64)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or x.shape[1] != enc.segment_length or x.shape[2] != 1:
        raise IntReferenceError(f"expected input codes of shape (n, {enc.segment_length}), got {np.shape(x_codes)}")
    lo, hi = 0, (1 << enc.input_bits) - 1
    if x.min() < lo or x.max() > hi:
        raise IntReferenceError(f"input codes outside [{lo}, {hi}] for {enc.input_bits}-bit unsigned input")
    for layer in enc.layers[:upto]:
        x = conv_layer_int(x, layer)
    return x


def latent_to_real(codes: np.ndarray, enc: IntEncoder) -> np.ndarray:
    return codes.astype(np.float64) / 2 ** enc.layers[-1].out_frac


__all__ = [
    "IntReference",
    "IntReferenceError",
    "IntConvLayer",
    "IntEncoder",
    "extract_int_encoder",
    "quantizer_format",
    "quantize_input",
    "encode_int",
    "conv_acc_int",
    "conv_layer_int",
    "latent_to_real",
    "shift_round_half_even",
]
