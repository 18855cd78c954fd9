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
    split: int = 1  # the last op's channels are split into this many D-dim vectors per position

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
        if self.split != 1:
            d["split"] = int(self.split)
        return d

    @staticmethod
    def from_dict(d: dict) -> "IntVqEncoder":
        res = d.get("residual_codebooks")
        return IntVqEncoder(d["input_bits"], d["input_frac"], d["window"], d["channels"],
                            [IntOp.from_dict(o) for o in d["ops"]], np.array(d["codebook"], np.int64),
                            d["code_frac"], None if res is None else np.array(res, np.int64), int(d.get("split", 1)))


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
    split = int(spec.split)
    if codebook.shape[1] * split != ops[-1].weights.shape[2]:
        raise VqReferenceError("codebook dimension x split differs from the latent channels")
    return IntVqEncoder(in_bits, in_frac, int(encoder.input_shape[1]), int(encoder.input_shape[2]), ops,
                        codebook, ops[-1].out_frac, cbs[1:] if len(cbs) > 1 else None, split)


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
    z = vals[enc.ops[-1].name][0]
    return z if enc.split == 1 else z.reshape(len(z), z.shape[1] * enc.split, z.shape[2] // enc.split)


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


def rvq_search_int(z, books, stages: int, beam: int = 1) -> np.ndarray:
    """Residual-VQ search of integer latent vectors z (N, D) in ``books[:stages]``: (N, stages).

    beam = 1: greedy (stage s takes the codeword nearest to r_s = z - sum_{t<s} c_t[idx_t], lowest
    index on ties; the hardware's search). beam = B > 1: M-best search: after every stage the B
    partial paths of lowest squared residual ||r_s - c||^2 are kept (ties: the earlier path, then
    the lower codeword index) and the last stage takes the best; exact integers throughout."""
    z = np.asarray(z, np.int64)
    beam = int(beam)
    if beam < 1:
        raise VqReferenceError(f"beam width must be >= 1, got {beam}")
    if beam == 1:
        r, out = z, []
        for s in range(stages):
            cb = np.asarray(books[s], np.int64)
            idx = argmin_lowest(np.sum(cb * cb, axis=1) - 2 * (r @ cb.T))
            out.append(idx)
            r = r - cb[idx]
        return np.stack(out, axis=1) if out else np.zeros((len(z), 0), np.int64)
    n = len(z)
    res = z[:, None, :]  # (N, b, D): residual of each kept path
    err = np.sum(res * res, axis=-1)  # (N, b)
    paths = np.zeros((n, 1, 0), np.int64)
    for s in range(stages):
        cb = np.asarray(books[s], np.int64)
        k = len(cb)
        d = err[..., None] + np.sum(cb * cb, axis=1)[None, None] - 2 * (res @ cb.T)  # (N, b, K)
        keep = beam if s < stages - 1 else 1
        sel = np.argsort(d.reshape(n, -1), axis=1, kind="stable")[:, :keep]
        bi, ki = sel // k, sel % k
        paths = np.concatenate([np.take_along_axis(paths, bi[..., None], 1), ki[..., None]], axis=-1)
        res = np.take_along_axis(res, bi[..., None], 1) - cb[ki]
        err = np.take_along_axis(d.reshape(n, -1), sel, 1)
    return paths[:, 0, :]


def encode_int_rvq(codes, enc: IntVqEncoder, stages: int | None = None,
                   batch: int = 4096, beam: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Residual search: (latent codes (n, L, D), indices (n, stages, L)). Stage 0 is exactly
    `encode_int`'s search; stage s searches r_s = z - sum_{t<s} c_t[idx_t] (integers on the
    latent grid, one more integer bit per stage) in its own codebook, lowest index on ties.
    ``beam`` > 1 keeps that many partial paths per latent vector (`rvq_search_int`)."""
    n_st = enc.stages if stages is None else int(stages)
    if not 1 <= n_st <= enc.stages:
        raise VqReferenceError(f"the encoder has {enc.stages} VQ stages, {stages} requested")
    books = _books(enc)
    codes = np.asarray(codes)
    if beam > 1:  # the (vectors, beam, K) distance table bounds the batch
        batch = max(16, min(batch, (1 << 21) // (int(beam) * enc.num_codes * max(1, enc.split))))
    zs, ids = [], []
    for i in range(0, max(1, len(codes)), batch):
        z = encoder_int(codes[i: i + batch], enc)
        nz, length, d = z.shape
        idx = rvq_search_int(z.reshape(nz * length, d), books, n_st, beam)
        zs.append(z)
        ids.append(idx.reshape(nz, length, n_st).transpose(0, 2, 1))
    return np.concatenate(zs), np.concatenate(ids)


def _books(enc: IntVqEncoder) -> list:
    return [np.asarray(enc.codebook, np.int64)] + ([] if enc.residual_codebooks is None else
                                                   [np.asarray(b, np.int64) for b in enc.residual_codebooks])


def partial_sums(idx, enc: IntVqEncoder) -> np.ndarray:
    """Indices (n, s, L) -> the integer latent estimate (n, L, D): sum of the s stages' codewords."""
    idx = np.asarray(idx, np.int64)
    books = _books(enc)
    return sum(books[t][idx[:, t]] for t in range(idx.shape[1]))


def _latent_rows(idx, enc: IntVqEncoder) -> np.ndarray:
    """[zhat, 1] rows (n, L*D + 1) of the linear estimate from indices (n, s, L)."""
    z = partial_sums(idx, enc)
    return np.c_[z.reshape(len(z), -1), np.ones(len(z))]


def fit_linear_estimate(codes, enc: IntVqEncoder, ridge: float = 1e-6) -> np.ndarray:
    """Least-squares linear map A ((L*D + 1), window*channels) from the quantized latent of every
    stage count (greedy search, stages 1..enc.stages) to the input codes: x ~ [zhat, 1] @ A. The
    encoder's stand-in for the receiver's decoder when it weighs distortion against rate
    (`linear_sndr`, `choose_stages`); ridge: relative Tikhonov weight."""
    codes = np.asarray(codes)
    _, idx = encode_int_rvq(codes, enc, enc.stages)
    n = len(codes)
    y = codes.reshape(n, -1).astype(np.float64)
    xs = [_latent_rows(idx[:, :s], enc) for s in range(1, enc.stages + 1)]
    gram = sum(x.T @ x for x in xs)
    rhs = sum(x.T @ y for x in xs)
    gram = gram + ridge * np.trace(gram) / len(gram) * np.eye(len(gram))
    return np.linalg.solve(gram, rhs)


def linear_sndr(codes, candidates, enc: IntVqEncoder, estimate) -> np.ndarray:
    """(n, len(candidates)) SNDR (dB) of the linear estimate (`fit_linear_estimate`) of the input
    codes from the latent of each candidate (candidates[s-1] = indices (n, s, L))."""
    codes = np.asarray(codes)
    n = len(codes)
    x = codes.reshape(n, -1).astype(np.float64)
    energy = np.maximum(np.sum(x * x, axis=1), 1.0)
    out = np.empty((n, len(candidates)))
    for s, idx in enumerate(candidates):
        err = x - _latent_rows(idx, enc) @ estimate
        out[:, s] = 10 * np.log10(energy / np.maximum(np.sum(err * err, axis=1), 1e-9))
    return out


def choose_stages(sndr, stage_bits, lam: float) -> np.ndarray:
    """Rate-distortion choice of the stages sent per spike: from an (n, S) SNDR estimate (dB) of
    each spike at 1..S stages, the count s maximizing sndr_s - lam * sum(stage_bits[:s]) (ties:
    the fewer stages). Returns (n,) counts in 1..S."""
    sndr = np.asarray(sndr, np.float64)
    cum = np.cumsum(np.asarray(stage_bits, np.float64)[: sndr.shape[1]])
    return np.argmax(sndr - float(lam) * cum[None], axis=1) + 1


def encoder_cost(enc: IntVqEncoder, stages: int | None = None, beam: int = 1) -> dict:
    """Hardware size of the encoder + search per spike: multiply-accumulates (convolutions and
    the ``stages`` codeword searches, D MACs per codeword and kept path; a beam of B keeps
    min(B, K**s) paths into stage s) and parameter bits (weights, biases, codebooks at their
    register widths)."""
    n_st = enc.stages if stages is None else int(stages)
    length, macs, bits = enc.window, 0, 0
    lengths = {"input": enc.window}
    for op in enc.ops:
        if op.kind != "conv":
            lengths[op.name] = lengths[op.inputs[0]]
            continue
        length = -(-lengths[op.inputs[0]] // op.stride)
        lengths[op.name] = length
        k, cin, cout = op.weights.shape
        macs += length * k * cin * cout
        # weight register: sign + fraction (+ integer bits if any code needs them); bias: acc width
        w_bits = max(int(op.weight_frac) + 1, int(np.max(np.abs(op.weights))).bit_length() + 1)
        bits += op.weights.size * w_bits + op.bias.size * int(op.acc_bits)
    lat_len, d = length * enc.split, enc.ops[-1].weights.shape[2] // enc.split
    code_bits = enc.ops[-1].out_bits
    paths = sum(min(int(beam), enc.num_codes ** s) for s in range(n_st))
    macs_search = paths * lat_len * enc.num_codes * d
    bits_codebooks = n_st * enc.num_codes * d * code_bits
    return {"macs_encoder": int(macs), "macs_search": int(macs_search), "macs_total": int(macs + macs_search),
            "param_bits_encoder": int(bits), "param_bits_codebooks": int(bits_codebooks),
            "param_bits_total": int(bits + bits_codebooks), "latent_length": int(lat_len), "stages": n_st,
            "beam": int(beam)}


# ----------------------------------------------------------------------------- HLS project
# The hardware flow of vq_cae lives in neurocodec.hls.vq_cae (the one shared hls4ml flow plus the
# argmin layer); its names stay importable from here.
_HLS_NAMES = {
    "convert_vq_encoder": "convert_vq_encoder",
    "hls_csim_check": "hls_csim_check",
    "hls_main": "main",
    "build_vq_hls_for_model_dir": "build_vq_hls_for_model_dir",
}


def __getattr__(name):
    if name in _HLS_NAMES:
        from neurocodec.hls import vq_cae

        return getattr(vq_cae, _HLS_NAMES[name])
    if name == "hw_encoder_types":
        from neurocodec.hls import vq_cae  # noqa: F401  (registers the argmin's type rule)
        from neurocodec.hls.config import propagate_types

        return propagate_types
    if name == "vq_hls_config":
        from neurocodec.hls import vq_cae  # noqa: F401
        from neurocodec.hls.config import hls_config_for

        return hls_config_for
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "IntOp",
    "IntVqEncoder",
    "VqReferenceError",
    "argmin_lowest",
    "choose_stages",
    "conv_int",
    "encode_int",
    "encode_int_rvq",
    "encoder_cost",
    "encoder_int",
    "extract_int_vq_encoder",
    "fit_linear_estimate",
    "linear_sndr",
    "partial_sums",
    "quantize_input",
    "scores_int",
]
