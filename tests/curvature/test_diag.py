"""The exact Hessian diagonal and trace (factored Hessian backpropagation) against JAX."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refchaos as rc
from refchaos.backend import to_host
from refchaos.curvature import ggn, ggn_diag, hessian_blocks, hessian_diag, hessian_trace
from refchaos.curvature.hessian import hessian
from refchaos.curvature.hbp import CurvatureLayerError
from tests.curvature._curv_cases import CASES, IDS, accumulated, case_data, jax_hessian
from tests.tolerances import (assert_normwise_close, cancellation_condition, rtol_for,
                              softmax_condition)


@pytest.mark.parametrize("name,builder,B", CASES, ids=IDS)
def test_diag_and_trace_equal_jax(name, builder, B):
    model, theta, x, y, H_jax = jax_hessian(name)
    rtol = rtol_for(accumulated(model, B)) * softmax_condition(model, theta, x)
    d = hessian_diag(model, theta, x, y)
    assert d.dtype == np.float64 and d.shape == (model.num_params,)
    assert_normwise_close(d, np.diag(H_jax), rtol, f"{name} diag")
    # The trace is a sum of N diagonal entries: the rounding of that sum adds gamma_N.
    t = hessian_trace(model, theta, x, y)
    assert t.shape == ()
    scale = np.abs(np.diag(H_jax)).sum()
    assert abs(float(t) - np.trace(H_jax)) <= (rtol + rtol_for(model.num_params)) * scale


@pytest.mark.parametrize("name,builder,B", CASES[:3], ids=IDS[:3])
def test_ggn_diag_is_the_diagonal_of_ggn(name, builder, B):
    model, theta, x, y = case_data(builder, B)
    rtol = rtol_for(accumulated(model, B)) * softmax_condition(model, theta, x)
    assert_normwise_close(ggn_diag(model, theta, x, y), np.diag(ggn(model, theta, x, y)), rtol, name)
    assert np.all(ggn_diag(model, theta, x, y) >= 0)  # G is positive semi-definite


def test_relu_diag_equals_ggn_diag_on_the_first_layer():
    """Above the first layer of a ReLU MLP nothing is curved: its diagonal is the GGN's there."""
    model, theta, x, y = case_data(CASES[0][1], 5)
    d, g = hessian_diag(model, theta, x, y), ggn_diag(model, theta, x, y)
    n0 = 10 * 6 + 6
    np.testing.assert_array_equal(d[:n0], g[:n0])  # the very same factors: identical bits


def test_diag_on_every_backend(xp):
    model = rc.mlp([6, 5, 3], "tanh")
    theta_np = model.init(seed=2)
    rng = np.random.default_rng(1)
    x_np, y_np = rng.standard_normal((4, 6)), rng.integers(0, 3, 4)
    theta = model.init(seed=2, backend=xp)
    x, y = xp.asarray(x_np), xp.asarray(y_np)
    rtol = rtol_for(accumulated(model, 4))
    d = hessian_diag(model, theta, x, y)
    assert d.dtype == xp.float64
    assert_normwise_close(to_host(d), hessian_diag(model, theta_np, x_np, y_np), rtol, "backend")
    assert_normwise_close(to_host(ggn_diag(model, theta, x, y)), ggn_diag(model, theta_np, x_np, y_np),
                          rtol, "backend ggn")


def test_unknown_parameter_layer_is_refused():
    class Scale(rc.nn.Dense):  # a parameter layer the factored rule has no entry for
        kind = "scale"

    model = rc.mlp([4, 3])
    model.layers[0] = Scale(4, 3)
    with pytest.raises(CurvatureLayerError, match="scale|Scale"):
        hessian_diag(model, model.init(0), np.zeros((2, 4)), np.zeros(2, dtype=np.int64))


def test_bad_input_is_named():
    model = rc.mlp([4, 3])
    with pytest.raises(ValueError, match="theta must have shape"):
        hessian_diag(model, np.zeros(3), np.zeros((2, 4)), np.zeros(2, dtype=np.int64))


@settings(max_examples=15, deadline=None)
@given(D=st.integers(1, 6), widths=st.lists(st.integers(1, 5), min_size=0, max_size=2),
       C=st.integers(2, 4), B=st.integers(1, 5), act=st.sampled_from(["relu", "tanh", "sigmoid", "softplus"]),
       loss=st.sampled_from(["cross_entropy", "mse"]), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_diag_and_blocks_equal_the_rop_hessian_hypothesis(D, widths, C, B, act, loss, bias, seed):
    """Random MLPs (0 to 2 hidden layers of 1 to 5 units): diag and layer blocks are those of the
    R-operator Hessian (itself checked against JAX in tests/curvature/test_hessian_fast.py)."""
    model = rc.mlp([D, *widths, C], activation=act, loss=loss, bias=bias)
    rng = np.random.default_rng(seed)
    theta = model.init(seed=seed)
    x, y = rng.standard_normal((B, D)), rng.integers(0, C, B)
    H = hessian(model, theta, x, y, method="rop")
    rtol = rtol_for(accumulated(model, B)) * softmax_condition(model, theta, x)
    assert_normwise_close(hessian_diag(model, theta, x, y), np.diag(H), rtol, "diag")
    G = ggn(model, theta, x, y)  # H = G + residual: a small block may be their difference
    for blk in hessian_blocks(model, theta, x, y, by="param"):
        a, b = blk.span
        h, g = H[a:b, a:b], G[a:b, a:b]
        assert_normwise_close(blk.H, h, rtol * cancellation_condition(h, g, h - g), blk.name)


def test_block_formed_by_cancellation_is_compared_against_its_parts():
    """The example that fixed the block tolerance: the second layer's 1 x 1 weight block is
    3.0e-5, the difference of a Gauss-Newton part and a residual part of 0.0315 each."""
    model = rc.mlp([2, 1, 1, 2], activation="softplus", loss="cross_entropy", bias=True)
    rng = np.random.default_rng(236)
    theta = model.init(seed=236)
    x, y = rng.standard_normal((2, 2)), rng.integers(0, 2, 2)
    H, G = hessian(model, theta, x, y, method="rop"), ggn(model, theta, x, y)
    blk = next(b for b in hessian_blocks(model, theta, x, y, by="param") if b.name == "2.weight")
    a, b = blk.span
    h, g = H[a:b, a:b], G[a:b, a:b]
    kappa = cancellation_condition(h, g, h - g)
    assert kappa > 1000  # the parts cancel to three digits
    rtol = rtol_for(accumulated(model, 2)) * softmax_condition(model, theta, x)
    assert_normwise_close(blk.H, h, rtol * kappa, blk.name)
