"""The theta-block exponent lambda_theta of one tangent vector (refchaos.lyapunov.maxexp): the
growth of a perturbation of theta(0) alone when the optimizer carries buffers.

Checked against the exact matrix power of heavy-ball momentum on a diagonal quadratic, against
jax.jvp through T steps of an independent JAX Adam, against references that do not renormalise
(the unnormalised product Y(T) w(0), and a central difference of the trained theta(T) in
theta(0), ``opt.step`` only), equal to the ordinary exponent bit for bit without buffers, and
through a checkpoint.

Tolerance: lambda_theta = (1/T) ln(||dtheta(T)|| / ||dtheta(0)||), so an error of relative size
rho in the norm moves it by at most rho / T <= rho. The norm is one column of the tangent
map, whose normwise error over T steps of N parameters and B samples is rtol_for(T (N + B))
(as tests/lyapunov/test_stepper_tangents.py); the T growth factors add T roundings of u each,
inside the same bound.
"""

from __future__ import annotations

import math
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import refchaos as rc
from refchaos.experiments import RunConfig
from refchaos.experiments.setup import prepare
from refchaos.lyapunov import MaxExponentIntegrator, max_exponent
from refchaos.lyapunov.maxexp import start_vector
from refchaos.optim import SGD, get_optimizer
from tests.lyapunov.test_stepper_tangents import B, composed, jax_adam, make
from tests.tolerances import rtol_for


# ----- exact case: heavy-ball momentum on 1/2 theta^T A theta, A diagonal --------------------
X_DIAG = (1.0, 2.0, 4.0)  # rows of X: x_d e_d, and one zero row; B_Q = 4 samples
B_Q = 4
LR, MU = 1.0, 0.5  # lr a = 4 expands (|lambda| = 2.28), lr a = 1 and 1/4 contract (0.707)


def quadratic():
    """Linear MSE model whose Hessian is A = kron(I_C, diag(x_d^2 / B)) = diag(1/4, 1, 4) per
    output, exactly representable (the mse loss of a linear map is 1/2 theta^T A theta + ...)."""
    D, C = len(X_DIAG), 2
    X = np.zeros((B_Q, D))
    X[:D, :] = np.diag(X_DIAG)
    Tgt = np.random.default_rng(0).standard_normal((B_Q, C))
    model = rc.mlp([D, C], loss="mse", bias=False)
    a = np.kron(np.ones(C), np.asarray(X_DIAG) ** 2 / B_Q)  # diagonal of A, W row-major (C, D)
    return model, (X, Tgt), a


def test_hessian_of_the_quadratic_is_the_stated_diagonal():
    model, (X, Tgt), a = quadratic()
    np.testing.assert_array_equal(model.hessian(model.init(seed=0), X, Tgt), np.diag(a))


def test_heavy_ball_on_a_quadratic_equals_the_exact_matrix_power():
    """Per eigenvalue a of A, PyTorch's momentum step v' = mu v + g, theta' = theta - lr v' has
    the state map M(a) = [[1 - lr a, -lr mu], [a, mu]] on (dtheta, dv) (the first step's
    v = g is the same map from v(0) = 0); so dtheta(t) = [M(a)^t]_(theta, theta) dtheta(0)
    coordinatewise and lambda_theta(t) = (1/t) ln ||[Y(t)]_(theta, theta) w0|| / ||w0||."""
    model, data, a = quadratic()
    N, T, seed = model.num_params, 40, 7
    opt = SGD(LR, momentum=MU)
    integ = MaxExponentIntegrator(opt, model, model.init(seed=1), seed=seed, start="theta",
                                  record_every=None, history=False)
    w0 = np.random.default_rng(seed).standard_normal(N)  # the draw of start="theta"
    Ms = [np.array([[1 - LR * ai, -LR * MU], [ai, MU]]) for ai in a]
    rtol = rtol_for(T * (N + B_Q))
    for t in range(1, T + 1):
        integ.advance(lambda s: data, 1)
        Ytt = np.array([np.linalg.matrix_power(M, t)[0, 0] for M in Ms])  # diagonal of Y_theta
        exact = math.log(np.linalg.norm(Ytt * w0) / np.linalg.norm(w0)) / t
        assert integ.theta_exponent() == pytest.approx(exact, abs=rtol), t
    rho = max(np.max(np.abs(np.linalg.eigvals(M))) for M in Ms)
    assert integ.theta_exponent() == pytest.approx(math.log(rho), abs=0.05)
    # Not the whole-state exponent of the same vector: its norm also counts the dv rows
    # (ln of their share over 40 steps, ~0.014 here).
    assert abs(integ.running_exponent() - integ.theta_exponent()) > 5e-3


def test_theta_start_is_the_seeded_host_draw_with_zero_buffers():
    """start="theta": the first N rows are np.random.default_rng(seed).standard_normal(N), the
    buffer rows 0 (the start validation/j25_open_questions.py drew itself before)."""
    N, seed = 5, 3
    w0 = start_vector(3 * N, N, seed, start="theta")
    np.testing.assert_array_equal(w0[:N], np.random.default_rng(seed).standard_normal(N))
    np.testing.assert_array_equal(w0[N:], np.zeros(2 * N))
    np.testing.assert_array_equal(start_vector(N, N, seed, "theta"), start_vector(N, N, seed))


def test_plain_sgd_theta_exponent_is_the_exponent_bit_for_bit():
    model, theta, data = make(seed=2, steps=6)
    batch = lambda t: data[t]  # noqa: E731
    opt = SGD(1.5, weight_decay=0.01)
    by_state = max_exponent(opt, model, theta, batch, 6, seed=4)
    by_theta = max_exponent(opt, model, theta, batch, 6, seed=4, start="theta")
    assert by_theta.exponent == by_state.exponent == by_theta.theta_exponent
    assert by_state.theta_exponent == by_state.exponent
    integ = MaxExponentIntegrator(opt, model, theta, seed=4, start="theta", history=False)
    integ.advance(batch, 6)
    assert integ.theta_exponent() == integ.running_exponent() == by_state.exponent


@pytest.mark.parametrize("kw", [dict(lr=0.05), dict(lr=0.05, betas=(0.5, 0.6), eps=1e-4)],
                         ids=["defaults", "betas-eps"])
def test_adam_theta_exponent_equals_jax_jvp(kw):
    """(1/T) ln ||dtheta(T)|| / ||dtheta(0)|| by jax.jvp of T composed JAX Adam steps along
    (dtheta(0), 0, 0): the tangent map includes m and v's dependence on theta."""
    T, seed = 8, 11
    model, theta, data = make(seed=5, steps=T)
    N = model.num_params
    opt = get_optimizer("adam", **kw)
    run = max_exponent(opt, model, theta, lambda t: data[t], T, seed=seed, start="theta")
    dtheta0 = np.random.default_rng(seed).standard_normal(N)
    z0 = jnp.asarray(np.concatenate([theta, np.zeros(2 * N)]))  # opt.init: m = v = 0
    dz0 = jnp.asarray(np.concatenate([dtheta0, np.zeros(2 * N)]))
    _, dz = jax.jvp(composed(model, data, jax_adam(**kw), 3), (z0,), (dz0,))
    dtheta_T = np.asarray(dz)[:N]
    ref = math.log(np.linalg.norm(dtheta_T) / np.linalg.norm(dtheta0)) / T
    assert run.theta_exponent == pytest.approx(ref, abs=rtol_for(T * (N + B)))
    # The whole-state exponent of the same vector is another number (m and v rows count).
    assert abs(run.exponent - run.theta_exponent) > 1e3 * rtol_for(T * (N + B))


# ----- a network: renormalised against unnormalised and against differences -----------------
FD_STEPS = 12


def _setup(**change):
    cfg = RunConfig(dataset="digits", subset=60, model="mlp:4", activation="tanh", init="normal",
                    init_std=1.0, batch_size=0, steps=FD_STEPS, seed=3, measure=("loss",))
    return prepare(replace(cfg, **change))


def _trained(setup, theta):
    state = setup.opt.init(theta)
    for t in range(FD_STEPS):
        theta, state, _ = setup.opt.step(setup.model, theta, state, *setup.batch(t))
    return theta


@pytest.mark.parametrize("change", [{"optimizer": "adam", "lr": 0.05},
                                    {"optimizer": "rmsprop", "lr": 0.01},
                                    {"momentum": 0.9, "lr": 0.5},
                                    {"lr": 2.0, "batch_size": 20}])
def test_against_unnormalised_product_and_differences(change):
    setup, seed = _setup(**change), 5
    lam = max_exponent(setup.opt, setup.model, setup.theta0, setup.batch, FD_STEPS, seed=seed,
                       start="theta", record_every=None).theta_exponent
    N = setup.model.num_params
    w0 = start_vector(setup.opt.tangent_dim(N), N, seed, "theta")
    w0 /= np.linalg.norm(w0)
    # unnormalised: Y(T) w0 by the same tangent map, theta block taken at the end
    theta, state, Y = setup.theta0, setup.opt.init(setup.theta0), w0[:, None]
    for t in range(FD_STEPS):
        theta, state, Y, _ = setup.opt.tangent_step(setup.model, theta, state, *setup.batch(t), Y)
    direct = math.log(np.linalg.norm(Y[:N, 0])) / FD_STEPS
    # renormalising rescales by exact positive factors; rounding ~ one dot product per step
    assert abs(lam - direct) <= rtol_for(FD_STEPS * N) * max(1.0, abs(direct))
    # central difference of theta(T) in theta(0): error h^2 |d^3| / 6 + u |theta| / h, ~1e-7
    # relative at h = 1e-5 for these O(1) maps; 1e-5 leaves a factor 100
    h, d = 1e-5, w0[:N]
    fd = (_trained(setup, setup.theta0 + h * d) - _trained(setup, setup.theta0 - h * d)) / (2 * h)
    assert abs(lam - math.log(np.linalg.norm(fd)) / FD_STEPS) <= 1e-5


@pytest.mark.parametrize("name, kw", [("sgd", dict(lr=0.5, momentum=0.9)),
                                      ("adam", dict(lr=0.05)),
                                      ("rmsprop", dict(lr=0.01, centered=True, momentum=0.5))])
def test_resume_keeps_the_theta_exponent_bitwise(name, kw, tmp_path):
    T, stop = 7, 3
    model, theta, data = make(seed=4, steps=T)
    batch = lambda t: data[t]  # noqa: E731
    opt = get_optimizer(name, **kw)

    def build():
        return MaxExponentIntegrator(opt, model, theta, seed=5, start="theta",
                                     record_every=None, history=False)

    whole = build().advance(batch, T)
    part = build().advance(batch, stop)
    np.savez(tmp_path / "maxexp.npz", **part.state_dict())
    with np.load(tmp_path / "maxexp.npz") as saved:
        arrays = dict(saved)
    resumed = MaxExponentIntegrator.from_state_dict(opt, model, arrays, like=theta)
    resumed.advance(batch, T - stop)
    assert resumed.theta_exponent() == whole.theta_exponent()
    assert np.isfinite(whole.theta_exponent())
    # A checkpoint written before the theta-block exponent existed lacks ||w_theta(0)||.
    old = {k: v for k, v in arrays.items() if k != "theta_norm0"}
    restored = MaxExponentIntegrator.from_state_dict(opt, model, old, like=theta)
    restored.advance(batch, T - stop)
    assert restored.running_exponent() == whole.running_exponent()
    with pytest.raises(ValueError, match="theta_norm0"):
        restored.theta_exponent()


def test_errors():
    model, theta, data = make(seed=1, steps=2)
    batch = lambda t: data[t]  # noqa: E731
    N = model.num_params
    opt = SGD(0.3, momentum=0.5)
    with pytest.raises(ValueError, match="start must be one of"):
        MaxExponentIntegrator(opt, model, theta, start="buffers")
    with pytest.raises(ValueError, match="not both"):
        MaxExponentIntegrator(opt, model, theta, w0=np.ones(2 * N), start="theta")
    with pytest.raises(ValueError, match="no step"):
        MaxExponentIntegrator(opt, model, theta, start="theta").theta_exponent()
    buffers_only = np.concatenate([np.zeros(N), np.ones(N)])  # a perturbation of v alone
    integ = MaxExponentIntegrator(opt, model, theta, w0=buffers_only).advance(batch, 2)
    with pytest.raises(ValueError, match="theta block is zero"):
        integ.theta_exponent()
    run = max_exponent(opt, model, theta, batch, 2, w0=buffers_only)
    assert math.isnan(run.theta_exponent) and math.isfinite(run.exponent)
