"""Bit-exact integer reference of the `vq_cae` hardware encoder: encoder + codeword search.

``extract_int_vq_encoder(encoder, vq, spec)`` reads the integer weights and fixed-point formats
from a trained QKeras encoder (neurocodec.train.vq_cae) and the vector quantizer's codebook;
``encode_int(codes, enc)`` runs the graph with integer arithmetic only and returns the latent
codes z and the codeword indices. Per convolution (t = output position, k = tap, c = channel):

    acc[t, o] = sum_{k,c} w[k,c,o] * x[s*t - pad_left + k, c] + bias[o]     (common grid P)
    a         = sat_acc(round_half_even(acc >> (P - f_acc)))                  "acc" register
    l         = a << alpha_shift  if a > 0  else  a * alpha_num               leaky (if any)
    y         = sat_act(round_half_even(l >> (f_acc + alpha_shift - f_act)))  "act" register

('same' padding as TensorFlow: out = ceil(n / s), pad_total = max((out-1)*s + k - n, 0),
pad_left = pad_total // 2, zeros outside). A residual ``add`` sums two act-format tensors
exactly, then applies leaky + act. Codeword search per latent vector z (act grid 2**-f):

    score[k] = ||c_k||^2 - 2 z.c_k          exact integer on 2**-2f (never saturates)
    index    = min { k : score[k] == min_j score[j] }     (lowest index on ties)

argmin_k score[k] = argmin_k ||z - c_k||^2 since ||z||^2 is common to all k.
"""
from __future__ import annotations

from neurocodec.errors import NeurocodecError

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurocodec.quantize.fixed_point import int_range, quantize_to_int, requantize
from neurocodec.quantize.reference import quantizer_format


class VqReferenceError(NeurocodecError):
    """The encoder cannot be described by (or the input does not fit) the integer reference."""


@dataclass
class IntOp:
    """One op of the integer graph. kind: 'conv' | 'add'. ``inputs`` name earlier ops
    ('input' = the quantized input)."""

    kind: str
    name: str
    inputs: list
    out_bits: int
    out_frac: int
    leaky: bool
    alpha_num: int = 77
    alpha_shift: int = 8
    # conv only
    weights: np.ndarray | None = None  # (kernel, in, out)
    bias: np.ndarray | None = None
    weight_frac: int = 0
    bias_frac: int = 0
    stride: int = 1
    acc_bits: int = 0
    acc_frac: int = 0

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        for key in ("weights", "bias"):
            if d[key] is not None:
                d[key] = np.asarray(d[key]).tolist()
        return d

    @staticmethod
    def from_dict(d: dict) -> "IntOp":
        d = dict(d)
        for key in ("weights", "bias"):
            if d.get(key) is not None:
                d[key] = np.array(d[key], np.int64)
        return IntOp(**d)


@dataclass
class IntVqEncoder:
    input_bits: int
    input_frac: int
    window: int
    channels: int
    ops: list = field(default_factory=list)
    codebook: np.ndarray | None = None  # (K, D) int on 2**-code_frac
    code_frac: int = 0
    # residual VQ: codebooks of stages 1.. (stages-1, K, D) on the same grid (None: one stage)
    residual_codebooks: np.ndarray | None = None

    @property
    def stages(self) -> int:
        return 1 + (0 if self.residual_codebooks is None else int(len(self.residual_codebooks)))

    @property
    def latent_frac(self) -> int:
        return self.ops[-1].out_frac

    @property
    def num_codes(self) -> int:
        return int(self.codebook.shape[0])

    def to_dict(self) -> dict:
        d = {"input_bits": self.input_bits, "input_frac": self.input_frac, "window": self.window,
             "channels": self.channels, "ops": [op.to_dict() for op in self.ops],
             "codebook": np.asarray(self.codebook).tolist(), "code_frac": self.code_frac}
        if self.residual_codebooks is not None:
            d["residual_codebooks"] = np.asarray(self.residual_codebooks).tolist()
        return d

    @staticmethod
    def from_dict(d: dict) -> "IntVqEncoder":
        res = d.get("residual_codebooks")
        return IntVqEncoder(d["input_bits"], d["input_frac"], d["window"], d["channels"],
                            [IntOp.from_dict(o) for o in d["ops"]], np.array(d["codebook"], np.int64),
                            d["code_frac"], None if res is None else np.array(res, np.int64))


def _fmt(quantizer) -> tuple[int, int, bool]:
    """(bits, frac, signed) of a QKeras quantized_bits with alpha=1 (the cae reference's rules)."""
    try:
        return quantizer_format(quantizer)
    except ValueError as exc:
        raise VqReferenceError(str(exc)) from None


def _alpha(layer, shift: int) -> int:
    a = float(layer.alpha) * 2**shift
    if a != int(a):
        raise VqReferenceError(f"{layer.name}: leaky slope {layer.alpha} is not a multiple of 2**-{shift}")
    return int(a)


def _inbound(layer) -> list[str]:
    node = layer._inbound_nodes[0]
    inb = node.inbound_layers
    return [lay.name for lay in (inb if isinstance(inb, (list, tuple)) else [inb])]


def extract_int_vq_encoder(encoder, vq, spec) -> IntVqEncoder:
    """Integer graph of a quantized vq_cae encoder (built by train.vq_cae) + its codebook."""
    from neurocodec.train.vq_cae import codebook_to_int

    if spec.quant is None:
        raise VqReferenceError("the spec is not quantized (quant=None): no integer reference")
    layers = {lay.name: lay for lay in encoder.layers}
    if "enc_input_q" not in layers:
        raise VqReferenceError("encoder has no input quantizer 'enc_input_q'")
    in_bits, in_frac, in_signed = _fmt(layers["enc_input_q"].quantizer)
    if not in_signed:
        raise VqReferenceError("vq_cae input quantizer must be signed")
    shift = spec.quant.alpha_frac_bits
    produced = {"enc_input_q": ("input", in_frac)}  # keras layer name -> (op name, frac)
    ops: list[IntOp] = []
    for lay in encoder.layers:
        name = lay.name
        if name.endswith("_conv"):
            base = name[: -len("_conv")]
            src = _inbound(lay)[0]
            if src not in produced:
                raise VqReferenceError(f"{name}: input {src} is not a quantized register")
            src_op, src_frac = produced[src]
            acc_bits, acc_frac, _ = _fmt(layers[f"{base}_acc"].quantizer)
            out_bits, out_frac, _ = _fmt(layers[f"{base}_act"].quantizer)
            w_bits, w_frac, _ = _fmt(lay.kernel_quantizer_internal)
            b_bits, b_frac, _ = _fmt(lay.bias_quantizer_internal)
            kernel, bias = lay.get_weights()
            if lay.padding != "same":
                raise VqReferenceError(f"{name}: only 'same' padding is supported")
            leaky = f"{base}_leaky" in layers
            ops.append(IntOp("conv", base, [src_op], out_bits, out_frac, leaky,
                             _alpha(layers[f"{base}_leaky"], shift) if leaky else 0, shift,
                             quantize_to_int(kernel, w_bits, w_frac), quantize_to_int(bias, b_bits, b_frac),
                             w_frac, b_frac, int(lay.strides[0]), acc_bits, acc_frac))
            produced[f"{base}_act"] = (base, out_frac)
        elif name.endswith("_add"):
            base = name[: -len("_add")]
            srcs = _inbound(lay)
            if any(s not in produced for s in srcs):
                raise VqReferenceError(f"{name}: inputs {srcs} are not all quantized registers")
            fracs = {produced[s][1] for s in srcs}
            if len(fracs) != 1:
                raise VqReferenceError(f"{name}: inputs on different grids {fracs}")
            out_bits, out_frac, _ = _fmt(layers[f"{base}_act"].quantizer)
            leaky = f"{base}_leaky" in layers
            ops.append(IntOp("add", base, [produced[s][0] for s in srcs], out_bits, out_frac, leaky,
                             _alpha(layers[f"{base}_leaky"], shift) if leaky else 0, shift,
                             acc_frac=fracs.pop()))
            produced[f"{base}_act"] = (base, out_frac)
    if not ops or ops[-1].name != "latent":
        raise VqReferenceError("encoder does not end with the 'latent' convolution")
    cbs = codebook_to_int(np.asarray(vq.codebooks.numpy()), spec)  # (stages, K, D)
    codebook = cbs[0]
    if codebook.shape[1] != ops[-1].weights.shape[2]:
        raise VqReferenceError("codebook dimension differs from the latent dimension")
    return IntVqEncoder(in_bits, in_frac, int(encoder.input_shape[1]), int(encoder.input_shape[2]), ops,
                        codebook, ops[-1].out_frac, cbs[1:] if len(cbs) > 1 else None)


def quantize_input(x_norm, enc: IntVqEncoder) -> np.ndarray:
    """Normalized windows x / scale (n, window, channels) -> signed input codes (half even, sat)."""
    x = np.asarray(x_norm, np.float64)
    if x.ndim == 2 and enc.channels == 1:
        x = x[:, :, None]
    if x.ndim != 3 or x.shape[1:] != (enc.window, enc.channels):
        raise VqReferenceError(f"expected windows (n, {enc.window}, {enc.channels}), got {np.shape(x_norm)}")
    if not np.all(np.isfinite(x)):
        raise VqReferenceError("input windows contain NaN or Inf")
    return quantize_to_int(x, enc.input_bits, enc.input_frac, signed=True)


def _leaky_act(a, frac, op: IntOp):
    if op.leaky:
        a = np.where(a > 0, a << op.alpha_shift, a * op.alpha_num)
        frac = frac + op.alpha_shift
    return requantize(a, frac, op.out_bits, op.out_frac)


def conv_int(x, frac_in: int, op: IntOp) -> np.ndarray:
    n, length, _ = x.shape
    k, s = op.weights.shape[0], op.stride
    out_len = -(-length // s)
    pad_total = max((out_len - 1) * s + k - length, 0)
    pl = pad_total // 2
    xp = np.pad(x, ((0, 0), (pl, pad_total - pl), (0, 0)))
    prod_frac = op.weight_frac + frac_in
    p = max(prod_frac, op.bias_frac)
    acc = np.zeros((n, out_len, op.weights.shape[2]), np.int64)
    for t in range(k):
        acc += xp[:, t: t + s * (out_len - 1) + 1: s, :] @ op.weights[t]
    acc = (acc << (p - prod_frac)) + (op.bias << (p - op.bias_frac))
    a = requantize(acc, p, op.acc_bits, op.acc_frac)
    return _leaky_act(a, op.acc_frac, op)


def encoder_int(codes, enc: IntVqEncoder, upto: str | None = None) -> np.ndarray:
    """Integer encoder: input codes (n, window, channels) -> latent codes (n, L, D).
    ``upto`` returns the output of that op instead (per-layer debugging)."""
    x = np.asarray(codes)
    if x.ndim != 3 or x.shape[1:] != (enc.window, enc.channels):
        raise VqReferenceError(f"expected input codes (n, {enc.window}, {enc.channels}), got {x.shape}")
    lo, hi = int_range(enc.input_bits, True)
    if x.size and (x.min() < lo or x.max() > hi):
        raise VqReferenceError(f"input codes outside [{lo}, {hi}] for {enc.input_bits}-bit signed input")
    vals = {"input": (x.astype(np.int64), enc.input_frac)}
    for op in enc.ops:
        if op.kind == "conv":
            src, frac = vals[op.inputs[0]]
            y = conv_int(src, frac, op)
        else:
            (a, fa), (b, fb) = (vals[i] for i in op.inputs)
            y = _leaky_act(a + b, fa, op)
        vals[op.name] = (y, op.out_frac)
        if op.name == upto:
            return y
    return vals[enc.ops[-1].name][0]


def scores_int(z, enc: IntVqEncoder) -> np.ndarray:
    """Exact scores ||c_k||^2 - 2 z.c_k on 2**-2f: (n, L, D) latent codes -> (n, L, K)."""
    if enc.code_frac != enc.latent_frac:
        raise VqReferenceError("codebook and latent are on different grids")
    cb = enc.codebook.astype(np.int64)
    z = np.asarray(z, np.int64)
    return np.sum(cb * cb, axis=1) - 2 * (z @ cb.T)


def argmin_lowest(scores) -> np.ndarray:
    """Index of the minimum along the last axis; numpy returns the first (lowest) on ties."""
    return np.argmin(np.asarray(scores), axis=-1).astype(np.int64)


def encode_int(codes, enc: IntVqEncoder, batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(latent codes (n, L, D), codeword indices (n, L)) of input codes (n, window, channels)."""
    codes = np.asarray(codes)
    zs, ids = [], []
    for i in range(0, max(1, len(codes)), batch):
        z = encoder_int(codes[i: i + batch], enc)
        zs.append(z)
        ids.append(argmin_lowest(scores_int(z, enc)))
    return np.concatenate(zs), np.concatenate(ids)


def encode_int_rvq(codes, enc: IntVqEncoder, stages: int | None = None,
                   batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Residual search: (latent codes (n, L, D), indices (n, stages, L)). Stage 0 is exactly
    `encode_int`'s search; stage s searches r_s = z - sum_{t<s} c_t[idx_t] (integers on the
    latent grid, one more integer bit per stage) in its own codebook, lowest index on ties."""
    n_st = enc.stages if stages is None else int(stages)
    if not 1 <= n_st <= enc.stages:
        raise VqReferenceError(f"the encoder has {enc.stages} VQ stages, {stages} requested")
    books = [enc.codebook] + ([] if enc.residual_codebooks is None else list(enc.residual_codebooks))
    codes = np.asarray(codes)
    zs, ids = [], []
    for i in range(0, max(1, len(codes)), batch):
        z = encoder_int(codes[i: i + batch], enc)
        r = z.astype(np.int64)
        out = []
        for s in range(n_st):
            cb = np.asarray(books[s], np.int64)
            idx = argmin_lowest(np.sum(cb * cb, axis=1) - 2 * (r @ cb.T))
            out.append(idx)
            r = r - cb[idx]
        zs.append(z)
        ids.append(np.stack(out, axis=1))
    return np.concatenate(zs), np.concatenate(ids)


# ----------------------------------------------------------------------------- HLS project
#
# hls4ml converts the hardware encoder (train.vq_cae.build_hw_encoder): QConv1D / QActivation /
# LeakyReLU / Add, with exact per-layer types computed here (neurocodec.hls.config's helpers:
# accumulators wide enough to be exact, every quantized_bits QActivation folded into its
# producer as fixed<b, i, RND_CONV, SAT>, i.e. QKeras' round-half-even + clip), and the codeword
# search's argmin as a custom hls4ml layer registered through hls4ml's extension API
# (CodewordArgmin -> HCodewordArgmin -> nnet::codeword_argmin in nnet_codeword_argmin.h): a
# sequential scan with a strict '<', so ties keep the lowest index. io_parallel only.

ARGMIN_HEADER = """#ifndef NNET_CODEWORD_ARGMIN_H_
#define NNET_CODEWORD_ARGMIN_H_

#include "nnet_common.h"

namespace nnet {

struct codeword_argmin_config {
    static const unsigned n_vectors = 1;
    static const unsigned n_codes = 2;
};

// index[l] = lowest k with scores[l][k] == min_j scores[l][j]  (row-major (n_vectors, n_codes))
template <class data_T, class res_T, typename CONFIG_T>
void codeword_argmin(data_T scores[CONFIG_T::n_vectors * CONFIG_T::n_codes], res_T index[CONFIG_T::n_vectors]) {
VectorLoop:
    for (unsigned l = 0; l < CONFIG_T::n_vectors; l++) {
        data_T best = scores[l * CONFIG_T::n_codes];
        res_T best_k = 0;
    CodeLoop:
        for (unsigned k = 1; k < CONFIG_T::n_codes; k++) {
            if (scores[l * CONFIG_T::n_codes + k] < best) {
                best = scores[l * CONFIG_T::n_codes + k];
                best_k = k;
            }
        }
        index[l] = best_k;
    }
}

} // namespace nnet

#endif
"""

_REGISTERED: set = set()


def _register_argmin_extension(backend_name: str, work_dir: Path) -> None:
    """Register CodewordArgmin with hls4ml's extension API (once per process and backend)."""
    from neurocodec.train.backend import use_tf_keras_as_keras

    use_tf_keras_as_keras()
    import hls4ml
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.model.layers import Layer
    from hls4ml.model.types import IntegerPrecisionType

    if "layer" not in _REGISTERED:
        class HCodewordArgmin(Layer):
            def initialize(self):
                inp = self.get_input_variable()
                n_vec, n_codes = int(self.get_attr("n_vectors")), int(self.get_attr("n_codes"))
                if inp.size() != n_vec * n_codes:
                    raise VqReferenceError("CodewordArgmin input size mismatch")
                bits = max(1, (n_codes - 1).bit_length())
                self.add_output_variable([n_vec], precision=IntegerPrecisionType(width=bits, signed=False))

        def parse_codeword_argmin(keras_layer, input_names, input_shapes, data_reader):
            shape = input_shapes[0]
            if len(shape) != 3:
                raise VqReferenceError(f"CodewordArgmin expects (batch, L, K) scores, got {shape}")
            layer = {"class_name": "HCodewordArgmin", "name": keras_layer["config"]["name"],
                     "n_vectors": int(shape[1]), "n_codes": int(shape[2])}
            if input_names is not None:
                layer["inputs"] = input_names
            return layer, [shape[0], shape[1]]

        hls4ml.converters.register_keras_v2_layer_handler("CodewordArgmin", parse_codeword_argmin)
        hls4ml.model.layers.register_layer("HCodewordArgmin", HCodewordArgmin)
        _REGISTERED.add("layer")
        globals()["_HCodewordArgmin"] = HCodewordArgmin
    if backend_name not in _REGISTERED:
        cls = globals()["_HCodewordArgmin"]

        class ArgminConfigTemplate(LayerConfigTemplate):
            def __init__(self):
                super().__init__(cls)
                self.template = ("struct config{index} : nnet::codeword_argmin_config {{\n"
                                 "    static const unsigned n_vectors = {n_vectors};\n"
                                 "    static const unsigned n_codes = {n_codes};\n}};\n")

            def format(self, node):
                return self.template.format(**self._default_config_params(node))

        class ArgminFunctionTemplate(FunctionCallTemplate):
            def __init__(self):
                super().__init__(cls, include_header=["nnet_utils/nnet_codeword_argmin.h"])
                self.template = "nnet::codeword_argmin<{input_t}, {output_t}, {config}>({input}, {output});"

            def format(self, node):
                return self.template.format(**self._default_function_params(node))

        backend = hls4ml.backends.get_backend(backend_name)
        backend.register_template(ArgminConfigTemplate)
        backend.register_template(ArgminFunctionTemplate)
        work_dir.mkdir(parents=True, exist_ok=True)
        header = work_dir / "nnet_codeword_argmin.h"
        header.write_text(ARGMIN_HEADER)
        backend.register_source(header)
        _REGISTERED.add(backend_name)


def _inbound_layers(layer) -> list:
    inb = layer._inbound_nodes[0].inbound_layers
    return list(inb) if isinstance(inb, (list, tuple)) else [inb]


def hw_encoder_types(model) -> dict:
    """Exact hls4ml types of every layer of a hardware encoder (build_hw_encoder):
    {name: {"class", "types": {key: FixedType}, "result": FixedType | None}}."""
    import math

    from neurocodec.hls.config import (accumulator_type, constant_type, make_type, product_type, quantizer_type,
                                       union_type)

    out, info, consumers = {}, {}, {}
    for lay in model.layers:
        for src in _inbound_layers(lay) if lay._inbound_nodes and not type(lay).__name__ == "InputLayer" else []:
            consumers.setdefault(src.name, []).append(lay.name)
    for lay in model.layers:
        cls, name = type(lay).__name__, lay.name
        srcs = [] if cls == "InputLayer" else [s.name for s in _inbound_layers(lay)]
        t_in = out.get(srcs[0]) if srcs else None
        types = {}
        if cls == "InputLayer":
            nxt = consumers.get(name, [])
            q = model.get_layer(nxt[0]) if len(nxt) == 1 else None
            if q is None or type(q).__name__ != "QActivation":
                raise VqReferenceError("the encoder input must feed one QActivation input quantizer")
            res = quantizer_type(q.quantizer, q.name)
        elif cls == "QActivation":
            res = quantizer_type(lay.quantizer, name)
        elif cls == "QConv1D":
            w_t = quantizer_type(lay.kernel_quantizer_internal, f"{name} kernel").exact()
            b_t = quantizer_type(lay.bias_quantizer_internal, f"{name} bias").exact()
            kernel = lay.get_weights()[0]
            acc = accumulator_type(t_in, w_t, int(math.prod(kernel.shape[:-1])), b_t)
            types = {"weight": w_t, "bias": b_t, "accum": acc}
            res = acc
        elif cls == "LeakyReLU":
            p_t = constant_type(float(lay.alpha))
            types = {"param": p_t}
            res = union_type(t_in, product_type(t_in, p_t))
        elif cls == "Add":
            ts = [out[s] for s in srcs]
            u = union_type(*ts)
            res = make_type(u.int_bits + 1, u.frac, u.signed)
        elif cls == "CodewordArgmin":
            res = None
        else:
            raise VqReferenceError(f"unsupported layer {name} ({cls}) in the vq_cae hardware encoder")
        out[name] = res
        info[name] = {"class": cls, "types": types, "result": res, "inputs": srcs, "folded_into": None}
    foldable = {"InputLayer", "QConv1D", "LeakyReLU"}
    for name, d in info.items():
        if d["class"] != "QActivation":
            continue
        src = d["inputs"][0]
        if info[src]["class"] in foldable and consumers.get(src) == [name]:
            info[src]["result"] = d["result"]
            d["folded_into"] = src
    return info


def vq_hls_config(model, backend: str = "Vitis", reuse_factor: int = 1) -> dict:
    from neurocodec.train.backend import use_tf_keras_as_keras

    info = hw_encoder_types(model)
    use_tf_keras_as_keras()
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    cfg["Model"]["ReuseFactor"] = reuse_factor
    cfg["Model"]["Strategy"] = "Latency"
    layers = cfg["LayerName"]
    for name, d in info.items():
        lc = layers.setdefault(name, {})
        prec = lc.setdefault("Precision", {})
        for key, t in d["types"].items():
            prec[key] = t.hls()
        if d["result"] is not None:
            prec["result"] = d["result"].hls()
        linear = f"{name}_linear"
        if linear in layers and d["result"] is not None:
            layers[linear].setdefault("Precision", {})["result"] = d["result"].hls()
    return cfg


def convert_vq_encoder(hw_model, out_dir, backend: str = "Vitis", part: str = "xcu250-figd2104-2L-e",
                       clock_period_ns: float = 10, tb_inputs=None, tb_outputs=None):
    """Write the hls4ml project (io_parallel) of a hardware encoder with its argmin layer."""
    import contextlib
    import io
    import shutil

    out_dir = Path(out_dir).resolve()
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / "hls4ml_config.yml").exists():
            raise VqReferenceError(f"{out_dir} is not empty and holds no hls4ml project; not overwriting")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _register_argmin_extension(backend, out_dir.parent / ".vq_hls_ext")
    cfg = vq_hls_config(hw_model, backend)
    import hls4ml

    tb = {}
    for key, data, fname in (("input_data_tb", tb_inputs, "tb_inputs.npy"), ("output_data_tb", tb_outputs, "tb_outputs.npy")):
        if data is not None:
            np.save(out_dir / fname, np.asarray(data, np.float64).reshape(len(data), -1))
            tb[key] = str(out_dir / fname)
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        hls_model = hls4ml.converters.convert_from_keras_model(
            hw_model, hls_config=cfg, output_dir=str(out_dir), project_name="vq_encoder", backend=backend,
            io_type="io_parallel", part=part, clock_period=clock_period_ns, **tb)
        hls_model.write()
    (out_dir / "hls4ml_convert.log").write_text(log.getvalue())
    return hls_model


def hls_csim_check(hw_model, enc: IntVqEncoder, input_codes, out_dir, backend: str = "Vitis") -> dict:
    """Convert + compile the C simulation, run it on input codes (n, window, channels) and
    compare the codeword indices with encode_int exactly. Returns the csim report dict."""
    from neurocodec.hls.csim import compile_csim, csim_compare

    codes = np.asarray(input_codes, np.int64)
    _, idx = encode_int(codes, enc)
    hls_model = convert_vq_encoder(hw_model, out_dir, backend, tb_inputs=codes / 2.0**enc.input_frac,
                                   tb_outputs=idx.astype(np.float64))
    compile_csim(hls_model, Path(out_dir) / "hls4ml_compile.log")
    flat = codes.reshape(len(codes), -1)

    def reference(c, e):
        return encode_int(np.asarray(c).reshape(len(c), e.window, e.channels), e)[1]

    return csim_compare(hls_model, flat, enc, reference=reference,
                        extra={"check": "codeword indices (encoder + nearest-codeword search)"})


def build_vq_hls_for_model_dir(model_dir, out_dir=None, max_vectors: int | None = None,
                               backend: str = "Vitis") -> dict:
    """Trained vq_cae folder -> HLS project (out/hls/<name>) + C simulation compared with the
    integer reference on the folder's test vectors (codeword indices). Returns the report."""
    import json

    from neurocodec import paths
    from neurocodec.train.vq_cae import build_hw_encoder
    from neurocodec.train.vq_training import load_model

    model_dir = Path(model_dir)
    vec_path = model_dir / "test_vectors.npz"
    if not vec_path.is_file():
        raise VqReferenceError(f"{vec_path} is missing (train the model first: neurocodec train vq_cae)")
    models, spec, _ = load_model(model_dir)
    enc = extract_int_vq_encoder(models["encoder"], models["vq"], spec)
    stored = model_dir / "int_encoder.json"
    if stored.is_file() and json.dumps(json.loads(stored.read_text()), sort_keys=True) != json.dumps(
            json.loads(json.dumps(enc.to_dict())), sort_keys=True):
        raise VqReferenceError(f"{stored} does not match the encoder in {model_dir}/weights.h5")
    with np.load(vec_path) as z:
        codes = np.asarray(z["input_codes"])
        stored_idx = np.asarray(z["indices"]) if "indices" in z.files else None
    if max_vectors is not None:
        codes = codes[:max_vectors]
        stored_idx = None if stored_idx is None else stored_idx[:max_vectors]
    out_dir = Path(out_dir) if out_dir is not None else paths.stage_dir("hls", model_dir.name)
    hw = build_hw_encoder(models["encoder"], enc.codebook, spec)
    report = hls_csim_check(hw, enc, codes, out_dir, backend)
    if stored_idx is not None:
        _, idx = encode_int(codes, enc)
        report["stored_index_mismatches"] = int(np.count_nonzero(idx != stored_idx))
    return report


def hls_main(argv=None) -> int:
    """`neurocodec hls --model vq_cae`: HLS project + bit-exact C simulation of encoder + search."""
    import argparse
    import sys

    from neurocodec import paths

    p = argparse.ArgumentParser(prog="neurocodec hls (vq_cae)",
                                description="hls4ml project (io_parallel) of a trained vq_cae encoder + "
                                            "nearest-codeword search, C simulation bit-exact check.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-dir", type=Path)
    src.add_argument("--model", help="model name under out/models (e.g. vq_cae)")
    p.add_argument("--out", type=Path, default=None, help="project folder (default out/hls/<name>)")
    p.add_argument("--max-vectors", type=int, default=None)
    p.add_argument("--backend", default="Vitis", choices=["Vitis", "Vivado"])
    args = p.parse_args(argv)
    model_dir = args.model_dir if args.model_dir is not None else paths.model_dir(args.model)
    try:
        rep = build_vq_hls_for_model_dir(model_dir, args.out, args.max_vectors, args.backend)
    except (ValueError, RuntimeError) as e:
        print(f"neurocodec hls: error: {e}", file=sys.stderr)
        return 2
    print(f"vq_cae hls csim: {rep['mismatches']} index mismatches on {rep['n_vectors']} spikes "
          f"(bit_exact={rep['bit_exact']}); project {rep['project']}")
    return 0 if rep["bit_exact"] and not rep.get("stored_index_mismatches") else 1


__all__ = [
    "IntOp",
    "IntVqEncoder",
    "VqReferenceError",
    "convert_vq_encoder",
    "hls_csim_check",
    "hls_main",
    "build_vq_hls_for_model_dir",
    "hw_encoder_types",
    "vq_hls_config",
    "argmin_lowest",
    "conv_int",
    "encode_int",
    "encode_int_rvq",
    "encoder_int",
    "extract_int_vq_encoder",
    "quantize_input",
    "scores_int",
]
