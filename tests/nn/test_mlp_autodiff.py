"""MLP loss, gradient, HVP and exact Hessian against JAX autodiff in float64 (Hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import refchaos as rc
from tests.autodiff import jax_derivatives
from tests.tolerances import assert_normwise_close, rtol_for, softmax_condition

ACTS = ["relu", "tanh", "sigmoid", "softplus", "identity"]
SCHEMES = ["pytorch", "normal", "xavier", "he"]


@st.composite
def mlp_cases(draw):
    """Random MLPs: 1 to 3 dense layers, widths 1 to 12 (at least 2 classes for cross-entropy), batch 1 to 16, every activation,
    both losses, every initialiser; inputs N(0, 1); K = 1 to 3 HVP directions."""
    depth = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, 12)) for _ in range(depth + 1)]
    act = draw(st.sampled_from(ACTS))
    loss = draw(st.sampled_from(["cross_entropy", "mse"]))
    if loss == "cross_entropy":
        # One class makes cross-entropy identically 0: its exact derivatives are 0, and the
        # autodiff twin's rounding noise around 0 has no scale to compare against.
        sizes[-1] = max(sizes[-1], 2)
    scheme = draw(st.sampled_from(SCHEMES))
    B = draw(st.integers(1, 16))
    K = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    return sizes, act, loss, scheme, B, K, seed


def accumulation_length(sizes, B):
    """Longest accumulation of a derivative: the sum of the inner sizes met along the chain
    forward, backward and through the R-passes (each layer contracts over its width, the
    parameter gradient over the batch), doubled for the second-order passes."""
    return 2 * (sum(sizes) + B * len(sizes))


@settings(max_examples=40, deadline=None)
@given(mlp_cases())
def test_mlp_derivatives_equal_jax(case):
    sizes, act, loss, scheme, B, K, seed = case
    rng = np.random.default_rng(seed)
    model = rc.mlp(sizes, activation=act, loss=loss)
    theta = model.init(seed=seed, scheme=scheme)
    x = rng.normal(size=(B, sizes[0]))
    y = rng.integers(0, sizes[-1], size=B)
    V = rng.normal(size=(model.num_params, K))
    value, g, H, HV = jax_derivatives(model, theta, x, y, V, jit=True)
    # Every derivative of the loss, from the value on, passes through p = softmax(z) and
    # carries its conditioning: see tolerances.softmax_condition.
    rtol = rtol_for(accumulation_length(sizes, B)) * softmax_condition(model, theta, x)

    assert_normwise_close(model.loss(theta, x, y), value, rtol, "loss")
    assert_normwise_close(model.grad(theta, x, y), g, rtol, "grad")
    assert_normwise_close(model.hvp(theta, x, y, V), HV, rtol, "block hvp")
    assert_normwise_close(model.hvp(theta, x, y, V[:, 0]), HV[:, 0], rtol, "hvp")
    Hr = model.hessian(theta, x, y)
    assert Hr.shape == (model.num_params,) * 2 and Hr.dtype == np.float64
    assert_normwise_close(Hr, H, rtol, "hessian")
    assert_normwise_close(Hr.T, Hr, rtol, "hessian symmetry")


@settings(max_examples=40, deadline=None)
@given(mlp_cases())
def test_adjoint_identity(case):
    """<u, J v> = <J^T u, v> for the Jacobian J = dz/dtheta: the R-forward pass and the
    backward pass are adjoint."""
    sizes, act, loss, scheme, B, _, seed = case
    rng = np.random.default_rng(seed)
    model = rc.mlp(sizes, activation=act, loss=loss)
    theta = model.init(seed=seed, scheme=scheme)
    x = rng.normal(size=(B, sizes[0]))
    u = rng.normal(size=(B, sizes[-1]))
    v = rng.normal(size=model.num_params)
    Jv = model.jvp(theta, x, v)
    JTu = model.vjp(theta, x, u)
    lhs, rhs = float(np.sum(u * Jv)), float(JTu @ v)
    scale = np.linalg.norm(u) * np.linalg.norm(Jv) + np.linalg.norm(JTu) * np.linalg.norm(v)
    assert abs(lhs - rhs) <= rtol_for(accumulation_length(sizes, B)) * scale


def test_mse_with_real_targets_equals_jax():
    rng = np.random.default_rng(3)
    model = rc.mlp([5, 7, 3], activation="softplus", loss="mse")
    theta = model.init(seed=1, scheme="xavier")
    x, t = rng.normal(size=(6, 5)), rng.normal(size=(6, 3))
    value, g, H, _ = jax_derivatives(model, theta, x, t)
    rtol = rtol_for(accumulation_length([5, 7, 3], 6))
    assert_normwise_close(model.loss(theta, x, t), value, rtol, "loss")
    assert_normwise_close(model.grad(theta, x, t), g, rtol, "grad")
    assert_normwise_close(model.hessian(theta, x, t), H, rtol, "hessian")


def test_block_size_does_not_change_the_hessian():
    rng = np.random.default_rng(0)
    model = rc.mlp([4, 6, 3], activation="tanh")
    theta = model.init(seed=0)
    x, y = rng.normal(size=(5, 4)), rng.integers(0, 3, size=5)
    H1 = model.hessian(theta, x, y, block_size=1)
    H7 = model.hessian(theta, x, y, block_size=7)
    Hall = model.hessian(theta, x, y, block_size=model.num_params)
    np.testing.assert_array_equal(H1, H7)  # each column is the same arithmetic
    np.testing.assert_allclose(Hall, H1, rtol=0, atol=rtol_for(40) * np.abs(H1).max())
