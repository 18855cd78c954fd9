"""Exact fixed-point types for converting a QKeras model with hls4ml, bit-exact with QKeras.

hls4ml 1.3 left alone does not reproduce a QKeras encoder bit for bit (measured on `cae`):

* ``quantized_bits(8, 0, keep_negative=False)`` becomes signed ``fixed<8,1>`` (one fractional bit
  lost); the correct type is ``ufixed<8,0>``.
* A ``QActivation(quantized_bits)`` after a layer whose result type is ``auto`` is deleted by the
  ``MergeLinearActivation`` pass (it only looks for a QONNX ``quantizer`` attribute), so the
  accumulator and activation quantizers silently vanish.
* A ``LeakyReLU`` result type ``auto`` falls back to the model default ``fixed<16,6>`` (truncating).

So every type is computed here by propagating exact fixed-point formats through the Keras graph
(no ``auto`` left), and a ``quantized_bits`` QActivation is folded into the layer producing its
input when that layer computes its value exactly and then casts it once to its result type
(conv/dense accumulator -> result, leaky ReLU ``alpha * x`` -> result, the input port): the
producer's result type becomes the quantizer's ``fixed<b, i, RND_CONV, SAT>`` (QKeras rounds half
to even and clips, which is ``AP_RND_CONV`` + ``AP_SAT``), and hls4ml then removes the
QActivation as an identity. One rounding per quantizer, exactly where QKeras rounds.
"""
from __future__ import annotations

from neurocodec.errors import NeurocodecError

import math
from dataclasses import dataclass, replace
from fractions import Fraction


class UnsupportedModelError(NeurocodecError):
    """The model has a layer or quantizer that the bit-exact hls4ml conversion cannot handle."""


@dataclass(frozen=True)
class FixedType:
    """ap_fixed / ap_ufixed format. `integer` counts the sign bit (hls4ml / ap_fixed convention)."""

    width: int
    integer: int
    signed: bool = True
    rounding: str | None = None  # e.g. "RND_CONV"; None = AP_TRN
    saturation: str | None = None  # e.g. "SAT"; None = AP_WRAP

    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def int_bits(self) -> int:
        """Integer bits without the sign."""
        return self.integer - int(self.signed)

    def exact(self) -> "FixedType":
        """Same format without rounding / saturation modes (for values that never need them)."""
        return replace(self, rounding=None, saturation=None)

    def hls(self) -> str:
        """hls4ml precision string, e.g. 'fixed<16,6,RND_CONV,SAT>'."""
        base = "fixed" if self.signed else "ufixed"
        args = [str(self.width), str(self.integer)]
        if self.rounding or self.saturation:
            args += [self.rounding or "TRN", self.saturation or "WRAP"]
        return f"{base}<{','.join(args)}>"

    def ap(self) -> str:
        """C++ spelling, e.g. 'ap_fixed<16,6,AP_RND_CONV,AP_SAT>'."""
        base = "ap_fixed" if self.signed else "ap_ufixed"
        args = [str(self.width), str(self.integer)]
        if self.rounding or self.saturation:
            args += ["AP_" + (self.rounding or "TRN"), "AP_" + (self.saturation or "WRAP")]
        return f"{base}<{','.join(args)}>"

    def __str__(self) -> str:
        return self.ap()


def make_type(int_bits: int, frac: int, signed: bool) -> FixedType:
    """Format with `int_bits` integer bits (sign excluded) and `frac` fractional bits."""
    width = int(signed) + int_bits + frac
    if width < 1:
        int_bits, width = int_bits + 1 - width, 1
    return FixedType(width, int_bits + int(signed), signed)


def union_type(*types: FixedType) -> FixedType:
    """Smallest format holding every value of each of `types` exactly."""
    signed = any(t.signed for t in types)
    return make_type(max(t.int_bits for t in types), max(t.frac for t in types), signed)


def product_type(a: FixedType, b: FixedType) -> FixedType:
    """Exact format of a * b (the full-precision ap_fixed product)."""
    signed = a.signed or b.signed
    # |a*b| < 2**(ia + ib); a signed*signed product reaches +2**(ia+ib) only for (-min)*(-min).
    int_bits = a.int_bits + b.int_bits + int(a.signed and b.signed)
    return make_type(int_bits, a.frac + b.frac, signed)


def accumulator_type(inp: FixedType, weight: FixedType, n_ops: int, bias: FixedType | None) -> FixedType:
    """Worst-case exact accumulator of sum_{n_ops} w*x (+ bias), as hls4ml's own inference."""
    prod = product_type(inp, weight)
    grow = math.ceil(math.log2(n_ops)) if n_ops > 1 else 0
    acc = make_type(prod.int_bits + grow, prod.frac, prod.signed)
    if bias is not None:
        acc = union_type(acc, bias)
        acc = make_type(acc.int_bits + 1, acc.frac, acc.signed)
    return acc


def constant_type(value: float, max_frac: int = 32) -> FixedType:
    """Smallest format holding the constant exactly (raises if it is not dyadic)."""
    v = Fraction(value)
    if v.denominator & (v.denominator - 1):
        raise UnsupportedModelError(f"constant {value!r} is not a dyadic rational; no exact fixed-point type")
    frac = v.denominator.bit_length() - 1
    if frac > max_frac:
        raise UnsupportedModelError(f"constant {value!r} needs {frac} fractional bits (> {max_frac})")
    int_bits = int(abs(v)).bit_length()
    return make_type(int_bits, frac, v < 0)


def _quantizer_config(quantizer, what: str) -> tuple[str, dict]:
    if isinstance(quantizer, dict):
        return quantizer.get("class_name"), quantizer.get("config", {})
    if isinstance(quantizer, str) or not hasattr(quantizer, "get_config"):
        raise UnsupportedModelError(f"{what}: quantizer {quantizer!r} has no config; use quantized_bits(...) objects")
    return type(quantizer).__name__, quantizer.get_config()


def quantizer_type(quantizer, what: str) -> FixedType:
    """Format of a QKeras quantizer, all of which round half to even (AP_RND_CONV) and clip (AP_SAT):

    quantized_bits(b, i, keep_negative=True, alpha=1) -> fixed<b, i+1>, keep_negative=False -> ufixed<b, i>;
    quantized_relu(b, i) -> ufixed<b, i> of relu(x) (an hls4ml 'relu' whose result is that type)."""
    name, cfg = _quantizer_config(quantizer, what)
    if name == "quantized_relu":
        if cfg.get("negative_slope", 0) or cfg.get("use_sigmoid", 0) or cfg.get("relu_upper_bound") is not None:
            raise UnsupportedModelError(f"{what}: quantized_relu with negative_slope/use_sigmoid/relu_upper_bound is not supported")
        if cfg.get("use_stochastic_rounding", False):
            raise UnsupportedModelError(f"{what}: stochastic rounding is not supported")
        return FixedType(int(cfg["bits"]), int(cfg["integer"]), False, "RND_CONV", "SAT")
    if name != "quantized_bits":
        raise UnsupportedModelError(
            f"{what}: unsupported quantizer {name} (bit-exact conversion handles quantized_bits and quantized_relu)"
        )
    alpha = cfg.get("alpha", None)
    if alpha not in (1, 1.0):
        raise UnsupportedModelError(f"{what}: quantized_bits alpha={alpha!r}; bit-exact conversion needs alpha=1")
    if cfg.get("symmetric", 0):
        raise UnsupportedModelError(f"{what}: symmetric quantized_bits is not supported")
    if cfg.get("use_stochastic_rounding", False):
        raise UnsupportedModelError(f"{what}: stochastic rounding is not supported")
    bits, integer = int(cfg["bits"]), int(cfg["integer"])
    signed = bool(cfg.get("keep_negative", True))
    return FixedType(bits, integer + int(signed), signed, "RND_CONV", "SAT")


def is_linear_quantizer(quantizer) -> bool:
    """quantized_bits: a pure cast (can be folded into the producer's result type)."""
    return _quantizer_config(quantizer, "")[0] == "quantized_bits"


# ----------------------------------------------------------------------------- per-layer rules
#
# One rule per Keras layer class, dispatched on the class name the way hls4ml's own bit-exact
# pass (hls4ml/model/optimizer/passes/bit_exact.py) dispatches `_produce_kif` per hls layer class
# with functools.singledispatch. A rule gets a `LayerCtx` and returns (result type, extra types);
# a result of None marks an "opaque" layer (e.g. a family's custom hls4ml layer) that fixes its own
# output type. A family with a custom layer registers its rule with `@type_rule("ClassName")`.


@dataclass
class LayerCtx:
    layer: object  # the Keras layer
    cls: str
    name: str
    config: dict  # its get_config() entry
    t_ins: list  # FixedType of each input (None for an opaque producer)
    consumers: list  # Keras layers reading its output

    @property
    def t_in(self) -> FixedType:
        if len(self.t_ins) != 1:
            raise UnsupportedModelError(f"unsupported layer {self.name} ({self.cls}): layers with several inputs")
        if self.t_ins[0] is None:
            raise UnsupportedModelError(f"layer {self.name} ({self.cls}): input type unknown")
        return self.t_ins[0]


TYPE_RULES: dict = {}
FOLDABLE: set = set()  # classes that compute exactly and cast once to their result type
PASS_THROUGH: set = set()  # classes whose result is their input type (hls4ml may remove them)


def type_rule(*class_names, foldable: bool = False, passthrough: bool = False):
    """Register `rule(ctx) -> (result FixedType | None, {type key: FixedType})` for Keras classes."""
    def register(rule):
        for c in class_names:
            TYPE_RULES[c] = rule
            if foldable:
                FOLDABLE.add(c)
            if passthrough:
                PASS_THROUGH.add(c)
        return rule
    return register


@type_rule("InputLayer", foldable=True)
def _input_rule(ctx: LayerCtx):
    q = ctx.consumers[0] if len(ctx.consumers) == 1 else None
    if q is None or type(q).__name__ != "QActivation":
        raise UnsupportedModelError(
            f"input {ctx.name} must feed a single QActivation(quantized_bits) input quantizer to fix its type")
    return quantizer_type(q.quantizer, f"{q.name} (input quantizer)"), {}


@type_rule("QActivation")
def _qactivation_rule(ctx: LayerCtx):
    return quantizer_type(ctx.layer.quantizer, ctx.name), {}


@type_rule("QConv1D", "QConv2D", "QDense", foldable=True)
def _conv_rule(ctx: LayerCtx):
    act = ctx.config.get("activation", "linear")
    if act not in ("linear", None):
        raise UnsupportedModelError(
            f"unsupported layer {ctx.name} ({ctx.cls}) with built-in activation {act!r}: use a separate QActivation")
    layer = ctx.layer
    t_in = ctx.t_in
    w_t = quantizer_type(layer.kernel_quantizer_internal, f"{ctx.name} kernel").exact()
    b_t = quantizer_type(layer.bias_quantizer_internal, f"{ctx.name} bias").exact() if layer.use_bias else None
    kernel = layer.get_weights()[0]
    n_ops = int(math.prod(kernel.shape[:-1]))  # taps * input channels (or inputs for Dense)
    acc = accumulator_type(t_in, w_t, n_ops, b_t)
    return acc, {"weight": w_t, "bias": b_t if b_t is not None else w_t, "accum": acc}


@type_rule("LeakyReLU", foldable=True)
def _leaky_rule(ctx: LayerCtx):
    alpha = float(ctx.config.get("alpha", ctx.config.get("negative_slope", 0.3)))
    p_t = constant_type(alpha)
    return union_type(ctx.t_in, product_type(ctx.t_in, p_t)), {"param": p_t}


@type_rule("ReLU", foldable=True)
def _relu_rule(ctx: LayerCtx):
    extra = {k: ctx.config.get(k) for k in ("max_value", "negative_slope", "threshold")}
    if extra["max_value"] is not None or (extra["negative_slope"] or 0) != 0 or (extra["threshold"] or 0) != 0:
        raise UnsupportedModelError(f"unsupported layer {ctx.name} (ReLU with max_value/slope/threshold)")
    return ctx.t_in, {}


@type_rule("Activation")
def _activation_rule(ctx: LayerCtx):
    act = ctx.config.get("activation")
    if act not in ("linear", "relu"):
        raise _unsupported(ctx.name, f"Activation({act})")
    return ctx.t_in, {}


@type_rule("Add")
def _add_rule(ctx: LayerCtx):
    if len(ctx.t_ins) < 2 or any(t is None for t in ctx.t_ins):
        raise UnsupportedModelError(f"layer {ctx.name} (Add): needs two or more typed inputs")
    u = union_type(*ctx.t_ins)
    return make_type(u.int_bits + len(ctx.t_ins) - 1, u.frac, u.signed), {}


@type_rule("Flatten", "Reshape", "MaxPooling1D", "MaxPooling2D", "Dropout", "ZeroPadding1D", "ZeroPadding2D",
           passthrough=True)
def _pass_rule(ctx: LayerCtx):
    return ctx.t_in, {}


def _unsupported(name: str, what: str) -> UnsupportedModelError:
    listed = sorted(c for c in TYPE_RULES if c not in ("InputLayer", "Activation"))
    return UnsupportedModelError(
        f"unsupported layer {name} ({what}): no bit-exact hls4ml conversion "
        f"(supported: {', '.join(listed)}, Activation(linear/relu))")


def _inbound_names(layer_cfg: dict, previous: str | None) -> list[str]:
    nodes = layer_cfg.get("inbound_nodes")
    if nodes is None:  # Sequential model: a chain
        return [] if previous is None else [previous]
    names = []
    for node in nodes:
        items = node.get("args", node) if isinstance(node, dict) else node
        for item in items:
            names.append(item[0] if isinstance(item, (list, tuple)) else item["config"]["keras_history"][0])
    return names


def propagate_types(model) -> dict[str, dict]:
    """Exact hls4ml precisions for every Keras layer of a QKeras model, one rule per layer class.

    Returns {layer_name: {"class", "types": {hls4ml type key: FixedType}, "result": FixedType | None,
    "inputs": [names], "folded_into": name | None}}. Raises UnsupportedModelError naming the first
    layer that cannot be converted bit-exactly."""
    cfg = model.get_config()
    layer_cfgs = cfg["layers"]
    by_name = {layer.name: layer for layer in model.layers}
    if "inbound_nodes" not in layer_cfgs[0] and layer_cfgs[0]["class_name"] != "InputLayer":
        raise UnsupportedModelError("Sequential models need an explicit InputLayer; use a functional model")
    inbound: dict[str, list[str]] = {}
    previous = None
    for lc in layer_cfgs:
        name = lc["config"]["name"]
        inbound[name] = _inbound_names(lc, previous)
        previous = name
    consumers: dict[str, list[str]] = {n: [] for n in inbound}
    for name, srcs in inbound.items():
        for s in srcs:
            consumers[s].append(name)

    info: dict[str, dict] = {}
    for lc in layer_cfgs:
        cls, name = lc["class_name"], lc["config"]["name"]
        rule = TYPE_RULES.get(cls)
        if rule is None:
            raise _unsupported(name, cls)
        ctx = LayerCtx(by_name[name], cls, name, lc["config"], [info[s]["result"] for s in inbound[name]],
                       [by_name[c] for c in consumers[name]])
        res, types = rule(ctx)
        info[name] = {"class": cls, "types": types, "result": res, "inputs": inbound[name], "folded_into": None}

    # Fold a quantized_bits QActivation into its producer when the producer computes exactly and
    # casts once: producer result := quantizer type; the QActivation becomes an identity.
    for name, d in info.items():
        if d["class"] != "QActivation":
            continue
        src = inbound[name][0]
        if is_linear_quantizer(by_name[name].quantizer) and info[src]["class"] in FOLDABLE and consumers[src] == [name]:
            info[src]["result"] = d["result"]
            d["folded_into"] = src
    return info


def hls_config_for(model, io_type: str = "io_stream", backend: str = "Vitis", reuse_factor: int = 1,
                   strategy: str = "Latency") -> dict:
    """hls4ml config dict (granularity 'name') with exact per-layer types, bit-exact with QKeras.

    `io_type` is accepted for symmetry with convert_encoder (the types do not depend on it)."""
    if io_type not in ("io_stream", "io_parallel"):
        raise ValueError(f"io_type must be 'io_stream' or 'io_parallel', got {io_type!r}")
    info = propagate_types(model)  # raises on unsupported layers before hls4ml sees the model
    from neurocodec.train.backend import use_tf_keras_as_keras

    use_tf_keras_as_keras()
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    cfg["Model"]["ReuseFactor"] = reuse_factor
    cfg["Model"]["Strategy"] = strategy
    layers = cfg["LayerName"]
    for name, d in info.items():
        lc = layers.setdefault(name, {})
        prec = lc.setdefault("Precision", {})
        for key, t in d["types"].items():
            prec[key] = t.hls()
        if d["result"] is None:  # opaque layer (a family's custom hls4ml layer): its own types
            continue
        prec["result"] = d["result"].hls()
        if d["class"] in PASS_THROUGH:  # e.g. MaxPooling 'accum': the max of exact values is exact
            for key, v in list(prec.items()):
                if str(v).lower() == "auto":
                    prec[key] = d["result"].hls()
        if "ReuseFactor" in lc:
            lc["ReuseFactor"] = reuse_factor
        # hls4ml splits a conv's activation='linear' into '<name>_linear': give it the same type
        # so it is removed as an identity instead of casting to the model default.
        linear = f"{name}_linear"
        if linear in layers:
            layers[linear].setdefault("Precision", {})["result"] = d["result"].hls()
    opaque = {n for n, d in info.items() if d["result"] is None}
    leftovers = [
        f"{n}.{k}" for n, lc in layers.items() if n not in opaque for k, v in lc.get("Precision", {}).items()
        if k != "table" and str(v).lower() == "auto"
    ]
    if leftovers:
        raise UnsupportedModelError(f"no exact type for {', '.join(leftovers)}")
    return cfg


def expected_types(model) -> dict[str, dict[str, str]]:
    """{layer: {type key: 'ap_fixed<...>'}} that hls_config_for requests (for checks and reports)."""
    res = {}
    for name, d in propagate_types(model).items():
        res[name] = {k: v.ap() for k, v in d["types"].items()}
        if d["result"] is not None:
            res[name]["result"] = d["result"].ap()
        if d["folded_into"]:
            res[name]["folded_into"] = d["folded_into"]
    return res
