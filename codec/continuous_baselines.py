"""Baseline codecs of continuous recordings, on the same rate axis as the learned codecs.

Every codec encodes a (n_channels, n_samples) array into one `neurocodec.codec.container`
bitstream, so `8 * len(bitstream)` counts every transmitted bit (header, scaling, side
information, payload, checksum). The sampling rate is part of each codec's config.

* `wavpack` - WavPack hybrid lossy (`wavpack -b<bits>` / `wvunpack` CLI, Debian's wavpack 5),
  all channels interleaved in one raw 16-bit PCM file; the payload is the .wv file.
* `flac` - FLAC lossless (`flac -8` CLI), groups of at most 8 channels (FLAC's limit).
* `decimate` - anti-aliased decimation by `factor` (polyphase FIR, scipy `resample_poly`),
  then uniform requantization to `bits` bits per sample over each channel's range, packed raw.
* `dct` - 64-sample blocks per channel, orthonormal DCT-II, uniform quantizer of step
  `step_sigma` x the channel's standard deviation, entropy coding of the integer coefficients
  (the project's adaptive arithmetic coder, one model per coefficient index).
* `spike_hybrid` - the classical spike-aware hybrid: LFP path = low-pass at 300 Hz and
  anti-aliased decimation to about 1 kHz, uniform quantizer (step `lfp_step` x the channel's spike-band MAD sigma), first
  differences of the integer codes entropy coded; spike path = the residual x - LFP(decoded),
  snippets of `snippet` samples (peak at `pre`) around spikes detected in the 300-5000 Hz band
  at `threshold` x MAD sigma (max over a group of up to 4 neighbouring channels; the snippet is
  sent on every channel of the group), uniformly quantized (step `spike_step` x sigma) and
  entropy coded, spike times coded as intervals. Overlapping snippets are averaged.

16-bit samples: recordings whose values are integers within a 65536-code range (the bundled
ADC-count recordings) are coded exactly (FLAC is then lossless); any other recording is first
mapped per channel onto 16-bit codes (offset + step in the header's scaling values), the
16-bit ADC the rate axis assumes.

The band split, detection, snippet and entropy-coding helpers below are shared with the learned
stream codec (neurocodec.codec.stream), which replaces only the snippet coder.
"""
from __future__ import annotations

import os
import struct
import subprocess
import tempfile

import numpy as np

from neurocodec.codec import container
from neurocodec.codec.abc import Codec, _fill
from neurocodec.codec.registry import register_codec
from neurocodec.errors import BitstreamError, NeurocodecError
from neurocodec.quantize.entropy import (
    EncodedStream, EntropyCodingError, decode_coefficients, decode_times, encode_coefficients, encode_times,
)


# ---------------------------------------------------------------- shared helpers

def check_recording(buf, min_samples: int = 1) -> np.ndarray:
    data = np.asarray(buf, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] < 1 or data.shape[1] < min_samples:
        raise NeurocodecError(f"expected a (channels, samples >= {min_samples}) recording, got shape {data.shape}")
    if not np.all(np.isfinite(data)):
        raise NeurocodecError("recording contains NaN or Inf")
    return data


def int16_map(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(int16 codes, offset, step) per channel: exact for integer data within 65536 codes."""
    lo, hi = data.min(axis=1), data.max(axis=1)
    integer = np.all(data == np.round(data)) and np.all(hi - lo <= 65535)
    grid = None if integer else _adc_grid(data)
    if integer:
        offset = np.floor((lo + hi) / 2.0).astype(np.float32)
        step = np.ones(data.shape[0], np.float32)
    elif grid is not None:  # samples on a uniform grid (an ADC step in physical units): exact
        step = grid.astype(np.float32)
        offset = (np.round((lo + hi) / 2.0 / grid) * grid).astype(np.float32)
        codes = np.round((data - offset.astype(np.float64)[:, None]) / step.astype(np.float64)[:, None])
        back = codes * step.astype(np.float64)[:, None] + offset.astype(np.float64)[:, None]
        if np.all(np.abs(codes) <= 32767) and np.allclose(back, data, rtol=0, atol=1e-6 * np.max(np.abs(data))):
            return codes.astype(np.int16), offset, step
        step = np.maximum((hi - lo) / 65534.0, 1e-30).astype(np.float32)
        offset = ((lo + hi) / 2.0).astype(np.float32)
    else:
        step = np.maximum((hi - lo) / 65534.0, 1e-30).astype(np.float32)
        offset = ((lo + hi) / 2.0).astype(np.float32)
    codes = np.round((data - offset.astype(np.float64)[:, None]) / step.astype(np.float64)[:, None])
    return np.clip(codes, -32768, 32767).astype(np.int16), offset, step


def _adc_grid(data: np.ndarray) -> np.ndarray | None:
    """Per-channel ADC step when every sample is a multiple of it (e.g. MIT-BIH: 1/200 mV), else None."""
    steps = []
    for row in data:
        u = np.unique(row)
        if u.size < 2:
            return None
        d = np.diff(u)
        step = float(d.min())
        if step <= 0 or (u[-1] - u[0]) / step > 65534:
            return None
        k = (row - u[0]) / step
        if not np.allclose(k, np.round(k), atol=1e-3):
            return None
        steps.append(step)
    return np.asarray(steps)


def int16_unmap(codes: np.ndarray, offset: np.ndarray, step: np.ndarray) -> np.ndarray:
    return codes.astype(np.float64) * step.astype(np.float64)[:, None] + offset.astype(np.float64)[:, None]


def pack_parts(*parts: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(p)) + p for p in parts)


def unpack_parts(buf: bytes, n: int) -> list[bytes]:
    out, pos = [], 0
    for i in range(n):
        if pos + 4 > len(buf):
            raise BitstreamError(f"payload truncated in part {i}")
        (m,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        if pos + m > len(buf):
            raise BitstreamError(f"payload part {i} claims {m} bytes, {len(buf) - pos} left")
        out.append(buf[pos:pos + m])
        pos += m
    if pos != len(buf):
        raise BitstreamError(f"{len(buf) - pos} unexpected bytes after the payload parts")
    return out


def code_ints(q: np.ndarray) -> bytes:
    """(n, m) integers -> entropy-coded bytes (adaptive arithmetic coder, one model per column)."""
    q = np.asarray(q, np.int64)
    if q.size == 0:
        return b""
    s = encode_coefficients(q)
    return struct.pack("<Q", s.n_bits) + s.data


def decode_ints(buf: bytes, n: int, m: int) -> np.ndarray:
    if n * m == 0:
        if buf:
            raise BitstreamError("payload holds data for an empty array")
        return np.zeros((n, m), np.int64)
    if len(buf) < 8:
        raise BitstreamError("entropy-coded part truncated")
    (n_bits,) = struct.unpack_from("<Q", buf)
    try:
        return decode_coefficients(EncodedStream(buf[8:], int(n_bits), n * m), n, m)
    except (EntropyCodingError, IndexError, ValueError) as exc:
        raise BitstreamError(f"corrupt entropy-coded data ({exc})") from None


def code_times(t: np.ndarray) -> bytes:
    t = np.asarray(t, np.int64)
    if t.size == 0:
        return b""
    s = encode_times(t)
    return struct.pack("<Q", s.n_bits) + s.data


def decode_times_part(buf: bytes, n: int, n_samples: int) -> np.ndarray:
    if n == 0:
        return np.zeros(0, np.int64)
    if len(buf) < 8:
        raise BitstreamError("spike-time part truncated")
    (n_bits,) = struct.unpack_from("<Q", buf)
    try:
        t = decode_times(EncodedStream(buf[8:], int(n_bits), n), n)
    except (EntropyCodingError, IndexError, ValueError) as exc:
        raise BitstreamError(f"corrupt spike times ({exc})") from None
    if t.size and (t[-1] >= n_samples):
        raise BitstreamError("spike time beyond the recording")
    return t


def _resample(x: np.ndarray, up: int, down: int) -> np.ndarray:
    from scipy.signal import resample_poly

    return resample_poly(x, up, down, axis=-1, padtype="line")


def lfp_factor(fs: float, lfp_fs: float = 1000.0) -> int:
    return max(1, int(round(fs / lfp_fs)))


def lfp_encode(data: np.ndarray, factor: int, step: np.ndarray, fs: float | None = None) -> tuple[bytes, np.ndarray]:
    """LFP path: low-pass at 300 Hz (zero-phase Butterworth, order 4: the LFP band), decimate,
    quantize (per-channel step), code first differences. Returns (bytes, decoded LFP at the full rate)."""
    from neurocodec.metrics.spike_fidelity import lowpass

    if factor > 1:
        low = _resample(lowpass(data, fs) if fs else data, 1, factor)
    else:
        low = data.copy()
    q = np.round(low / step[:, None]).astype(np.int64)
    d = np.diff(q, axis=1, prepend=0)
    return code_ints(d.T), lfp_reconstruct(q, factor, step, data.shape[1])


def lfp_reconstruct(q: np.ndarray, factor: int, step: np.ndarray, n_samples: int) -> np.ndarray:
    low = q.astype(np.float64) * step.astype(np.float64)[:, None]
    if factor == 1:
        return low[:, :n_samples]
    up = _resample(low, factor, 1)
    if up.shape[1] < n_samples:
        up = np.pad(up, ((0, 0), (0, n_samples - up.shape[1])), mode="edge")
    return up[:, :n_samples]


def lfp_decode(buf: bytes, n_channels: int, n_samples: int, factor: int, step: np.ndarray) -> np.ndarray:
    n_low = -(-n_samples // factor)
    d = decode_ints(buf, n_low, n_channels).T
    return lfp_reconstruct(np.cumsum(d, axis=1), factor, step, n_samples)


def spike_band_sigma(data: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(band-passed signal 300-5000 Hz, per-channel MAD sigma), as the metrics compute them."""
    from neurocodec.metrics.spike_fidelity import mad_sigma, spike_band

    bp = spike_band(data, fs)
    return bp, mad_sigma(bp)


def groups_of(n_channels: int, size: int = 4) -> list[np.ndarray]:
    return [np.arange(s, min(s + size, n_channels)) for s in range(0, n_channels, size)]


def detect_group(bp: np.ndarray, sigma: np.ndarray, fs: float, threshold: float, snippet: int, pre: int) -> np.ndarray:
    """Peak samples where max_c(-bp_c / sigma_c) over the group exceeds threshold (>= 1 ms apart)
    and the snippet fits in the recording."""
    from scipy.signal import find_peaks

    env = (-bp / sigma[:, None]).max(axis=0)
    peaks, _ = find_peaks(env, height=threshold, distance=max(1, int(round(1e-3 * fs))))
    keep = (peaks >= pre) & (peaks - pre + snippet <= bp.shape[1])
    return peaks[keep].astype(np.int64)


def cut(x: np.ndarray, times: np.ndarray, snippet: int, pre: int) -> np.ndarray:
    """(n_times, channels, snippet) windows of a (channels, samples) signal."""
    idx = times[:, None] - pre + np.arange(snippet)[None, :]
    return np.transpose(x[:, idx], (1, 0, 2))


def place(shape, groups, times_per_group, snippets_per_group, snippet: int, pre: int) -> np.ndarray:
    """Sum of snippets at their positions divided by the number covering each sample."""
    acc = np.zeros(shape)
    cnt = np.zeros(shape)
    for g, t, s in zip(groups, times_per_group, snippets_per_group):
        for i, ti in enumerate(t):
            sl = slice(ti - pre, ti - pre + snippet)
            acc[g, sl] += s[i]
            cnt[g, sl] += 1
    return np.where(cnt > 0, acc / np.maximum(cnt, 1), 0.0)


class _HybridBase(Codec):
    """Band split shared by the classical hybrid and the learned stream codec: subclasses code the
    snippets (`_code_snippets` / `_decode_snippets`)."""

    group_size = 4

    def __init__(self, fs: float, lfp_step: float = 4.0, threshold: float = 4.0, snippet: int = 32,
                 pre: int = 15, lfp_fs: float = 1000.0):
        self.fs, self.lfp_step, self.threshold = float(fs), float(lfp_step), float(threshold)
        self.snippet, self.pre, self.lfp_fs = int(snippet), int(pre), float(lfp_fs)
        if not (self.fs > 0 and self.lfp_step > 0 and self.threshold > 0 and 0 <= self.pre < self.snippet):
            raise NeurocodecError(f"invalid {type(self).__name__} parameters: {self._config()}")

    def _config(self) -> dict:
        return {"fs": self.fs, "lfp_step": self.lfp_step, "threshold": self.threshold,
                "snippet": self.snippet, "pre": self.pre, "lfp_fs": self.lfp_fs}

    @property
    def spikes_on(self) -> bool:
        from neurocodec.metrics.spike_fidelity import has_spike_band

        return has_spike_band(self.fs)

    # subclass hooks: snippets (n, channels, snippet) residual, sigma (channels,) -> bytes
    def _code_snippets(self, snippets: np.ndarray, sigma: np.ndarray) -> tuple[bytes, np.ndarray]:
        raise NotImplementedError

    def _decode_snippets(self, buf: bytes, n: int, n_ch: int, sigma: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _model_fields(self) -> dict:
        return {}

    def analyse(self, data: np.ndarray) -> dict:
        """Encoder-side band split: sigma, LFP bytes + decoded LFP, residual, spike times per group."""
        n_ch, n_s = data.shape
        if self.spikes_on and n_s > 64:
            bp, sigma = spike_band_sigma(data, self.fs)
        else:
            bp, sigma = None, np.maximum(np.std(data, axis=1), 1e-12)
        sigma = sigma.astype(np.float32)
        factor = lfp_factor(self.fs, self.lfp_fs)
        lfp_bytes, lfp_hat = lfp_encode(data, factor, self.lfp_step * sigma.astype(np.float64),
                                        self.fs if self.spikes_on else None)
        groups = groups_of(n_ch, self.group_size)
        times = [detect_group(bp[g], sigma[g].astype(np.float64), self.fs, self.threshold, self.snippet, self.pre)
                 if bp is not None else np.zeros(0, np.int64) for g in groups]
        return {"sigma": sigma, "factor": factor, "lfp_bytes": lfp_bytes, "lfp_hat": lfp_hat,
                "residual": data - lfp_hat, "groups": groups, "times": times}

    def encode(self, buf: np.ndarray) -> bytes:
        return self.encode_with_details(buf)[0]

    def encode_with_details(self, buf: np.ndarray) -> tuple[bytes, dict]:
        data = check_recording(buf, 1)
        a = self.analyse(data)
        parts, n_spikes, spike_bits = [a["lfp_bytes"]], [], 0
        for g, t in zip(a["groups"], a["times"]):
            sn = cut(a["residual"][g], t, self.snippet, self.pre)
            tb = code_times(t)
            sb, _ = self._code_snippets(sn, a["sigma"][g]) if len(t) else (b"", None)
            parts += [tb, sb]
            n_spikes.append(len(t))
            spike_bits += 8 * (len(tb) + len(sb))
        side = struct.pack(f"<I{len(n_spikes)}I", len(n_spikes), *n_spikes)
        blob = container.Bitstream(self.codec_id, pack_parts(*parts), fs=self.fs, n_channels=data.shape[0],
                                   n_samples=data.shape[1], scaling=a["sigma"], side=side,
                                   **self._model_fields()).pack()
        return blob, {"lfp_bits": 8 * len(a["lfp_bytes"]), "spike_bits": spike_bits,
                      "n_snippets": int(sum(n_spikes)), "lfp_factor": a["factor"]}

    def decode(self, buf: bytes, out: np.ndarray | None = None) -> np.ndarray:
        bs = container.unpack(buf, codec_id=self.codec_id, **{k: v for k, v in self._model_fields().items()
                                                             if k == "model_hash"})
        n_ch, n_s = bs.n_channels, bs.n_samples
        if n_ch < 1 or n_s < 1 or bs.scaling.size != n_ch or not np.all(np.isfinite(bs.scaling)) \
                or not np.all(bs.scaling > 0):
            raise BitstreamError("header channel count, samples or sigma values are invalid")
        if abs(bs.fs - self.fs) > 1e-9 * self.fs:
            raise BitstreamError(f"bitstream at {bs.fs} Hz, codec configured for {self.fs} Hz")
        groups = groups_of(n_ch, self.group_size)
        if len(bs.side) != 4 * (1 + len(groups)) or struct.unpack_from("<I", bs.side)[0] != len(groups):
            raise BitstreamError("side information does not match the channel groups")
        n_spikes = struct.unpack_from(f"<{len(groups)}I", bs.side, 4)
        parts = unpack_parts(bs.payload, 1 + 2 * len(groups))
        sigma = bs.scaling.astype(np.float32)
        factor = lfp_factor(self.fs, self.lfp_fs)
        lfp = lfp_decode(parts[0], n_ch, n_s, factor, self.lfp_step * sigma.astype(np.float64))
        times, snips = [], []
        for gi, g in enumerate(groups):
            n = n_spikes[gi]
            t = decode_times_part(parts[1 + 2 * gi], n, n_s)
            if n and (t[0] < self.pre or t[-1] - self.pre + self.snippet > n_s):
                raise BitstreamError("spike time too close to the recording's ends")
            s = self._decode_snippets(parts[2 + 2 * gi], n, len(g), sigma[g]) if n else np.zeros((0, len(g), self.snippet))
            if n == 0 and parts[2 + 2 * gi]:
                raise BitstreamError("snippet data without spike times")
            times.append(t)
            snips.append(s)
        high = place((n_ch, n_s), groups, times, snips, self.snippet, self.pre)
        return _fill(out, lfp + high)


# ---------------------------------------------------------------- the baselines

def _run(cmd: list[str], what: str) -> None:
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        raise BitstreamError(f"{what} failed ({' '.join(cmd[:1])}: {r.stderr.decode(errors='replace')[-300:]})")


class _Int16Codec(Codec):
    """Helpers for codecs that code 16-bit codes with an external CLI."""

    def __init__(self, fs: float):
        self.fs = float(fs)
        if not self.fs > 0:
            raise NeurocodecError(f"fs must be > 0, got {fs}")

    def _config(self) -> dict:
        return {"fs": self.fs}

    def _head(self, buf):
        bs = container.unpack(buf, codec_id=self.codec_id)
        if bs.n_channels < 1 or bs.n_samples < 1 or bs.scaling.size != 2 * bs.n_channels \
                or not np.all(np.isfinite(bs.scaling)):
            raise BitstreamError("header channel count, samples or scaling values are invalid")
        return bs, bs.scaling[: bs.n_channels], bs.scaling[bs.n_channels:]

    def _pack(self, data, payload, offset, step, side=b""):
        return container.Bitstream(self.codec_id, payload, fs=self.fs, n_channels=data.shape[0],
                                   n_samples=data.shape[1], scaling=np.concatenate([offset, step]), side=side).pack()


@register_codec
class WavPackCodec(_Int16Codec):
    """WavPack hybrid lossy at `bits` bits per sample (`wavpack -b<bits>`), one file for all channels."""

    codec_id = "wavpack"

    def __init__(self, fs: float, bits: float = 3.0):
        super().__init__(fs)
        self.bits = float(bits)
        if not 2.0 <= self.bits <= 23.9:
            raise NeurocodecError(f"wavpack -b takes 2.0..23.9 bits per sample, got {bits}")

    def _config(self) -> dict:
        return {"fs": self.fs, "bits": self.bits}

    @property
    def label(self) -> str:
        return f"wavpack -b{self.bits:g}"

    def encode(self, buf: np.ndarray) -> bytes:
        data = check_recording(buf)
        codes, offset, step = int16_map(data)
        with tempfile.TemporaryDirectory(prefix="nc_wv") as tmp:
            raw, wv = os.path.join(tmp, "x.raw"), os.path.join(tmp, "x.wv")
            np.ascontiguousarray(codes.T).astype("<i2").tofile(raw)
            _run(["wavpack", f"--raw-pcm={int(round(self.fs))},16,{data.shape[0]},le", f"-b{self.bits:g}",
                  "-q", "-y", raw, "-o", wv], "wavpack encode")
            payload = open(wv, "rb").read()
        return self._pack(data, payload, offset, step)

    def decode(self, buf: bytes, out: np.ndarray | None = None) -> np.ndarray:
        bs, offset, step = self._head(buf)
        with tempfile.TemporaryDirectory(prefix="nc_wv") as tmp:
            raw, wv = os.path.join(tmp, "y.raw"), os.path.join(tmp, "y.wv")
            open(wv, "wb").write(bs.payload)
            _run(["wvunpack", "--raw", "-q", "-y", wv, "-o", raw], "wvunpack decode")
            codes = np.fromfile(raw, "<i2")
        if codes.size != bs.n_channels * bs.n_samples:
            raise BitstreamError(f"wvunpack returned {codes.size} samples, expected {bs.n_channels * bs.n_samples}")
        return _fill(out, int16_unmap(codes.reshape(bs.n_samples, bs.n_channels).T, offset, step))


@register_codec
class FlacCodec(_Int16Codec):
    """FLAC lossless (`flac -8`) of the 16-bit codes, groups of <= 8 channels."""

    codec_id = "flac"
    lossless = True
    max_channels = 8

    def encode(self, buf: np.ndarray) -> bytes:
        data = check_recording(buf)
        codes, offset, step = int16_map(data)
        parts = []
        with tempfile.TemporaryDirectory(prefix="nc_flac") as tmp:
            raw, fl = os.path.join(tmp, "x.raw"), os.path.join(tmp, "x.flac")
            for g in groups_of(data.shape[0], self.max_channels):
                np.ascontiguousarray(codes[g].T).astype("<i2").tofile(raw)
                _run(["flac", "--force-raw-format", "--endian=little", "--sign=signed", f"--channels={len(g)}",
                      "--bps=16", f"--sample-rate={int(round(self.fs))}", "-8", "-s", "-f", "-o", fl, raw],
                     "flac encode")
                parts.append(open(fl, "rb").read())
        return self._pack(data, pack_parts(*parts), offset, step)

    def decode(self, buf: bytes, out: np.ndarray | None = None) -> np.ndarray:
        bs, offset, step = self._head(buf)
        groups = groups_of(bs.n_channels, self.max_channels)
        parts = unpack_parts(bs.payload, len(groups))
        codes = np.zeros((bs.n_channels, bs.n_samples), np.int16)
        with tempfile.TemporaryDirectory(prefix="nc_flac") as tmp:
            raw, fl = os.path.join(tmp, "y.raw"), os.path.join(tmp, "y.flac")
            for g, p in zip(groups, parts):
                open(fl, "wb").write(p)
                _run(["flac", "-d", "--force-raw-format", "--endian=little", "--sign=signed", "-s", "-f",
                      "-o", raw, fl], "flac decode")
                c = np.fromfile(raw, "<i2")
                if c.size != len(g) * bs.n_samples:
                    raise BitstreamError(f"flac returned {c.size} samples, expected {len(g) * bs.n_samples}")
                codes[g] = c.reshape(bs.n_samples, len(g)).T
        return _fill(out, int16_unmap(codes, offset, step))


@register_codec
class DecimateCodec(Codec):
    """Decimation by `factor` + uniform requantization to `bits` bits over each channel's range."""

    codec_id = "decimate"

    def __init__(self, fs: float, factor: int = 4, bits: int = 8):
        self.fs, self.factor, self.bits = float(fs), int(factor), int(bits)
        if not (self.fs > 0 and self.factor >= 1 and 1 <= self.bits <= 16):
            raise NeurocodecError(f"invalid decimate parameters factor={factor}, bits={bits}")

    def _config(self) -> dict:
        return {"fs": self.fs, "factor": self.factor, "bits": self.bits}

    @property
    def label(self) -> str:
        return f"decimate /{self.factor} {self.bits}b"

    def encode(self, buf: np.ndarray) -> bytes:
        data = check_recording(buf)
        low = _resample(data, 1, self.factor) if self.factor > 1 else data
        lo, hi = low.min(axis=1).astype(np.float32), low.max(axis=1).astype(np.float32)
        levels = (1 << self.bits) - 1
        span = np.maximum(hi.astype(np.float64) - lo, 1e-30)
        q = np.clip(np.round((low - lo[:, None]) / span[:, None] * levels), 0, levels).astype(np.uint16)
        bits = ((q[..., None] >> np.arange(self.bits - 1, -1, -1, dtype=np.uint16)) & 1).astype(np.uint8)
        payload = np.packbits(bits.ravel()).tobytes()
        return container.Bitstream(self.codec_id, payload, fs=self.fs, n_channels=data.shape[0],
                                   n_samples=data.shape[1], scaling=np.concatenate([lo, hi])).pack()

    def decode(self, buf: bytes, out: np.ndarray | None = None) -> np.ndarray:
        bs = container.unpack(buf, codec_id=self.codec_id)
        n_ch, n_s = bs.n_channels, bs.n_samples
        if n_ch < 1 or n_s < 1 or bs.scaling.size != 2 * n_ch or not np.all(np.isfinite(bs.scaling)):
            raise BitstreamError("header channel count, samples or scaling values are invalid")
        n_low = -(-n_s // self.factor)
        if len(bs.payload) != -(-(n_ch * n_low * self.bits) // 8):
            raise BitstreamError(f"payload of {len(bs.payload)} bytes does not hold {n_ch} x {n_low} x {self.bits} bits")
        bits = np.unpackbits(np.frombuffer(bs.payload, np.uint8))[: n_ch * n_low * self.bits]
        q = bits.reshape(n_ch, n_low, self.bits).astype(np.int64) @ (1 << np.arange(self.bits - 1, -1, -1))
        lo, hi = bs.scaling[:n_ch].astype(np.float64), bs.scaling[n_ch:].astype(np.float64)
        low = lo[:, None] + q / ((1 << self.bits) - 1) * np.maximum(hi - lo, 1e-30)[:, None]
        return _fill(out, lfp_reconstruct(low, self.factor, np.ones(n_ch), n_s) if self.factor > 1 else low)


@register_codec
class DctCodec(Codec):
    """Blockwise DCT-II (64 samples), uniform quantizer (step = step_sigma x channel std),
    adaptive arithmetic coding of the coefficients (one model per coefficient index)."""

    codec_id = "dct"
    block = 64

    def __init__(self, fs: float, step_sigma: float = 0.5):
        self.fs, self.step_sigma = float(fs), float(step_sigma)
        if not (self.fs > 0 and self.step_sigma > 0):
            raise NeurocodecError(f"invalid dct parameters step_sigma={step_sigma}")

    def _config(self) -> dict:
        return {"fs": self.fs, "step_sigma": self.step_sigma}

    @property
    def label(self) -> str:
        return f"dct q{self.step_sigma:g}"

    def encode(self, buf: np.ndarray) -> bytes:
        from scipy.fft import dct

        data = check_recording(buf)
        n_ch, n_s = data.shape
        step = (self.step_sigma * np.maximum(np.std(data, axis=1), 1e-12)).astype(np.float32)
        mean = data.mean(axis=1).astype(np.float32)
        nb = -(-n_s // self.block)
        x = np.pad(data - mean[:, None], ((0, 0), (0, nb * self.block - n_s)), mode="edge")
        c = dct(x.reshape(n_ch * nb, self.block), type=2, norm="ortho", axis=-1)
        q = np.round(c / np.repeat(step.astype(np.float64), nb)[:, None]).astype(np.int64)
        return container.Bitstream(self.codec_id, code_ints(q), fs=self.fs, n_channels=n_ch, n_samples=n_s,
                                   scaling=np.concatenate([mean, step])).pack()

    def decode(self, buf: bytes, out: np.ndarray | None = None) -> np.ndarray:
        from scipy.fft import idct

        bs = container.unpack(buf, codec_id=self.codec_id)
        n_ch, n_s = bs.n_channels, bs.n_samples
        if n_ch < 1 or n_s < 1 or bs.scaling.size != 2 * n_ch or not np.all(np.isfinite(bs.scaling)):
            raise BitstreamError("header channel count, samples or scaling values are invalid")
        nb = -(-n_s // self.block)
        q = decode_ints(bs.payload, n_ch * nb, self.block)
        mean, step = bs.scaling[:n_ch].astype(np.float64), bs.scaling[n_ch:].astype(np.float64)
        x = idct(q * np.repeat(step, nb)[:, None], type=2, norm="ortho", axis=-1).reshape(n_ch, -1)[:, :n_s]
        return _fill(out, x + mean[:, None])


@register_codec
class SpikeHybridCodec(_HybridBase):
    """The classical spike-aware hybrid (module docstring): decimated LFP + uniformly quantized
    spike snippets of the residual, both entropy coded."""

    codec_id = "spike_hybrid"

    def __init__(self, fs: float, lfp_step: float = 4.0, spike_step: float = 1.0, threshold: float = 4.0,
                 snippet: int = 32, pre: int = 15, lfp_fs: float = 1000.0):
        super().__init__(fs, lfp_step, threshold, snippet, pre, lfp_fs)
        self.spike_step = float(spike_step)
        if not self.spike_step > 0:
            raise NeurocodecError(f"spike_step must be > 0, got {spike_step}")

    def _config(self) -> dict:
        return {**super()._config(), "spike_step": self.spike_step}

    @property
    def label(self) -> str:
        return f"spike hybrid q{self.spike_step:g}"

    def _code_snippets(self, snippets, sigma):
        step = self.spike_step * sigma.astype(np.float64)
        q = np.round(snippets / step[None, :, None]).astype(np.int64)
        return code_ints(q.reshape(-1, self.snippet)), q * step[None, :, None]

    def _decode_snippets(self, buf, n, n_ch, sigma):
        q = decode_ints(buf, n * n_ch, self.snippet).reshape(n, n_ch, self.snippet)
        return q * (self.spike_step * sigma.astype(np.float64))[None, :, None]


__all__ = ["WavPackCodec", "FlacCodec", "DecimateCodec", "DctCodec", "SpikeHybridCodec", "check_recording",
           "int16_map", "int16_unmap", "code_ints", "decode_ints", "groups_of", "detect_group", "cut", "place"]
