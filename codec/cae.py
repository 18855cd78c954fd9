"""The `cae` recording codec: encode exactly as the hardware does, decode with the quantized decoder.

`CaeCodec.encode` runs the bit-exact integer encoder (quantize.fast_encoder, equal bit for bit to
quantize.reference, the RTL and the HLS C simulation) over every channel in 1024-sample windows
and returns one container bitstream (neurocodec.codec.container): header with the model id and
weights hash, per-channel min-max scaling, the recording's units as side information, and the
int8 latent codes as payload.
`CaeCodec.decode` checks the bitstream against its model and runs the quantized decoder in exact
fixed point (quantize.fast_decoder: the Keras decoder's arithmetic, batched, without TensorFlow).
File-level encode/decode (any family's codec): neurocodec.codec.recording.
"""
import warnings
from pathlib import Path

import numpy as np

from neurocodec.codec import container
from neurocodec.codec.abc import RecordingCodec, _fill, loaded_model
from neurocodec.codec.registry import register_codec
from neurocodec.errors import BitstreamError, NeurocodecError, NeurocodecWarning
from neurocodec.quantize.fast_encoder import fast_encoder
from neurocodec.quantize.fast_decoder import FastDecoder, extract_int_decoder
from neurocodec.quantize.reference import IntEncoder
from neurocodec.signals.scaling import MinMaxScaling, fit_minmax
from neurocodec.signals.validate import check_signal
from neurocodec.train import artifacts

WINDOWS_PER_BATCH = 64


class OutOfRangeWarning(NeurocodecWarning):
    """Samples beyond the model's calibrated (training) range were clipped before encoding."""


def clipped_fraction(data: np.ndarray, scaling: MinMaxScaling) -> np.ndarray:
    """Per channel: fraction of samples outside [min, max] of `scaling` (clipped by the encoder)."""
    lo = np.asarray(scaling.minimum, np.float64).reshape(-1, 1)
    hi = np.asarray(scaling.maximum, np.float64).reshape(-1, 1)
    return np.mean((data < lo) | (data > hi), axis=1)


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


def _model(model_dir) -> _CaeModel:
    return loaded_model(_CaeModel, model_dir)


@register_codec
class CaeCodec(RecordingCodec):
    """cae encoder (integer, bit-exact with the hardware) + Keras decoder, one model folder."""

    codec_id = "cae"

    def __init__(self, model_dir, units: str = "adc_counts", rescale: bool = False):
        self.model_dir = str(model_dir)
        self.units = units
        #: fit the min-max scaling on the recording itself instead of clipping to the model's range
        self.rescale = bool(rescale)
        self._m = _model(model_dir)

    def _config(self) -> dict:
        return {"model_dir": self.model_dir, "units": self.units, **({"rescale": True} if self.rescale else {})}

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
        if self.rescale:
            return fit_minmax(data), "min-max fitted on this recording (--rescale)"
        if stored.minimum.size == data.shape[0]:
            return stored, "model's stored per-channel min-max (fitted on its training data)"
        return fit_minmax(data), "min-max fitted on this recording (channel count differs from training)"

    def encode_latent(self, data: np.ndarray, scaling: MinMaxScaling) -> np.ndarray:
        """(n_channels, n_samples) -> int latent codes (n_channels, n_windows, latent_len, ch)."""
        ie, n = self._m.ie, self._m.spec.segment_length
        data = check_signal(data, "recording")
        n_ch, n_s = data.shape
        n_windows = -(-n_s // n)
        # = encode_int(quantize_input(edge-padded apply_scaling(data, scaling, clip=True) windows)),
        # bit for bit (quantize.fast_encoder: per-batch scaling + BLAS, exactness bound, threads)
        latent = fast_encoder(ie, batch=WINDOWS_PER_BATCH).encode_scaled(
            data, scaling.minimum, scaling.maximum, out_dtype=np.int8 if ie.layers[-1].out_bits <= 8 else np.int64)
        return latent.reshape(n_ch, n_windows, *ie.latent_shape)

    def encode(self, buf: np.ndarray, scaling: MinMaxScaling | None = None) -> bytes:
        data = np.asarray(buf, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] < self._m.spec.segment_length:
            raise NeurocodecError(f"cae encodes (channels, samples >= {self._m.spec.segment_length}), got {data.shape}")
        if not np.all(np.isfinite(data)):
            raise NeurocodecError("recording contains NaN or Inf")
        scaling = scaling or self.scaling_for(data)[0]
        self.last_clipped = clipped_fraction(data, scaling)
        if np.any(self.last_clipped > 0):
            warnings.warn(OutOfRangeWarning(
                f"{100 * float(np.mean(self.last_clipped)):.3g} % of the samples (per channel: "
                f"{', '.join(f'{100 * v:.3g} %' for v in self.last_clipped)}) lie outside the model's calibrated "
                f"range and were clipped; pass --rescale to fit the scaling on this recording"), stacklevel=2)
        latent = self.encode_latent(data, scaling)
        return container.Bitstream(
            self.codec_id, latent.astype(np.int8).tobytes(), fs=self.fs, n_channels=data.shape[0],
            n_samples=data.shape[1], scaling=np.concatenate([scaling.minimum, scaling.maximum]),
            side=self.units.encode(), model_id=self._m.name, model_hash=self._m.hash,
        ).pack()

    def read(self, buf: bytes) -> tuple[container.Bitstream, np.ndarray]:
        """Checked bitstream and its latent codes (n_channels, n_windows, latent_len, ch)."""
        bs = container.unpack(buf, codec_id=self.codec_id, model_id=self._m.name, model_hash=self._m.hash)
        ie, n = self._m.ie, self._m.spec.segment_length
        if bs.n_channels < 1 or bs.n_samples < n:
            raise BitstreamError(f"bitstream holds {bs.n_channels} channels x {bs.n_samples} samples "
                                 f"(the cae codes >= 1 channel of >= {n} samples)")
        if bs.fs != self.fs:
            raise BitstreamError(f"sample rate {bs.fs:g} Hz in the header, the model's is {self.fs:g} Hz")
        n_windows = -(-bs.n_samples // n)
        container.expect_payload_size(bs, bs.n_channels * n_windows * int(np.prod(ie.latent_shape)),
                                      f"{n_windows} windows of {ie.latent_shape} int8 latent codes per channel")
        if bs.scaling.size != 2 * bs.n_channels:
            raise BitstreamError(f"{bs.scaling.size} scaling values in the header, expected 2 x {bs.n_channels} channels")
        if not np.all(bs.scaling[bs.n_channels:] > bs.scaling[: bs.n_channels]):
            raise BitstreamError("scaling values in the header: a channel's max is not above its min")
        try:
            bs.side.decode("utf-8")
        except UnicodeDecodeError:
            raise BitstreamError("side information (units) is not UTF-8 text") from None
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
        clipped = self.last_clipped
        return blob, {
            "clipped_fraction": float(np.mean(clipped)),
            "clipped_fraction_per_channel": [float(v) for v in clipped],
            "windows_per_channel": n_windows,
            "latent_values": latent_values,
            "latent_bits": int(latent_bits),
            "side_info_bits": 8 * len(blob) - int(latent_bits),
            "samples_per_latent_value": rec.n_channels * rec.n_samples / latent_values,
            "scaling": note,
        }

    def units_of(self, bs) -> str:
        return bs.side.decode("utf-8") or "adc_counts"

    def decode_windows(self, latent: np.ndarray, threads: int | None = None, minimum=None, maximum=None) -> np.ndarray:
        """(n, latent_len, ch) int latent codes -> (n, segment_length) decoded [0, 1] float32: the
        quantized decoder in exact fixed point, batched (quantize.fast_decoder; equals the Keras
        decoder before its sigmoid bit for bit, and a window's output does not depend on its batch).
        With per-window `minimum`/`maximum`: float64 in the original units (= invert_scaling)."""
        m = self._m
        if getattr(m, "fast_decoder", None) is None:
            out = m.ie.layers[-1]
            m.fast_decoder = FastDecoder(extract_int_decoder(m.decoder, out.out_frac, out.out_bits))
        return m.fast_decoder.decode(latent, threads=threads, minimum=minimum, maximum=maximum)

    def decode(self, buf: bytes, out: np.ndarray | None = None) -> np.ndarray:
        bs, latent = self.read(buf)
        ie = self._m.ie
        n_ch, n_win = latent.shape[:2]
        scaling = MinMaxScaling(bs.scaling[:n_ch].astype(np.float64), bs.scaling[n_ch:].astype(np.float64))
        # decoder + invert_scaling per batch of windows (each window's channel min/max)
        values = self.decode_windows(latent.reshape(n_ch * n_win, *ie.latent_shape), minimum=np.repeat(
            scaling.minimum, n_win), maximum=np.repeat(scaling.maximum, n_win)).reshape(n_ch, -1)
        return _fill(out, values if values.shape[1] == bs.n_samples else np.ascontiguousarray(values[:, : bs.n_samples]))
