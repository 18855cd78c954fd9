"""Full-int8 TFLite export of a trained quantized `cae` encoder (for ai-edge-litert, e.g. a Pi).

QKeras layers do not convert to TFLite and TFMOT's default 8-bit scheme rejects Conv1D, so the
QKeras encoder (a linear chain: input quantizer, then per layer QConv1D -> acc QActivation ->
LeakyReLU -> act QActivation) is rebuilt as a plain TensorFlow "twin" in 2-D form: expand to
(1, length, 1), Conv2D with (1, k) kernels and (1, s) strides (pads 'same' exactly as Conv1D),
the leaky ReLU as a PReLU with one shared slope, squeeze back. The twin holds the QUANTIZED
weights of the QKeras layers (``kernel_quantizer_internal(kernel)``,
``bias_quantizer_internal(bias)``) and the QKeras model's dyadic slope (77/256 for 0.3). It is
converted to a full-int8 TFLite model: int8 input, output, activations and weights, int32
biases, ops EXPAND_DIMS, CONV_2D, PRELU, RESHAPE.

PRELU rather than LEAKY_RELU: TFLite's builtin int8 LEAKY_RELU kernel rounds the negative branch
down (floor) while the XNNPACK delegate rounds it to nearest, so the codes would depend on the
kernel path; int8 PRELU rounds to nearest on both (its slope is stored as code 127 with scale
alpha/127, i.e. exactly 77/256).

The input is pinned to the QKeras input grid in both methods (scale 1/256, zero point -128: the
int8 input codes are the QKeras 8-bit input codes minus 128). The other int8 scales:

``method="pinned"`` (default)
    The tensors QKeras holds on a known 8-bit grid get exactly that grid, via FakeQuant nodes
    in the twin (quantization-aware conversion): every act register (quantized_bits(8, 2):
    scale 2**-5, zero point 0, range [-4, 4 - 2**-5], so int8 saturation is the register's
    saturation) and the weights (per channel symmetric, scale 2**-7: the QKeras weight codes
    themselves, except code -128, which TFLite's narrow int8 weight range [-127, 127] turns into
    -127; counted in ``weights_saturated``). The one tensor QKeras keeps wider, the convolution
    output before the leaky ReLU (16-bit accumulator register), is calibrated on the
    representative segments: their min/max, placed on a 2**-5-aligned 256-code window when the
    range fits in one (then positive pre-activations round as QKeras's act register does). The
    int8 output codes are the QKeras latent codes (``latent = code * 2**-5``).
``method="ptq"``
    Plain post-training quantization (``optimizations=[Optimize.DEFAULT]``, a
    ``representative_dataset`` of the segments, ``TFLITE_BUILTINS_INT8``): TFLite calibrates
    every activation's scale, the output's too (its codes are not on the latent grid: dequantize
    them), and quantizes weights per channel in max|w| / 127 steps. Act registers that saturate
    on the calibration data keep their saturation as a clip in the twin.

Neither is bit-exact: TFLite rounds the pre-activation to int8 once where QKeras rounds it to the
2**-10 accumulator grid, multiplies negatives by 77/256 and rounds again to 2**-5; ties round
differently; a mismatch in one layer propagates through the next ones. The agreement with the
QKeras latent is measured by `neurocodec.quantize.tflite_runner.compare_tflite_to_qkeras`.
"""
from __future__ import annotations

from neurocodec.errors import NeurocodecError

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurocodec.files import write_bytes_atomic

#: layer classes the export understands.
SUPPORTED_LAYERS = ("InputLayer", "QActivation", "QConv1D", "Conv1D", "LeakyReLU")
METHODS = ("pinned", "ptq")
#: default cap on the PTQ representative dataset (the converter's calibration time grows with it).
DEFAULT_MAX_CALIBRATION = 256
#: activation registers of at most this many bits are pinned / clipped; wider ones (the 16-bit
#: accumulators) have no int8 counterpart (TFLite accumulates in int32).
INT8_BITS = 8


class UnsupportedLayerError(NeurocodecError):
    """The encoder contains a layer or quantizer the TFLite export cannot express."""


class TfliteExportError(NeurocodecError):
    """Bad input to the export (representative data, output path, method) or a failed conversion."""


# --------------------------------------------------------------------------------------------
# quantizer formats
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Register:
    """A QKeras quantized_bits(alpha=1) register: codes * 2**-frac in [low, high]."""

    bits: int
    frac: int
    signed: bool

    @property
    def step(self) -> float:
        return 2.0**-self.frac

    @property
    def low(self) -> float:
        return -(2.0 ** (self.bits - 1)) * self.step if self.signed else 0.0

    @property
    def high(self) -> float:
        return (2.0 ** (self.bits - 1) - 1 if self.signed else 2.0**self.bits - 1) * self.step


def register_of(quantizer, where: str) -> Register:
    name = type(quantizer).__name__
    if name != "quantized_bits":
        raise UnsupportedLayerError(f"{where}: quantizer {name} is not supported (quantized_bits only)")
    if getattr(quantizer, "alpha", 1) not in (1, 1.0):
        raise UnsupportedLayerError(f"{where}: quantized_bits alpha={quantizer.alpha!r} (a scale factor) "
                                    "is not supported; the export needs alpha=1")
    if getattr(quantizer, "symmetric", 0):
        raise UnsupportedLayerError(f"{where}: symmetric quantized_bits is not supported")
    bits, integer, signed = int(quantizer.bits), int(quantizer.integer), bool(quantizer.keep_negative)
    return Register(bits, bits - int(signed) - integer, signed)


# --------------------------------------------------------------------------------------------
# the encoder as a chain of TFLite ops
# --------------------------------------------------------------------------------------------
@dataclass
class Stage:
    """One op of the exported chain (a convolution or a leaky ReLU) and its output tensor."""

    kind: str  # "conv" | "leaky"
    layer: object  # the Keras layer
    probe: str = ""  # name of the QKeras layer whose output equals this stage's output tensor
    register: Register | None = None  # <= 8-bit QActivation applied to the output, if any
    wide: list = field(default_factory=list)  # wider QActivations (accumulators), ignored


@dataclass
class Chain:
    input_register: Register
    length: int
    stages: list

    @property
    def latent_step(self) -> float:
        reg = self.stages[-1].register
        return reg.step if reg is not None else 2.0**-5


def check_supported(qkeras_encoder) -> None:
    """Raise UnsupportedLayerError naming every layer the export cannot express."""
    bad = [f"{layer.name!r} ({type(layer).__name__})" for layer in qkeras_encoder.layers
           if type(layer).__name__ not in SUPPORTED_LAYERS]
    if bad:
        raise UnsupportedLayerError(
            f"cannot export to TFLite: unsupported layer(s) {', '.join(bad)}; "
            f"supported: {', '.join(SUPPORTED_LAYERS)}")


def parse_encoder(qkeras_encoder) -> Chain:
    """Check the encoder is a supported linear chain and group its layers into TFLite ops."""
    check_supported(qkeras_encoder)
    layers = list(qkeras_encoder.layers)
    if not layers or type(layers[0]).__name__ != "InputLayer":
        raise UnsupportedLayerError("the encoder must be a functional model starting with an Input layer")
    if len(qkeras_encoder.inputs) != 1 or len(qkeras_encoder.outputs) != 1:
        raise UnsupportedLayerError("the encoder must have exactly one input and one output")
    for prev, layer in zip(layers, layers[1:]):
        if layer.input is not prev.output:
            raise UnsupportedLayerError(f"layer {layer.name!r} does not take the output of {prev.name!r}: "
                                        "only a sequential chain of layers can be exported")
    if layers[-1].output is not qkeras_encoder.outputs[0]:
        raise UnsupportedLayerError("the encoder output is not the output of its last layer")
    shape = tuple(qkeras_encoder.input_shape[1:])
    if len(shape) != 2 or shape[0] is None or shape[1] != 1:
        raise UnsupportedLayerError(f"expected an encoder input of shape (length, 1), got {shape}")

    input_register = Register(8, 8, False)  # the cae input format, if the model has no quantizer
    stages: list[Stage] = []
    for layer in layers[1:]:
        kind = type(layer).__name__
        if kind == "QActivation":
            reg = register_of(layer.quantizer, layer.name)
            if not stages:
                if reg.signed:
                    raise UnsupportedLayerError(f"{layer.name!r}: the input quantizer must be unsigned "
                                                "(min-max normalized input)")
                input_register = reg
                continue
            stage = stages[-1]
            stage.probe = layer.name
            if reg.bits > INT8_BITS:
                stage.wide.append(reg)
            elif stage.register is not None:
                raise UnsupportedLayerError(f"{layer.name!r}: two consecutive narrow quantizers after "
                                            f"{stage.layer.name!r} are not supported")
            else:
                stage.register = reg
        elif kind in ("QConv1D", "Conv1D"):
            _check_conv(layer)
            stages.append(Stage("conv", layer, probe=layer.name))
        elif kind == "LeakyReLU":
            stages.append(Stage("leaky", layer, probe=layer.name))
    if not any(s.kind == "conv" for s in stages):
        raise UnsupportedLayerError("the encoder has no convolution layer")
    for stage in stages:
        if stage.register is not None and stage.wide:
            raise UnsupportedLayerError(f"{stage.probe!r}: a wide quantizer after a narrow one is not supported")
    return Chain(input_register, int(shape[0]), stages)


def _check_conv(layer) -> None:
    config = layer.get_config()
    if config.get("activation", "linear") not in ("linear", None):
        raise UnsupportedLayerError(f"{layer.name!r}: fused activation {config['activation']!r} is not "
                                    "supported (use a separate LeakyReLU / QActivation layer)")
    if config.get("groups", 1) != 1:
        raise UnsupportedLayerError(f"{layer.name!r}: grouped convolution is not supported")
    if layer.padding not in ("same", "valid"):
        raise UnsupportedLayerError(f"{layer.name!r}: padding {layer.padding!r} is not supported "
                                    "('same' or 'valid')")
    if config.get("data_format", "channels_last") != "channels_last":
        raise UnsupportedLayerError(f"{layer.name!r}: only channels_last is supported")


def quantized_conv_weights(layer) -> tuple[np.ndarray, np.ndarray | None, Register | None]:
    """(kernel (k, in, out), bias or None, kernel register or None) as the QKeras layer uses them."""
    kernel = layer.kernel
    bias = layer.bias if layer.use_bias else None
    kreg = None
    if type(layer).__name__ == "QConv1D":
        if layer.kernel_quantizer_internal is not None:
            kreg = register_of(layer.kernel_quantizer_internal, f"{layer.name} kernel")
            kernel = layer.kernel_quantizer_internal(kernel)
        if bias is not None and layer.bias_quantizer_internal is not None:
            register_of(layer.bias_quantizer_internal, f"{layer.name} bias")
            bias = layer.bias_quantizer_internal(bias)
    kernel = np.asarray(kernel, np.float32)
    return kernel, (None if bias is None else np.asarray(bias, np.float32)), kreg


# --------------------------------------------------------------------------------------------
# input / calibration data
# --------------------------------------------------------------------------------------------
def input_grid(chain: Chain, segments01: np.ndarray) -> np.ndarray:
    """What the QKeras input quantizer does: round half even to the input grid, saturate."""
    reg = chain.input_register
    x = np.round(np.asarray(segments01, np.float64) / reg.step) * reg.step
    return np.clip(x, reg.low, reg.high).astype(np.float32)


def snap_to_input_grid(segments01, qkeras_encoder) -> np.ndarray:
    return input_grid(parse_encoder(qkeras_encoder), segments01)


def latent_lsb(qkeras_encoder) -> float:
    """Step of the latent register (2**-5 for cae)."""
    return parse_encoder(qkeras_encoder).latent_step


def check_segments(segments, length: int, what: str = "segments", error=None, unit_range: bool = True) -> np.ndarray:
    """(n, length) float segments (an (n, length, 1) array is squeezed); finite, and in [0, 1] if unit_range."""
    error = error or TfliteExportError
    x = np.asarray(segments, dtype=np.float64)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[:, :, 0]
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != length:
        raise error(f"{what} must have shape (n >= 1, {length}), got {np.shape(segments)}")
    if not np.all(np.isfinite(x)):
        raise error(f"{what} contain NaN or infinite values")
    if unit_range and (x.min() < -1e-6 or x.max() > 1 + 1e-6):
        raise TfliteExportError(f"{what} must be min-max normalized to [0, 1]; got range "
                                f"[{x.min():.4g}, {x.max():.4g}]")
    return x


def probe_ranges(qkeras_encoder, chain: Chain, x01: np.ndarray, batch_size: int = 256) -> list:
    """(min, max) of every stage's output tensor in the QKeras model over the segments."""
    from neurocodec.train.backend import keras

    names = [s.probe for s in chain.stages]
    model = keras().Model(qkeras_encoder.input, [qkeras_encoder.get_layer(n).output for n in names])
    lo = [math.inf] * len(names)
    hi = [-math.inf] * len(names)
    x = np.asarray(x01, np.float32)[:, :, None]
    for start in range(0, x.shape[0], batch_size):
        outs = model(x[start : start + batch_size], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for i, t in enumerate(outs):
            t = np.asarray(t)
            lo[i] = min(lo[i], float(t.min()))
            hi[i] = max(hi[i], float(t.max()))
    return list(zip(lo, hi))


def calibrated_window(lo: float, hi: float, step: float | None) -> tuple[float, float]:
    """int8 range of a calibrated tensor. With ``step`` (the grid of the next act register) and
    data that fit in 256 codes of it: a window of exactly 256 codes of ``step``, aligned so that
    0 and the grid points are codes, centred on the data; otherwise the data range itself
    (extended to contain 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if step is not None:
        first = math.ceil(hi / step - 255 - 1e-9)  # lowest code index whose window reaches hi
        last = math.floor(lo / step + 1e-9)  # highest code index still below lo
        if first <= last:
            centre = round((lo + hi) / 2 / step - 127.5)
            low = min(max(centre, first), last)
            return low * step, (low + 255) * step
    if hi == lo:
        hi = lo + 1.0
    return lo, hi


# --------------------------------------------------------------------------------------------
# float twin (2-D) and conversion
# --------------------------------------------------------------------------------------------
def _next_register(chain: Chain, index: int) -> Register | None:
    for stage in chain.stages[index:]:
        if stage.register is not None:
            return stage.register
    return None


def plan_ranges(chain: Chain, ranges: list) -> list[tuple[float, float, bool]]:
    """(low, high, pinned) of every stage output for the pinned method.

    A pre-activation feeding a leaky ReLU + act register only matters inside
    [register.low / alpha, register.high]: beyond, the register saturates anyway (and int8
    saturation of the pre-activation gives the same saturated value), so the calibrated range is
    clamped to it before choosing the window."""
    plan = []
    for i, (stage, (lo, hi)) in enumerate(zip(chain.stages, ranges)):
        if stage.register is not None:
            plan.append((stage.register.low, stage.register.high, True))
            continue
        nxt = chain.stages[i + 1] if i + 1 < len(chain.stages) else None
        if nxt is not None and nxt.kind == "leaky" and nxt.register is not None:
            alpha = float(nxt.layer.alpha)
            hi = min(hi, nxt.register.high)
            if alpha > 0:
                lo = max(lo, nxt.register.low / alpha)
        reg = _next_register(chain, i + 1)
        plan.append((*calibrated_window(lo, hi, None if reg is None else reg.step), False))
    return plan


def _weight_fake_quant_range(kernel: np.ndarray, kreg: Register | None) -> np.ndarray:
    """Per-output-channel symmetric bound m with int8 step m / 127 (narrow range).

    The QKeras weight step 2**-f when every weight fits in [-127, 127] codes (weights of -128
    codes saturate to -127), else max|w| per channel."""
    m = np.max(np.abs(kernel.reshape(-1, kernel.shape[-1])), axis=0).astype(np.float64)
    if kreg is not None and kreg.bits <= INT8_BITS:
        return np.full_like(m, 127 * kreg.step)
    return np.where(m > 0, m, 1.0)


def build_float_twin(qkeras_encoder, method: str = "pinned", ranges: list | None = None):
    """2-D tf-keras twin of a QKeras encoder, holding its quantized weights.

    ``method="pinned"`` adds FakeQuant nodes (input, weights, every stage output; ``ranges`` are
    the QKeras stage ranges from `probe_ranges`, required); ``method="ptq"`` adds none (only a clip
    for act registers that ``ranges`` show saturating)."""
    import tensorflow as tf

    from neurocodec.train.backend import keras

    if method not in METHODS:
        raise TfliteExportError(f"unknown method {method!r}; choose one of {METHODS}")
    k = keras()
    chain = parse_encoder(qkeras_encoder)
    if ranges is None and method == "pinned":
        raise TfliteExportError("method 'pinned' needs the calibrated stage ranges")
    pinned = method == "pinned"
    plan = plan_ranges(chain, ranges) if pinned else None

    def fake_quant(lo, hi, name):
        return k.layers.Lambda(
            lambda t: tf.quantization.fake_quant_with_min_max_args(t, min=float(lo), max=float(hi), num_bits=8),
            name=name)

    inp = k.Input(shape=(chain.length, 1), name="enc_input")
    x = inp
    # the input quantizer is pinned in both methods: the int8 input codes are the QKeras input codes
    x = fake_quant(chain.input_register.low, chain.input_register.high, "enc_input_q")(x)
    # expand_dims/squeeze rather than Reshape: no shape arithmetic ops with a dynamic batch
    x = k.layers.Lambda(lambda t: tf.expand_dims(t, 1), name="to_2d")(x)
    for i, stage in enumerate(chain.stages):
        layer = stage.layer
        if stage.kind == "conv":
            kernel, bias, kreg = quantized_conv_weights(layer)
            bound = _weight_fake_quant_range(kernel, kreg) if pinned else None
            x = k.layers.Lambda(_conv2d_fn(kernel, bias, int(layer.strides[0]), layer.padding.upper(),
                                           int(layer.dilation_rate[0]), bound), name=layer.name)(x)
        else:
            # PRELU with one shared slope rather than LEAKY_RELU: TFLite's builtin int8 LEAKY_RELU
            # kernel floors the negative branch (XNNPACK rounds it), PRELU rounds on both paths
            alpha = k.initializers.Constant(float(layer.alpha))
            x = k.layers.PReLU(alpha_initializer=alpha, shared_axes=[1, 2, 3], name=layer.name)(x)
        if pinned:
            lo, hi, _ = plan[i]
            x = fake_quant(lo, hi, f"{stage.probe}_q")(x)
        elif stage.register is not None and ranges is not None:
            reg, (lo, hi) = stage.register, ranges[i]
            if lo <= reg.low or hi >= reg.high:  # the act register saturates on real data
                x = k.layers.Lambda(lambda t, a=reg.low, b=reg.high: tf.clip_by_value(t, a, b),
                                    name=f"{stage.probe}_clip")(x)
    x = k.layers.Lambda(lambda t: tf.squeeze(t, 1), name="to_1d")(x)
    return k.Model(inp, x, name=f"{qkeras_encoder.name}_tflite_twin")


def _conv2d_fn(kernel, bias, stride, padding, dilation, weight_bound=None):
    """Conv1D as a (1, k) Conv2D on (n, 1, length, channels) with constant weights; with
    ``weight_bound`` the kernel goes through a per-output-channel symmetric 8-bit FakeQuant."""
    import tensorflow as tf

    kernel = np.asarray(kernel, np.float32)[None]  # (1, k, in, out)
    bias = None if bias is None else np.asarray(bias, np.float32)
    bound = None if weight_bound is None else np.asarray(weight_bound, np.float32)

    def conv(x):
        w = tf.constant(kernel)
        if bound is not None:
            w = tf.quantization.fake_quant_with_min_max_vars_per_channel(
                w, tf.constant(-bound), tf.constant(bound), num_bits=8, narrow_range=True)
        y = tf.nn.conv2d(x, w, strides=[1, 1, stride, 1], padding=padding, dilations=[1, 1, dilation, 1])
        return y if bias is None else y + tf.constant(bias)

    return conv


def convert_int8(twin, calibration: np.ndarray | None, io_type: str = "int8") -> bytes:
    """Full-integer conversion of the twin (the one converter, quantize.tflite_int8); ``calibration``
    (n, length) drives PTQ (None for the pinned twin, whose FakeQuant nodes carry every range: the
    converter refuses TFLITE_BUILTINS_INT8 without a representative dataset, so model_details checks
    after conversion that no float tensor is left)."""
    from neurocodec.quantize.tflite_int8 import TfliteConversionError, convert_int8_keras

    cal = None if calibration is None else np.asarray(calibration, np.float32)[..., None]
    try:
        return convert_int8_keras(twin, cal, io_type)
    except TfliteConversionError as exc:
        raise TfliteExportError(str(exc)) from exc


def model_details(model_content: bytes) -> dict:
    """Input/output dtype, shape, scale, zero point; op names; whether every tensor that carries
    data (activations and weights; not the int32 biases and shape constants) is 8-bit."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_content, num_threads=1)

    def info(d):
        scale, zero_point = d["quantization"]
        return {"dtype": np.dtype(d["dtype"]).name, "shape": [int(s) for s in d["shape"]],
                "scale": float(scale), "zero_point": int(zero_point)}

    ops = interp._get_ops_details()  # noqa: SLF001  (the only op listing the runtime offers)
    tensors = {d["index"]: d for d in interp.get_tensor_details()}
    float_tensors = sorted({tensors[i]["name"] for op in ops for i in list(op["inputs"]) + list(op["outputs"])
                            if i >= 0 and np.dtype(tensors[i]["dtype"]) in (np.float32, np.float16)})
    return {
        "input": info(interp.get_input_details()[0]),
        "output": info(interp.get_output_details()[0]),
        "ops": sorted({op["op_name"] for op in ops}),
        "n_ops": len(ops),
        "float_tensors": float_tensors,
    }


def export_encoder_tflite(qkeras_encoder, representative_segments, out_path, *, method: str = "pinned",
                          max_calibration: int = DEFAULT_MAX_CALIBRATION, io_type: str = "int8") -> dict:
    """Write a full-int8 TFLite model of a QKeras `cae` encoder to ``out_path`` (atomically).

    representative_segments: (n, length) real segments min-max normalized to [0, 1]. All of them
    give the QKeras tensor ranges (pre-activation windows of "pinned", clip decisions of "ptq");
    at most ``max_calibration`` of them (evenly spaced) form the converter's representative
    dataset for "ptq". ``method``: "pinned"
    (QKeras register grids, default) or "ptq" (TFLite-calibrated scales), see the module doc.
    Returns ``path``, ``size_bytes`` (the file's size), ``method``, ``input``/``output`` tensor
    details (dtype, shape, scale, zero_point), ``ops``, ``float_tensors`` (empty for a full-int8
    model), ``n_calibration``, ``latent_lsb``, ``weights_saturated`` and ``stages`` (per TFLite op
    output: the QKeras tensor it stands for, its min/max over the calibration segments, and for
    "pinned" the int8 range used and whether it is a pinned register). Raises
    UnsupportedLayerError for layers/quantizers it cannot express and TfliteExportError for bad
    data or a failed conversion; no file is left behind on failure (temp file, then rename)."""
    out_path = Path(out_path)
    if out_path.suffix != ".tflite":
        raise TfliteExportError(f"output path {str(out_path)!r} should end in .tflite")
    if out_path.is_dir():
        raise TfliteExportError(f"output path {str(out_path)!r} is a directory")
    if method not in METHODS:
        raise TfliteExportError(f"unknown method {method!r}; choose one of {METHODS}")
    if max_calibration < 1:
        raise TfliteExportError(f"max_calibration must be >= 1, got {max_calibration}")
    chain = parse_encoder(qkeras_encoder)
    x = check_segments(representative_segments, chain.length, "representative segments")
    segments = input_grid(chain, x)
    ranges = probe_ranges(qkeras_encoder, chain, segments)  # cheap: QKeras forward pass, all segments
    calibration = segments
    if method == "ptq" and segments.shape[0] > max_calibration:  # the converter's calibration is slow
        calibration = segments[np.linspace(0, segments.shape[0] - 1, max_calibration).round().astype(int)]
    twin = build_float_twin(qkeras_encoder, method=method, ranges=ranges)
    data = convert_int8(twin, None if method == "pinned" else calibration, io_type=io_type)
    details = model_details(data)
    if details["float_tensors"]:
        raise TfliteExportError(f"conversion left float tensors {details['float_tensors'][:5]}: "
                                "the model is not full-int8")
    write_bytes_atomic(out_path, data)
    plan = plan_ranges(chain, ranges) if method == "pinned" else [(None, None, False)] * len(ranges)
    return {
        "path": str(out_path),
        "size_bytes": out_path.stat().st_size,
        "method": method,
        "io_type": io_type,
        "n_calibration": int(calibration.shape[0]),
        "latent_lsb": chain.latent_step,
        "weights_saturated": _saturated_weights(chain) if method == "pinned" else 0,
        "stages": [{"tensor": s.probe, "qkeras_min": qlo, "qkeras_max": qhi, "int8_low": lo, "int8_high": hi,
                    "pinned": p} for s, (qlo, qhi), (lo, hi, p) in zip(chain.stages, ranges, plan)],
        **details,
    }


def _saturated_weights(chain: Chain) -> int:
    """Weights that the pinned int8 kernels cannot hold: QKeras code -128 becomes -127."""
    count = 0
    for stage in chain.stages:
        if stage.kind == "conv":
            kernel, _, kreg = quantized_conv_weights(stage.layer)
            if kreg is not None and kreg.bits <= INT8_BITS:
                count += int(np.sum(kernel < -127.5 * kreg.step))
    return count

__all__ = [
    "METHODS",
    "SUPPORTED_LAYERS",
    "Register",
    "TfliteExportError",
    "UnsupportedLayerError",
    "build_float_twin",
    "check_segments",
    "check_supported",
    "convert_int8",
    "export_encoder_tflite",
    "latent_lsb",
    "model_details",
    "parse_encoder",
    "snap_to_input_grid",
]
