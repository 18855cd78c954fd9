"""The `cae` recording codec: encode exactly as the hardware does, decode with the Keras decoder.

`CaeCodec.encode` runs the bit-exact integer encoder (quantize.reference, identical to the RTL and
the HLS C simulation) over every channel in 1024-sample windows and returns one container
bitstream (neurocodec.codec.container): header with the model id and weights hash, per-channel
min-max scaling, the recording's units as side information, and the int8 latent codes as payload.
`CaeCodec.decode` checks the bitstream against its model and runs the Keras decoder.
File-level encode/decode (any family's codec): neurocodec.codec.recording.
"""
from pathlib import Path

import numpy as np

from neurocodec.codec import container
from neurocodec.codec.abc import RecordingCodec, _fill
from neurocodec.codec.registry import register_codec
from neurocodec.errors import BitstreamError, NeurocodecError
from neurocodec.quantize.reference import IntEncoder, encode_int, latent_to_real, quantize_input
from neurocodec.signals.scaling import MinMaxScaling, apply_scaling, fit_minmax, invert_scaling
from neurocodec.train import artifacts

WINDOWS_PER_BATCH = 64


class _CaeModel:
    """A loaded cae model folder: spec, decoder, metadata, integer encoder and weights hash."""

    def __init__(self, model_dir):
        model_dir = Path(model_dir)
        spec, _, enc, dec, meta = artifacts.load_cae(model_dir)
        if spec.quant is None:
            raise NeurocodecError(f"{model_dir} is a float model; encoding needs a quantized (QAT) cae")
        self.dir, self.spec, self.decoder, self.meta = model_dir, spec, dec, meta
        self.ie = IntEncoder.from_dict(artifacts.read_json(model_dir / "int_encoder.json"))
        self.name = model_dir.name
        self.hash = container.file_hash(model_dir / "weights.h5")


_MODELS: dict = {}


def _model(model_dir) -> _CaeModel:
    key = str(Path(model_dir).resolve())
    if key not in _MODELS:
        _MODELS[key] = _CaeModel(model_dir)
    return _MODELS[key]


@register_codec
class CaeCodec(RecordingCodec):
    """cae encoder (integer, bit-exact with the hardware) + Keras decoder, one model folder."""

    codec_id = "cae"

    def __init__(self, model_dir, units: str = "adc_counts"):
        self.model_dir = str(model_dir)
        self.units = units
        self._m = _model(model_dir)

    def _config(self) -> dict:
        return {"model_dir": self.model_dir, "units": self.units}

    @classmethod
    def from_model_dir(cls, model_dir) -> "CaeCodec":
        return cls(model_dir)

    @property
    def min_samples(self) -> int:
        return self._m.spec.segment_length

    @property
    def fs(self) -> float:
        return float(self._m.meta["fs"])

    def scaling_for(self, data: np.ndarray) -> tuple[MinMaxScaling, str]:
        stored = MinMaxScaling.from_dict(self._m.meta["scaling"])
        if stored.minimum.size == data.shape[0]:
            return stored, "model's stored per-channel min-max (fitted on its training data)"
        return fit_minmax(data), "min-max fitted on this recording (channel count differs from training)"

    def encode_latent(self, data: np.ndarray, scaling: MinMaxScaling) -> np.ndarray:
        """(n_channels, n_samples) -> int latent codes (n_channels, n_windows, latent_len, ch)."""
        ie, n = self._m.ie, self._m.spec.segment_length
        n_ch, n_s = data.shape
        xn = apply_scaling(data, scaling, clip=True)
        n_windows = -(-n_s // n)
        padded = np.pad(xn, ((0, 0), (0, n_windows * n - n_s)), mode="edge")
        codes = quantize_input(padded.reshape(-1, n), ie)
        # windows in batches: the integer reference holds (batch, length, filters) int64 per layer
        latent = np.concatenate([encode_int(codes[i : i + WINDOWS_PER_BATCH], ie)
                                 for i in range(0, len(codes), WINDOWS_PER_BATCH)])
        return latent.reshape(n_ch, n_windows, *ie.latent_shape)

    def encode(self, buf: np.ndarray, scaling: MinMaxScaling | None = None) -> bytes:
        data = np.asarray(buf, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] < self._m.spec.segment_length:
            raise NeurocodecError(f"cae encodes (channels, samples >= {self._m.spec.segment_length}), got {data.shape}")
        if not np.all(np.isfinite(data)):
            raise NeurocodecError("recording contains NaN or Inf")
        scaling = scaling or self.scaling_for(data)[0]
        latent = self.encode_latent(data, scaling)
        return container.Bitstream(
            self.codec_id, latent.astype(np.int8).tobytes(), fs=self.fs, n_channels=data.shape[0],
            n_samples=data.shape[1], scaling=np.concatenate([scaling.minimum, scaling.maximum]),
            side=self.units.encode(), model_id=self._m.name, model_hash=self._m.hash,
        ).pack()

    def read(self, buf: bytes) -> tuple[container.Bitstream, np.ndarray]:
        """Checked bitstream and its latent codes (n_channels, n_windows, latent_len, ch)."""
        bs = container.unpack(buf, codec_id=self.codec_id, model_hash=self._m.hash)
        ie, n = self._m.ie, self._m.spec.segment_length
        if bs.n_channels < 1 or bs.n_samples < 1:
            raise BitstreamError(f"bitstream holds {bs.n_channels} channels x {bs.n_samples} samples")
        n_windows = -(-bs.n_samples // n)
        expected = bs.n_channels * n_windows * int(np.prod(ie.latent_shape))
        if len(bs.payload) != expected:
            raise BitstreamError(f"payload of {len(bs.payload)} bytes, expected {expected} for "
                                 f"{bs.n_channels} x {bs.n_samples} samples")
        if bs.scaling.size != 2 * bs.n_channels or not np.all(np.isfinite(bs.scaling)):
            raise BitstreamError("scaling values in the header do not match the channel count")
        latent = np.frombuffer(bs.payload, np.int8).reshape(bs.n_channels, n_windows, *ie.latent_shape)
        return bs, latent

    def encode_recording(self, rec) -> tuple[bytes, dict]:
        self.units = rec.units
        scaling, note = self.scaling_for(rec.data)
        blob = self.encode(rec.data, scaling)
        ie, n = self._m.ie, self._m.spec.segment_length
        n_windows = -(-rec.n_samples // n)
        latent_values = rec.n_channels * n_windows * int(np.prod(ie.latent_shape))
        latent_bits = latent_values * ie.layers[-1].out_bits
        return blob, {
            "windows_per_channel": n_windows,
            "latent_values": latent_values,
            "latent_bits": int(latent_bits),
            "side_info_bits": 8 * len(blob) - int(latent_bits),
            "samples_per_latent_value": rec.n_channels * rec.n_samples / latent_values,
            "scaling": note,
        }

    def units_of(self, bs) -> str:
        return bs.side.decode("utf-8", errors="replace") or "adc_counts"

    def decode(self, buf: bytes, out: np.ndarray | None = None) -> np.ndarray:
        bs, latent = self.read(buf)
        ie = self._m.ie
        n_ch, n_win = latent.shape[:2]
        real = latent_to_real(latent.astype(np.int64).reshape(n_ch * n_win, *ie.latent_shape), ie)
        decoded = self._m.decoder.predict(real, verbose=0, batch_size=256)[..., 0].reshape(n_ch, -1)[:, : bs.n_samples]
        scaling = MinMaxScaling(bs.scaling[:n_ch].astype(np.float64), bs.scaling[n_ch:].astype(np.float64))
        return _fill(out, invert_scaling(decoded, scaling))
