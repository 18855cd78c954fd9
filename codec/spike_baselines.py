"""The PCA / DWT / compressive-sensing spike baselines as `Codec` classes (container bitstreams).

Each codec encodes spike windows (n, window, channels) (uV) into one container bitstream: the
header carries the shape, the quantizer step (float32) and the method's size parameter, the
payload the entropy-coded quantized coefficients (quantize.entropy.encode_coefficients), so
``8 * len(encode(x))`` is every bit a receiver needs besides the fixed basis (the PCA basis is
fitted on training spikes and held by both ends, like vq_cae's decoder weights; its hash is
in the header). The transforms are those of neurocodec.metrics.baselines.

``for_budget(x, target_bits, ...)`` picks the parameters (delta and the size parameter) whose
bitstream for ``x`` is at most ``target_bits`` with the best SNDR (the search of
metrics.baselines), so the report codes every method at the same bits.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from neurocodec.codec import container
from neurocodec.codec.abc import Codec, _fill
from neurocodec.codec.registry import register_codec
from neurocodec.errors import BitstreamError, NeurocodecError


def _check_windows(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or x.shape[0] < 1:
        raise NeurocodecError(f"spike codecs encode windows (n, window, channels), got shape {np.shape(x)}")
    if not np.all(np.isfinite(x)):
        raise NeurocodecError("spike windows contain NaN or Inf")
    return x


class _SpikeBaseline(Codec):
    """Shared container layout: side = <IIII n, window, channels, size parameter; scaling = [delta]."""

    size_name = "size"

    def __init__(self, delta: float):
        self.delta = float(np.float32(delta))
        if not self.delta > 0:
            raise NeurocodecError(f"quantizer step must be > 0, got {delta}")

    # subclasses: _analysis(x) -> (n, M) coefficients; _synthesis(c, n, w, ch) -> (n, w, ch); _size()
    def _model_hash(self) -> bytes:
        return container.NO_MODEL

    def encode(self, buf: np.ndarray) -> bytes:
        from neurocodec.metrics.baselines import quantize
        from neurocodec.quantize.entropy import encode_coefficients

        x = _check_windows(buf)
        n, w, c = x.shape
        q = quantize(self._analysis(x), self.delta)
        st = encode_coefficients(q)
        side = struct.pack("<IIIIIB", n, w, c, int(self._size()), q.shape[1], np.ndim(buf))
        return container.Bitstream(self.codec_id, struct.pack("<I", st.n_bits) + st.data, n_channels=c,
                                   n_samples=n * w, scaling=np.array([self.delta], np.float32), side=side,
                                   model_hash=self._model_hash()).pack()

    def decode(self, buf: bytes, out: np.ndarray | None = None) -> np.ndarray:
        from neurocodec.quantize.entropy import EncodedStream, decode_coefficients

        bs = container.unpack(buf, codec_id=self.codec_id, model_hash=self._model_hash())
        if len(bs.side) != 21 or bs.scaling.size != 1 or len(bs.payload) < 4:
            raise BitstreamError("side information / scaling / payload do not have this codec's layout")
        n, w, c, size, m, ndim = struct.unpack("<IIIIIB", bs.side)
        if ndim not in (2, 3) or (ndim == 2 and c != 1) or m > 1 << 20 or n > 1 << 28:
            raise BitstreamError("implausible shape in the side information")
        if size != self._size() or float(bs.scaling[0]) != self.delta or bs.n_channels != c or bs.n_samples != n * w:
            raise BitstreamError("bitstream parameters differ from this codec's configuration")
        (n_bits,) = struct.unpack("<I", bs.payload[:4])
        try:
            q = decode_coefficients(EncodedStream(bs.payload[4:], n_bits, n * m), n, m)
            rec = self._synthesis(q * self.delta, n, w, c)
        except BitstreamError:
            raise
        except Exception as exc:  # noqa: BLE001 - a corrupt payload must surface as BitstreamError
            raise BitstreamError(f"corrupt coefficient payload: {exc}") from None
        return _fill(out, rec[:, :, 0] if ndim == 2 else rec)


@register_codec
class PcaSpikeCodec(_SpikeBaseline):
    """First ``components`` principal components (basis file from `fit_pca_basis`), quantized."""

    codec_id = "pca_spikes"

    def __init__(self, basis: str, components: int, delta: float):
        super().__init__(delta)
        self.basis = str(basis)
        with np.load(self.basis) as z:
            self._mean, comps = np.asarray(z["mean"], np.float64), np.asarray(z["components"], np.float64)
        if not 1 <= int(components) <= len(comps):
            raise NeurocodecError(f"{components} components requested, the basis has {len(comps)}")
        self.components = int(components)
        self._comps = comps[: self.components]
        self._hash = container.model_hash(self._mean, comps)

    def _config(self):
        return {"basis": self.basis, "components": self.components, "delta": self.delta}

    def _size(self):
        return self.components

    def _model_hash(self):
        return self._hash

    def _analysis(self, x):
        if x.shape[1] * x.shape[2] != self._mean.size:
            raise NeurocodecError(f"the PCA basis is for windows of {self._mean.size} values, got {x.shape[1:]}")
        return (x.reshape(len(x), -1) - self._mean) @ self._comps.T

    def _synthesis(self, c, n, w, ch):
        if w * ch != self._mean.size:
            raise BitstreamError("window shape in the bitstream does not fit the PCA basis")
        return (c @ self._comps + self._mean).reshape(n, w, ch)

    @classmethod
    def for_budget(cls, x, target_bits: float, basis: str) -> "PcaSpikeCodec":
        from neurocodec.metrics.baselines import PcaCodec

        with np.load(basis) as z:
            pc = PcaCodec(len(z["components"]))
            pc.mean, pc.components, pc.shape = z["mean"], z["components"], np.shape(x)[1:]
        res = pc.code(_check_windows(x), target_bits)
        return cls(basis, res.params["components"], res.params["delta"])


def fit_pca_basis(x_train, path, max_components: int = 48) -> Path:
    """Fit the PCA basis on training windows and write it (mean, components) to ``path`` (.npz)."""
    from neurocodec.files import savez_atomic
    from neurocodec.metrics.baselines import PcaCodec

    pc = PcaCodec(max_components).fit(_check_windows(x_train))
    return savez_atomic(path, mean=pc.mean, components=pc.components)


@register_codec
class DwtSpikeCodec(_SpikeBaseline):
    """Orthonormal DWT (sym4, periodization, 3 levels) per channel, dead-zone quantized."""

    codec_id = "dwt_spikes"

    def __init__(self, delta: float):
        super().__init__(delta)

    def _config(self):
        return {"delta": self.delta}

    def _size(self):
        return 0

    def _analysis(self, x):
        from neurocodec.metrics.baselines import DWT_LEVEL, _dwt_matrix

        n, w, c = x.shape
        if w % 2**DWT_LEVEL:
            raise NeurocodecError(f"window {w} not divisible by 2**{DWT_LEVEL}")
        return np.einsum("wk,nwc->nck", _dwt_matrix(w), x).reshape(n, c * w)

    def _synthesis(self, q, n, w, c):
        from neurocodec.metrics.baselines import DWT_LEVEL, _dwt_matrix

        if w % 2**DWT_LEVEL or q.shape[1] != w * c:
            raise BitstreamError("window shape in the bitstream does not fit the wavelet transform")
        return np.einsum("wk,nck->nwc", _dwt_matrix(w), q.reshape(n, c, w))

    @classmethod
    def for_budget(cls, x, target_bits: float) -> "DwtSpikeCodec":
        from neurocodec.metrics.baselines import DwtCodec

        return cls(DwtCodec().code(_check_windows(x), target_bits).params["delta"])


@register_codec
class CsSpikeCodec(_SpikeBaseline):
    """Compressive sensing: random +-1 matrix (M rows, seeded) per channel, OMP recovery in the
    wavelet basis with ``sparsity`` atoms."""

    codec_id = "cs_spikes"

    def __init__(self, measurements: int, sparsity: int, delta: float, seed: int = 1234):
        super().__init__(delta)
        from neurocodec.metrics.baselines import CsCodec

        self.measurements, self.sparsity, self.seed = int(measurements), int(sparsity), int(seed)
        if self.measurements < 1 or self.sparsity < 1:
            raise NeurocodecError("measurements and sparsity must be >= 1")
        self._cs = CsCodec(self.seed)

    def _config(self):
        return {"measurements": self.measurements, "sparsity": self.sparsity, "delta": self.delta, "seed": self.seed}

    def _size(self):
        return self.measurements

    def _analysis(self, x):
        n, w, c = x.shape
        if self.measurements > w:
            raise NeurocodecError(f"{self.measurements} measurements for windows of {w} samples")
        phi = self._cs._phi(self.measurements, w)
        return np.einsum("mw,nwc->ncm", phi, x).reshape(n, c * self.measurements)

    def _synthesis(self, q, n, w, c):
        from neurocodec.metrics.baselines import _dwt_matrix

        m = self.measurements
        if q.shape[1] != c * m or m > w:
            raise BitstreamError("measurement count in the bitstream does not fit the window")
        phi, psi = self._cs._phi(m, w), _dwt_matrix(w)
        return self._cs._recover(q.reshape(n * c, m), phi, psi, self.sparsity).reshape(n, c, w).transpose(0, 2, 1)

    @classmethod
    def for_budget(cls, x, target_bits: float, seed: int = 1234) -> "CsSpikeCodec":
        from neurocodec.metrics.baselines import CsCodec

        p = CsCodec(seed).code(_check_windows(x), target_bits).params
        return cls(p["measurements"], p["sparsity"], p["delta"], seed)


SPIKE_BASELINES = {"PCA": PcaSpikeCodec, "DWT": DwtSpikeCodec, "CS": CsSpikeCodec}

__all__ = ["CsSpikeCodec", "DwtSpikeCodec", "PcaSpikeCodec", "SPIKE_BASELINES", "fit_pca_basis"]
