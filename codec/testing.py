"""Shared conformance checks every codec passes (numcodecs' tests/common.py for neurocodec).

`check_codec(codec, data)` asserts the interface contract:

* `encode` returns bytes and is deterministic; `8 * len(bytes)` is the codec's bit count;
* `decode` returns an array of the input's shape (exactly the input for a lossless codec,
  within `max_error` when given), deterministic, and fills `out=` when passed;
* `get_config()` is JSON-serializable, names the codec's id, and `get_codec(config)` rebuilds an
  equal codec that decodes the same bytes to the same array;
* every truncation and `n_flips` seeded single-bit flips of the bitstream either raise
  `BitstreamError` or decode to exactly the same array; never another exception.

`fuzz_decoders(...)` is the decoder fuzzer of tests/test_fuzz_decoders.py and `make fuzz`
(`python -m neurocodec.codec.testing --docs docs`): random, truncated, bit-flipped, overwritten,
extended and spliced inputs for the container, the entropy coder's streams and every registered
codec that can be built small; each decode must give exactly the original or a
`NeurocodecError`, within a time limit (a hang is a failure).
"""
from __future__ import annotations

import json
import signal
import time
from contextlib import contextmanager

import numpy as np

from neurocodec.codec.registry import get_codec
from neurocodec.errors import BitstreamError, NeurocodecError


def corruptions(buf: bytes, n_flips: int = 200, n_truncations: int = 40, seed: int = 0, n_mutations: int = 0):
    """Seeded corrupted variants of `buf`: (kind, bytes) for truncations, bit flips, garbage;
    with n_mutations also multi-bit flips, overwritten byte runs, inserted/deleted/appended bytes,
    a swapped block and random streams of random length."""
    rng = np.random.default_rng(seed)
    n = len(buf)
    cuts = sorted(set([0, 1, n - 1] + rng.integers(0, max(n, 1), size=n_truncations).tolist()))
    for c in cuts:
        if 0 <= c < n:
            yield "truncate", buf[:c]
    for _ in range(n_flips if n else 0):
        pos = int(rng.integers(0, n))
        b = bytearray(buf)
        b[pos] ^= 1 << int(rng.integers(0, 8))
        yield "flip", bytes(b)
    yield "trailing", buf + b"\x00"
    yield "random", rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()
    kinds = ("flips", "overwrite", "insert", "delete", "append", "swap", "random_len")
    for i in range(n_mutations):
        kind = kinds[i % len(kinds)]
        b = bytearray(buf)
        if kind == "flips" and n:
            for pos in rng.integers(0, 8 * n, size=int(rng.integers(2, 9))):
                b[pos // 8] ^= 1 << (pos % 8)
        elif kind == "overwrite" and n:
            pos, k = int(rng.integers(0, n)), int(rng.integers(1, 9))
            b[pos:pos + k] = rng.integers(0, 256, size=len(b[pos:pos + k]), dtype=np.uint8).tobytes()
        elif kind == "insert":
            pos = int(rng.integers(0, n + 1))
            b[pos:pos] = rng.integers(0, 256, size=int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
        elif kind == "delete" and n:
            pos = int(rng.integers(0, n))
            del b[pos:pos + int(rng.integers(1, 9))]
        elif kind == "append":
            b += rng.integers(0, 256, size=int(rng.integers(1, 33)), dtype=np.uint8).tobytes()
        elif kind == "swap" and n >= 4:
            i0, i1 = sorted(rng.integers(0, n, size=2).tolist())
            k = int(rng.integers(1, max(2, min(16, i1 - i0 + 1))))
            b[i0:i0 + k], b[i1:i1 + k] = buf[i1:i1 + k], buf[i0:i0 + k]
        else:  # random_len
            b = bytearray(rng.integers(0, 256, size=int(rng.integers(0, 2 * n + 2)), dtype=np.uint8).tobytes())
        if bytes(b) != buf:
            yield kind, bytes(b)


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


class DecodeTimeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float):
    """SIGALRM-based limit (main thread, POSIX): a decode that runs longer is a hang."""
    if seconds is None or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise DecodeTimeout(f"decode still running after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and np.array_equal(a, b))
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def fuzz_target(name: str, decode, buf: bytes, reference, n_flips: int, n_mutations: int, seed: int = 0,
                time_limit: float | None = 20.0, errors=(NeurocodecError,)) -> dict:
    """Feed corruptions of `buf` to `decode`; every result must be `reference` or one of `errors`.

    Returns counts {"inputs", "rejected", "identical", "foreign", "silent", "hangs",
    "max_seconds"} and up to 5 example failures; never raises on a failing decoder."""
    c = {"target": name, "inputs": 0, "rejected": 0, "identical": 0, "foreign": 0, "silent": 0, "hangs": 0,
         "max_seconds": 0.0, "failures": []}
    for kind, bad in corruptions(buf, n_flips=n_flips, n_truncations=max(8, n_flips // 10), seed=seed,
                                 n_mutations=n_mutations):
        c["inputs"] += 1
        t0 = time.perf_counter()
        try:
            with _time_limit(time_limit):
                out = decode(bad)
        except errors:
            c["rejected"] += 1
            continue
        except DecodeTimeout as exc:
            c["hangs"] += 1
            if len(c["failures"]) < 5:
                c["failures"].append(f"{kind}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - the contract forbids any other exception
            c["foreign"] += 1
            if len(c["failures"]) < 5:
                c["failures"].append(f"{kind}: {type(exc).__name__}: {exc}")
            continue
        finally:
            c["max_seconds"] = max(c["max_seconds"], time.perf_counter() - t0)
        if _same(out, reference):
            c["identical"] += 1
        else:
            c["silent"] += 1
            if len(c["failures"]) < 5:
                c["failures"].append(f"{kind}: decoded silently to a different output")
    c["max_seconds"] = round(c["max_seconds"], 4)
    return c


def _container_targets():
    from neurocodec.codec import container as C

    def fields(bs):
        return (bs.codec_id, bs.payload, bs.fs, bs.n_channels, bs.n_samples, np.asarray(bs.scaling, np.float32),
                bs.side, bs.model_id, bs.model_hash)

    rng = np.random.default_rng(1)
    streams = [
        C.Bitstream("cae", rng.integers(-128, 128, 96, dtype=np.int8).tobytes(), 15000.0, 2, 3000,
                    np.array([-900, -800, 700, 650], np.float32), b"adc_counts", "cae_cr64", bytes(range(16))),
        C.Bitstream("flac", rng.integers(0, 256, 300, dtype=np.uint8).tobytes(), 360.0, 1, 650000),
        C.Bitstream("x", b"", 0.0, 0, 0),
    ]
    for i, bs in enumerate(streams):
        yield f"container[{bs.codec_id}]", (lambda b: fields(C.unpack(b))), bs.pack(), fields(bs)


def _entropy_targets():
    from neurocodec.quantize import entropy as E

    rng = np.random.default_rng(2)
    idx = rng.integers(0, 32, (60, 4))
    t = np.cumsum(1 + rng.geometric(0.005, 150))
    q = np.round(rng.laplace(0, 4, (40, 6))).astype(np.int64)
    yield "entropy.indices", (lambda b: E.decode_indices(b, 60, 4, 32)), E.encode_indices(idx, 32).to_bytes(), idx
    yield "entropy.times", (lambda b: E.decode_times(b, len(t))), E.encode_times(t).to_bytes(), t
    yield "entropy.coefficients", (lambda b: E.decode_coefficients(b, 40, 6)), E.encode_coefficients(q).to_bytes(), q


def entropy_structure_only(n_flips: int, seed: int = 0) -> dict:
    """Streams without their checksum (crc=None): the length checks alone. No foreign exception
    and no hang is allowed; a silently different decode is possible (only a checksum catches
    every flip of an arithmetic-coded stream) and is counted, not failed."""
    from neurocodec.quantize import entropy as E

    out = {}
    for name, dec, blob, ref in _entropy_targets():
        st = E.EncodedStream.from_bytes(blob)

        def decode(data, st=st, dec=dec):
            return dec(E.EncodedStream(data, st.n_bits, st.n_symbols))

        r = fuzz_target(name + "[no crc]", decode, st.data, ref, n_flips, n_flips // 2, seed)
        out[name] = {k: r[k] for k in ("inputs", "rejected", "identical", "silent", "foreign", "hangs")}
    return out


def locust_excerpt(n_channels: int = 2, n_samples: int = 3000) -> np.ndarray:
    from neurocodec.signals import load_recording

    return load_recording("locust").data[:n_channels, 20000:20000 + n_samples]


def small_codec(codec_id: str, model_dirs: dict | None = None):
    """(codec, data) for fuzzing a registered codec, or (None, reason). A codec class may define
    a classmethod `fuzz_example()` returning (codec, data); otherwise a model-folder codec is built
    from `model_dirs[codec_id]`, and a parameter-free codec from `cls()`, on a locust excerpt."""
    from neurocodec.codec.abc import RecordingCodec
    from neurocodec.codec.registry import codec_class

    cls = codec_class(codec_id)
    if hasattr(cls, "fuzz_example"):
        codec, data = cls.fuzz_example()
        return codec, data
    if issubclass(cls, RecordingCodec) and (model_dirs or {}).get(codec_id):
        return cls.from_model_dir(model_dirs[codec_id]), locust_excerpt()
    if issubclass(cls, RecordingCodec):
        return None, f"{cls.__name__} needs a trained model folder (pass model_dirs={{{codec_id!r}: DIR}})"
    rec = locust_excerpt()
    windows = rec[0, : 48 * 40].reshape(40, 48)  # real samples as (n, window) spike-like windows
    tried = []
    for make in (lambda: cls(), lambda: cls(fs=15000.0), lambda: cls(delta=2.0),
                 lambda: cls(measurements=16, sparsity=4, delta=2.0)):
        try:
            codec = make()
        except Exception as exc:  # noqa: BLE001 - try the next way to build it
            tried.append(type(exc).__name__)
            continue
        for data in (rec, windows):
            try:
                codec.encode(data)
            except NeurocodecError:
                continue
            return codec, data
    return None, f"no small instance of {cls.__name__} (define {cls.__name__}.fuzz_example())"


def fuzz_decoders(scale: float = 1.0, seed: int = 0, model_dirs: dict | None = None, log=None) -> dict:
    """Fuzz every decoder; returns {"targets": [...], "skipped": {...}, "totals": {...}}.

    scale 1 is the CI size (about 12,000 corrupted inputs); `make fuzz` runs scale 10."""
    from neurocodec.codec.registry import codec_ids

    n = max(20, int(round(600 * scale)))
    results, skipped = [], {}
    targets = list(_container_targets()) + list(_entropy_targets())
    for name, dec, buf, ref in targets:
        results.append(fuzz_target(name, dec, buf, ref, n_flips=2 * n, n_mutations=2 * n, seed=seed))
        if log:
            log(results[-1])
    for cid in codec_ids():
        try:
            codec, data = small_codec(cid, model_dirs)
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            codec, data = None, f"building it raised {type(exc).__name__}: {exc}"
        if codec is None:
            skipped[cid] = data
            continue
        buf = codec.encode(data)
        ref = codec.decode(buf)
        results.append(fuzz_target(f"codec[{cid}]", codec.decode, buf, ref, n_flips=n, n_mutations=n, seed=seed))
        if log:
            log(results[-1])
    keys = ("inputs", "rejected", "identical", "foreign", "silent", "hangs")
    totals = {k: int(sum(r[k] for r in results)) for k in keys}
    return {"scale": scale, "seed": seed, "targets": results, "skipped": skipped, "totals": totals,
            "structure_only": entropy_structure_only(n, seed)}


def _tiny_cae_model(root) -> "Path":
    """A small quantized cae (CR 64, 8 filters, 4 epochs on 12 s of locust) for `make fuzz`."""
    from pathlib import Path

    folder = Path(root) / "cae_cr64_fuzz"
    if (folder / "config.json").is_file():
        return folder
    from neurocodec.train.cae_data import prepare_cae_data
    from neurocodec.train.cae_training import train_cae

    folder, _ = train_cae(prepare_cae_data("locust", max_seconds=12), cr=64, epochs=4, patience=3,
                          hidden_filters=8, out_dir=folder, plots=False, verbose=False)
    return Path(folder)


def write_fuzz_docs(result: dict, docs) -> None:
    from pathlib import Path

    from neurocodec.codec import container
    from neurocodec.files import write_json_atomic, write_text_atomic

    docs = Path(docs)
    write_json_atomic(docs / "fuzz.json", result)
    t = result["totals"]
    line = (f"{t['inputs']} corrupted inputs to {len(result['targets'])} decoders "
            f"({', '.join(r['target'] for r in result['targets'])}): {t['rejected']} refused with a "
            f"NeurocodecError, {t['identical']} decoded to exactly the original, {t['foreign']} foreign "
            f"exceptions, {t['silent']} silently different outputs, {t['hangs']} hangs "
            f"(scale {result['scale']:g}, seed {result['seed']}, {result.get('seconds', 0):.0f} s"
            + (f"; not fuzzed: {', '.join(f'{k} ({v})' for k, v in result['skipped'].items())}" if result["skipped"] else "")
            + ").")
    path = docs / "container.md"
    text = path.read_text()
    begin, end = "<!-- fuzz-summary:begin (written by make fuzz) -->", "<!-- fuzz-summary:end -->"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    write_text_atomic(path, head + begin + "\n" + line + "\n" + end + tail)
    container.write_doc(docs)


def main(argv=None) -> int:
    import argparse

    from neurocodec import paths

    p = argparse.ArgumentParser(prog="python -m neurocodec.codec.testing", description="fuzz every decoder")
    p.add_argument("--scale", type=float, default=10.0, help="1 = the CI size (~12,000 inputs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-dir", help="cae model folder (default: a small one trained under out/fuzz/)")
    p.add_argument("--docs", help="write fuzz.json and the summary line of container.md here")
    a = p.parse_args(argv)
    model = a.model_dir or _tiny_cae_model(paths.out_root() / "fuzz")
    model_dirs = {"cae": str(model)}
    # trained models of the other recording codecs, when `make` has trained them (out/models/<family>)
    from neurocodec.registry import FAMILIES

    for fam in FAMILIES.values():
        d = paths.model_dir(fam.name)
        if fam.codec and fam.codec not in model_dirs and (d / "config.json").is_file():
            model_dirs[fam.codec] = str(d)
    t0 = time.perf_counter()
    result = fuzz_decoders(a.scale, a.seed, model_dirs,
                           log=lambda r: print(f"{r['target']:28s} {r['inputs']:7d} inputs: {r['rejected']} refused, "
                                               f"{r['identical']} identical, {r['foreign']} foreign, {r['silent']} silent, "
                                               f"{r['hangs']} hangs, max {r['max_seconds']} s", flush=True))
    result["seconds"] = time.perf_counter() - t0
    result["model_dirs"] = model_dirs
    if a.docs:
        write_fuzz_docs(result, a.docs)
    t = result["totals"]
    print(f"total {t}")
    return 0 if t["foreign"] == t["silent"] == t["hangs"] == 0 else 1


__all__ = ["check_codec", "check_corruption", "corruptions", "fuzz_target", "fuzz_decoders", "small_codec",
           "entropy_structure_only"]


if __name__ == "__main__":
    import sys

    sys.exit(main())
