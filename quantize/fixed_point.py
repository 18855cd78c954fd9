"""Integer fixed-point primitives with the exact semantics of QKeras `quantized_bits`
(round half to even, then saturate) and of ap_fixed<..., AP_RND_CONV, AP_SAT>."""
import numpy as np


def shift_round_half_even(v: np.ndarray, shift: int) -> np.ndarray:
    """round(v / 2**shift) with ties to even, for integer arrays; shift <= 0 scales up exactly."""
    v = np.asarray(v, dtype=np.int64)
    if shift <= 0:
        return v << (-shift)
    q = v >> shift  # floor division (arithmetic shift)
    r = v - (q << shift)
    half = np.int64(1) << (shift - 1)
    round_up = (r > half) | ((r == half) & ((q & 1) == 1))
    return q + round_up.astype(np.int64)


def saturate(v: np.ndarray, bits: int, signed: bool = True) -> np.ndarray:
    lo, hi = int_range(bits, signed)
    return np.clip(v, lo, hi)


def int_range(bits: int, signed: bool = True) -> tuple[int, int]:
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def requantize(v: np.ndarray, frac_in: int, bits: int, frac_out: int, signed: bool = True) -> np.ndarray:
    """Integer v at 2**-frac_in -> integer at 2**-frac_out on `bits` bits (half-even, saturate)."""
    return saturate(shift_round_half_even(v, frac_in - frac_out), bits, signed)


def to_int(x: np.ndarray, frac: int) -> np.ndarray:
    """Exact integer code of values already on the 2**-frac grid; raises if any is not."""
    scaled = np.asarray(x, dtype=np.float64) * float(2**frac)
    codes = np.rint(scaled)
    if not np.array_equal(codes, scaled):
        bad = int(np.count_nonzero(codes != scaled))
        raise ValueError(f"{bad} values are not on the 2**-{frac} fixed-point grid")
    return codes.astype(np.int64)


def quantize_to_int(x: np.ndarray, bits: int, frac: int, signed: bool = True) -> np.ndarray:
    """Quantize real values like QKeras quantized_bits: round half even, then saturate."""
    codes = np.round(np.asarray(x, dtype=np.float64) * float(2**frac))  # numpy rounds half to even
    lo, hi = int_range(bits, signed)
    return np.clip(codes, lo, hi).astype(np.int64)
