"""Every spectrum method agrees with ``dense``: eigenvalues, eigenspaces (projectors), zero counts.

Tolerances. A backward-stable eigh of H + E, ||E|| <= rtol_for(N) ||H|| (the rounding of the
Hessian's assembly and of the decomposition, Higham Sec. 3.1 with tests/tolerances.SAFETY),
moves each eigenvalue by at most ||E|| (Weyl) and the spectral projector of an eigenvalue group
separated from the rest by a gap delta by at most ||E|| / delta (Davis-Kahan sin-theta). Two
methods round independently: twice those. Eigenvectors of repeated eigenvalues are not unique,
so eigenspaces are compared through their projectors.
"""

from __future__ import annotations

import numpy as np
import pytest

import refchaos as rc
from refchaos.backend import to_host
from refchaos.curvature import range as range_mod
from refchaos.curvature import spectrum
from refchaos.curvature.range import range_applies
from tests.tolerances import rtol_for


def _data(model, B, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, *model.input_shape)), rng.integers(0, model.num_outputs, B)


def _check_against_dense(model, theta, x, y, lam, V):
    """lam, V (the non-zero pairs from range) against all N dense pairs."""
    N = model.num_params
    lam_d, V_d = spectrum(model, theta, x, y, method="dense")
    assert lam_d.shape == (N,) and V_d.shape == (N, N)
    n = lam.shape[0]
    scale = np.abs(lam_d).max()
    err = 2 * rtol_for(N) * scale  # Weyl, two independent roundings
    assert np.all(np.diff(lam) >= 0), "ascending"
    # the n non-zero eigenvalues of dense are its n largest in magnitude; the rest is zero
    nz = np.sort(np.argsort(-np.abs(lam_d), kind="stable")[:n])
    zero = np.setdiff1d(np.arange(N), nz)
    assert np.abs(lam_d[zero]).max(initial=0.0) <= err, "dense eigenvalues outside the range are zero"
    np.testing.assert_allclose(lam, lam_d[nz], rtol=0, atol=err)
    np.testing.assert_allclose(V.T @ V, np.eye(n), rtol=0, atol=rtol_for(N))
    gap = np.abs(lam).min()  # separation of the non-zero group from the zero eigenvalue
    P, P_d = V @ V.T, V_d[:, nz] @ V_d[:, nz].T
    assert np.linalg.norm(P - P_d, 2) <= 2 * err / gap, "range projector vs dense"
    # exactness: H V = V diag(lam), with H applied by HVPs (no Hessian involved)
    R = model.hvp(theta, x, y, V) - V * lam[None, :]
    assert np.linalg.norm(R, 2) <= err
    return lam_d


RANGE_CASES = [  # sizes, activation, loss, bias, B
    ([40, 8, 6], "relu", "cross_entropy", True, 3),
    ([40, 8, 6], "relu", "cross_entropy", True, 9),  # QR basis (B C + |c| < H B + H)
    ([30, 6, 5, 4], "relu", "mse", True, 4),
    ([50, 7, 5], "identity", "cross_entropy", False, 5),
    ([60, 12, 3], "relu", "cross_entropy", True, 1),  # a single sample: rank <= C - 1 + 2 |c|
]


@pytest.mark.parametrize("sizes,act,loss,bias,B", RANGE_CASES,
                         ids=[f"{c[1]}-{c[2]}-{len(c[0])}-B{c[4]}" for c in RANGE_CASES])
def test_range_equals_dense(sizes, act, loss, bias, B):
    model = rc.mlp(sizes, activation=act, loss=loss, bias=bias)
    theta = model.init(seed=4)
    x, y = _data(model, B)
    assert range_applies(model, B)
    lam, V = spectrum(model, theta, x, y, method="range")
    assert lam.shape[0] < model.num_params  # only the non-zero pairs
    _check_against_dense(model, theta, x, y, lam, V)
    lam_a, _ = spectrum(model, theta, x, y, method="auto")
    np.testing.assert_array_equal(lam_a, lam)


def test_qr_and_input_reduction_bases_agree(monkeypatch):
    """The Dense-first reduction and the free-layer QR basis give the same pairs (ReLU)."""
    model = rc.mlp([40, 8, 6])
    theta = model.init(seed=5)
    x, y = _data(model, 3)
    lam_k, V_k = spectrum(model, theta, x, y, method="range")
    monkeypatch.setattr(range_mod, "reduce", lambda *a: None)
    lam_q, V_q = spectrum(model, theta, x, y, method="range")
    err = 2 * rtol_for(model.num_params) * np.abs(lam_k).max()
    np.testing.assert_allclose(lam_q, lam_k, rtol=0, atol=err)
    assert np.linalg.norm(V_q @ V_q.T - V_k @ V_k.T, 2) <= 2 * err / np.abs(lam_k).min()


def test_herrmann_rank_and_bound(usps_head):
    """256-20-10 MLP on USPS, B = 8: rank <= B (C - 1) + 2 (C H + C) = 492 (DESIGN.md)."""
    x_all, y_all = usps_head
    model = rc.mlp([256, 20, 10])
    theta = model.init(seed=0)
    x, y = x_all[:8], y_all[:8]
    lam, V = spectrum(model, theta, x, y, method="auto")
    assert lam.shape[0] <= 8 * 9 + 2 * (10 * 20 + 10)
    err = 2 * rtol_for(model.num_params) * np.abs(lam).max()
    R = model.hvp(theta, x, y, V) - V * lam[None, :]
    assert np.linalg.norm(R, 2) <= err
    # the complement is the null space: H (I - V V^T) w = 0 for random w
    w = np.random.default_rng(0).standard_normal((model.num_params, 3))
    w = w - V @ (V.T @ w)
    assert np.linalg.norm(model.hvp(theta, x, y, w), 2) <= err * np.linalg.norm(w, 2)


def test_clusters_of_equal_eigenvalues():
    """One Dense layer with mse: H = (1/B) I_C (x) A, A = [x 1]^T [x 1]: every eigenvalue C-fold."""
    D, C, B = 6, 4, 3
    model = rc.mlp([D, C], loss="mse")
    theta = model.init(seed=0)
    x, y = _data(model, B)
    lam, V = spectrum(model, theta, x, y, method="range")
    Xt = np.concatenate([x, np.ones((B, 1))], axis=1)
    a = np.linalg.eigvalsh(Xt.T @ Xt / B)
    a = a[a > 1e-12 * a.max()]
    np.testing.assert_allclose(lam, np.repeat(a, C), rtol=0, atol=2 * rtol_for(D + B) * a.max())
    lam_d = _check_against_dense(model, theta, x, y, lam, V)
    # per cluster: the projector onto each C-fold eigenspace matches dense
    _, V_d = spectrum(model, theta, x, y, method="dense")
    err = 2 * rtol_for(model.num_params) * a.max()
    for j, value in enumerate(a):
        mine, theirs = np.abs(lam - value) <= err * C, np.abs(lam_d - value) <= err * C
        assert mine.sum() == C and theirs.sum() == C
        gap = np.min(np.abs(np.delete(np.concatenate([a, [0.0]]), j) - value))
        P, P_d = V[:, mine] @ V[:, mine].T, V_d[:, theirs] @ V_d[:, theirs].T
        assert np.linalg.norm(P - P_d, 2) <= 2 * err / gap


def test_full_rank_falls_back_to_dense():
    """tanh MLP: only the last layer is free, r > N / 2: auto and range give all N pairs."""
    model = rc.mlp([5, 8, 3], activation="tanh")
    theta = model.init(seed=1)
    x, y = _data(model, 6)
    assert not range_applies(model, 6)
    lam_d, _ = spectrum(model, theta, x, y, method="dense")
    for method in ("auto", "range"):
        lam, V = spectrum(model, theta, x, y, method=method)
        assert lam.shape == (model.num_params,)
        np.testing.assert_array_equal(lam, lam_d)


def test_cgd_step_same_with_range_and_dense():
    """One CGD step (chaotic pruning): range and dense give the same update."""
    model = rc.mlp([40, 8, 6])
    theta = model.init(seed=2)
    x, y = _data(model, 5)
    lam, _ = spectrum(model, theta, x, y, method="range")
    lr = 3.0 / lam.max()  # the top eigenvalues exceed 2 / lr: some directions are chaotic
    out = {}
    for method in ("dense", "range"):
        opt = rc.optim.CGD(lr=lr, prune="chaotic", spectrum_method=method)
        theta_new, _, info = opt.step(model, theta, opt.init(theta), x, y)
        out[method] = (theta_new, info)
    assert out["range"][1]["n_pruned"] == out["dense"][1]["n_pruned"] > 0
    assert out["range"][1]["counts"] == out["dense"][1]["counts"]
    d_r, d_d = out["range"][0] - theta, out["dense"][0] - theta
    gap = np.abs(lam).min()
    assert np.linalg.norm(d_r - d_d) <= 4 * rtol_for(model.num_params) * lam.max() / gap * np.linalg.norm(d_d)


def test_k_and_which_select():
    model = rc.mlp([40, 8, 6])
    theta = model.init(seed=2)
    x, y = _data(model, 3)
    lam, V = spectrum(model, theta, x, y, method="range")
    for which, expect in (("LA", lam[-3:]), ("SA", lam[:3]),
                          ("LM", np.sort(lam[np.argsort(-np.abs(lam))[:3]]))):
        lk, Vk = spectrum(model, theta, x, y, method="auto", k=3, which=which)
        np.testing.assert_array_equal(lk, expect)
        assert Vk.shape == (model.num_params, 3)
    with pytest.raises(ValueError, match="unknown spectrum method"):
        spectrum(model, theta, x, y, method="eig")
    with pytest.raises(ValueError, match="needs k"):
        spectrum(model, theta, x, y, method="lanczos")


def test_range_on_every_backend(xp):
    model = rc.mlp([30, 6, 4])
    x_np, y_np = _data(model, 3)
    lam_np, V_np = spectrum(model, model.init(seed=3), x_np, y_np, method="range")
    lam, V = spectrum(model, model.init(seed=3, backend=xp), xp.asarray(x_np), xp.asarray(y_np),
                      method="range")
    assert lam.dtype == xp.float64 and V.shape == V_np.shape
    err = 2 * rtol_for(model.num_params) * np.abs(lam_np).max()
    np.testing.assert_allclose(to_host(lam), lam_np, rtol=0, atol=err)
    V = to_host(V)
    assert np.linalg.norm(V @ V.T - V_np @ V_np.T, 2) <= 2 * err / np.abs(lam_np).min()


def test_cnn_auto_equals_dense():
    if not hasattr(rc.nn, "cnn"):
        pytest.skip("rc.nn.cnn is not available")
    model = rc.nn.cnn(2)
    theta = model.init(seed=1, scheme="he")
    x, y = _data(model, 2)
    lam, V = spectrum(model, theta, x, y, method="auto")  # range does not apply: deflated
    lam_d, _ = spectrum(model, theta, x, y, method="dense")
    assert lam.shape == lam_d.shape == (model.num_params,)
    err = 2 * rtol_for(model.num_params) * np.abs(lam_d).max()
    np.testing.assert_allclose(lam, lam_d, rtol=0, atol=err)
    np.testing.assert_allclose(V.T @ V, np.eye(model.num_params), rtol=0, atol=rtol_for(model.num_params))


def test_deflated_on_every_backend(xp):
    """A ReLU MLP with dead hidden units (negative biases): the exact zero rows are split off."""
    model = rc.mlp([5, 6, 3])
    theta_np = model.init(seed=0)
    theta_np[30:33] = -50.0  # three hidden units never fire: their rows of H are exactly zero
    x_np, y_np = _data(model, 7)  # B > D: no reduction; free-layer range not small: deflated
    lam_np, V_np = spectrum(model, theta_np, x_np, y_np, method="dense")
    lam, V = spectrum(model, xp.asarray(theta_np), xp.asarray(x_np), xp.asarray(y_np), method="auto")
    N = model.num_params
    assert lam.shape == (N,) and V.shape == (N, N)
    lam, V = to_host(lam), to_host(V)
    assert np.count_nonzero(lam == 0.0) >= 3 * 6  # W rows and bias of the dead units, exact zeros
    err = 2 * rtol_for(N) * np.abs(lam_np).max()
    np.testing.assert_allclose(lam, lam_np, rtol=0, atol=err)
    np.testing.assert_allclose(V.T @ V, np.eye(N), rtol=0, atol=rtol_for(N))
    H = model.hessian(theta_np, x_np, y_np)
    assert np.linalg.norm(H @ V - V * lam[None, :], 2) <= err
