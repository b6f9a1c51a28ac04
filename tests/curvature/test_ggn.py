"""The generalized Gauss-Newton matrix against JAX, and the Fisher identity for cross-entropy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import refchaos as rc
from refchaos.backend import to_host
from refchaos.curvature import ggn, ggn_vp
from tests.autodiff import jax_forward
from tests.curvature._curv_cases import CASES, IDS, accumulated, case_data
from tests.tolerances import assert_normwise_close, rtol_for, softmax_condition


def _jax_ggn(model, theta, x, y):
    """sum_b J_b^T H_z,b J_b with J from jax.jacobian and H_z from jax.hessian of the loss in z."""
    f = jax_forward(model)
    J = np.asarray(jax.jacobian(f)(jnp.asarray(theta), jnp.asarray(x)))  # (B, C, N)
    z = np.asarray(f(jnp.asarray(theta), jnp.asarray(x)))
    B = x.shape[0]

    def loss_z(zb, yb):  # one sample's term of the mean loss
        if model.loss_fn.name == "cross_entropy":
            return -jax.nn.log_softmax(zb)[yb] / B
        return 0.5 * jnp.sum((zb - jax.nn.one_hot(yb, zb.shape[0])) ** 2) / B

    Hz = [np.asarray(jax.hessian(loss_z)(jnp.asarray(z[b]), int(y[b]))) for b in range(B)]
    return sum(J[b].T @ Hz[b] @ J[b] for b in range(B))


def _jax_fisher(model, theta, x):
    """(1/B) sum_b sum_c p_bc g_bc g_bc^T, g_bc = grad ln p_b[c]: the expectation written out."""
    f = jax_forward(model)
    th, xs = jnp.asarray(theta), jnp.asarray(x)
    logp = lambda t: jax.nn.log_softmax(f(t, xs))  # noqa: E731  (B, C)
    grads = np.asarray(jax.jacobian(logp)(th))  # (B, C, N)
    p = np.exp(np.asarray(logp(th)))  # (B, C)
    return np.einsum("bc,bcn,bcm->nm", p, grads, grads) / x.shape[0]


@pytest.mark.parametrize("name,builder,B", CASES[:4], ids=IDS[:4])
def test_ggn_and_ggn_vp_equal_jax(name, builder, B):
    model, theta, x, y = case_data(builder, B)
    rtol = rtol_for(accumulated(model, B)) * softmax_condition(model, theta, x)
    G = ggn(model, theta, x, y)
    assert G.shape == (model.num_params,) * 2 and G.dtype == np.float64
    G_jax = _jax_ggn(model, theta, x, y)
    assert_normwise_close(G, G_jax, rtol, f"{name} ggn")
    V = np.random.default_rng(3).standard_normal((model.num_params, 3))
    assert_normwise_close(ggn_vp(model, theta, x, y, V), G_jax @ V, rtol, f"{name} ggn_vp")
    assert_normwise_close(ggn_vp(model, theta, x, y, V[:, 0]), G_jax @ V[:, 0], rtol, f"{name} vector")
    lam = np.linalg.eigvalsh(0.5 * (G + G.T))
    assert lam.min() >= -rtol * lam.max()  # positive semi-definite to rounding


CE_CASES = [c for c in CASES if c[1]().loss_fn.name == "cross_entropy"]


@pytest.mark.parametrize("name,builder,B", CE_CASES, ids=[c[0] for c in CE_CASES])
def test_ggn_is_the_fisher_for_cross_entropy(name, builder, B):
    """Eq. (G3): the true Fisher of the softmax model equals the GGN, whatever the labels."""
    model, theta, x, y = case_data(builder, B)
    rtol = rtol_for(accumulated(model, B)) * softmax_condition(model, theta, x)
    F = _jax_fisher(model, theta, x)
    assert_normwise_close(ggn(model, theta, x, y), F, rtol, f"{name} fisher")
    assert_normwise_close(ggn(model, theta, x, (y + 1) % model.num_outputs), F, rtol, "labels")


def test_ggn_equals_hessian_for_a_linear_model():
    """z linear in theta (one dense layer): the network has no curvature of its own, G = H."""
    model, theta, x, y = case_data(lambda: rc.mlp([7, 4]), 5)
    assert_normwise_close(ggn(model, theta, x, y), model.hessian(theta, x, y), rtol_for(2 * (7 + 4 + 5)),
                          "linear")


def test_ggn_vp_on_every_backend(xp):
    model = rc.mlp([5, 4, 3], "tanh")
    rng = np.random.default_rng(0)
    x_np, y_np = rng.standard_normal((3, 5)), rng.integers(0, 3, 3)
    v_np = rng.standard_normal(model.num_params)
    theta_np, theta = model.init(4), model.init(4, backend=xp)
    out = ggn_vp(model, theta, xp.asarray(x_np), xp.asarray(y_np), xp.asarray(v_np))
    ref = ggn(model, theta_np, x_np, y_np) @ v_np
    assert_normwise_close(to_host(out), ref, rtol_for(accumulated(model, 3)), "backend")


def test_ggn_vp_refuses_bad_directions():
    model, theta, x, y = case_data(CASES[0][1], 2)
    with pytest.raises(ValueError, match="v must have shape"):
        ggn_vp(model, theta, x, y, np.zeros(model.num_params + 1))
