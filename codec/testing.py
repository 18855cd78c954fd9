"""Shared conformance checks every codec passes (numcodecs' tests/common.py for neurocodec).

`check_codec(codec, data)` asserts the interface contract:

* `encode` returns bytes and is deterministic; `8 * len(bytes)` is the codec's bit count;
* `decode` returns an array of the input's shape (exactly the input for a lossless codec,
  within `max_error` when given), deterministic, and fills `out=` when passed;
* `get_config()` is JSON-serializable, names the codec's id, and `get_codec(config)` rebuilds an
  equal codec that decodes the same bytes to the same array;
* every truncation and `n_flips` seeded single-bit flips of the bitstream either raise
  `BitstreamError` or decode to exactly the same array; never another exception.
"""
from __future__ import annotations

import json

import numpy as np

from neurocodec.codec.registry import get_codec
from neurocodec.errors import BitstreamError


def corruptions(buf: bytes, n_flips: int = 200, n_truncations: int = 40, seed: int = 0):
    """Seeded corrupted variants of `buf`: (kind, bytes) for truncations, bit flips, garbage."""
    rng = np.random.default_rng(seed)
    n = len(buf)
    cuts = sorted(set([0, 1, n - 1] + rng.integers(0, max(n, 1), size=n_truncations).tolist()))
    for c in cuts:
        if 0 <= c < n:
            yield "truncate", buf[:c]
    for _ in range(n_flips):
        pos = int(rng.integers(0, n))
        b = bytearray(buf)
        b[pos] ^= 1 << int(rng.integers(0, 8))
        yield "flip", bytes(b)
    yield "trailing", buf + b"\x00"
    yield "random", rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()


def check_corruption(codec, buf: bytes, reference: np.ndarray, **kw) -> dict:
    """Decode corrupted variants of `buf`; count rejections and identical decodes. Fails on any
    foreign exception or any silently different output."""
    counts = {"rejected": 0, "identical": 0}
    for kind, bad in corruptions(buf, **kw):
        try:
            out = codec.decode(bad)
        except BitstreamError:
            counts["rejected"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - the contract forbids any other exception
            raise AssertionError(f"{codec!r}: {kind} corruption raised {type(exc).__name__}: {exc}") from exc
        assert out.shape == reference.shape and np.array_equal(out, reference), (
            f"{codec!r}: a {kind} corruption decoded silently to a different array")
        counts["identical"] += 1
    return counts


def check_codec(codec, data: np.ndarray, max_error: float | None = None, n_flips: int = 200) -> dict:
    """Run the whole contract on `codec` with `data`; returns {"bits", "rejected", "identical"}."""
    buf = codec.encode(data)
    assert isinstance(buf, bytes) and len(buf) > 0, f"{codec!r}: encode must return non-empty bytes"
    assert codec.encode(data) == buf, f"{codec!r}: encode is not deterministic"
    dec = codec.decode(buf)
    assert isinstance(dec, np.ndarray) and dec.shape == np.shape(data), (
        f"{codec!r}: decoded shape {getattr(dec, 'shape', None)} != input {np.shape(data)}")
    assert np.all(np.isfinite(dec)), f"{codec!r}: decoded array is not finite"
    if codec.lossless:
        assert np.array_equal(dec, data), f"{codec!r} claims lossless but decode(encode(x)) != x"
    if max_error is not None:
        err = float(np.max(np.abs(dec.astype(np.float64) - np.asarray(data, np.float64))))
        assert err <= max_error, f"{codec!r}: max error {err} > {max_error}"
    assert np.array_equal(codec.decode(buf), dec), f"{codec!r}: decode is not deterministic"
    out = np.empty_like(dec)
    assert codec.decode(buf, out=out) is out and np.array_equal(out, dec), f"{codec!r}: decode(out=) broken"
    config = codec.get_config()
    assert config.get("id") == codec.codec_id, f"{codec!r}: get_config() must carry id={codec.codec_id!r}"
    again = get_codec(json.loads(json.dumps(config)))
    assert again == codec, f"{codec!r}: get_codec(get_config()) gave {again!r}"
    assert np.array_equal(again.decode(buf), dec), f"{codec!r}: the rebuilt codec decodes differently"
    counts = check_corruption(codec, buf, dec, n_flips=n_flips)
    return {"bits": 8 * len(buf), **counts}


__all__ = ["check_codec", "check_corruption", "corruptions"]
