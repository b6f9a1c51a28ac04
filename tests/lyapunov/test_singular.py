"""Largest singular values of Y(T) by the adjoint (refchaos.lyapunov.singular) against the SVD of
JAX's Jacobian of the composed SGD steps, and the adjoint against the transposed tangent matrix."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from refchaos.lyapunov import AdjointError, tangent_matrix, top_singular_values
from refchaos.lyapunov.singular import _apply, _trajectory
from refchaos.optim import CGD, SGD, Adam
from tests.lyapunov.test_tangent import jax_steps, make
from tests.tolerances import assert_normwise_close, rtol_for

T = 12
LR = 0.8


def jax_tangent_matrix(model, theta, data, weight_decay=0.0):
    return np.asarray(jax.jacfwd(jax_steps(model, data, LR, 0.0, weight_decay))(jnp.asarray(theta)))


@pytest.mark.parametrize("weight_decay", [0.0, 0.1], ids=["sgd", "weight_decay"])
def test_full_width_block_gives_the_singular_values_of_jax_jacobian(weight_decay):
    # With l = N columns Q_0 spans R^N, so B = Q^T Y has Y's singular values; Y is JAX's
    # Jacobian of the T composed steps. Both sides are backward-stable SVDs of matrices equal
    # to the rounding of T steps (each H Y sums over N parameters and B samples).
    model, theta, data = make(steps=T)
    N = model.num_params
    Y = jax_tangent_matrix(model, theta, data, weight_decay)
    exact = np.linalg.svd(Y, compute_uv=False)
    opt = SGD(LR, weight_decay=weight_decay)
    run = top_singular_values(opt, model, theta, lambda t: data[t], T, k=5, oversample=N)
    tol = rtol_for(T * (N + 5))
    assert np.all(np.abs(run.sigma - exact[:5]) <= tol * exact[0]), (run.sigma, exact[:5])
    np.testing.assert_allclose(run.exponents, np.log(exact[:5]) / T, rtol=0, atol=tol / T * exact[0] / exact[4])
    # the right singular vectors: Y v_j = sigma_j u_j, so ||Y v_j|| = sigma_j
    assert_normwise_close(np.linalg.norm(Y @ np.asarray(run.V), axis=0), exact[:5], tol, "||Y v_j||")
    th = theta
    st = opt.init(theta)
    for x, y in data:
        th, st, _ = opt.step(model, th, st, x, y)
    np.testing.assert_array_equal(run.theta, th)  # the optimizer's own trajectory


def test_narrow_block_gives_lower_bounds_that_converge():
    # l < N: every estimate is a Ritz value, at most sigma_j (module docstring); after q
    # iterations its relative error is of order the square of (sigma_{l+1} / sigma_j)^(2q + 1),
    # asserted here against the unsquared factor (with a margin of 10 for the constant).
    model, theta, data = make(steps=T)
    exact = np.linalg.svd(jax_tangent_matrix(model, theta, data), compute_uv=False)
    k, p, q = 2, 4, 3
    run = top_singular_values(SGD(LR), model, theta, lambda t: data[t], T, k=k, oversample=p,
                              iterations=q)
    tol = rtol_for(T * (model.num_params + 5))
    assert run.history.shape == (q + 1, k)
    assert np.all(run.history <= exact[:k] * (1 + tol)) and np.all(run.sigma <= exact[:k] * (1 + tol))
    rate = (exact[k + p] / exact[:k]) ** (2 * q + 1)
    err = (exact[:k] - run.sigma) / exact[:k]
    assert np.all(err <= 10 * rate + tol), (err, rate)
    first = (exact[:k] - run.history[0]) / exact[:k]
    assert np.all(err <= first + tol)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1], ids=["sgd", "weight_decay"])
def test_reverse_pass_is_the_transposed_tangent_matrix(weight_decay):
    # J(t) = I - lr (H + omega I) is symmetric, so the steps in reverse order give Y(T)^T.
    model, theta, data = make(steps=T)
    opt = SGD(LR, weight_decay=weight_decay)
    Y = np.asarray(tangent_matrix(opt, model, theta, lambda t: data[t], T).Y)
    path, _ = _trajectory(opt, model, theta, lambda t: data[t], T)
    U = np.random.default_rng(3).standard_normal((model.num_params, 3))
    tol = rtol_for(T * (model.num_params + 5))
    assert_normwise_close(_apply(opt, model, path, lambda t: data[t], U, reverse=True), Y.T @ U, tol, "Y^T U")
    assert_normwise_close(_apply(opt, model, path, lambda t: data[t], U, reverse=False), Y @ U, tol, "Y U")


def test_steppers_without_a_symmetric_tangent_map_are_refused():
    model, theta, data = make(steps=2)
    batch = lambda t: data[t]  # noqa: E731
    assert SGD(LR).symmetric_tangent and SGD(LR, weight_decay=0.1).symmetric_tangent
    for opt in (SGD(LR, momentum=0.9), Adam(1e-3), CGD(LR, prune="chaotic")):
        assert not opt.symmetric_tangent
        with pytest.raises(AdjointError, match="does not declare a symmetric one"):
            top_singular_values(opt, model, theta, batch, 2)
    with pytest.raises(ValueError, match="k must be an integer"):
        top_singular_values(SGD(LR), model, theta, batch, 2, k=0)
    with pytest.raises(ValueError, match="iterations must be an integer >= 0"):
        top_singular_values(SGD(LR), model, theta, batch, 2, iterations=-1)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        top_singular_values(SGD(LR), model, theta, batch, 0)
