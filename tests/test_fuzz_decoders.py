"""Fuzzed decoders: random, truncated, bit-flipped, overwritten, extended and spliced inputs to
every decoder (the container, the entropy coder's three streams, the cae codec and every other
registered codec that can be built small) decode to exactly the original or raise a
NeurocodecError; never another exception, never a hang, never a silently different output."""
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocodec.codec import container as C
from neurocodec.codec.registry import codec_ids
from neurocodec.codec.testing import fuzz_decoders, fuzz_target
from neurocodec.errors import NeurocodecError
from neurocodec.quantize import entropy as E


def test_every_decoder_survives_10000_corrupted_inputs(tiny_cae_dir):
    t0 = time.perf_counter()
    result = fuzz_decoders(scale=0.6, seed=13, model_dirs={"cae": str(tiny_cae_dir)})
    for r in result["targets"]:
        print(f"{r['target']:28s} {r['inputs']:6d} inputs, {r['rejected']} refused, {r['identical']} identical, "
              f"max {r['max_seconds']} s")
    t = result["totals"]
    print(f"totals {t}, skipped {result['skipped']}, {time.perf_counter() - t0:.1f} s")
    failures = {r["target"]: r["failures"] for r in result["targets"] if r["failures"]}
    assert not failures, failures
    assert t["foreign"] == 0 and t["silent"] == 0 and t["hangs"] == 0
    assert t["inputs"] >= 10_000
    fuzzed = {r["target"] for r in result["targets"]}
    assert {"codec[cae]", "entropy.indices", "entropy.times", "entropy.coefficients"} <= fuzzed
    assert any(n.startswith("container") for n in fuzzed)
    # every registered codec is fuzzed, or named with the reason it could not be built small
    assert {f"codec[{cid}]" for cid in codec_ids()} <= fuzzed | {f"codec[{k}]" for k in result["skipped"]}
    assert "cae" not in result["skipped"]
    # without their checksum the length checks alone still never let a foreign exception out
    for name, s in result["structure_only"].items():
        assert s["foreign"] == 0 and s["hangs"] == 0, (name, s)
        assert s["rejected"] > 0.5 * s["inputs"], (name, s)


def test_the_fuzzer_catches_foreign_exceptions_silent_outputs_and_hangs():
    """The harness can fail: a decoder that raises IndexError, one that returns a different
    array without an error, and one that never returns are each counted as failures."""
    buf, ref = bytes(range(40)), np.arange(3)

    def index_error(b):
        return ref[len(b)]  # IndexError for most inputs

    def silent(b):
        return np.zeros(3) if len(b) % 2 else ref

    def hang(b):
        while True:
            time.sleep(0.01)

    assert fuzz_target("idx", index_error, buf, ref, 20, 0)["foreign"] > 0
    assert fuzz_target("silent", silent, buf, ref, 20, 0)["silent"] > 0
    r = fuzz_target("hang", hang, buf, ref, 1, 0, time_limit=0.05)
    assert r["hangs"] == r["inputs"] > 0


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_refused_by_the_container_and_the_entropy_reader(blob):
    for decode in (C.unpack, E.EncodedStream.from_bytes, lambda b: E.decode_indices(b, 3, 2, 4),
                   lambda b: E.decode_coefficients(b, 2, 2), lambda b: E.decode_times(b, 2)):
        try:
            decode(blob)
        except NeurocodecError:
            pass


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=0, max_size=60), st.integers(0, 1 << 16), st.integers(-64, 64))
def test_entropy_streams_with_wrong_lengths_never_escape(symbols, n_bits_delta, n_delta):
    idx = np.asarray(symbols, np.int64).reshape(-1, 1)
    s = E.encode_indices(idx, 7)
    assert np.array_equal(E.decode_indices(s, len(idx), 1, 7), idx)
    bad = E.EncodedStream(s.data, s.n_bits + (n_bits_delta % 9) - 4, s.n_symbols)
    for stream, n in ((bad, len(idx)), (s, len(idx) + n_delta)):
        try:
            out = E.decode_indices(stream, n, 1, 7)
        except NeurocodecError:
            continue
        assert stream is s and n == len(idx) or np.array_equal(out, idx)
