"""`cae`: 1-D convolutional autoencoder for continuous recordings (1024-sample segments).

Encoder: L strided convolutions (kernel 8, stride 2, 'same' padding) with leaky ReLU; the last
layer has F filters, so the latent holds 1024 / 2**L * F values and CR = 2**L / F. Decoder:
UpSampling1D(2) + Conv1D (hls4ml has no Conv1DTranspose) and a sigmoid output for inputs
min-max normalized to [0, 1].

Quantization-aware variant (QKeras, default): every encoder/decoder convolution is

    QConv1D(w: quantized_bits(wb, wi), b: quantized_bits(accb, acci))
    -> QActivation(quantized_bits(accb, acci))    # accumulator register ("acc")
    -> LeakyReLU(alpha_q)                          # alpha_q = round(alpha * 2**s) / 2**s
    -> QActivation(quantized_bits(ab, ai))         # activation register ("act")

The explicit accumulator quantizer keeps the leaky-ReLU product inside float32's 24-bit mantissa,
so the QKeras float graph is bit-for-bit the integer arithmetic of quantize.reference and of the
RTL. Leaky ReLU 0.3 becomes 77/256 = 0.30078 (the nearest 8-bit dyadic slope).
"""
from dataclasses import asdict, dataclass

from neurocodec.train.backend import keras

# CR -> (number of encoder layers, filters in the last encoder layer); the seed report's table.
CR_TABLE = {2: (3, 4), 4: (3, 2), 8: (5, 4), 16: (5, 2), 32: (6, 2), 64: (6, 1), 128: (7, 1)}


@dataclass(frozen=True)
class QuantSpec:
    """Bit widths of the quantization-aware model (QKeras quantized_bits, alpha=1, signed
    unless stated). `*_integer` counts integer bits excluding the sign, as QKeras does."""

    input_bits: int = 8  # unsigned, all fractional: x in [0, 1 - 2**-8]
    weight_bits: int = 8
    weight_integer: int = 0
    acc_bits: int = 16
    acc_integer: int = 5
    act_bits: int = 8
    act_integer: int = 2
    alpha_frac_bits: int = 8  # leaky slope as a multiple of 2**-alpha_frac_bits

    def to_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class CaeSpec:
    cr: int
    segment_length: int = 1024
    hidden_filters: int = 16
    kernel_size: int = 8
    leaky_alpha: float = 0.3
    quant: QuantSpec | None = QuantSpec()

    @property
    def n_layers(self) -> int:
        return CR_TABLE[self.cr][0]

    @property
    def latent_filters(self) -> int:
        return CR_TABLE[self.cr][1]

    @property
    def encoder_filters(self) -> list[int]:
        return [self.hidden_filters] * (self.n_layers - 1) + [self.latent_filters]

    @property
    def latent_length(self) -> int:
        return self.segment_length // 2**self.n_layers

    @property
    def alpha(self) -> float:
        """Leaky slope actually used: exact 0.3 in float, a dyadic rational when quantized."""
        if self.quant is None:
            return self.leaky_alpha
        scale = 2**self.quant.alpha_frac_bits
        return round(self.leaky_alpha * scale) / scale

    def to_dict(self):
        d = asdict(self)
        d["quant"] = None if self.quant is None else self.quant.to_dict()
        return d

    @staticmethod
    def from_dict(d):
        d = dict(d)
        q = d.pop("quant", None)
        return CaeSpec(quant=None if q is None else QuantSpec(**q), **d)


def check_cr(cr: int) -> int:
    if cr not in CR_TABLE:
        raise ValueError(f"unsupported compression rate CR={cr}; choose one of {sorted(CR_TABLE)}")
    return cr


def _conv_block(x, filters, strides, spec: CaeSpec, name):
    """Conv1D (+ quantizers) + leaky ReLU, quantized or float according to spec.quant."""
    k = keras()
    q = spec.quant
    if q is None:
        x = k.layers.Conv1D(filters, spec.kernel_size, strides=strides, padding="same", name=f"{name}_conv")(x)
        return k.layers.LeakyReLU(alpha=spec.alpha, name=f"{name}_leaky")(x)
    from qkeras import QActivation, QConv1D, quantized_bits

    x = QConv1D(
        filters,
        spec.kernel_size,
        strides=strides,
        padding="same",
        kernel_quantizer=quantized_bits(q.weight_bits, q.weight_integer, alpha=1),
        bias_quantizer=quantized_bits(q.acc_bits, q.acc_integer, alpha=1),
        name=f"{name}_conv",
    )(x)
    x = QActivation(quantized_bits(q.acc_bits, q.acc_integer, alpha=1), name=f"{name}_acc")(x)
    x = k.layers.LeakyReLU(alpha=spec.alpha, name=f"{name}_leaky")(x)
    return QActivation(quantized_bits(q.act_bits, q.act_integer, alpha=1), name=f"{name}_act")(x)


def build_encoder(spec: CaeSpec):
    k = keras()
    inp = k.Input(shape=(spec.segment_length, 1), name="enc_input")
    x = inp
    if spec.quant is not None:
        from qkeras import QActivation, quantized_bits

        x = QActivation(quantized_bits(spec.quant.input_bits, 0, keep_negative=False, alpha=1), name="enc_input_q")(x)
    for i, f in enumerate(spec.encoder_filters):
        x = _conv_block(x, f, 2, spec, f"enc{i + 1}")
    return k.Model(inp, x, name="encoder")


def build_decoder(spec: CaeSpec):
    k = keras()
    inp = k.Input(shape=(spec.latent_length, spec.latent_filters), name="dec_input")
    x = inp
    filters = list(reversed(spec.encoder_filters[:-1]))  # mirror of the encoder's hidden layers
    for i, f in enumerate(filters):
        x = k.layers.UpSampling1D(2, name=f"dec{i + 1}_up")(x)
        x = _conv_block(x, f, 1, spec, f"dec{i + 1}")
    x = k.layers.UpSampling1D(2, name="dec_out_up")(x)
    if spec.quant is None:
        x = k.layers.Conv1D(1, spec.kernel_size, padding="same", name="dec_out_conv")(x)
    else:
        from qkeras import QConv1D, quantized_bits

        q = spec.quant
        x = QConv1D(
            1,
            spec.kernel_size,
            padding="same",
            kernel_quantizer=quantized_bits(q.weight_bits, q.weight_integer, alpha=1),
            bias_quantizer=quantized_bits(q.acc_bits, q.acc_integer, alpha=1),
            name="dec_out_conv",
        )(x)
    out = k.layers.Activation("sigmoid", name="dec_sigmoid")(x)
    return k.Model(inp, out, name="decoder")


def build_cae(spec: CaeSpec):
    """Returns (autoencoder, encoder, decoder); the autoencoder shares the two submodels."""
    check_cr(spec.cr)
    if spec.segment_length % 2**spec.n_layers:
        raise ValueError(f"segment length {spec.segment_length} is not divisible by 2**{spec.n_layers}")
    k = keras()
    encoder = build_encoder(spec)
    decoder = build_decoder(spec)
    inp = k.Input(shape=(spec.segment_length, 1), name="cae_input")
    autoencoder = k.Model(inp, decoder(encoder(inp)), name=f"cae_cr{spec.cr}")
    return autoencoder, encoder, decoder
