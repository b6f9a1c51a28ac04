"""Tangent maps of optimizer steps (Eq. (8)) against JAX autodiff; QR spectrum; Eq. (3)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import refchaos as rc
from refchaos.lyapunov.matrix import UnrepresentableError, lyapunov_matrix
from refchaos.lyapunov.tangent import lyapunov_spectrum, tangent_dim, tangent_matrix, tangent_step
from refchaos.optim import CGD, SGD
from tests.autodiff import jax_loss
from tests.tolerances import assert_normwise_close, rtol_for

SIZES = [4, 6, 3]  # tanh MLP, N = 4*6 + 6 + 6*3 + 3 = 51
B = 5
T = 4
EPS = np.finfo(np.float64).eps


def make(seed=0, sizes=SIZES, steps=T, activation="tanh"):
    model = rc.mlp(sizes, activation=activation)
    theta = model.init(seed=seed)
    rng = np.random.default_rng(seed + 100)
    data = [(rng.standard_normal((B, sizes[0])), rng.integers(0, sizes[-1], B)) for _ in range(steps)]
    return model, theta, data


def jax_steps(model, data, lr, momentum, weight_decay):
    """The composed optimizer steps in JAX: (theta, v) -> (theta_T, v_T), PyTorch conventions."""
    grad = jax.grad(jax_loss(model))
    N = model.num_params

    def F(z):
        theta, v = z[:N], z[N:]
        for x, y in data:
            d = grad(theta, jnp.asarray(x), jnp.asarray(y)) + weight_decay * theta
            v = momentum * v + d if momentum else d
            theta = theta - lr * v
        return jnp.concatenate([theta, v]) if momentum else theta

    return F


@pytest.mark.parametrize(
    "momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.0, 0.1), (0.7, 0.05)],
    ids=["sgd", "momentum", "weight_decay", "both"],
)
def test_tangent_matrix_equals_jax_jacobian(momentum, weight_decay):
    model, theta, data = make()
    lr = 0.8
    opt = SGD(lr, momentum=momentum, weight_decay=weight_decay)
    run = tangent_matrix(opt, model, theta, lambda t: data[t], T)
    N = model.num_params
    z0 = np.concatenate([theta, np.zeros(N)]) if momentum else theta
    J = np.asarray(jax.jacfwd(jax_steps(model, data, lr, momentum, weight_decay))(jnp.asarray(z0)))
    assert run.Y.shape == (tangent_dim(opt, model),) * 2 == J.shape
    # Each step's H Y accumulates over N parameters and B samples; T steps compound it.
    assert_normwise_close(run.Y, J, rtol_for(T * (N + B)), "tangent matrix vs jax.jacfwd")
    assert_normwise_close(run.Y_theta, J[:N, :N], rtol_for(T * (N + B)), "theta block")
    # The trajectory is the optimizer's own.
    th, st = theta, opt.init(theta)
    for x, y in data:
        th, st, _ = opt.step(model, th, st, x, y)
    np.testing.assert_array_equal(run.theta, th)


@pytest.mark.parametrize("momentum", [0.0, 0.9], ids=["sgd", "momentum"])
def test_tangent_matrix_layout_changes_no_bit(momentum):
    """Y is held column by column (TangentMatrixIntegrator's docstring): the same values as a
    row-major Y, bit for bit, through the steps and a checkpoint round trip."""
    from refchaos.lyapunov import TangentMatrixIntegrator

    model, theta, data = make(steps=6)
    opt = SGD(0.8, momentum=momentum)
    cols = TangentMatrixIntegrator(opt, model, theta)
    rows = TangentMatrixIntegrator(opt, model, theta)
    assert cols.Y.flags.f_contiguous
    rows.Y = np.ascontiguousarray(rows.Y)  # row-major start
    cols.advance(lambda t: data[t], 3)
    rows.advance(lambda t: data[t], 3)
    np.testing.assert_array_equal(cols.Y, rows.Y)
    back = TangentMatrixIntegrator.from_state_dict(opt, model, cols.state_dict())
    assert back.Y.flags.f_contiguous
    back.advance(lambda t: data[t], 3)  # batch(t) takes the integrator's step count
    rows.advance(lambda t: data[t], 3)
    np.testing.assert_array_equal(back.Y, rows.Y)


def test_momentum_theta_block_is_eq_8():
    """Eq. (8): Y(t+1) = Y(t) - lr sum_{s<=t} beta^(t-s) H(s) Y(s), from dv(0) = 0."""
    model, theta, data = make(seed=1)
    lr, beta = 0.5, 0.8
    run = tangent_matrix(SGD(lr, momentum=beta), model, theta, lambda t: data[t], T)
    N = model.num_params
    Ys, HYs, th = [np.eye(N)], [], theta
    opt, st = SGD(lr, momentum=beta), None
    st = opt.init(theta)
    for t, (x, y) in enumerate(data):
        HYs.append(model.hessian(th, x, y) @ Ys[-1])
        Ys.append(Ys[-1] - lr * sum(beta ** (t - s) * HYs[s] for s in range(t + 1)))  # Eq. (8)
        th, st, _ = opt.step(model, th, st, x, y)
    assert_normwise_close(run.Y[:N, :N], Ys[-1], rtol_for(T * (N + B)), "Eq. (8)")


def test_cgd_tangent_is_fixed_projector_map():
    """CGD: Y <- (I - lr P H) Y, P from an independent spectrum of the JAX Hessian."""
    model, theta, data = make(seed=2)
    lr, mu = 1.0, 0.5
    opt = CGD(lr, momentum=mu)
    run = tangent_matrix(opt, model, theta, lambda t: data[t], T)
    N = model.num_params
    hess = jax.hessian(jax_loss(model))
    Y, th, st = np.eye(2 * N), theta, opt.init(theta)
    pruned_any = False
    for x, y in data:
        H = np.asarray(hess(jnp.asarray(th), jnp.asarray(x), jnp.asarray(y)))
        lam, V = np.linalg.eigh(0.5 * (H + H.T))
        keep = ~(((lam < 0) | (lam > 2 / lr)) & (np.abs(lam) > 1e-10 * np.abs(lam).max()))
        pruned_any |= not keep.all()
        PH = V[:, keep] @ np.diag(lam[keep]) @ V[:, keep].T
        J = np.block([[np.eye(N) - lr * PH, -lr * mu * np.eye(N)], [PH, mu * np.eye(N)]])
        Y = J @ Y
        th, st, _ = opt.step(model, th, st, x, y)
    assert pruned_any
    assert_normwise_close(run.Y, Y, rtol_for(T * (N + B) * N), "CGD fixed-projector tangent")


def quadratic(D=3, C=2, Bq=7, seed=0):
    """Linear MSE model: a quadratic loss with constant Hessian A = kron(I_C, X^T X / B)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((Bq, D))
    Tgt = rng.standard_normal((Bq, C))
    model = rc.mlp([D, C], loss="mse", bias=False)
    A = np.kron(np.eye(C), X.T @ X / Bq)
    return model, model.init(seed=seed), X, Tgt, np.linalg.eigvalsh(A)


def test_qr_spectrum_on_a_quadratic_sums_to_the_volume_growth():
    model, theta, X, Tgt, a = quadratic()
    lr = 1.5 / a.max() * 1.6  # some exponents positive: lr a > 2 for the largest
    exact = np.sort(np.log(np.abs(1 - lr * a)))[::-1]
    assert exact[0] > 0
    steps = 60
    run = lyapunov_spectrum(SGD(lr), model, theta, lambda t: (X, Tgt), steps)
    # Sum of QR exponents = (1/t) ln|det Y(t)| = sum ln|1 - lr a_i|, exactly for every t.
    assert float(np.sum(run.exponents)) == pytest.approx(exact.sum(), abs=64 * steps * EPS)
    # Each exponent converges as O(1/t) from Y(0) = I.
    np.testing.assert_allclose(np.sort(run.exponents)[::-1], exact, atol=3.0 / steps)
    # Eq. (3) of the same Y(t) is exact at every t: Y = (I - lr A)^t is symmetric.
    Y = tangent_matrix(SGD(lr), model, theta, lambda t: (X, Tgt), 10).Y
    e, W = lyapunov_matrix(Y, 10)
    np.testing.assert_allclose(e, exact, atol=64 * EPS)


def test_qr_every_and_history():
    model, theta, data = make(seed=3, steps=6)
    opt = SGD(0.9, momentum=0.3)
    runs = [lyapunov_spectrum(opt, model, theta, lambda t: data[t], 6, qr_every=q, record_every=3 if q == 3 else 1)
            for q in (1, 3)]
    # diag(R_k ... R_1) = prod diag(R_j): the accumulated ln|R_jj| at a QR does not depend on
    # how often the block was re-orthonormalised (k = n, Y(0) = I).
    assert_normwise_close(runs[1].exponents, runs[0].exponents, 1e-9, "qr_every 3 vs 1")
    assert runs[0].history_steps.tolist() == [1, 2, 3, 4, 5, 6]
    assert runs[1].history_steps.tolist() == [3, 6]
    np.testing.assert_array_equal(runs[0].history[-1], runs[0].exponents)
    assert_normwise_close(runs[1].history[0], runs[0].history[2], 1e-9, "history at step 3")
    # Sum of exponents = (1/t) ln|det Y(t)|, Y(t) from the tangent matrix.
    Y = tangent_matrix(opt, model, theta, lambda t: data[t], 6).Y
    assert float(np.sum(runs[0].exponents)) == pytest.approx(np.linalg.slogdet(Y)[1] / 6, rel=1e-9)


def test_top_k_and_transient():
    model, theta, data = make(seed=4, steps=8)
    opt = SGD(1.0)
    run = lyapunov_spectrum(opt, model, theta, lambda t: data[t], 8, k=3, transient=2, seed=5)
    assert run.exponents.shape == (3,) and run.accumulator.accumulated_steps == 6
    assert run.history_steps.tolist() == [8]
    with pytest.raises(ValueError, match="record_every"):
        lyapunov_spectrum(opt, model, theta, lambda t: data[t], 8, qr_every=2, record_every=3)
    with pytest.raises(ValueError, match="k must lie"):
        lyapunov_spectrum(opt, model, theta, lambda t: data[t], 8, k=0)
    with pytest.raises(ValueError, match="no step was accumulated"):
        lyapunov_spectrum(opt, model, theta, lambda t: data[t], 2, transient=2)


def test_tangent_step_shape_check():
    model, theta, data = make()
    opt = SGD(0.1, momentum=0.5)
    with pytest.raises(ValueError, match=r"Y must have shape \(102, K\)"):
        tangent_step(opt, model, theta, opt.init(theta), *data[0], np.eye(model.num_params))


def test_lyapunov_matrix_matches_eigh_and_refuses():
    rng = np.random.default_rng(0)
    n, t = 6, 3.0
    Y = rng.standard_normal((n, n)) + 3 * np.eye(n)
    e, W = lyapunov_matrix(Y, t)
    mu, U = np.linalg.eigh(Y.T @ Y)
    np.testing.assert_allclose(e, np.log(mu[::-1]) / (2 * t), rtol=1e-12, atol=1e-14)  # Eq. (3)
    np.testing.assert_allclose(np.abs(np.sum(W * U[:, ::-1], axis=0)), 1.0, atol=1e-10)
    Lam = W @ np.diag(e) @ W.T
    np.testing.assert_allclose(Lam @ W, W * e, atol=1e-13)
    Ys = Y.copy()
    Ys[:, -1] = Ys[:, 0]  # exactly singular: sigma_n = 0 (to rounding)
    with pytest.raises(UnrepresentableError, match=r"singular values 6\.\.6 of Y are not resolved"):
        lyapunov_matrix(Ys, t)
    e5, W5 = lyapunov_matrix(Ys, t, k=5)  # the resolved part is available
    assert e5.shape == (5,) and W5.shape == (n, 5)
    Yi = Y.copy()
    Yi[0, 0] = np.inf
    with pytest.raises(UnrepresentableError, match="non-finite"):
        lyapunov_matrix(Yi, t)
    with pytest.raises(ValueError, match="square"):
        lyapunov_matrix(Y[:, :3], t)
    with pytest.raises(ValueError, match="t must be"):
        lyapunov_matrix(Y, 0)


def test_lyapunov_matrix_refuses_unresolved_long_horizon():
    """GD on a quadratic, lr a_i = 1 for one direction: Y(t) loses that direction completely."""
    model, theta, X, Tgt, a = quadratic()
    lr = 1.0 / a[0]  # a has multiplicity C = 2: two directions collapse
    Y = tangent_matrix(SGD(lr), model, theta, lambda t: (X, Tgt), 3).Y
    with pytest.raises(UnrepresentableError, match="not resolved"):
        lyapunov_matrix(Y, 3)
    e, _ = lyapunov_matrix(Y, 3, k=len(a) - 2)
    np.testing.assert_allclose(e, np.sort(np.log(np.abs(1 - lr * a[2:])))[::-1], atol=1e-12)
    assert math.isfinite(float(e[-1]))
