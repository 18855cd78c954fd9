"""`gamma_cnn`: EMG-envelope decoder from multichannel neural envelopes, its baselines, and its
fixed-point hardware form.

Float models (input ``[x (batch, T, channels), session (batch,)]``, output (batch, T, 1)):

* ``gamma_cnn``: three session-dependent feature layers of length 1 (SessionDense, e.g.
  27 -> 21 -> 15 -> 9, leaky ReLU) and three shared causal ``GammaConv1D`` layers 9 -> 6 -> 3 -> 1
  (30 taps = 300 ms, Gamma-function kernels, leaky ReLU between them, linear output).
* ``cnn``: the same with unconstrained causal Conv1D kernels of 10 taps (100 ms).
* ``linear``: per-session linear channel mixing 27 -> 9, then one shared causal Conv1D 9 -> 1
  of 30 taps, no nonlinearity (a rank-limited Wiener filter).
* The time-shuffled control is ``gamma_cnn`` trained and tested on time-shuffled inputs
  (see ``neurocodec.train.gamma_training``).

The leaky-ReLU slope is 77/256 = 0.30078 in float too, so the hardware form computes the
same function.

Hardware form (one recording session): every layer becomes

    QConv1D(kernel 1 or n_taps, padding 'valid' / 'causal', w: quantized_bits(wb, wi), b: acc format)
    -> QActivation(quantized_bits(acc))   "acc" register
    -> [LeakyReLU(77/256)] -> QActivation(quantized_bits(act))   (hidden layers only)

The trained Gamma kernels are sampled into the fixed-point Conv1D weights. Formats are chosen
per layer after training (post-training quantization): weights, accumulator and activation
integer bits from the float weights and the activation range on calibration data, and the weight
fraction reduced until every partial sum is exact in float32 (so the QKeras graph is bit-for-bit
the integer arithmetic of ``run_int`` and of the HLS C simulation, neurocodec.hls.gamma_cnn). ``run_int`` is the NumPy
integer reference (round half to even + saturation as QKeras ``quantized_bits`` /
``ap_fixed<..., AP_RND_CONV, AP_SAT>``)::

    acc[t, o] = sum_{k, c} w[k, c, o] * x[t - K + 1 + k, c] + (b[o] << (f_w + f_in - f_b))    x[<0] = 0
    a         = sat_acc(round_half_even(acc >> (f_w + f_in - f_acc)))
    l         = a << 8 if a > 0 else a * 77
    y         = sat_act(round_half_even(l >> (f_acc + 8 - f_act)))        (hidden layers)
    y         = sat_act(round_half_even(a >> (f_acc - f_act)))             (hidden, no leaky: linear)
    y         = a                                                          (output layer)
"""
from __future__ import annotations

from neurocodec.errors import NeurocodecError

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import neurocodec  # noqa: F401
from neurocodec.quantize.fixed_point import int_range, quantize_to_int, requantize
from neurocodec.train.backend import keras
from neurocodec.train.gamma_layers import N_TAPS, THETA, GammaConv1D, SessionDense

KINDS = ("gamma_cnn", "cnn", "linear")
LEAKY_ALPHA = 77 / 256


class DecoderInputError(NeurocodecError):
    """Bad input to a decoder (wrong channel count, NaN, unknown session...)."""


@dataclass(frozen=True)
class DecoderSpec:
    kind: str = "gamma_cnn"
    n_channels: int = 27
    n_sessions: int = 1
    feature_units: tuple = (21, 15, 9)
    temporal_units: tuple = (6, 3, 1)
    gamma_taps: int = N_TAPS
    cnn_taps: int = 10
    linear_taps: int = N_TAPS
    theta: float = THETA
    leaky_alpha: float = LEAKY_ALPHA

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown decoder kind {self.kind!r}; choose one of {KINDS}")
        object.__setattr__(self, "feature_units", tuple(int(u) for u in self.feature_units))
        object.__setattr__(self, "temporal_units", tuple(int(u) for u in self.temporal_units))
        if self.temporal_units[-1] != 1:
            raise ValueError("the last temporal layer must have one output (the EMG envelope)")
        if self.n_channels < 1 or self.n_sessions < 1:
            raise ValueError("n_channels and n_sessions must be >= 1")

    @property
    def taps(self) -> int:
        return {"gamma_cnn": self.gamma_taps, "cnn": self.cnn_taps, "linear": self.linear_taps}[self.kind]

    @property
    def receptive_field(self) -> int:
        """Input samples (incl. the current one) that one output depends on."""
        n_temporal = 1 if self.kind == "linear" else len(self.temporal_units)
        return n_temporal * (self.taps - 1) + 1

    def to_dict(self):
        d = asdict(self)
        d["feature_units"] = list(self.feature_units)
        d["temporal_units"] = list(self.temporal_units)
        return d

    @staticmethod
    def from_dict(d):
        return DecoderSpec(**d)


def build_decoder(spec: DecoderSpec, length: int | None = None):
    """Float Keras model [x (B, T, C), session (B,)] -> (B, T, 1)."""
    k = keras()
    x_in = k.Input(shape=(length, spec.n_channels), name="neural")
    s_in = k.Input(shape=(), dtype="int32", name="session")
    x = x_in
    if spec.kind == "linear":
        x = SessionDense(spec.feature_units[-1], spec.n_sessions, name="feat1")([x, s_in])
        y = k.layers.Conv1D(1, spec.linear_taps, padding="causal", name="temp1")(x)
        return k.Model([x_in, s_in], y, name="linear")
    for i, u in enumerate(spec.feature_units):
        x = SessionDense(u, spec.n_sessions, name=f"feat{i + 1}")([x, s_in])
        x = k.layers.LeakyReLU(alpha=spec.leaky_alpha, name=f"feat{i + 1}_leaky")(x)
    n = len(spec.temporal_units)
    for i, u in enumerate(spec.temporal_units):
        if spec.kind == "gamma_cnn":
            x = GammaConv1D(u, n_taps=spec.gamma_taps, theta=spec.theta, name=f"temp{i + 1}")(x)
        else:
            x = k.layers.Conv1D(u, spec.cnn_taps, padding="causal", name=f"temp{i + 1}")(x)
        if i < n - 1:
            x = k.layers.LeakyReLU(alpha=spec.leaky_alpha, name=f"temp{i + 1}_leaky")(x)
    return k.Model([x_in, s_in], x, name=spec.kind)


def check_decoder_input(x, spec: DecoderSpec, session=None) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise DecoderInputError(f"neural envelopes must be (trials, samples, channels), got shape {x.shape}")
    if x.shape[2] != spec.n_channels:
        raise DecoderInputError(f"decoder expects {spec.n_channels} neural channels, got {x.shape[2]}")
    if x.dtype.kind not in "fiu":
        raise DecoderInputError(f"neural envelopes must be numeric, got dtype {x.dtype}")
    bad = ~np.isfinite(x)
    if bad.any():
        raise DecoderInputError(f"neural envelopes contain {int(bad.sum())} NaN/Inf values")
    if session is not None:
        s = np.asarray(session).ravel()
        if s.size and (s.min() < 0 or s.max() >= spec.n_sessions):
            raise DecoderInputError(f"session index outside 0..{spec.n_sessions - 1}")
    return x.astype(np.float32)


def predict(model, spec: DecoderSpec, x, session, batch: int = 64) -> np.ndarray:
    """(n, T, C) envelopes + (n,) session -> (n, T) decoded EMG (checks the input first)."""
    x = check_decoder_input(x, spec, session)
    s = np.asarray(session, np.int32).ravel()
    if s.size == 1:
        s = np.repeat(s, len(x))
    if s.shape != (len(x),):
        raise DecoderInputError(f"{s.size} session indices for {len(x)} trials")
    out = [model([x[i : i + batch], s[i : i + batch]], training=False).numpy()[..., 0]
           for i in range(0, len(x), batch)]
    return np.concatenate(out)


# ----------------------------------------------------------------------------- hardware form
def float_layers(model, spec: DecoderSpec, session: int) -> list[dict]:
    """The decoder of one session as a chain of causal convolutions (float64 NumPy):
    [{'kernel': (K, in, out), 'bias': (out,), 'leaky': bool}, ...]. Gamma kernels are sampled."""
    if not 0 <= session < spec.n_sessions:
        raise DecoderInputError(f"session {session} outside 0..{spec.n_sessions - 1}")
    layers = []
    n_feat = 1 if spec.kind == "linear" else len(spec.feature_units)
    for i in range(n_feat):
        w, b = model.get_layer(f"feat{i + 1}").session_weights(session)
        layers.append({"kernel": w[None].astype(np.float64), "bias": b.astype(np.float64),
                       "leaky": spec.kind != "linear"})
    n_temp = 1 if spec.kind == "linear" else len(spec.temporal_units)
    for i in range(n_temp):
        layer = model.get_layer(f"temp{i + 1}")
        if isinstance(layer, GammaConv1D):
            kern, bias = layer.kernel_numpy(), layer.bias.numpy()
        else:
            kern, bias = layer.get_weights()
        layers.append({"kernel": np.asarray(kern, np.float64), "bias": np.asarray(bias, np.float64),
                       "leaky": i < n_temp - 1})
    return layers


def run_float_layers(layers: list[dict], x: np.ndarray, alpha: float = LEAKY_ALPHA, collect=None) -> np.ndarray:
    """Float64 NumPy forward pass of a causal-convolution chain; x (n, T, C) -> (n, T, out)."""
    h = np.asarray(x, np.float64)
    for li, layer in enumerate(layers):
        kern = layer["kernel"]
        K = kern.shape[0]
        hp = np.pad(h, ((0, 0), (K - 1, 0), (0, 0)))
        T = h.shape[1]
        acc = sum(hp[:, j : j + T] @ kern[j] for j in range(K)) + layer["bias"]
        if collect is not None:
            collect.setdefault(li, {})["acc"] = float(np.max(np.abs(acc)))
        h = np.where(acc > 0, acc, alpha * acc) if layer["leaky"] else acc
        if collect is not None:
            collect[li]["act"] = float(np.max(np.abs(h)))
    return h


@dataclass(frozen=True)
class QuantConfig:
    """Bit widths of the hardware form (QKeras quantized_bits, signed, alpha=1). Integer bits of
    weights, accumulators and activations are chosen per layer from the trained model."""

    input_bits: int = 10
    input_integer: int = 3  # z-scored envelopes in [-8, 8), step 1/64
    weight_bits: int = 12
    acc_bits: int = 16  # <= 16 keeps the leaky product (acc * 77) exact in float32
    act_bits: int = 12
    alpha_frac_bits: int = 8
    headroom: float = 1.5  # margin over the calibration range before choosing integer bits
    max_exact_bits: int = 24  # float32 mantissa: every partial sum must stay below 2**24 LSBs

    def to_dict(self):
        return asdict(self)


@dataclass
class IntLayer:
    weights: np.ndarray  # (K, in, out) int
    bias: np.ndarray  # (out,) int at 2**-bias_frac
    weight_bits: int
    weight_frac: int
    bias_frac: int
    in_bits: int
    in_frac: int
    acc_bits: int
    acc_frac: int
    leaky: bool
    alpha_num: int
    alpha_shift: int
    out_bits: int  # = acc_bits for the output layer
    out_frac: int

    @property
    def kernel(self) -> int:
        return self.weights.shape[0]

    @property
    def product_frac(self) -> int:
        return self.weight_frac + self.in_frac

    def worst_case_sum(self) -> int:
        """Largest |partial sum| in product LSBs for any input in the input format."""
        x_max = -int_range(self.in_bits)[0]
        per_out = np.abs(self.weights).sum(axis=(0, 1)) * x_max
        per_out = per_out + (np.abs(self.bias) << (self.product_frac - self.bias_frac))
        return int(per_out.max()) if per_out.size else 0


@dataclass
class IntDecoder:
    input_bits: int
    input_frac: int
    n_channels: int
    session: int = 0
    layers: list[IntLayer] = field(default_factory=list)

    @property
    def receptive_field(self) -> int:
        return sum(layer.kernel - 1 for layer in self.layers) + 1

    @property
    def output_frac(self) -> int:
        return self.layers[-1].out_frac

    def run(self, codes: np.ndarray) -> np.ndarray:
        """IntReference: input codes (n, T, C) -> output codes (n, T, 1) (= run_int)."""
        return run_int(codes, self)

    def to_dict(self) -> dict:
        d = asdict(self)
        for ld in d["layers"]:
            ld["weights"] = np.asarray(ld["weights"]).tolist()
            ld["bias"] = np.asarray(ld["bias"]).tolist()
        return d

    @staticmethod
    def from_dict(d: dict) -> "IntDecoder":
        layers = [IntLayer(**{**ld, "weights": np.array(ld["weights"], np.int64),
                              "bias": np.array(ld["bias"], np.int64)}) for ld in d["layers"]]
        return IntDecoder(d["input_bits"], d["input_frac"], d["n_channels"], d.get("session", 0), layers)


def _int_bits_for(maximum: float) -> int:
    """Integer bits (excluding sign) so that `maximum` fits: smallest i >= 0 with max < 2**i."""
    if maximum <= 0:
        return 0
    return max(0, int(math.floor(math.log2(maximum))) + 1)


def quantize_decoder(layers: list[dict], x_calib: np.ndarray, q: QuantConfig = QuantConfig(),
                     session: int = 0, alpha: float = LEAKY_ALPHA) -> IntDecoder:
    """Post-training quantization of a float causal-conv chain into an IntDecoder."""
    alpha_num = alpha * 2**q.alpha_frac_bits
    if alpha_num != int(alpha_num):
        raise ValueError(f"leaky slope {alpha} is not a multiple of 2**-{q.alpha_frac_bits}")
    if q.acc_bits + int(alpha_num).bit_length() > q.max_exact_bits:
        raise ValueError(f"acc_bits={q.acc_bits} too wide: acc * {int(alpha_num)} would not be exact in float32")
    x_calib = np.asarray(x_calib, np.float64)
    in_frac = q.input_bits - 1 - q.input_integer
    x_q = quantize_to_int(x_calib, q.input_bits, in_frac) / 2.0**in_frac
    stats: dict = {}
    run_float_layers(layers, x_q, alpha, collect=stats)
    dec = IntDecoder(q.input_bits, in_frac, layers[0]["kernel"].shape[1], session)
    bits, frac = q.input_bits, in_frac
    for li, layer in enumerate(layers):
        kern, bias = layer["kernel"], layer["bias"]
        acc_int = _int_bits_for(q.headroom * stats[li]["acc"])
        acc_frac = q.acc_bits - 1 - acc_int
        w_frac = q.weight_bits - 1 - _int_bits_for(float(np.max(np.abs(kern))))
        leaky = bool(layer["leaky"])
        if li < len(layers) - 1:  # hidden layer: activation register
            out_bits = q.act_bits
            out_frac = q.act_bits - 1 - _int_bits_for(q.headroom * stats[li]["act"])
        else:  # output layer: the accumulator register is the output
            out_bits, out_frac = q.acc_bits, acc_frac
        while True:
            il = IntLayer(quantize_to_int(kern, q.weight_bits, w_frac), quantize_to_int(bias, q.acc_bits, acc_frac),
                          q.weight_bits, w_frac, acc_frac, bits, frac, q.acc_bits, acc_frac, leaky,
                          int(alpha_num), q.alpha_frac_bits, out_bits, out_frac)
            if il.bias_frac > il.product_frac:
                raise ValueError(f"layer {li + 1}: bias grid 2**-{acc_frac} finer than the product grid "
                                 f"2**-{il.product_frac}; use fewer accumulator fraction bits")
            if il.worst_case_sum() < 2**q.max_exact_bits:
                break
            w_frac -= 1  # coarser weights until float32 sums are exact
            if w_frac + frac < acc_frac:
                raise ValueError(f"layer {li + 1}: cannot make float32 accumulation exact with "
                                 f"{q.weight_bits}-bit weights")
        dec.layers.append(il)
        bits, frac = out_bits, out_frac
    return dec


def quantize_input_codes(x: np.ndarray, dec: IntDecoder) -> np.ndarray:
    """Normalised envelopes -> signed input codes (round half even, saturate)."""
    return quantize_to_int(x, dec.input_bits, dec.input_frac)


def int_layer_forward(x: np.ndarray, layer: IntLayer) -> np.ndarray:
    n, T, _ = x.shape
    K = layer.kernel
    xp = np.pad(x, ((0, 0), (K - 1, 0), (0, 0)))
    acc = np.zeros((n, T, layer.weights.shape[2]), np.int64)
    for j in range(K):
        acc += xp[:, j : j + T] @ layer.weights[j]
    acc += layer.bias << (layer.product_frac - layer.bias_frac)
    a = requantize(acc, layer.product_frac, layer.acc_bits, layer.acc_frac)
    if layer.leaky:
        leaky = np.where(a > 0, a << layer.alpha_shift, a * layer.alpha_num)
        return requantize(leaky, layer.acc_frac + layer.alpha_shift, layer.out_bits, layer.out_frac)
    if (layer.out_bits, layer.out_frac) == (layer.acc_bits, layer.acc_frac):
        return a
    return requantize(a, layer.acc_frac, layer.out_bits, layer.out_frac)


def run_int(x_codes: np.ndarray, dec: IntDecoder) -> np.ndarray:
    """Integer reference: input codes (n, T, C) -> output codes (n, T, 1) at 2**-dec.output_frac."""
    x = np.asarray(x_codes)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[2] != dec.n_channels:
        raise DecoderInputError(f"expected input codes (n, T, {dec.n_channels}), got shape {np.shape(x_codes)}")
    if x.dtype.kind not in "iu":
        raise DecoderInputError(f"input codes must be integers, got dtype {x.dtype}")
    lo, hi = int_range(dec.input_bits)
    if x.min() < lo or x.max() > hi:
        raise DecoderInputError(f"input codes outside [{lo}, {hi}] of the {dec.input_bits}-bit input")
    h = x.astype(np.int64)
    for layer in dec.layers:
        h = int_layer_forward(h, layer)
    return h


def stream_int(x_codes: np.ndarray, dec: IntDecoder, chunk: int) -> np.ndarray:
    """Streaming form of ``run_int`` on one long recording (T, C): processes ``chunk`` new
    samples at a time with the last receptive_field - 1 input samples as history (overlap-save).
    Returns (T, 1) codes identical to run_int on the whole recording."""
    x = np.asarray(x_codes, np.int64)
    hist = dec.receptive_field - 1
    out = []
    for start in range(0, len(x), chunk):
        lo = max(0, start - hist)
        y = run_int(x[lo : start + chunk][None], dec)[0]
        out.append(y[start - lo :])
    return np.concatenate(out)


def build_quantized_model(dec: IntDecoder, length: int):
    """QKeras model (one session) computing exactly ``run_int`` on float inputs on the grid."""
    k = keras()
    from qkeras import QActivation, QConv1D, quantized_bits

    def qb(bits, frac):
        return quantized_bits(bits, bits - 1 - frac, alpha=1)

    inp = k.Input(shape=(length, dec.n_channels), name="neural")
    x = QActivation(qb(dec.input_bits, dec.input_frac), name="in_q")(inp)
    for i, L in enumerate(dec.layers):
        name = f"l{i + 1}"
        conv = QConv1D(L.weights.shape[2], L.kernel, padding="causal" if L.kernel > 1 else "valid",
                       kernel_quantizer=qb(L.weight_bits, L.weight_frac),
                       bias_quantizer=qb(L.acc_bits, L.bias_frac), name=f"{name}_conv")
        x = conv(x)
        conv.set_weights([L.weights / 2.0**L.weight_frac, L.bias / 2.0**L.bias_frac])
        x = QActivation(qb(L.acc_bits, L.acc_frac), name=f"{name}_acc")(x)
        if L.leaky:
            x = k.layers.LeakyReLU(alpha=L.alpha_num / 2**L.alpha_shift, name=f"{name}_leaky")(x)
        if L.leaky or (L.out_bits, L.out_frac) != (L.acc_bits, L.acc_frac):
            x = QActivation(qb(L.out_bits, L.out_frac), name=f"{name}_act")(x)
    return k.Model(inp, x, name=f"gamma_hw_s{dec.session}")


# ----------------------------------------------------------------------------- files
def load_int_decoder(model_dir) -> IntDecoder:
    path = Path(model_dir) / "int_decoder.json"
    if not path.is_file():
        raise DecoderInputError(f"{path} not found: train first (neurocodec train gamma_cnn)")
    return IntDecoder.from_dict(json.loads(path.read_text()))


__all__ = [
    "KINDS", "LEAKY_ALPHA", "DecoderInputError", "DecoderSpec", "build_decoder", "check_decoder_input",
    "predict", "float_layers", "run_float_layers", "QuantConfig", "IntLayer", "IntDecoder",
    "quantize_decoder", "quantize_input_codes", "run_int", "stream_int", "build_quantized_model",
    "load_int_decoder",
]
