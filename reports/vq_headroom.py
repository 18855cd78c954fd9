"""Headroom of the spike codecs on one SpikeInterface test set: how much SNDR is there to win?

Two references beside the coded rows of `reports/vq_cae.py` (same detections, same SNDR):

* **noise-free ceiling**: the same recording generated without noise (SpikeInterface's
  generator draws templates and spike trains from the seed, the noise separately), band-passed
  and cut at the same detected times. A codec that knew every unit's template and each spike's
  detection offset would send ~5 bits per spike and score this; above it, bits code noise.
* **universal class + residual** (an estimate, not a bitstream): block-exponent normalized
  window, a K-means codebook of K shapes fitted on the *training* spikes (other units, like
  every codec here), the residual coded by its PCA basis (fitted on training residuals) with a
  dead-zone quantizer; bits = empirical entropy of the index and exponent + the estimated
  coefficient rate (quantize.entropy.coefficient_rate_estimate). Its upper envelope over
  (components, step) is what a fixed VQ-first-stage codec with linear residual coding reaches:
  the class (VQ) gain over PCA that a learned vq_cae can build on.
"""
from __future__ import annotations

import numpy as np

K_CLASSES = 256
RESIDUAL_COMPONENTS = (8, 16, 32, 64, 96)
STEPS = tuple(float(s) for s in 2.0 ** np.arange(-7.0, 0.01, 0.25))


def _entropy(v) -> float:
    """Empirical entropy (bits) of integer symbols of any sign."""
    from neurocodec.quantize.entropy import empirical_entropy

    v = np.asarray(v, np.int64)
    return empirical_entropy(v - v.min()) if v.size else 0.0


def _sndr(x, y) -> float:
    from neurocodec.metrics.reconstruction import sndr_db

    return float(np.mean(sndr_db(x.reshape(len(x), -1), y.reshape(len(y), -1))))


def noise_free_windows(gt_kwargs: dict, spikes) -> np.ndarray:
    """Windows of the noise-free twin of a SpikeInterface recording at the spikes' times."""
    from neurocodec.signals.spikeinterface_gt import si_ground_truth
    from neurocodec.signals.spikes import bandpass, cut_windows

    clean = si_ground_truth(**{**gt_kwargs, "noise_level": 0.0})
    xf = bandpass(clean.data, clean.fs)
    out = np.zeros_like(np.asarray(spikes.waveforms, np.float64))
    for g, chans in enumerate(spikes.groups):
        m = np.asarray(spikes.group) == g
        if m.any():
            out[m] = cut_windows(xf[np.asarray(chans)], np.asarray(spikes.times)[m], spikes.window, spikes.pre)
    return out


class ClassResidual:
    """The universal class + residual estimate (module docstring), fitted on training windows."""

    def __init__(self, train_windows, scale: float, k: int = K_CLASSES, seed: int = 0):
        from sklearn.cluster import MiniBatchKMeans

        self.scale = float(scale)
        xn, _ = self._norm(np.asarray(train_windows, np.float64))
        self.km = MiniBatchKMeans(k, random_state=seed, n_init=3, batch_size=8192, max_iter=100).fit(xn)
        r = xn - self.km.cluster_centers_[self.km.predict(xn)]
        rng = np.random.default_rng(seed)
        sub = r[rng.choice(len(r), min(len(r), 30000), replace=False)]
        self.mean = sub.mean(0)
        self.basis = np.linalg.svd(sub - self.mean, full_matrices=False)[2][: max(RESIDUAL_COMPONENTS)]

    def _norm(self, w):
        from neurocodec.train.vq_training import block_exponents

        e = block_exponents(w, self.scale)
        g = self.scale * 2.0 ** e
        return (w / g[:, None, None]).reshape(len(w), -1), e

    def curve(self, x) -> list[tuple[float, float, dict]]:
        """(payload bits per spike, SNDR dB, parameters) of every (components, step) point."""
        from neurocodec.metrics.baselines import quantize
        from neurocodec.quantize.entropy import coefficient_rate_estimate

        x = np.asarray(x, np.float64)
        n = len(x)
        xn, e = self._norm(x)
        g = (self.scale * 2.0**e)[:, None]
        k = self.km.predict(xn)
        base = self.km.cluster_centers_[k]
        side = _entropy(k) + _entropy(e)
        pts = [(side, _sndr(x, base * g), {"components": 0})]
        coef_all = (xn - base - self.mean) @ self.basis.T
        for m in RESIDUAL_COMPONENTS:
            for step in STEPS:
                q = quantize(coef_all[:, :m], step)
                bits = side + coefficient_rate_estimate(q) / n
                rec = (base + self.mean + (q * step) @ self.basis[:m]) * g
                pts.append((bits, _sndr(x, rec), {"components": m, "step": step}))
        return pts


def envelope_at(points, budget: float):
    """Best (SNDR, bits, params) among points with bits <= budget, or None."""
    ok = [p for p in points if p[0] <= budget]
    return max(ok, key=lambda p: p[1]) if ok else None


def headroom(spikes, gt_kwargs: dict, class_residual: ClassResidual, payload_budgets) -> dict:
    """{"noise_free_sndr_db", "class_residual": [{"payload_bits", "sndr_db", "bits", "params"}]}."""
    x = np.asarray(spikes.waveforms, np.float64)
    clean = noise_free_windows(gt_kwargs, spikes)
    pts = class_residual.curve(x)
    rows = []
    for b in payload_budgets:
        best = envelope_at(pts, float(b))
        rows.append({"payload_bits": float(b), "sndr_db": None if best is None else best[1],
                     "bits": None if best is None else best[0], "params": None if best is None else best[2]})
    return {"noise_free_sndr_db": _sndr(x, clean), "k_classes": K_CLASSES, "class_residual": rows}


__all__ = ["ClassResidual", "envelope_at", "headroom", "noise_free_windows"]
