import numpy as np
import pytest

from neurocodec.quantize.fixed_point import quantize_to_int, requantize, saturate, shift_round_half_even, to_int


def test_shift_rounds_half_to_even_for_both_signs():
    v = np.array([5, 7, 6, -5, -7, -6, 3, -3, 1, -1])
    # /2: 2.5->2, 3.5->4, 3->3, -2.5->-2, -3.5->-4, -3->-3, 1.5->2, -1.5->-2, 0.5->0, -0.5->0
    assert shift_round_half_even(v, 1).tolist() == [2, 4, 3, -2, -4, -3, 2, -2, 0, 0]


def test_shift_non_ties_round_to_nearest():
    v = np.array([9, 11, -9, -11, 13])  # /4: 2.25, 2.75, -2.25, -2.75, 3.25
    assert shift_round_half_even(v, 2).tolist() == [2, 3, -2, -3, 3]
    assert shift_round_half_even(np.array([3, -3]), -2).tolist() == [12, -12]


def test_saturate_and_requantize():
    assert saturate(np.array([-300, -128, 127, 300]), 8).tolist() == [-128, -128, 127, 127]
    assert saturate(np.array([-1, 256]), 8, signed=False).tolist() == [0, 255]
    # 1000/2**3 = 125 fits 8 bits; 2000/2**3 = 250 saturates to 127; ties: 4/8 = 0.5 -> 0, 12/8 = 1.5 -> 2
    assert requantize(np.array([1000, 2000, 4, 12]), 5, 8, 2).tolist() == [125, 127, 0, 2]


def test_quantize_to_int_matches_qkeras_quantized_bits():
    import neurocodec  # noqa: F401
    from qkeras import quantized_bits

    x = np.linspace(-5, 5, 4001).astype(np.float32)
    q = quantized_bits(8, 2, alpha=1)
    expected = np.asarray(q(x)) * 2**5
    assert np.array_equal(quantize_to_int(x, 8, 5), expected.astype(np.int64))


def test_to_int_rejects_values_off_the_grid():
    assert to_int(np.array([0.25, -1.5]), 2).tolist() == [1, -6]
    with pytest.raises(ValueError, match="not on the 2\\*\\*-2"):
        to_int(np.array([0.3]), 2)
