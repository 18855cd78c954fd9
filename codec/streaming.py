"""Chunked encode / decode of recordings on disk with bounded memory (the `cae` codec).

A recording on disk (`DiskRecording`: interleaved raw int16 like the locust `.raw`, or a `.npy`
of shape (samples, channels) or (channels, samples)) is read in chunks of whole windows with
`os.pread` (no memory map, so the pages read do not stay in the process: resident memory is the
chunk, not the file). Each chunk is converted, scaled, quantized and encoded in sub-blocks of
windows by the same `CaeCodec.encode_latent` as the one-shot path, and its latent codes are
written at their place in the channel-major payload; the last partial window is padded by
`encode_latent` exactly as in one shot (it is the only window that sees the recording's end).
The header is known before the first chunk (sample count, scaling, model id and hash), the CRC
is computed in one sequential pass over the written file, and the file is renamed into place
(neurocodec.files.save_with_atomic). Result: `encode_file` writes the same bytes as
`write_bytes_atomic(out, codec.encode(data))` (tests/test_streaming.py).

Both cores: the fast encoder runs each chunk's windows on a thread pool, and the next chunk is
read by a prefetch thread meanwhile. Memory: two raw chunks in flight, one sub-block's float
intermediates and the chunk's latent codes.

`decode_file` checks the bitstream (header fields, codec id, model hash, payload size, CRC in a
sequential pass) and decodes it chunk by chunk into a `.npy` of shape (channels, samples) float64,
equal to `codec.decode(blob)` (the fixed-point decoder's output does not depend on batching).
"""
from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurocodec.codec import container
from neurocodec.errors import BitstreamError, NeurocodecError
from neurocodec.files import save_with_atomic
from neurocodec.signals.scaling import MinMaxScaling, fit_minmax

SUB_WINDOWS = 256  # windows per channel converted to float at once inside a chunk


@dataclass
class DiskRecording:
    """A recording on disk read by sample ranges: `read(start, stop)` -> (channels, stop - start)."""

    path: Path
    n_channels: int
    n_samples: int
    dtype: np.dtype
    offset: int  # bytes before the first sample
    interleaved: bool  # True: (samples, channels) frames; False: (channels, samples)
    fs: float = 0.0
    units: str = "adc_counts"

    @classmethod
    def raw(cls, path, n_channels: int, fs: float, dtype="<i2", units: str = "adc_counts") -> "DiskRecording":
        path = Path(path)
        dtype = np.dtype(dtype)
        size = path.stat().st_size
        frame = dtype.itemsize * n_channels
        if size % frame:
            raise NeurocodecError(f"{path}: size {size} bytes is not a multiple of {frame} "
                                  f"({dtype} x {n_channels} channels)")
        return cls(path, n_channels, size // frame, dtype, 0, True, fs, units)

    @classmethod
    def npy(cls, path, fs: float, channels_first: bool | None = None, units: str = "adc_counts") -> "DiskRecording":
        """`.npy` (C order); 2-D shape read as (channels, samples) when channels_first, else
        (samples, channels); by default the shorter axis is the channel axis."""
        path = Path(path)
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
            offset = f.tell()
        if fortran or len(shape) != 2:
            raise NeurocodecError(f"{path}: expected a 2-D C-order array, got shape {shape} (fortran={fortran})")
        if channels_first is None:
            channels_first = shape[0] <= shape[1]
        n_ch, n_s = shape if channels_first else shape[::-1]
        return cls(path, int(n_ch), int(n_s), np.dtype(dtype), offset, not channels_first, fs, units)

    def _pread(self, fd, nbytes: int, pos: int) -> bytes:
        out = bytearray()
        while len(out) < nbytes:
            got = os.pread(fd, nbytes - len(out), pos + len(out))
            if not got:
                raise NeurocodecError(f"{self.path}: file ended early (truncated while reading?)")
            out += got
        return bytes(out)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of every channel, in the file's dtype, shape (channels, n)."""
        n, item = stop - start, self.dtype.itemsize
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if self.interleaved:
                buf = self._pread(fd, n * self.n_channels * item, self.offset + start * self.n_channels * item)
                return np.frombuffer(buf, self.dtype).reshape(n, self.n_channels).T
            rows = [np.frombuffer(self._pread(fd, n * item, self.offset + (c * self.n_samples + start) * item),
                                  self.dtype) for c in range(self.n_channels)]
            return np.stack(rows)
        finally:
            os.close(fd)


def _chunks(n_samples: int, chunk_samples: int):
    return [(s, min(s + chunk_samples, n_samples)) for s in range(0, n_samples, chunk_samples)]


def _prefetched(rec: DiskRecording, spans):
    """Yield rec.read(span) for each span, reading the next one on a thread meanwhile."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurocodec-read") as pool:
        nxt = pool.submit(rec.read, *spans[0]) if spans else None
        for i in range(len(spans)):
            cur = nxt.result()
            nxt = pool.submit(rec.read, *spans[i + 1]) if i + 1 < len(spans) else None
            yield spans[i], cur


def scan_minmax(rec: DiskRecording, chunk_samples: int = 1 << 20) -> MinMaxScaling:
    """Per-channel min-max of the whole recording in one chunked pass (= fit_minmax of the array)."""
    lo = np.full(rec.n_channels, np.inf)
    hi = np.full(rec.n_channels, -np.inf)
    for _, x in _prefetched(rec, _chunks(rec.n_samples, chunk_samples)):
        lo = np.minimum(lo, x.min(axis=1))
        hi = np.maximum(hi, x.max(axis=1))
    return fit_minmax(np.stack([lo, hi], axis=1).astype(np.float64))


def _scaling(codec, rec: DiskRecording) -> tuple[MinMaxScaling, str]:
    stored = MinMaxScaling.from_dict(codec._m.meta["scaling"])
    if not codec.rescale and stored.minimum.size == rec.n_channels:
        return stored, "model's stored per-channel min-max (fitted on its training data)"
    return scan_minmax(rec), "min-max fitted on this recording (one chunked pass)"


def _header_prefix(bs: container.Bitstream) -> bytes:
    """Bytes of the container up to and including the payload length field."""
    empty = container.pack(container.Bitstream(**{**bs.__dict__, "payload": b""}))
    return empty[:-12] + struct.pack("<Q", len(bs.payload))


def _crc_of_file(fd, end: int, block: int = 1 << 22) -> int:
    crc, pos = 0, 0
    while pos < end:
        buf = os.pread(fd, min(block, end - pos), pos)
        if not buf:
            raise BitstreamError("file ended early while checking the CRC")
        crc = zlib.crc32(buf, crc)
        pos += len(buf)
    return crc


def encode_file(codec, rec: DiskRecording, out_path, chunk_windows: int = 1024) -> dict:
    """Stream-encode `rec` with a CaeCodec into the bitstream file `out_path` (atomic)."""
    n = codec._m.spec.segment_length
    ie = codec._m.ie
    if rec.n_samples < n:
        raise NeurocodecError(f"{rec.path}: {rec.n_samples} samples, shorter than one {n}-sample window")
    if chunk_windows < 1:
        raise NeurocodecError(f"chunk_windows must be >= 1, got {chunk_windows}")
    scaling, note = _scaling(codec, rec)
    n_windows = -(-rec.n_samples // n)
    per_window = int(np.prod(ie.latent_shape))
    payload_len = rec.n_channels * n_windows * per_window
    units = rec.units
    header = container.Bitstream(
        codec.codec_id, b"", fs=codec.fs, n_channels=rec.n_channels, n_samples=rec.n_samples,
        scaling=np.concatenate([scaling.minimum, scaling.maximum]), side=units.encode(),
        model_id=codec._m.name, model_hash=codec._m.hash)
    prefix = _header_prefix(header)[:-8] + struct.pack("<Q", payload_len)
    lo = scaling.minimum.reshape(-1, 1)
    hi = scaling.maximum.reshape(-1, 1)
    clipped = np.zeros(rec.n_channels, np.int64)
    chunk_samples = chunk_windows * n

    def save(tmp):
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            os.pwrite(fd, prefix, 0)
            for (start, stop), raw in _prefetched(rec, _chunks(rec.n_samples, chunk_samples)):
                w0 = start // n
                for a in range(0, stop - start, SUB_WINDOWS * n):
                    b = min(a + SUB_WINDOWS * n, stop - start)
                    data = raw[:, a:b].astype(np.float64)
                    if not np.all(np.isfinite(data)):
                        raise NeurocodecError(f"{rec.path}: NaN or Inf in samples {start + a}..{start + b}")
                    clipped[:] += np.count_nonzero((data < lo) | (data > hi), axis=1)
                    latent = codec.encode_latent(data, scaling).astype(np.int8)  # (ch, w, len, f)
                    wa = w0 + a // n
                    for c in range(rec.n_channels):
                        os.pwrite(fd, latent[c].tobytes(), len(prefix) + (c * n_windows + wa) * per_window)
            end = len(prefix) + payload_len
            if os.fstat(fd).st_size != end:
                raise NeurocodecError(f"internal error: wrote {os.fstat(fd).st_size} bytes, expected {end}")
            fd_r = os.open(tmp, os.O_RDONLY)
            try:
                crc = _crc_of_file(fd_r, end)
            finally:
                os.close(fd_r)
            os.pwrite(fd, struct.pack("<I", crc), end)
        finally:
            os.close(fd)

    out_path = save_with_atomic(out_path, save)
    frac = clipped / rec.n_samples
    return {"source": str(rec.path), "codes_file": str(out_path), "n_channels": rec.n_channels,
            "n_samples": rec.n_samples, "windows_per_channel": n_windows, "bitstream_bits": 8 * (len(prefix) + payload_len + 4),
            "latent_values": payload_len, "scaling": note, "clipped_fraction": float(frac.mean()),
            "chunk_windows": chunk_windows}


def _read_header(path) -> tuple[container.Bitstream, int, int]:
    """Checked header of a bitstream file: (Bitstream with empty payload, payload offset, payload length).
    The CRC over the whole file is checked in one sequential pass."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(min(size, 1 << 20))
    r = container._Reader(prefix)
    r.take(5, "magic and version")
    r.take(r.take(1, "codec id length")[0], "codec id")
    r.take(r.take(1, "model id length")[0], "model id")
    r.take(16, "model hash")
    _, _, _, n_scale = r.unpack("<dIQH", "counts")
    r.take(4 * n_scale, "scaling values")
    (side_len,) = r.unpack("<I", "side information length")
    r.take(side_len, "side information")
    (pay_len,) = r.unpack("<Q", "payload length")
    start = r.pos
    if start + pay_len + 4 != size:
        raise BitstreamError(f"{path}: payload length {pay_len} does not match the file size {size}")
    fd = os.open(path, os.O_RDONLY)
    try:
        crc = _crc_of_file(fd, start + pay_len)
        (stored,) = struct.unpack("<I", os.pread(fd, 4, start + pay_len))
    finally:
        os.close(fd)
    if crc != stored:
        raise BitstreamError(f"{path}: checksum mismatch: the bitstream is corrupt")
    head = prefix[: start - 8] + struct.pack("<Q", 0)
    return container.unpack(head + struct.pack("<I", zlib.crc32(head))), start, pay_len


def decode_file(codec, codes_path, out_path, chunk_windows: int = 256, threads: int | None = None) -> dict:
    """Stream-decode a cae bitstream file into a .npy (channels, samples) float64 (atomic)."""
    bs, start, pay_len = _read_header(codes_path)
    m = codec._m
    if bs.codec_id != codec.codec_id or bs.model_hash != m.hash or bs.model_id != m.name:
        raise BitstreamError(f"{codes_path}: written by codec {bs.codec_id!r} / model {bs.model_id!r} "
                             f"(weights {bs.model_hash.hex()}), not this {codec.codec_id!r} model {m.name!r}")
    n = m.spec.segment_length
    n_ch, n_s = bs.n_channels, bs.n_samples
    if n_ch < 1 or n_s < n or bs.scaling.size != 2 * n_ch:
        raise BitstreamError(f"{codes_path}: {n_ch} channels x {n_s} samples, {bs.scaling.size} scaling values")
    n_windows = -(-n_s // n)
    per_window = int(np.prod(m.ie.latent_shape))
    if pay_len != n_ch * n_windows * per_window:
        raise BitstreamError(f"{codes_path}: payload of {pay_len} bytes, expected {n_ch * n_windows * per_window}")
    scaling = MinMaxScaling(bs.scaling[:n_ch].astype(np.float64), bs.scaling[n_ch:].astype(np.float64))
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f8")), "fortran_order": False, "shape": (n_ch, n_s)}

    def save(tmp):
        with open(tmp, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
            data_off = f.tell()
        fd_in = os.open(codes_path, os.O_RDONLY)
        fd = os.open(tmp, os.O_WRONLY)
        try:
            for w0 in range(0, n_windows, chunk_windows):
                w1 = min(w0 + chunk_windows, n_windows)
                lat = np.stack([np.frombuffer(os.pread(fd_in, (w1 - w0) * per_window,
                                                       start + (c * n_windows + w0) * per_window), np.int8)
                                for c in range(n_ch)]).reshape(n_ch * (w1 - w0), *m.ie.latent_shape)
                values = codec.decode_windows(lat, threads=threads, minimum=np.repeat(scaling.minimum, w1 - w0),
                                              maximum=np.repeat(scaling.maximum, w1 - w0)).reshape(n_ch, -1)
                s0, s1 = w0 * n, min(w1 * n, n_s)
                values = values[:, : s1 - s0]
                for c in range(n_ch):
                    os.pwrite(fd, values[c].astype("<f8").tobytes(), data_off + 8 * (c * n_s + s0))
        finally:
            os.close(fd)
            os.close(fd_in)

    out_path = save_with_atomic(out_path, save)
    return {"codes_file": str(codes_path), "decoded_file": str(out_path), "n_channels": n_ch, "n_samples": n_s}


__all__ = ["DiskRecording", "encode_file", "decode_file", "scan_minmax"]
