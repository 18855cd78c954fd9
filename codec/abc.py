"""The one codec interface, in the numcodecs style.

A codec is a small object: a class attribute `codec_id`, `encode(array) -> bytes`,
`decode(bytes) -> array`, and `get_config()` / `from_config(config)` so that a codec is described
by a JSON dict and rebuilt from it (`neurocodec.codec.registry.get_codec(config)`).

* Recording codecs (`cae`, the stream codecs, WavPack/FLAC/DCT/... baselines) encode a
  (n_channels, n_samples) array of one recording; the sampling rate and anything else the codec
  needs is part of its config, not of the array.
* Spike codecs (`vq_cae`, PCA/DWT/CS) encode a (n_spikes, n_samples) array of waveforms, or a
  recording when they detect the spikes themselves.

`encode` returns the complete transmitted bit string (a `neurocodec.codec.container` bitstream:
header, side information, payload and checksum), so `8 * len(encode(x))` is every transmitted
bit. `decode` checks everything it reads and raises `BitstreamError` on any corruption, and never
returns a silently different array. `neurocodec.codec.testing.check_codec` is the shared
conformance test every codec passes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np


class Codec(ABC):
    """Base class of every neurocodec codec (learned and baseline)."""

    codec_id: ClassVar[str]
    #: True when decode(encode(x)) == x exactly (FLAC); lossy codecs say False.
    lossless: ClassVar[bool] = False

    @abstractmethod
    def encode(self, buf: np.ndarray) -> bytes:
        """Array -> the whole transmitted bit string."""

    @abstractmethod
    def decode(self, buf: bytes, out: np.ndarray | None = None) -> np.ndarray:
        """Bit string -> array (into `out` when given)."""

    def get_config(self) -> dict:
        """JSON-serializable description, with the codec's id under "id"."""
        return {"id": self.codec_id, **self._config()}

    def _config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Codec":
        config = dict(config)
        config.pop("id", None)
        return cls(**config)

    def bits(self, buf: np.ndarray) -> int:
        """Every transmitted bit for `buf` (8 x the length of its bitstream)."""
        return 8 * len(self.encode(buf))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = None


class RecordingCodec(Codec):
    """A codec of whole recordings built from a trained model folder: what `neurocodec encode`,
    `decode` and `evaluate` use (the family registry names the codec id of each family).

    Subclasses implement `from_model_dir`, `fs`, `encode`/`decode`; `encode_recording` may add
    codec-specific figures (latent values, windows, clipped fraction...) to the encode report."""

    #: shortest recording (samples per channel) the codec encodes
    min_samples: int = 1

    @classmethod
    def from_model_dir(cls, model_dir) -> "RecordingCodec":
        raise NotImplementedError

    @property
    def fs(self) -> float:
        raise NotImplementedError

    def encode_recording(self, rec) -> tuple[bytes, dict]:
        """Recording -> (bitstream, figures for the report)."""
        return self.encode(rec.data), {}

    def decode_recording(self, buf: bytes, source: str = ""):
        """Bitstream -> Recording (units from the container's side information when the codec
        stores them there)."""
        from neurocodec.codec import container
        from neurocodec.signals import Recording

        data = self.decode(buf)
        bs = container.unpack(buf)
        return Recording(data, bs.fs, self.units_of(bs), [f"ch{i}" for i in range(bs.n_channels)], source)

    def units_of(self, bs) -> str:
        return "adc_counts"


_LOADED: dict = {}


def loaded_model(loader, model_dir):
    """`loader(model_dir)` (a model-folder class: weights, integer reference, hash...), built once
    per (loader, folder and the state of its files) and shared by every codec instance of that
    folder; a file rewritten in the folder (retrained weights, a new prior) loads it anew."""
    from pathlib import Path

    d = Path(model_dir).resolve()
    stats = [(f.name, f.stat()) for f in d.iterdir() if f.is_file()] if d.is_dir() else []
    files = tuple(sorted((name, st.st_mtime_ns, st.st_size) for name, st in stats))
    key = (loader, str(d), files)
    if key not in _LOADED:
        for stale in [k for k in _LOADED if k[:2] == key[:2]]:  # the folder's earlier state
            del _LOADED[stale]
        _LOADED[key] = loader(model_dir)
    return _LOADED[key]


def _fill(out: np.ndarray | None, result: np.ndarray) -> np.ndarray:
    """numcodecs' `out=` convention: copy into `out` (same shape) or return the result."""
    if out is None:
        return result
    if out.shape != result.shape:
        from neurocodec.errors import BitstreamError

        raise BitstreamError(f"decoded shape {result.shape} does not fit the given out array {out.shape}")
    out[...] = result
    return out


__all__ = ["Codec", "RecordingCodec"]
