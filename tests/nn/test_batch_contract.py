"""Dense's batch sum a^T b (refchaos.nn.dense.batch_contract) in both of its forms.

Every form is the same sum over the batch axis in another order, so each entry is checked
against NumPy's einsum within the standard bound for a sum of B products,
|fl(s) - s| <= gamma_B sum_b |a_bh| |b_bd|, gamma_B = B u / (1 - B u), u = 2^-53 (float64),
once for each of the two summation orders (factor 2).
"""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest

from refchaos.nn import dense

U = np.finfo(np.float64).eps / 2  # unit roundoff of float64


def exact_and_bound(a, b):
    s = np.einsum("...bh,...bd->...hd", a, b)
    B = a.shape[-2]
    gamma = B * U / (1 - B * U)
    return s, 2 * gamma * np.einsum("...bh,...bd->...hd", np.abs(a), np.abs(b))


SHAPES = [  # (a, b): one pair, K directions on a shared batch (B <= D and B > D), K pairs
    ((8, 20), (8, 256)),
    ((5, 8, 20), (8, 256)),  # stacked: one (K H, B) @ (B, D) GEMM
    ((5, 300, 20), (300, 16)),  # B > D: transposed form
    ((5, 8, 20), (5, 8, 16)),
    ((8, 20), (5, 8, 16)),
]


@pytest.mark.parametrize("sa,sb", SHAPES)
def test_batch_contract_is_the_batch_sum(sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    got = np.asarray(dense.batch_contract(a, b, np))
    s, bound = exact_and_bound(a, b)
    assert got.shape == s.shape
    assert np.all(np.abs(got - s) <= bound)


def test_stacked_is_row_major_and_equals_the_transposed_form():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((7, 8, 20)), rng.standard_normal((8, 256))
    stacked = dense.stacked_contract(a, b, np)
    transposed = dense.transposed_contract(a, b, np)
    assert stacked.flags.c_contiguous  # theta's order: flatten_block reshapes without a copy
    s, bound = exact_and_bound(a, b)
    for got in (stacked, transposed):
        assert np.all(np.abs(got - s) <= bound)
    assert dense.batch_contract(a, b, np).flags.c_contiguous  # B <= D takes the stacked form


def test_batch_contract_on_array_api_strict():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((5, 8, 20)), rng.standard_normal((8, 256))
    got = dense.batch_contract(xps.asarray(a), xps.asarray(b), xps)
    s, bound = exact_and_bound(a, b)
    assert np.all(np.abs(np.asarray(got) - s) <= bound)
