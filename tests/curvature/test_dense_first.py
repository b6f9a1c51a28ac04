"""The Dense-first reduction: exact non-zero spectra for any activation and loss.

Checked against the dense eigh of the R-operator Hessian and against JAX (eigenvalues of
``jax.hessian`` and the projected CGD update computed from JAX's eigenpairs). Tolerances as in
tests/curvature/test_spectrum.py: Weyl for eigenvalues, Davis-Kahan (error / gap) for
projectors, with the backward error 2 rtol_for(N) ||H|| of two independent roundings.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refchaos as rc
from refchaos.curvature import spectrum
from refchaos.curvature.dense_first import reduce, reduced_size
from refchaos.curvature.range import range_applies, range_dimension
from refchaos.optim.eigensets import ZERO_TOL
from tests.autodiff import jax_derivatives
from tests.curvature.test_spectrum import _check_against_dense, _data
from tests.tolerances import rtol_for

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus")

CASES = [  # sizes, activation, loss, B: B < D unless stated
    ([30, 6, 4], "tanh", "cross_entropy", 4),
    ([30, 6, 4], "sigmoid", "mse", 4),
    ([30, 6, 5, 4], "softplus", "cross_entropy", 3),
    ([30, 6, 4], "relu", "mse", 5),
    ([40, 5, 3], "sigmoid", "cross_entropy", 1),  # a single sample
    ([4, 12, 3], "tanh", "cross_entropy", 9),  # B > D: no reduction, the dense path
]


def _pairs_from(H):
    lam, V = np.linalg.eigh(0.5 * (H + H.T))
    return lam, V


@pytest.mark.parametrize("sizes,act,loss,B", CASES, ids=[f"{c[1]}-{c[2]}-{len(c[0])}-B{c[3]}" for c in CASES])
def test_auto_equals_dense(sizes, act, loss, B):
    model = rc.mlp(sizes, activation=act, loss=loss)
    theta = model.init(seed=3)
    x, y = _data(model, B, seed=B)
    lam, V = spectrum(model, theta, x, y, method="auto")
    if B >= sizes[0]:
        assert reduced_size(model, B) is None and lam.shape[0] == model.num_params
        return
    assert range_applies(model, B) and lam.shape[0] < model.num_params
    _check_against_dense(model, theta, x, y, lam, V)


def _projected_update(lam, V, g, lr):
    """-lr (g - V_S V_S^T g), S the chaotic set (lambda < 0 or > 2 / lr) outside the zero band."""
    nonzero = np.abs(lam) > ZERO_TOL * np.abs(lam).max()
    S = nonzero & ((lam < 0) | (lam > 2.0 / lr))
    VS = V[:, S]
    return -lr * (g - VS @ (VS.T @ g)), S


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_cgd_update_equals_jax(act, loss):
    """One CGD step (chaotic pruning) with spectrum auto equals the update from JAX's eigh."""
    model = rc.mlp([24, 5, 4], activation=act, loss=loss)
    theta = model.init(seed=7)
    x, y = _data(model, 3, seed=1)
    _, g_jax, H_jax, _ = jax_derivatives(model, theta, x, y)  # one shape: eager JAX caches it
    lam_j, V_j = _pairs_from(np.asarray(H_jax))
    # the non-zero eigenvalues equal JAX's, the rest of JAX's are zero
    lam, _ = spectrum(model, theta, x, y, method="auto")
    n, N = lam.shape[0], model.num_params
    err = 2 * rtol_for(N) * np.abs(lam_j).max()
    nz = np.sort(np.argsort(-np.abs(lam_j), kind="stable")[:n])
    assert n < N
    np.testing.assert_allclose(lam, lam_j[nz], rtol=0, atol=err)
    assert np.abs(np.delete(lam_j, nz)).max(initial=0.0) <= err
    lr = 3.0 / lam_j.max()  # the top eigenvalues exceed 2 / lr: some directions are chaotic
    d_jax, S = _projected_update(lam_j, V_j, np.asarray(g_jax), lr)
    assert S.any()
    opt = rc.optim.CGD(lr=lr, prune="chaotic", spectrum_method="auto")
    theta_new, _, info = opt.step(model, theta, opt.init(theta), x, y)
    assert info["n_pruned"] == int(S.sum())
    # Davis-Kahan: the pruned projector moves by ||E|| / gap, gap between S and the rest (and 0)
    others = np.concatenate([lam_j[~S], [0.0]])
    gap = np.min(np.abs(lam_j[S][:, None] - others[None, :]))
    g_norm = np.linalg.norm(np.asarray(g_jax))
    assert np.linalg.norm((theta_new - theta) - d_jax) <= 2 * lr * (err / gap + rtol_for(model.num_params)) * g_norm


def test_h22_sigmoid_mlp_exact_range(usps_head):
    """H22's 256-20-10 sigmoid MLP on 8 real digits: T is 390 x 390; V spans exactly range(H).

    Checked by HVPs only (no 5,350 x 5,350 eigh): H V = V diag(lambda) with V orthonormal,
    and H w = 0 for w orthogonal to V, so (lambda, V) are all the non-zero eigenpairs of H.
    """
    x_all, y_all = usps_head
    model = rc.mlp([256, 20, 10], activation="sigmoid")
    theta = model.init(seed=0)
    x, y = x_all[:8], y_all[:8]
    assert range_dimension(model, 8) == 20 * 8 + 20 + 210
    lam, V = spectrum(model, theta, x, y, method="auto")
    N, n = model.num_params, lam.shape[0]
    assert 0 < n <= 390
    err = 2 * rtol_for(N) * np.abs(lam).max()
    np.testing.assert_allclose(V.T @ V, np.eye(n), rtol=0, atol=rtol_for(N))
    assert np.linalg.norm(model.hvp(theta, x, y, V) - V * lam[None, :], 2) <= err
    w = np.random.default_rng(0).standard_normal((N, 4))
    w = w - V @ (V.T @ w)
    assert np.linalg.norm(model.hvp(theta, x, y, w), 2) <= err * np.linalg.norm(w, 2)


def test_reduction_is_exact():
    """The reduced network has the same loss and gradient (mapped by Q^T) as the full one."""
    model = rc.mlp([20, 6, 3], activation="tanh")
    theta = model.init(seed=2)
    x, y = _data(model, 4)
    red = reduce(model, theta, x)
    assert red.model.num_params == 6 * 4 + 6 + 21 and red.x.shape == (4, 4)
    tol = rtol_for(20 + 6 + 3)
    np.testing.assert_allclose(red.model.loss(red.theta, red.x, y), model.loss(theta, x, y), rtol=tol)
    g, g_r = model.grad(theta, x, y), red.model.grad(red.theta, red.x, y)
    # g lies in range(Q) (Q^T g = g~ and Q g~ = g): dL/dW = sum_b delta_b x_b^T
    np.testing.assert_allclose(red.lift(g_r[:, None])[:, 0], g, rtol=0, atol=tol * np.abs(g).max())


@settings(max_examples=12, deadline=None)
@given(D=st.integers(4, 12), widths=st.lists(st.integers(1, 5), min_size=1, max_size=2),
       C=st.integers(2, 4), B=st.integers(1, 3), act=st.sampled_from(ACTIVATIONS),
       loss=st.sampled_from(["cross_entropy", "mse"]), seed=st.integers(0, 2**16))
def test_auto_equals_dense_hypothesis(D, widths, C, B, act, loss, seed):
    model = rc.mlp([D, *widths, C], activation=act, loss=loss)
    theta = model.init(seed=seed)
    x, y = _data(model, B, seed)
    lam, V = spectrum(model, theta, x, y, method="auto")
    H = model.hessian(theta, x, y)
    lam_d = np.linalg.eigvalsh(0.5 * (H + H.T))
    N, n = model.num_params, lam.shape[0]
    err = 2 * rtol_for(N) * max(np.abs(lam_d).max(), np.finfo(float).tiny)
    nz = np.sort(np.argsort(-np.abs(lam_d), kind="stable")[:n])
    np.testing.assert_allclose(lam, lam_d[nz], rtol=0, atol=err)
    assert np.abs(np.delete(lam_d, nz)).max(initial=0.0) <= err
    if n:
        assert np.linalg.norm(H @ V - V * lam[None, :], 2) <= err
