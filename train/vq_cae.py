"""`vq_cae`: spike-waveform compressive autoencoder with a vector-quantized latent.

Input: one aligned spike window of ``window`` samples x ``channels`` channels (a group of
neighbouring channels compressed jointly), divided by a fixed power-of-two ``scale`` (uV) and
quantized to a signed ``input_bits`` code in [-1, 1). Output: the reconstructed window.

Encoder (QKeras, the part that goes to hardware):

    stem:  conv k3 -> [acc] -> leaky -> [act]
    n_down times:
        down_i: conv k4 stride 2 -> [acc] -> leaky -> [act]              (length halves, ceil)
        res_i (residual bottleneck, ``res_blocks`` per stage):
            a: conv1x1 F->F/2 -> [acc] -> leaky -> [act]
            b: conv k3 F/2->F/2 -> [acc] -> leaky -> [act]
            c: conv1x1 F/2->F -> [acc] -> [act]                          (linear)
            add(input, c) -> leaky -> [act]
    latent: conv1x1 F->D -> [acc] -> [act]     => z: L vectors of dimension D
    codeword search (``build_hw_encoder``): per latent vector a dense layer (a kernel-1 QConv1D,
    weights -2 c_k, bias ||c_k||^2, exact) -> [score] -> argmin (lowest index on ties)

``[acc]``/``[act]``/``[score]`` are QActivation(quantized_bits(bits, integer, alpha=1)) registers.
As in `cae`, the explicit accumulator register keeps the leaky-ReLU product (slope 77/256)
inside float32's mantissa, so the QKeras graph is bit-for-bit the integer arithmetic of
neurocodec.quantize.vq_reference and of the HLS C simulation.

Vector quantizer (training): neurocodec.train.vq_layers.VectorQuantizer with the codebook
fake-quantized to the latent's [act] format (so codewords are exactly what hardware stores).

Encoder kind ``transform`` (``VqCaeSpec.encoder``): one full-window convolution (kernel =
stride = window, i.e. a learned block transform of the whole spike: window x channels -> D,
window * channels * D MACs) -> [acc] -> [act]; z is one vector of dimension D (L = 1). ``split``
(either encoder): each output vector is D * split channels cut into split vectors of dimension D
(a product of vector quantizers; L = positions x split). Training
starts it from the principal components of the training spikes (and the decoder's linear path
from their synthesis), so the learned codec starts where PCA is and fine-tunes from there.

Decoder (float Keras, runs at the receiver): conv k3 -> n_down x (upsample 2 -> conv k3 ->
leaky -> residual block) -> crop to ``window`` -> conv k3 to ``channels`` (linear). For the
``transform`` encoder the stack upsamples ceil(log2(window)) times from its one vector, and a
linear path (dense D -> window x channels) is added to its output.
"""
from __future__ import annotations

from neurocodec.errors import NeurocodecError

import math
from dataclasses import asdict, dataclass

import numpy as np

from neurocodec.train.backend import keras


class VqCaeConfigError(NeurocodecError):
    """Invalid vq_cae specification."""


@dataclass(frozen=True)
class VqQuantSpec:
    """Fixed-point formats (QKeras quantized_bits, alpha=1; ``*_integer`` excludes the sign)."""

    input_bits: int = 12  # signed, x / scale in [-1, 1)
    weight_bits: int = 8
    weight_integer: int = 0
    acc_bits: int = 16  # acc_bits + alpha_frac_bits <= 24: the leaky product is exact in float32
    acc_integer: int = 5
    act_bits: int = 10
    act_integer: int = 4
    alpha_frac_bits: int = 8

    @property
    def act_frac(self) -> int:
        return self.act_bits - 1 - self.act_integer

    def to_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class VqCaeSpec:
    window: int = 64
    channels: int = 4
    filters: int = 32
    n_down: int = 2
    latent_dim: int = 4
    num_codes: int = 256
    res_blocks: int = 1
    kernel_size: int = 3
    down_kernel: int = 4
    decoder_filters: int = 64
    leaky_alpha: float = 0.3
    beta: float = 1.0
    ema: bool = True
    ema_decay: float = 0.95
    stages: int = 1  # residual VQ stages (quantizer dropout in training: one model, several rates)
    decoder_blocks: int = 1  # residual blocks per decoder stage (the decoder runs at the receiver)
    quant: VqQuantSpec | None = VqQuantSpec()
    encoder: str = "conv"  # "conv" (stem + n_down strided stages) or "transform" (one full-window conv)
    split: int = 1  # each encoder output vector is split into this many D-dim sub-vectors (product VQ)

    def __post_init__(self):
        if self.window < 4 or self.channels < 1 or self.filters < 2 or self.filters % 2:
            raise VqCaeConfigError(f"invalid window/channels/filters: {self.window}, {self.channels}, {self.filters}")
        if self.n_down < 0 or self.window / 2**self.n_down < 0.5:
            raise VqCaeConfigError(f"n_down={self.n_down} too large for a window of {self.window}")
        if self.num_codes < 2 or self.latent_dim < 1:
            raise VqCaeConfigError(f"need num_codes >= 2 and latent_dim >= 1, got {self.num_codes}, {self.latent_dim}")
        if self.stages < 1 or self.decoder_blocks < 1:
            raise VqCaeConfigError(f"need stages >= 1 and decoder_blocks >= 1, got {self.stages}, {self.decoder_blocks}")
        if self.kernel_size % 2 == 0:
            raise VqCaeConfigError("kernel_size must be odd ('same' padding symmetric at stride 1)")
        if self.split < 1:
            raise VqCaeConfigError(f"split must be >= 1, got {self.split}")
        if self.encoder not in ENCODERS:
            raise VqCaeConfigError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")

    @property
    def positions(self) -> int:
        """Encoder output positions in time (1 for the transform encoder)."""
        if self.encoder == "transform":
            return 1
        n = self.window
        for _ in range(self.n_down):
            n = math.ceil(n / 2)
        return n

    @property
    def latent_length(self) -> int:
        """Latent vectors (of dimension latent_dim) per spike: positions x split."""
        return self.positions * self.split

    @property
    def decoder_ups(self) -> int:
        """Upsampling stages of the decoder (positions * 2**ups >= window)."""
        return self.n_down if self.encoder == "conv" else max(0, math.ceil(math.log2(self.window)))

    @property
    def index_bits(self) -> int:
        """Bits of one index without entropy coding."""
        return int(math.ceil(math.log2(self.num_codes)))

    @property
    def alpha(self) -> float:
        if self.quant is None:
            return self.leaky_alpha
        s = 2**self.quant.alpha_frac_bits
        return round(self.leaky_alpha * s) / s

    @property
    def name(self) -> str:
        rvq = f"S{self.stages}" if self.stages > 1 else ""
        kind = "T" if self.encoder == "transform" else ""
        return (f"vq_cae_w{self.window}c{self.channels}_{kind}L{self.latent_length}D{self.latent_dim}"
                f"K{self.num_codes}{rvq}")

    def to_dict(self):
        d = asdict(self)
        d["quant"] = None if self.quant is None else self.quant.to_dict()
        return d

    @staticmethod
    def from_dict(d):
        d = dict(d)
        d.setdefault("stages", 1)
        d.setdefault("decoder_blocks", 1)
        d.setdefault("encoder", "conv")
        q = d.pop("quant", None)
        return VqCaeSpec(quant=None if q is None else VqQuantSpec(**q), **d)


ENCODERS = ("conv", "transform")


def init_transform_from_pca(encoder, decoder, x_train, spec: VqCaeSpec) -> None:
    """Start a ``transform`` vq_cae where PCA is: encoder kernel = the first D * split principal
    components of the (normalized) training windows, bias = -components @ mean (centred
    latent; interleaved over the sub-vectors when split > 1); the decoder's linear path = their
    synthesis (+ mean) and its conv path's output layer zero, so encoder + decoder start as PCA
    with D * split components."""
    from neurocodec.metrics.baselines import PcaCodec

    m = spec.latent_dim * spec.split
    pca = PcaCodec(m).fit(x_train)
    mean, comps = pca.mean, pca.components  # (window * channels,), (D * split, window * channels)
    # interleave: channel j*D + i of the latent (element i of sub-vector j) = component i*split + j,
    # so every sub-vector holds every split-th component and the sub-vectors, which share one
    # codebook per stage, have alike statistics (identity for split = 1)
    c = np.arange(m)
    comps = comps[(c % spec.latent_dim) * spec.split + c // spec.latent_dim]
    conv = encoder.get_layer("latent_conv")
    conv.set_weights([comps.T.reshape(spec.window, spec.channels, m).astype(np.float32),
                      (-comps @ mean).astype(np.float32)])
    decoder.get_layer("dec_linear").set_weights([comps.astype(np.float32), mean.astype(np.float32)])
    out = decoder.get_layer("dec_out_conv")
    out.set_weights([np.zeros_like(w) for w in out.get_weights()])


def _qb(bits, integer, signed=True):
    from qkeras import quantized_bits

    return quantized_bits(int(bits), int(integer), keep_negative=signed, alpha=1)


def _conv(x, filters, kernel, strides, spec: VqCaeSpec, name, leaky=True):
    """Conv1D -> [acc] -> (leaky) -> [act]; float Conv1D (+ leaky) when spec.quant is None."""
    k = keras()
    q = spec.quant
    if q is None:
        x = k.layers.Conv1D(filters, kernel, strides=strides, padding="same", name=f"{name}_conv")(x)
        return k.layers.LeakyReLU(alpha=spec.alpha, name=f"{name}_leaky")(x) if leaky else x
    from qkeras import QActivation, QConv1D

    x = QConv1D(filters, kernel, strides=strides, padding="same",
                kernel_quantizer=_qb(q.weight_bits, q.weight_integer),
                bias_quantizer=_qb(q.acc_bits, q.acc_integer), name=f"{name}_conv")(x)
    x = QActivation(_qb(q.acc_bits, q.acc_integer), name=f"{name}_acc")(x)
    if leaky:
        x = k.layers.LeakyReLU(alpha=spec.alpha, name=f"{name}_leaky")(x)
    return QActivation(_qb(q.act_bits, q.act_integer), name=f"{name}_act")(x)


def _res_block(x, spec: VqCaeSpec, name):
    k = keras()
    f = spec.filters
    h = _conv(x, f // 2, 1, 1, spec, f"{name}a")
    h = _conv(h, f // 2, spec.kernel_size, 1, spec, f"{name}b")
    h = _conv(h, f, 1, 1, spec, f"{name}c", leaky=False)
    s = k.layers.Add(name=f"{name}_add")([x, h])
    s = k.layers.LeakyReLU(alpha=spec.alpha, name=f"{name}_leaky")(s)
    if spec.quant is None:
        return s
    from qkeras import QActivation

    return QActivation(_qb(spec.quant.act_bits, spec.quant.act_integer), name=f"{name}_act")(s)


def build_encoder(spec: VqCaeSpec):
    """Input (window, channels) -> latent z (L, D) (quantized to the act format)."""
    k = keras()
    inp = k.Input(shape=(spec.window, spec.channels), name="enc_input")
    x = inp
    if spec.quant is not None:
        from qkeras import QActivation

        x = QActivation(_qb(spec.quant.input_bits, 0), name="enc_input_q")(x)
    d_out = spec.latent_dim * spec.split
    if spec.encoder == "transform":
        return k.Model(inp, _split(_conv(x, d_out, spec.window, spec.window, spec, "latent", leaky=False), spec),
                       name="vq_encoder")
    x = _conv(x, spec.filters, spec.kernel_size, 1, spec, "stem")
    for i in range(1, spec.n_down + 1):
        x = _conv(x, spec.filters, spec.down_kernel, 2, spec, f"down{i}")
        for j in range(1, spec.res_blocks + 1):
            x = _res_block(x, spec, f"res{i}_{j}")
    x = _conv(x, d_out, 1, 1, spec, "latent", leaky=False)
    return k.Model(inp, _split(x, spec), name="vq_encoder")


def _split(z, spec: VqCaeSpec):
    """(positions, split * D) -> (positions * split, D): row-major, so vector p*split + j is
    channels [j*D, (j+1)*D) of position p (the integer reference reshapes the same way)."""
    if spec.split == 1:
        return z
    return keras().layers.Reshape((spec.latent_length, spec.latent_dim), name="latent_split")(z)


def build_decoder(spec: VqCaeSpec):
    """Quantized latent (L, D) -> reconstruction (window, channels); float, receiver side."""
    k = keras()
    f = spec.decoder_filters
    inp = k.Input(shape=(spec.latent_length, spec.latent_dim), name="dec_input")
    x = inp if spec.split == 1 else k.layers.Reshape((spec.positions, spec.split * spec.latent_dim),
                                                      name="dec_unsplit")(inp)
    x = k.layers.Conv1D(f, spec.kernel_size, padding="same", name="dec_in_conv")(x)
    x = k.layers.LeakyReLU(alpha=spec.leaky_alpha, name="dec_in_leaky")(x)
    def block(x, name):
        h = k.layers.Conv1D(f // 2, 1, name=f"{name}_ra")(x)
        h = k.layers.LeakyReLU(alpha=spec.leaky_alpha, name=f"{name}_ra_leaky")(h)
        h = k.layers.Conv1D(f // 2, spec.kernel_size, padding="same", name=f"{name}_rb")(h)
        h = k.layers.LeakyReLU(alpha=spec.leaky_alpha, name=f"{name}_rb_leaky")(h)
        h = k.layers.Conv1D(f, 1, name=f"{name}_rc")(h)
        x = k.layers.Add(name=f"{name}_add")([x, h])
        return k.layers.LeakyReLU(alpha=spec.leaky_alpha, name=f"{name}_res_leaky")(x)

    for j in range(2, spec.decoder_blocks + 1):  # extra blocks at the latent resolution
        x = block(x, f"dec0_{j}")
    for i in range(1, spec.decoder_ups + 1):
        x = k.layers.UpSampling1D(2, name=f"dec{i}_up")(x)
        x = k.layers.Conv1D(f, spec.kernel_size, padding="same", name=f"dec{i}_conv")(x)
        x = k.layers.LeakyReLU(alpha=spec.leaky_alpha, name=f"dec{i}_leaky")(x)
        x = block(x, f"dec{i}")
        for j in range(2, spec.decoder_blocks + 1):
            x = block(x, f"dec{i}_{j}")
    excess = spec.positions * 2**spec.decoder_ups - spec.window
    if excess:
        x = k.layers.Cropping1D((0, excess), name="dec_crop")(x)
    out = k.layers.Conv1D(spec.channels, spec.kernel_size, padding="same", name="dec_out_conv")(x)
    if spec.encoder == "transform":  # + linear synthesis of the latent (starts as PCA's)
        lin = k.layers.Dense(spec.window * spec.channels, name="dec_linear")(k.layers.Flatten(name="dec_flat")(inp))
        out = k.layers.Add(name="dec_sum")([out, k.layers.Reshape((spec.window, spec.channels), name="dec_lin_rs")(lin)])
    return k.Model(inp, out, name="vq_decoder")


def build_vq_cae(spec: VqCaeSpec):
    """Returns (autoencoder, encoder, vector_quantizer_layer, decoder); they share weights."""
    from neurocodec.train.vq_layers import VectorQuantizer

    k = keras()
    encoder = build_encoder(spec)
    decoder = build_decoder(spec)
    code_bits = code_int = None
    if spec.quant is not None:
        code_bits, code_int = spec.quant.act_bits, spec.quant.act_integer
    vq = VectorQuantizer(spec.num_codes, spec.latent_dim, beta=spec.beta, ema=spec.ema, decay=spec.ema_decay,
                         code_bits=code_bits, code_integer=code_int or 0, stages=spec.stages, name="vq")
    inp = k.Input(shape=(spec.window, spec.channels), name="vq_cae_input")
    out = decoder(vq(encoder(inp)))
    return k.Model(inp, out, name=spec.name), encoder, vq, decoder


def score_formats(spec: VqCaeSpec) -> dict:
    """Exact fixed-point formats of the codeword-search layer (see module docstring).

    Codewords c and latent z share the act format (frac f). Weights -2c lie on 2**-(f-1) with
    |code| <= 2**(act_bits-1), bias ||c||^2 on 2**-2f, scores on 2**-2f and never saturate."""
    q = spec.quant
    if q is None:
        raise VqCaeConfigError("the codeword search needs a quantized spec")
    f = q.act_frac
    max_c2 = spec.latent_dim * 4**q.act_integer  # ||c||^2 < D * (2**act_integer)**2
    bias_int = int(max_c2).bit_length()
    score_int = int(3 * max_c2).bit_length()
    return {
        "weight_bits": q.act_bits + 1, "weight_integer": q.act_integer + 2, "weight_frac": f - 1,
        "bias_bits": 1 + bias_int + 2 * f, "bias_integer": bias_int, "bias_frac": 2 * f,
        "score_bits": 1 + score_int + 2 * f, "score_integer": score_int, "score_frac": 2 * f,
    }


def codebook_to_int(codebook, spec: VqCaeSpec) -> np.ndarray:
    """Float codebook -> integer codes on the act grid (round half even, saturate: the same
    function QKeras quantized_bits applies in training)."""
    from neurocodec.quantize.fixed_point import quantize_to_int

    q = spec.quant
    return quantize_to_int(np.asarray(codebook, np.float64), q.act_bits, q.act_frac)


def build_hw_encoder(encoder, codebook_int, spec: VqCaeSpec, with_argmin: bool = True):
    """Hardware encoder: encoder -> per-vector dense scores -> argmin (indices as floats).

    ``codebook_int``: (K, D) integer codewords on the act grid. ``with_argmin=False`` stops at
    the scores (for debugging / the C++ post-processing variant)."""
    from qkeras import QActivation, QConv1D

    from neurocodec.train.vq_layers import CodewordArgmin

    k = keras()
    fm = score_formats(spec)
    cb = np.asarray(codebook_int, np.int64)
    if cb.shape != (spec.num_codes, spec.latent_dim):
        raise VqCaeConfigError(f"codebook shape {cb.shape} != ({spec.num_codes}, {spec.latent_dim})")
    lim = 1 << (spec.quant.act_bits - 1)
    if cb.min() < -lim or cb.max() >= lim:
        raise VqCaeConfigError("codebook codes outside the act format")
    f = spec.quant.act_frac
    z = encoder.output
    scores_layer = QConv1D(spec.num_codes, 1, padding="same",
                           kernel_quantizer=_qb(fm["weight_bits"], fm["weight_integer"]),
                           bias_quantizer=_qb(fm["bias_bits"], fm["bias_integer"]), name="vq_scores")
    s = scores_layer(z)
    s = QActivation(_qb(fm["score_bits"], fm["score_integer"]), name="vq_scores_q")(s)
    kernel = (-2.0 * cb.T / 2**f)[None].astype(np.float32)  # (1, D, K)
    bias = (np.sum(cb * cb, axis=1) / 4.0**f).astype(np.float32)
    scores_layer.set_weights([kernel, bias])
    out = CodewordArgmin(name="vq_argmin")(s) if with_argmin else s
    return k.Model(encoder.input, out, name="vq_hw_encoder")


__all__ = [
    "VqCaeConfigError",
    "VqQuantSpec",
    "VqCaeSpec",
    "build_encoder",
    "build_decoder",
    "build_vq_cae",
    "build_hw_encoder",
    "codebook_to_int",
    "init_transform_from_pca",
    "score_formats",
]
