"""Baseline spike codecs at a given bit budget: PCA, DWT thresholding, compressive sensing.

All three quantize real coefficients with a dead-zone uniform quantizer (step ``delta``,
zero zone |c| < (0.5 + DEADZONE) * delta, reconstruction q * delta) and entropy-code the integers
with neurocodec.quantize.entropy.encode_coefficients (adaptive arithmetic coding of the bit
length per coefficient index + raw sign/mantissa bits). Rate control: ``delta`` (and the
method's size parameter) is searched on the coded spikes themselves with the fast rate
estimate, then the spikes are really coded and the achieved bits are reported. The chosen
parameters are side information: ``SIDE_INFO_BITS`` per coded stream are added.

* PCA: principal components fitted on training spikes (shared with the decoder, like the
  vq_cae decoder's weights); the first m coefficients are coded, m searched.
* DWT: orthonormal wavelet ('sym4', periodization, 3 levels) per channel; thresholding is
  the dead zone: small coefficients become zero and cost ~nothing.
* CS: per channel y = Phi x with a fixed random Bernoulli (+-1/sqrt(M)) matrix (M searched),
  y quantized and coded; recovery by orthogonal matching pursuit in the same wavelet basis
  (sparsity searched).

Inputs are windows (n, window, channels) in uV.
"""
from __future__ import annotations

from neurocodec.errors import NeurocodecError

from dataclasses import dataclass

import numpy as np

from neurocodec.quantize.entropy import coefficient_rate_estimate, encode_coefficients

DEADZONE = 0.2
SIDE_INFO_BITS = 64  # method size parameter + float32 step, per coded stream
WAVELET = "sym4"
DWT_LEVEL = 3


class BaselineError(NeurocodecError):
    """Bad input to a baseline codec (shape, NaN, impossible bit budget)."""


def _check(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 3 or x.shape[0] < 1:
        raise BaselineError(f"expected spike windows (n, window, channels), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise BaselineError("spike windows contain NaN or Inf")
    return x


def quantize(c, delta: float) -> np.ndarray:
    c = np.asarray(c, np.float64)
    return (np.sign(c) * np.floor(np.abs(c) / delta + 0.5 - DEADZONE)).astype(np.int64)


def _search_delta(coefs: np.ndarray, target_bits: float) -> float:
    """Step whose estimated total rate is closest to (and not above) target_bits."""
    amp = float(np.max(np.abs(coefs))) if coefs.size else 1.0
    lo, hi = amp * 1e-6, amp * 4 + 1e-12
    for _ in range(40):
        mid = np.sqrt(lo * hi)
        if coefficient_rate_estimate(quantize(coefs, mid)) > target_bits:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass
class CodedResult:
    reconstruction: np.ndarray  # (n, window, channels)
    payload_bits: int  # really coded bits incl. SIDE_INFO_BITS
    params: dict


def _code(coefs, target_bits, synth):
    """Search delta for coefs (n, M), code for real, correct once if over budget."""
    budget = float(target_bits) - SIDE_INFO_BITS
    if budget <= 0:
        raise BaselineError(f"bit budget {target_bits} is below the side information ({SIDE_INFO_BITS} bits)")
    aim = budget
    for _ in range(8):
        delta = _search_delta(coefs, aim)
        q = quantize(coefs, delta)
        bits = encode_coefficients(q).n_bits
        if bits <= budget:
            break
        aim *= 0.995 * budget / bits  # estimate too optimistic: shrink the aim by the observed ratio
    else:
        raise BaselineError(f"could not meet the bit budget {target_bits}")
    return synth(q * delta), bits + SIDE_INFO_BITS, delta


def _sndr(x, y):
    x2 = x.reshape(len(x), -1)
    e = (x - y).reshape(len(x), -1)
    with np.errstate(divide="ignore"):
        return float(np.mean(20 * np.log10(np.linalg.norm(x2, axis=1) / np.maximum(np.linalg.norm(e, axis=1), 1e-12))))


class PcaCodec:
    name = "PCA"

    def __init__(self, max_components: int = 48):
        self.max_components = int(max_components)

    def fit(self, x_train) -> "PcaCodec":
        x = _check(x_train)
        self.shape = x.shape[1:]
        flat = x.reshape(len(x), -1)
        self.mean = flat.mean(axis=0)
        _, _, vt = np.linalg.svd(flat - self.mean, full_matrices=False)
        self.components = vt[: self.max_components]
        return self

    def code(self, x, target_bits: float) -> CodedResult:
        x = _check(x)
        if x.shape[1:] != self.shape:
            raise BaselineError(f"PCA fitted on windows {self.shape}, got {x.shape[1:]}")
        flat = x.reshape(len(x), -1)
        coefs_all = (flat - self.mean) @ self.components.T
        best = None
        for m in sorted({c for c in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128) if c <= len(self.components)}):
            coefs = coefs_all[:, :m]
            budget = float(target_bits) - SIDE_INFO_BITS
            if budget <= 0:
                raise BaselineError(f"bit budget {target_bits} too small")
            delta = _search_delta(coefs, budget)
            rec = (quantize(coefs, delta) * delta) @ self.components[:m] + self.mean
            s = _sndr(x, rec.reshape(x.shape))
            if best is None or s > best[0]:
                best = (s, m)
        m = best[1]
        comps = self.components[:m]
        rec, bits, delta = _code(coefs_all[:, :m], target_bits,
                                 lambda c: (c @ comps + self.mean).reshape(x.shape))
        return CodedResult(rec, bits, {"components": m, "delta": delta})


def _dwt_matrix(n: int) -> np.ndarray:
    """Orthonormal synthesis matrix Psi (n x n): x = Psi @ coefficients."""
    import pywt

    eye = np.eye(n)
    cols = []
    for i in range(n):
        coeffs = pywt.wavedec(eye[i], WAVELET, mode="periodization", level=DWT_LEVEL)
        cols.append(np.concatenate(coeffs))
    analysis = np.array(cols).T  # coefficients = analysis @ x
    return analysis.T  # orthonormal: synthesis = analysis^T


class DwtCodec:
    name = "DWT"

    def fit(self, x_train=None) -> "DwtCodec":
        return self

    def code(self, x, target_bits: float) -> CodedResult:
        x = _check(x)
        n, w, c = x.shape
        if w % 2**DWT_LEVEL:
            raise BaselineError(f"window {w} not divisible by 2**{DWT_LEVEL}")
        psi = _dwt_matrix(w)
        coefs = np.einsum("wk,nwc->nck", psi, x).reshape(n, c * w)  # analysis = psi^T
        rec, bits, delta = _code(coefs, target_bits,
                                 lambda q: np.einsum("wk,nck->nwc", psi, q.reshape(n, c, w)))
        return CodedResult(rec, bits, {"wavelet": WAVELET, "level": DWT_LEVEL, "delta": delta})


class CsCodec:
    name = "CS"

    def __init__(self, seed: int = 1234):
        self.seed = int(seed)

    def fit(self, x_train=None) -> "CsCodec":
        return self

    def _phi(self, m, w):
        rng = np.random.default_rng(self.seed + 7919 * m + w)
        return rng.choice([-1.0, 1.0], size=(m, w)) / np.sqrt(m)

    def _recover(self, y, phi, psi, sparsity):
        """Orthogonal matching pursuit of every row of y (N, m) in the wavelet dictionary, all
        rows at once (greedy atom choice, then the least-squares fit on the support through the
        Gram matrix, batched over rows); returns the signals (N, w)."""
        a = phi @ psi  # (m, w) dictionary in the wavelet domain
        norms = np.linalg.norm(a, axis=0)
        an = a / norms
        gram = an.T @ an
        y = np.asarray(y, np.float64)
        n_sig, w = y.shape[0], an.shape[1]
        k_max = int(min(sparsity, an.shape[0], w))
        corr0 = y @ an  # (N, w)
        rows = np.arange(n_sig)[:, None]
        support = np.zeros((n_sig, 0), np.int64)
        coef = np.zeros((n_sig, 0))
        r = y.copy()
        for k in range(k_max):
            c = np.abs(r @ an)
            c[rows, support] = -1.0  # an atom is chosen once
            support = np.concatenate([support, c.argmax(axis=1)[:, None]], axis=1)
            g = gram[support[:, :, None], support[:, None, :]] + 1e-9 * np.eye(k + 1)
            coef = np.linalg.solve(g, corr0[rows, support][:, :, None])[:, :, 0]
            r = y - np.einsum("nk,nkm->nm", coef, an.T[support])
        s = np.zeros((n_sig, w))
        if k_max:
            s[rows, support] = coef
        return (psi @ (s / norms).T).T

    def code(self, x, target_bits: float, tune_spikes: int = 400) -> CodedResult:
        x = _check(x)
        n, w, c = x.shape
        psi = _dwt_matrix(w)
        rng = np.random.default_rng(self.seed)
        sub = rng.choice(n, min(n, tune_spikes), replace=False)
        per_spike = (float(target_bits) - SIDE_INFO_BITS) / n
        best = None
        for m in (2, 3, 4, 6, 8, 12, 16, 24, 32, 48):
            if m > w:
                continue
            phi = self._phi(m, w)
            y = np.einsum("mw,nwc->ncm", phi, x)  # (n, c, m)
            ysub = y[sub].reshape(len(sub), c * m)
            delta = _search_delta(ysub, per_spike * len(sub))
            yq = (quantize(ysub, delta) * delta).reshape(len(sub) * c, m)
            for sp in sorted({max(1, m // 4), max(1, m // 2), max(1, (3 * m) // 4)}):
                rec = self._recover(yq, phi, psi, sp).reshape(len(sub), c, w).transpose(0, 2, 1)
                s = _sndr(x[sub], rec)
                if best is None or s > best[0]:
                    best = (s, m, sp)
        _, m, sp = best
        phi = self._phi(m, w)
        y = np.einsum("mw,nwc->ncm", phi, x).reshape(n, c * m)
        rec, bits, delta = _code(y, target_bits, lambda q: self._recover(
            q.reshape(n * c, m).astype(np.float64), phi, psi, sp).reshape(n, c, w).transpose(0, 2, 1))
        return CodedResult(rec, bits, {"measurements": m, "sparsity": sp, "delta": delta})


BASELINES = {"PCA": PcaCodec, "DWT": DwtCodec, "CS": CsCodec}

__all__ = ["BASELINES", "BaselineError", "CodedResult", "CsCodec", "DwtCodec", "PcaCodec", "SIDE_INFO_BITS",
           "quantize"]
