"""The `stream` recording codec: classical spike-aware band split + learned snippet coder.

Encoder side (implant): the LFP path and spike detection of
`codec.continuous_baselines._HybridBase`; each detected snippet (all channels of its group) is
gain-normalized (block floating point, gain code per channel-snippet), turned into 8-bit input
codes and run through the **bit-exact integer encoder** (`quantize.reference.encode_int`, the
computation the hls4ml C simulation and the RTL reproduce), its int8 latent codes requantized
with the integer `latent_step` (round half even) and entropy coded (adaptive arithmetic coder,
context-adaptive: `code_latents`); gain codes are entropy coded per channel as differences to the
previous channel's. Decoder side
(receiver): the float decoder of the model folder. Architecture and training:
neurocodec.train.stream_codec.

Bitstream: one container (codec id `stream`, model id + weights hash); payload parts: LFP, then
per channel group spike times and [gain codes + latent codes]. `8 * len(bitstream)` is every bit.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from neurocodec.codec import container
from neurocodec.codec.abc import RecordingCodec, loaded_model
from neurocodec.codec.continuous_baselines import _HybridBase, code_ints, decode_ints, pack_parts, unpack_parts
from neurocodec.codec.registry import register_codec
from neurocodec.errors import BitstreamError, NeurocodecError

REF_GAIN_CODE = 24  # gain 8 sigma: the snippet whose latent step is exactly `latent_step`
_NB = 12  # bit lengths 0..11 of latent magnitudes (|q| <= 128 / 0.25 = 512 needs 10)


def _bitlen_ctx(prev: int) -> int:
    return min(abs(prev).bit_length(), 3) + 1


def code_latents(q: np.ndarray) -> bytes:
    """Context-adaptive arithmetic coding of (n, ch, M) requantized latents of the channel
    snippets of one group (snippet by snippet, channel by channel, position by position).

    Binarization: bit length nb of |q| (0 for zero), then sign, then the bits below the leading
    one. Models: nb per (position, context) where the context is the bit length class of the
    same position in the previous channel of the snippet (the tetrode's channels see the same
    spike: their latents are correlated) or "first channel"; sign per (position, sign of that
    previous-channel latent); mantissa bits per (nb, bit). One arithmetic-coded string."""
    from neurocodec.quantize.entropy import AdaptiveModel, ArithmeticEncoder

    q = np.asarray(q, np.int64)
    if q.size == 0:
        return b""
    n, ch, m = q.shape
    if np.abs(q).max() >= 1 << (_NB - 1):
        raise NeurocodecError("latent code magnitude too large for the latent coder")
    nb_m = [[AdaptiveModel(_NB) for _ in range(5)] for _ in range(m)]
    sg_m = [[AdaptiveModel(2) for _ in range(3)] for _ in range(m)]
    bit_m = {}
    enc = ArithmeticEncoder()
    rows = q.tolist()
    for snip in rows:
        prev = None
        for row in snip:
            for j, v in enumerate(row):
                p = 0 if prev is None else prev[j]
                a = -v if v < 0 else v
                nb = a.bit_length()
                enc.encode(nb_m[j][0 if prev is None else _bitlen_ctx(p)], nb)
                if nb:
                    enc.encode(sg_m[j][0 if p == 0 else (1 if p > 0 else 2)], 1 if v < 0 else 0)
                    for b in range(nb - 2, -1, -1):
                        md = bit_m.get((nb, b))
                        if md is None:
                            md = bit_m[(nb, b)] = AdaptiveModel(2)
                        enc.encode(md, (a >> b) & 1)
            prev = row
    data, n_bits = enc.finish()
    return struct.pack("<Q", n_bits) + data


def decode_latents(buf: bytes, n: int, ch: int, m: int) -> np.ndarray:
    from neurocodec.quantize.entropy import AdaptiveModel, ArithmeticDecoder, EntropyCodingError

    if n * ch * m == 0:
        if buf:
            raise BitstreamError("payload holds latent data for no snippet")
        return np.zeros((n, ch, m), np.int64)
    if len(buf) < 8:
        raise BitstreamError("latent part truncated")
    (n_bits,) = struct.unpack_from("<Q", buf)
    if n_bits > 8 * (len(buf) - 8):
        raise BitstreamError(f"latent part states {n_bits} bits, holds {8 * (len(buf) - 8)}")
    nb_m = [[AdaptiveModel(_NB) for _ in range(5)] for _ in range(m)]
    sg_m = [[AdaptiveModel(2) for _ in range(3)] for _ in range(m)]
    bit_m = {}
    out = np.zeros((n, ch, m), np.int64)
    try:
        dec = ArithmeticDecoder(buf[8:], int(n_bits))
        for i in range(n):
            prev = None
            for c in range(ch):
                row = [0] * m
                for j in range(m):
                    p = 0 if prev is None else prev[j]
                    nb = dec.decode(nb_m[j][0 if prev is None else _bitlen_ctx(p)])
                    if nb:
                        neg = dec.decode(sg_m[j][0 if p == 0 else (1 if p > 0 else 2)])
                        a = 1
                        for b in range(nb - 2, -1, -1):
                            md = bit_m.get((nb, b))
                            if md is None:
                                md = bit_m[(nb, b)] = AdaptiveModel(2)
                            a = (a << 1) | dec.decode(md)
                        row[j] = -a if neg else a
                out[i, c] = row
                prev = row
        dec.finish()
    except (EntropyCodingError, IndexError, ValueError) as exc:
        raise BitstreamError(f"corrupt latent data ({exc})") from None
    return out


class _StreamModel:
    def __init__(self, model_dir):
        from neurocodec.quantize.reference import IntEncoder
        from neurocodec.train.artifacts import read_json
        from neurocodec.train.stream_codec import load_model

        model_dir = Path(model_dir)
        self.spec, self.joint, self.encoder, self.decoder, self.meta = load_model(model_dir)
        self.ie = IntEncoder.from_dict(read_json(model_dir / "int_encoder.json"))
        self.name = model_dir.name
        self.hash = container.file_hash(model_dir / "weights.h5")
        self.code_scale = 2 ** self.ie.layers[-1].out_frac


def _model(model_dir) -> _StreamModel:
    return loaded_model(_StreamModel, model_dir)


@register_codec
class StreamCodec(_HybridBase, RecordingCodec):
    """Spike-aware stream codec of one trained `stream` model folder (module docstring)."""

    codec_id = "stream"

    def __init__(self, model_dir, latent_step: int | None = None, lfp_step: float | None = None,
                 threshold: float | None = None, fs: float | None = None):
        self.model_dir = str(model_dir)
        self._m = _model(model_dir)
        spec = self._m.spec
        self.latent_step = int(latent_step if latent_step is not None else spec.latent_step)
        if not 1 <= self.latent_step <= 128:
            raise NeurocodecError(f"latent_step must be 1..128 latent codes, got {latent_step}")
        self._init_hybrid(float(fs if fs is not None else self._m.meta["fs"]), spec,
                          lfp_step=lfp_step, threshold=threshold)

    @property
    def fs(self) -> float:
        return self._fs

    @fs.setter
    def fs(self, value) -> None:
        self._fs = float(value)

    def _init_hybrid(self, fs, spec, lfp_step=None, threshold=None):
        _HybridBase.__init__(self, fs, spec.lfp_step if lfp_step is None else lfp_step,
                             spec.threshold if threshold is None else threshold, spec.snippet, spec.pre, spec.lfp_fs)

    def _config(self) -> dict:
        return {"model_dir": self.model_dir, "latent_step": self.latent_step, "lfp_step": self.lfp_step,
                "threshold": self.threshold, "fs": self.fs}

    @property
    def label(self) -> str:
        return f"stream ({self._m.name}) step {self.latent_step}"

    @classmethod
    def from_model_dir(cls, model_dir) -> "StreamCodec":
        return cls(model_dir)

    @property
    def min_samples(self) -> int:
        return 2 * self.snippet

    def _model_fields(self) -> dict:
        return {"model_id": self._m.name, "model_hash": self._m.hash}

    # ---- the learned snippet coder
    def latent_codes(self, snippets: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, ch, L) residual snippets -> gain codes (n, ch), int8 latent codes (n, ch, len, filters)."""
        from neurocodec.quantize.reference import encode_int, quantize_input
        from neurocodec.train.stream_codec import gain_codes, gains, normalize

        sig = sigma.astype(np.float64)
        k = gain_codes(snippets, sig)
        u = normalize(snippets, gains(k, sig))
        codes = quantize_input(u.reshape(-1, self.snippet), self._m.ie)
        lat = np.concatenate([encode_int(codes[i:i + 256], self._m.ie) for i in range(0, len(codes), 256)])
        return k, lat.reshape(snippets.shape[0], snippets.shape[1], *lat.shape[1:])

    def steps(self, k: np.ndarray) -> np.ndarray:
        """Latent step per channel-snippet, in latent codes: `latent_step` at the reference gain
        (8 sigma), scaled by sigma / gain so that every snippet is quantized with the same step in
        recording units (the MSE-optimal allocation; a fixed step on gain-normalized latents would
        give the largest spikes the largest errors)."""
        return np.clip(self.latent_step * 2.0 ** ((REF_GAIN_CODE - k) / 8.0), 0.25, 256.0)

    def _code_snippets(self, snippets, sigma):
        k, lat = self.latent_codes(snippets, sigma)
        q = np.round(lat / self.steps(k)[:, :, None, None]).astype(np.int64)  # numpy rounds half to even
        n, ch = k.shape
        # gain codes: first channel, then the difference to the previous channel (one spike on a tetrode)
        kd = np.concatenate([k[:, :1], np.diff(k, axis=1)], axis=1)
        return pack_parts(code_ints(kd), code_latents(q.reshape(n, ch, -1))), None

    def _decode_snippets(self, buf, n, n_ch, sigma):
        from neurocodec.train.stream_codec import gains

        kb, qb = unpack_parts(buf, 2)
        k = np.cumsum(decode_ints(kb, n, n_ch), axis=1)
        ls = self._m.spec.latent_size
        q = decode_latents(qb, n, n_ch, ls).reshape(n * n_ch, ls)
        if k.size and (k.min() < 0 or k.max() > 255):
            raise BitstreamError("gain code out of range")
        st = self.steps(k).reshape(-1, 1)
        z = (q * st / self._m.code_scale).reshape(n * n_ch, self._m.spec.latent_length, -1)
        step = (st / 32.0).astype(np.float32)
        v = self._m.decoder.predict([z.astype(np.float32), step], verbose=0, batch_size=1024)
        return v.reshape(n, n_ch, self.snippet) * gains(k, sigma)[..., None]

    # ---- RecordingCodec
    def encode_recording(self, rec) -> tuple[bytes, dict]:
        from neurocodec.metrics.spike_fidelity import ADC_BITS

        blob, d = self.encode_with_details(rec.data)
        raw = rec.n_channels * rec.n_samples * ADC_BITS
        return blob, {**d, "latent_step": self.latent_step, "adc_bits": ADC_BITS, "raw_bits": raw,
                      "bit_compression": raw / (8 * len(blob)),
                      "header_bits": 8 * len(blob) - d["lfp_bits"] - d["spike_bits"]}


__all__ = ["StreamCodec"]
