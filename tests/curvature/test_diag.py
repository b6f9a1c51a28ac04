"""The exact Hessian diagonal and trace (factored Hessian backpropagation) against JAX."""

from __future__ import annotations

import numpy as np
import pytest

import refchaos as rc
from refchaos.backend import to_host
from refchaos.curvature import ggn, ggn_diag, hessian_diag, hessian_trace
from refchaos.curvature.hbp import CurvatureLayerError
from tests.autodiff import jax_derivatives
from tests.curvature._curv_cases import CASES, IDS, accumulated, case_data
from tests.tolerances import assert_normwise_close, rtol_for, softmax_condition


@pytest.mark.parametrize("name,builder,B", CASES, ids=IDS)
def test_diag_and_trace_equal_jax(name, builder, B):
    model, theta, x, y = case_data(builder, B)
    _, _, H_jax, _ = jax_derivatives(model, theta, x, y, jit=True)
    H_jax = np.asarray(H_jax)
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
