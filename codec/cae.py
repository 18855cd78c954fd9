"""The `cae` recording codec: encode exactly as the hardware does, decode with the Keras decoder.

`CaeCodec.encode` runs the bit-exact integer encoder (quantize.reference, identical to the RTL and
the HLS C simulation) over every channel in 1024-sample windows and returns one container
bitstream (neurocodec.codec.container): header with the model id and weights hash, per-channel
min-max scaling, the recording's units as side information, and the int8 latent codes as payload.
`CaeCodec.decode` checks the bitstream against its model and runs the Keras decoder.
`encode_recording` / `decode_codes` are the file-level functions the CLI uses.
"""
from pathlib import Path

import numpy as np

from neurocodec.codec import container
from neurocodec.codec.abc import Codec, _fill
from neurocodec.codec.registry import register_codec
from neurocodec.errors import BitstreamError, NeurocodecError
from neurocodec.files import write_bytes_atomic
from neurocodec.quantize.reference import IntEncoder, encode_int, latent_to_real, quantize_input
from neurocodec.signals import Recording, load_recording
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
class CaeCodec(Codec):
    """cae encoder (integer, bit-exact with the hardware) + Keras decoder, one model folder."""

    codec_id = "cae"

    def __init__(self, model_dir, units: str = "adc_counts"):
        self.model_dir = str(model_dir)
        self.units = units
        self._m = _model(model_dir)

    def _config(self) -> dict:
        return {"model_dir": self.model_dir, "units": self.units}

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

    def decode(self, buf: bytes, out: np.ndarray | None = None) -> np.ndarray:
        bs, latent = self.read(buf)
        ie = self._m.ie
        n_ch, n_win = latent.shape[:2]
        real = latent_to_real(latent.astype(np.int64).reshape(n_ch * n_win, *ie.latent_shape), ie)
        decoded = self._m.decoder.predict(real, verbose=0, batch_size=256)[..., 0].reshape(n_ch, -1)[:, : bs.n_samples]
        scaling = MinMaxScaling(bs.scaling[:n_ch].astype(np.float64), bs.scaling[n_ch:].astype(np.float64))
        return _fill(out, invert_scaling(decoded, scaling))


def encode_recording(model_dir, recording, out_path, allow_rate_mismatch=False) -> dict:
    """Encode `recording` (Recording, dataset name or file) into the bitstream file `out_path`."""
    codec = CaeCodec(model_dir)
    rec = recording if isinstance(recording, Recording) else load_recording(recording)
    if not allow_rate_mismatch and abs(rec.fs - codec.fs) > 1e-6 * codec.fs:
        raise NeurocodecError(
            f"{rec.source}: sampling rate {rec.fs:g} Hz does not match the model's {codec.fs:g} Hz "
            f"(resample first, or pass --allow-rate-mismatch)"
        )
    n = codec._m.spec.segment_length
    if rec.n_samples < n:
        raise NeurocodecError(f"{rec.source}: {rec.n_samples} samples, shorter than one {n}-sample window")
    codec.units = rec.units
    scaling, scaling_note = codec.scaling_for(rec.data)
    blob = codec.encode(rec.data, scaling)
    out_path = write_bytes_atomic(out_path, blob)
    ie = codec._m.ie
    n_windows = -(-rec.n_samples // n)
    latent_values = rec.n_channels * n_windows * int(np.prod(ie.latent_shape))
    latent_bits = latent_values * ie.layers[-1].out_bits
    return {
        "source": rec.source,
        "codes_file": str(out_path),
        "n_channels": rec.n_channels,
        "n_samples": rec.n_samples,
        "fs": rec.fs,
        "windows_per_channel": n_windows,
        "latent_values": latent_values,
        "latent_bits": int(latent_bits),
        "side_info_bits": 8 * len(blob) - int(latent_bits),
        "bitstream_bits": 8 * len(blob),
        "samples_per_latent_value": rec.n_channels * rec.n_samples / latent_values,
        "scaling": scaling_note,
    }


def read_codes_file(path) -> bytes:
    path = Path(path)
    if path.is_dir():
        raise NeurocodecError(f"{path}: is a directory, not a codes file")
    if not path.is_file():
        raise NeurocodecError(f"{path}: codes file not found")
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise NeurocodecError(f"{path}: cannot read codes file ({exc.strerror})") from None
    if blob[:2] == b"PK":
        raise BitstreamError(f"{path}: an .npz codes file of neurocodec 0.1; this version reads only "
                             f"the checked bitstream container: encode the recording again")
    return blob


def decode_codes(model_dir, codes_path) -> Recording:
    """Codes file -> Recording in the original units (Keras decoder of the same model)."""
    codec = CaeCodec(model_dir)
    blob = read_codes_file(codes_path)
    try:
        data = codec.decode(blob)
    except BitstreamError as exc:
        raise BitstreamError(f"{codes_path}: {exc}") from None
    bs = container.unpack(blob)
    units = bs.side.decode("utf-8", errors="replace") or "adc_counts"
    return Recording(data, bs.fs, units, [f"ch{i}" for i in range(bs.n_channels)], str(codes_path))
