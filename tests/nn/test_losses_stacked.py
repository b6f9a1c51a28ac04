"""Losses on stacked batches (..., B, C): each leading index is its own batch mean.

The ensemble (refchaos.ensemble.passes) evaluates the loss of all members in one call on
logits Z (M, B, C). Each member's loss, gradient and Hessian-vector product in z must be those
of its own (B, C) slice: on NumPy bit for bit (the reductions run over the slice's own B C
contiguous values, or along the class axis, in the same order), and against an independent
expression of the formulas of refchaos.nn.losses within rounding.
"""

import numpy as np
import pytest

from refchaos.nn.losses import LOSSES

from ..tolerances import rtol_for

SHAPES = [(1, 1, 2), (3, 8, 10), (5, 33, 7), (2, 1000, 10)]


def _stack(rng, M, B, C):
    Z = 3.0 * rng.standard_normal((M, B, C))
    y = rng.integers(0, C, size=(M, B))
    return Z, y


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("shape", SHAPES)
def test_stacked_loss_is_each_slice_bitwise(name, shape):
    M, B, C = shape
    loss = LOSSES[name]
    rng = np.random.default_rng(M * 1000 + B)
    Z, y = _stack(rng, M, B, C)
    T = np.stack([loss.targets(y[m], B, C, Z.dtype, np) for m in range(M)])
    rZ = rng.standard_normal((4, M, B, C))
    values, grads, hvps = loss.value(Z, T, np), loss.grad(Z, T, np), loss.hvp(Z, T, rZ, np)
    assert values.shape == (M,) and grads.shape == (M, B, C) and hvps.shape == (4, M, B, C)
    for m in range(M):
        assert values[m] == loss.value(Z[m], T[m], np)
        assert np.array_equal(grads[m], loss.grad(Z[m], T[m], np))
        assert np.array_equal(hvps[:, m], loss.hvp(Z[m], T[m], rZ[:, m], np))


@pytest.mark.parametrize("shape", SHAPES)
def test_shared_targets_broadcast_over_members(shape):
    """Targets (B, C) shared by every member give the same numbers as repeated targets."""
    M, B, C = shape
    rng = np.random.default_rng(B)
    Z, y = _stack(rng, M, B, C)
    for loss in LOSSES.values():
        t = loss.targets(y[0], B, C, Z.dtype, np)
        T = np.broadcast_to(t, (M, B, C))
        assert np.array_equal(loss.value(Z, t, np), loss.value(Z, np.ascontiguousarray(T), np))
        assert np.array_equal(loss.grad(Z, t, np), loss.grad(Z, np.ascontiguousarray(T), np))


def test_stacked_cross_entropy_against_the_formula():
    """L_m = -(1/B) sum_b ln p_b[y_b] for each member, from an independent log-sum-exp."""
    M, B, C = 4, 50, 10
    rng = np.random.default_rng(7)
    Z, y = _stack(rng, M, B, C)
    loss = LOSSES["cross_entropy"]
    T = np.stack([loss.targets(y[m], B, C, Z.dtype, np) for m in range(M)])
    mx = Z.max(axis=-1, keepdims=True)
    lse = (mx + np.log(np.exp(Z - mx).sum(axis=-1, keepdims=True)))[..., 0]
    expect = np.array([np.mean(lse[m] - Z[m, np.arange(B), y[m]]) for m in range(M)])
    # the loss sums t * ln p over all B C entries, every term -ln p_b[y_b] >= 0 (no
    # cancellation): the worst-case relative bound of a sum of B C terms, rtol_for(B C)
    np.testing.assert_allclose(loss.value(Z, T, np), expect, rtol=rtol_for(B * C), atol=0)
