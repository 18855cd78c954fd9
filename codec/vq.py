"""The `vq_cae` spike codec: detect spikes, code them as the hardware does, decode at the receiver.

`VqCaeCodec` (a `RecordingCodec`, built from a trained `vq_cae` model folder) encodes a
(channels, samples) recording:

1. spike pipeline (neurocodec.signals.spikes): band-pass, MAD-threshold detection per group of
   ``spec.channels`` neighbouring channels, windows aligned on the negative peak;
2. per spike a power-of-two gain exponent e (block floating point, side information), the
   window divided by scale * 2**e, the bit-exact integer encoder + residual codeword search
   (quantize.vq_reference: greedy, the hardware's, or an M-best search of ``beam`` paths),
   ``stages`` stages kept (the rate: one model, several rates);
3. one container bitstream (codec.container: header with the model id and weights hash,
   checksum) whose payload holds, per channel group, the spike count and the adaptive
   arithmetic-coded spike times (inter-spike intervals), then the arithmetic-coded exponents and
   the codeword indices (one adaptive model per stage and latent position,
   quantize.entropy.encode_indices, started from the model's learned prior index_prior.npz when
   the folder has one: the model hash in the header covers weights and prior).

`decode` checks the bitstream, decodes the indices, sums the stages' codewords, runs the Keras
decoder, rescales each window by its gain and pastes the spikes at their times on a zero
background (in time order; a later window overwrites an earlier one where they overlap): the
band-passed recording's spikes. `encode_spikes` / `decode_spikes` work on detected spikes
directly (the report uses them: every bit it counts is a byte of this bitstream).

With ``rdo`` > 0 (variable rate) the encoder runs the search for every stage count 1..stages
and each spike keeps the one that maximizes an SNDR estimate minus lambda times its expected
index bits. The estimate is a least-squares linear map from the latent to the window, fitted on
the model's validation codes (``estimate="linear"``: hardware-sized, the decoder itself being on
the receiver), or the decoder run in the encoder (``estimate="decoder"``). The per-spike counts
are arithmetic-coded and only the stages sent are in the index stream.

Payload layout (little-endian): ``<HHI`` stages (bit 15 set: variable rate), groups, spike
count; per group ``<I`` spike count and a stream; then the exponent stream, with variable rate
the stage-count stream, and the index stream (per spike its stages' indices, stage-major). A
stream is ``<II`` (bits, bytes) + bytes.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from neurocodec.codec import container
from neurocodec.codec.abc import RecordingCodec, _fill, loaded_model
from neurocodec.codec.registry import register_codec
from neurocodec.errors import BitstreamError, NeurocodecError

DEFAULT_THRESHOLD = 4.5
ESTIMATES = ("linear", "decoder")  # the encoder's SNDR estimate for the variable rate
VARIABLE_STAGES = 0x8000  # flag in the payload's stage field: per-spike stage counts follow the exponents


def pack_stream(stream) -> bytes:
    return struct.pack("<II", int(stream.n_bits), len(stream.data)) + bytes(stream.data)


class PayloadReader:
    """Reads sections of a payload; any shortfall is a BitstreamError."""

    def __init__(self, buf: bytes):
        self.buf, self.pos = bytes(buf), 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise BitstreamError(f"payload truncated in {what}")
        out = self.buf[self.pos: self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def stream(self, n_symbols: int, what: str):
        from neurocodec.quantize.entropy import EncodedStream

        n_bits, n_bytes = self.unpack("<II", what)
        if n_bits > 8 * n_bytes + 64:
            raise BitstreamError(f"{what}: {n_bits} bits do not fit {n_bytes} bytes")
        return EncodedStream(self.take(n_bytes, what), n_bits, n_symbols)

    def done(self):
        if self.pos != len(self.buf):
            raise BitstreamError(f"{len(self.buf) - self.pos} unread payload bytes")


def encode_times_per_group(times, group, n_groups: int) -> bytes:
    """Spike times (sorted within each group) of every group: count + arithmetic-coded ISIs."""
    from neurocodec.quantize.entropy import encode_times

    out = []
    for g in range(n_groups):
        t = np.asarray(times)[np.asarray(group) == g]
        out.append(struct.pack("<I", len(t)) + pack_stream(encode_times(t)))
    return b"".join(out)


def decode_times_per_group(r: PayloadReader, n_groups: int) -> list[np.ndarray]:
    from neurocodec.quantize.entropy import decode_times

    out = []
    for g in range(n_groups):
        (n,) = r.unpack("<I", f"spike count of group {g}")
        if n > 1 << 28:
            raise BitstreamError(f"implausible spike count {n}")
        st = r.stream(n, f"spike times of group {g}")
        try:
            out.append(decode_times(st, n))
        except NeurocodecError as exc:
            raise BitstreamError(f"spike times of group {g}: {exc}") from None
    return out


class _VqModel:
    """A loaded vq_cae model folder: models, spec, config, integer encoder, weights hash."""

    def __init__(self, model_dir):
        from neurocodec.quantize.vq_reference import IntVqEncoder
        from neurocodec.train.vq_training import load_model

        model_dir = Path(model_dir)
        self.models, self.spec, self.cfg = load_model(model_dir)
        if self.spec.quant is None:
            raise NeurocodecError(f"{model_dir} is a float model; encoding needs the quantized vq_cae")
        import json

        from neurocodec.train.vq_training import load_index_prior

        self.ie = IntVqEncoder.from_dict(json.loads((model_dir / "int_encoder.json").read_text()))
        self.dir, self.name = model_dir, model_dir.name
        self.prior = load_index_prior(model_dir, self.spec.stages, self.spec.latent_length, self.spec.num_codes)
        self.hash = container.file_hash(model_dir / "weights.h5")
        if self.prior is not None:  # a bitstream names the weights and the entropy model it was coded with
            self.hash = container.model_hash(np.frombuffer(self.hash, np.uint8), self.prior)
        self.scale = float(self.cfg["scale_uv"])
        self.fs = float(self.cfg.get("data", {}).get("fs", 0.0))
        self._estimate = None

    @property
    def linear_estimate(self) -> np.ndarray:
        """The encoder's linear stand-in for the decoder (quantize.vq_reference.fit_linear_estimate),
        fitted once on the folder's validation input codes (test_vectors.npz)."""
        if self._estimate is None:
            from neurocodec.quantize.vq_reference import fit_linear_estimate

            path = self.dir / "test_vectors.npz"
            if not path.is_file():
                raise NeurocodecError(f"{self.dir}: no test_vectors.npz to fit the rate-distortion estimate on")
            with np.load(path) as tv:
                self._estimate = fit_linear_estimate(tv["input_codes"], self.ie)
        return self._estimate

    def stage_bits(self) -> np.ndarray:
        """Expected index bits per stage: the learned prior's entropy summed over positions, else
        L * log2(K)."""
        spec = self.spec
        if self.prior is None:
            return np.full(spec.stages, spec.latent_length * np.log2(spec.num_codes))
        p = self.prior / self.prior.sum(axis=-1, keepdims=True)
        return -np.sum(p * np.log2(p), axis=(1, 2))


def _model(model_dir) -> _VqModel:
    return loaded_model(_VqModel, model_dir)


@register_codec
class VqCaeCodec(RecordingCodec):
    """vq_cae spike codec (see module docstring); ``stages`` residual stages are sent (None: all);
    ``beam`` paths kept by the encoder's residual search (1: greedy, as the hardware; the
    bitstream format and the decoder do not depend on it). ``rdo`` = lambda > 0: variable rate,
    each spike sends the number of stages s <= ``stages`` that maximizes the encoder's SNDR
    estimate minus lambda dB per expected index bit (quantize.vq_reference.choose_stages), the
    counts entropy-coded in the payload; 0: every spike sends ``stages``. ``estimate``: how the
    encoder estimates the SNDR: "linear" (a linear map of the latent, hardware-sized) or
    "decoder" (the receiver's decoder run in the encoder: exact, for recorders with the compute,
    not for an implant)."""

    codec_id = "vq_cae"

    def __init__(self, model_dir, stages: int | None = None, threshold: float = DEFAULT_THRESHOLD,
                 units: str = "uV", beam: int = 1, rdo: float = 0.0, estimate: str = "linear"):
        self.model_dir = str(model_dir)
        self._m = _model(model_dir)
        self.stages = self._m.spec.stages if stages is None else int(stages)
        if not 1 <= self.stages <= self._m.spec.stages:
            raise NeurocodecError(f"{self._m.name} has {self._m.spec.stages} VQ stages, {stages} requested")
        self.beam = int(beam)
        if self.beam < 1:
            raise NeurocodecError(f"beam width must be >= 1, got {beam}")
        self.threshold = float(threshold)
        self.units = units
        self.rdo = float(rdo)
        if not (np.isfinite(self.rdo) and self.rdo >= 0):
            raise NeurocodecError(f"rdo (lambda, dB per bit) must be finite and >= 0, got {rdo}")
        if estimate not in ESTIMATES:
            raise NeurocodecError(f"estimate must be one of {ESTIMATES}, got {estimate!r}")
        self.estimate = estimate

    def _config(self) -> dict:
        return {"model_dir": self.model_dir, "stages": self.stages, "threshold": self.threshold, "units": self.units,
                "beam": self.beam, "rdo": self.rdo, "estimate": self.estimate}

    def _prior(self, stages: int):
        p = self._m.prior
        return None if p is None else p[:stages].reshape(stages * self._m.spec.latent_length, -1)

    @classmethod
    def from_model_dir(cls, model_dir) -> "VqCaeCodec":
        return cls(model_dir)

    @property
    def fs(self) -> float:
        return self._m.fs

    @property
    def min_samples(self) -> int:
        return 3 * self._m.spec.window

    # ------------------------------------------------------------------ spikes

    def detect(self, data: np.ndarray):
        from neurocodec.signals.spikes import extract_spikes

        spec = self._m.spec
        if data.shape[0] < spec.channels:
            raise NeurocodecError(f"{self._m.name} codes groups of {spec.channels} channels; the recording has "
                                  f"{data.shape[0]}")
        return extract_spikes(data, self.fs, window=spec.window, group_size=spec.channels,
                              threshold=self.threshold)

    def encode_spikes(self, spikes, n_channels: int, n_samples: int) -> bytes:
        """Detected spikes (a SpikeSet of this model's window and group size) -> bitstream."""
        from neurocodec.quantize.entropy import encode_indices
        from neurocodec.quantize.vq_reference import choose_stages, encode_int_rvq, linear_sndr, quantize_input
        from neurocodec.signals.spikes import channel_groups
        from neurocodec.train.vq_training import E_MAX, E_MIN, normalize

        spec = self._m.spec
        w = np.asarray(spikes.waveforms, np.float64)
        if w.ndim != 3 or w.shape[1:] != (spec.window, spec.channels):
            raise NeurocodecError(f"spike windows must be (n, {spec.window}, {spec.channels}), got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise NeurocodecError("spike windows contain NaN or Inf")
        n_groups = len(channel_groups(n_channels, spec.channels))
        times, group = np.asarray(spikes.times, np.int64), np.asarray(spikes.group, np.int64)
        order = np.lexsort((times, group))  # by group, then time
        w, times, group = w[order], times[order], group[order]
        if len(w) and (group.min() < 0 or group.max() >= n_groups or times.min() < 0 or times.max() >= n_samples):
            raise NeurocodecError("spike times or groups outside the recording")
        variable = self.rdo > 0
        head = (struct.pack("<HHI", self.stages | (VARIABLE_STAGES if variable else 0), n_groups, len(w))
                + encode_times_per_group(times, group, n_groups))
        if len(w):
            x, e = normalize(w, self._m.scale)
            q, ie = quantize_input(x, self._m.ie), self._m.ie
            body = pack_stream(encode_indices((e - E_MIN)[:, None], E_MAX - E_MIN + 1))
            if variable:
                cands = [encode_int_rvq(q, ie, s, beam=self.beam)[1] for s in range(1, self.stages + 1)]
                if self.estimate == "decoder":
                    from neurocodec.metrics.reconstruction import sndr_db
                    from neurocodec.train.vq_training import decode_indices as decode_latent

                    est = np.stack([sndr_db(x.reshape(len(x), -1), decode_latent(self._m.models, c).reshape(len(x), -1))
                                    for c in cands], axis=1)
                else:
                    est = linear_sndr(q, cands, ie, self._m.linear_estimate)
                counts = choose_stages(est, self._m.stage_bits(), self.rdo)
                idx = np.zeros((len(w), self.stages, spec.latent_length), np.int64)
                for s, c in enumerate(cands, 1):
                    idx[counts == s, :s] = c[counts == s]
                body += pack_stream(encode_indices((counts - 1)[:, None], self.stages))
            else:
                _, idx = encode_int_rvq(q, ie, self.stages, beam=self.beam)
                counts = np.full(len(w), self.stages)
            body += pack_stream(encode_indices(idx.reshape(len(w), -1), spec.num_codes,
                                               prior=self._prior(self.stages), lengths=counts * spec.latent_length))
        else:
            body = b""
        return container.Bitstream(
            self.codec_id, head + body, fs=self.fs, n_channels=n_channels, n_samples=n_samples,
            scaling=np.array([self._m.scale], np.float32), side=self.units.encode(), model_id=self._m.name,
            model_hash=self._m.hash).pack()

    def decode_spikes(self, buf: bytes) -> dict:
        """Bitstream -> {"times", "group", "waveforms" (n, window, channels), "exponents",
        "indices" (n, stages, L; -1 where a variable-rate spike sent fewer stages), "n_channels",
        "n_samples", "bits": {...}}."""
        from neurocodec.quantize.entropy import decode_indices
        from neurocodec.signals.spikes import channel_groups
        from neurocodec.train.vq_training import E_MAX, E_MIN, denormalize
        from neurocodec.train.vq_training import decode_indices as decode_latent

        spec = self._m.spec
        bs = container.unpack(buf, codec_id=self.codec_id, model_id=self._m.name, model_hash=self._m.hash)
        if bs.n_channels < spec.channels:
            raise BitstreamError(f"{bs.n_channels} channels in the header, the model codes groups of {spec.channels}")
        r = PayloadReader(bs.payload)
        stages, n_groups, n = r.unpack("<HHI", "payload header")
        variable, stages = bool(stages & VARIABLE_STAGES), stages & ~VARIABLE_STAGES
        if not 1 <= stages <= spec.stages:
            raise BitstreamError(f"{stages} VQ stages in the payload, the model has {spec.stages}")
        if n_groups != len(channel_groups(bs.n_channels, spec.channels)):
            raise BitstreamError(f"{n_groups} channel groups for {bs.n_channels} channels")
        t0 = r.pos
        per_group = decode_times_per_group(r, n_groups)
        time_bytes = r.pos - t0
        if sum(len(t) for t in per_group) != n:
            raise BitstreamError("spike counts of the groups do not add up")
        times = np.concatenate(per_group) if per_group else np.zeros(0, np.int64)
        group = np.concatenate([np.full(len(t), g, np.int64) for g, t in enumerate(per_group)]) if per_group \
            else np.zeros(0, np.int64)
        if n and (times.max() >= bs.n_samples):
            raise BitstreamError("a spike time lies past the end of the recording")
        length = spec.latent_length
        if n:
            try:
                e = decode_indices(r.stream(n, "exponents"), n, 1, E_MAX - E_MIN + 1)[:, 0] + E_MIN
                counts = (decode_indices(r.stream(n, "stage counts"), n, 1, stages)[:, 0] + 1 if variable
                          else np.full(n, stages, np.int64))
                idx = decode_indices(r.stream(int(counts.sum()) * length, "indices"), n, stages * length,
                                     spec.num_codes, prior=self._prior(stages), lengths=counts * length)
            except BitstreamError:
                raise
            except NeurocodecError as exc:
                raise BitstreamError(f"entropy-coded payload: {exc}") from None
            idx = idx.reshape(n, stages, length)
            waves = denormalize(decode_latent(self._m.models, idx), self._m.scale, e)
        else:
            e = np.zeros(0, np.int64)
            idx = np.zeros((0, stages, length), np.int64)
            waves = np.zeros((0, spec.window, spec.channels))
        r.done()
        return {"times": times, "group": group, "waveforms": waves, "exponents": e, "indices": idx,
                "n_channels": bs.n_channels, "n_samples": bs.n_samples, "fs": bs.fs,
                "bits": {"total": 8 * len(buf), "times": 8 * time_bytes,
                         "payload_without_times": 8 * (len(buf) - time_bytes)}}

    # ------------------------------------------------------------------ recordings

    def encode(self, buf: np.ndarray) -> bytes:
        data = np.asarray(buf, np.float64)
        if data.ndim != 2 or data.shape[1] < self.min_samples:
            raise NeurocodecError(f"vq_cae encodes (channels, samples >= {self.min_samples}), got {data.shape}")
        if not np.all(np.isfinite(data)):
            raise NeurocodecError("recording contains NaN or Inf")
        return self.encode_spikes(self.detect(data), data.shape[0], data.shape[1])

    def decode(self, buf: bytes, out: np.ndarray | None = None) -> np.ndarray:
        from neurocodec.signals.spikes import channel_groups

        d = self.decode_spikes(buf)
        spec = self._m.spec
        rec = np.zeros((d["n_channels"], d["n_samples"]))
        groups = channel_groups(d["n_channels"], spec.channels)
        pre = spec.window // 3
        order = np.argsort(d["times"], kind="stable")
        for i in order:
            t0 = int(d["times"][i]) - pre
            a, b = max(t0, 0), min(t0 + spec.window, d["n_samples"])
            if b > a:
                rec[groups[d["group"][i]][:, None], np.arange(a, b)[None, :]] = d["waveforms"][i, a - t0: b - t0].T
        return _fill(out, rec)

    def encode_recording(self, rec) -> tuple[bytes, dict]:
        self.units = rec.units
        spikes = self.detect(np.asarray(rec.data, np.float64))
        blob = self.encode_spikes(spikes, rec.n_channels, rec.n_samples)
        d = self.decode_spikes(blob)
        raw = len(spikes) * spikes.window * spikes.n_channels * 16
        return blob, {"n_spikes": len(spikes), "stages": self.stages, "time_bits": d["bits"]["times"],
                      "spike_raw_bits_16bit": raw,
                      "cr_spikes": raw / (8 * len(blob)) if len(spikes) else 0.0}

    def units_of(self, bs) -> str:
        return bs.side.decode("utf-8", errors="replace") or "uV"


__all__ = ["VqCaeCodec", "PayloadReader", "pack_stream", "encode_times_per_group", "decode_times_per_group"]
