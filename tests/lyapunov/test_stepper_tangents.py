"""Each stepper's hand-written tangent map on its whole state against jax.jacfwd of the
composed steps (independent JAX twins of PyTorch's definitions), and the resumable
integrators (stop, serialise, resume: bitwise the same as not stopping).

Tolerance of the Jacobians: as tests/lyapunov/test_tangent.py, each step's H Y accumulates over
N parameters and B samples and T steps compound it, rtol_for(T * (N + B)); the elementwise
preconditioner (a quotient by sqrt(v) + eps and its derivative) adds a few ulps per entry, no
accumulation, which SAFETY covers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import refchaos as rc
from refchaos.lyapunov import (MaxExponentIntegrator, SpectrumIntegrator, TangentMatrixIntegrator,
                               lyapunov_spectrum, max_exponent, tangent_matrix)
from refchaos.optim import SingularTangentError, get_optimizer
from tests.autodiff import jax_loss
from tests.tolerances import assert_normwise_close, rtol_for

SIZES = [4, 6, 3]  # tanh MLP, N = 51
B = 5
T = 4


def make(seed=0, steps=T):
    model = rc.mlp(SIZES, activation="tanh")
    theta = model.init(seed=seed)
    rng = np.random.default_rng(seed + 100)
    data = [(rng.standard_normal((B, SIZES[0])), rng.integers(0, SIZES[-1], B)) for _ in range(steps)]
    return model, theta, data


# ----- JAX twins: one step of each optimizer on the whole state, PyTorch's definitions -------
def jax_sgd(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    def step(s, g, t):
        theta = s[0]
        d = g + weight_decay * theta
        if not momentum:
            return [theta - lr * d]
        v = d if (t == 0 and dampening) else momentum * s[1] + (1 - dampening) * d
        u = d + momentum * v if nesterov else v
        return [theta - lr * u, v]
    return step


def jax_adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
    b1, b2 = betas

    def step(s, g, t):
        theta, m, v = s[0], s[1], s[2]
        if decoupled:
            theta_d = theta * (1 - lr * weight_decay)
        else:
            theta_d, g = theta, g + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat, r = m / (1 - b1 ** (t + 1)), v
        out = [m, v]
        if amsgrad:
            r = jnp.where(v >= s[3], v, s[3])  # the tie rule of refchaos.optim.adam
            out.append(r)
        v_hat = r / (1 - b2 ** (t + 1))
        return [theta_d - lr * m_hat / (jnp.sqrt(v_hat) + eps)] + out
    return step


def jax_rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    def step(s, g, t):
        theta, S = s[0], s[1]
        rest = list(s[2:])
        g = g + weight_decay * theta
        S = alpha * S + (1 - alpha) * g ** 2
        buf = rest.pop(0) if momentum else None
        G = rest.pop(0) if centered else None
        if centered:
            G = alpha * G + (1 - alpha) * g
            p = g / (jnp.sqrt(S - G ** 2) + eps)
        else:
            p = g / (jnp.sqrt(S) + eps)
        out = [S]
        if momentum:
            buf = momentum * buf + p
            out.append(buf)
            p = buf
        if centered:
            out.append(G)
        return [theta - lr * p] + out
    return step


CASES = [
    ("sgd", dict(lr=0.5, momentum=0.8, dampening=0.3), jax_sgd),
    ("sgd", dict(lr=0.5, momentum=0.9, nesterov=True, weight_decay=0.05), jax_sgd),
    ("adam", dict(lr=0.05), jax_adam),
    ("adam", dict(lr=0.05, betas=(0.8, 0.9), eps=1e-4, weight_decay=0.1), jax_adam),
    ("adam", dict(lr=0.05, betas=(0.5, 0.6), amsgrad=True), jax_adam),
    ("adamw", dict(lr=0.05, weight_decay=0.2), lambda **kw: jax_adam(decoupled=True, **kw)),
    ("adamw", dict(lr=0.05, weight_decay=0.2, betas=(0.5, 0.6), amsgrad=True),
     lambda **kw: jax_adam(decoupled=True, **kw)),
    ("rmsprop", dict(lr=0.01), jax_rmsprop),
    ("rmsprop", dict(lr=0.01, alpha=0.9, momentum=0.7, weight_decay=0.05), jax_rmsprop),
    ("rmsprop", dict(lr=0.01, centered=True, momentum=0.5, eps=1e-6), jax_rmsprop),
]


def case_id(case):
    return case[0] + "-" + "-".join(f"{k}={v}" for k, v in case[1].items())


def composed(model, data, one_step, parts):
    """z (parts * N,) -> state after the steps, flat, in refchaos's row order."""
    grad = jax.grad(jax_loss(model))
    N = model.num_params

    def F(z):
        s = [z[i * N:(i + 1) * N] for i in range(parts)]
        for t, (x, y) in enumerate(data):
            s = one_step(s, grad(s[0], jnp.asarray(x), jnp.asarray(y)), t)
        return jnp.concatenate(s)

    return F


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_tangent_matrix_equals_jax_jacobian(case):
    name, kw, twin = case
    model, theta, data = make()
    opt = get_optimizer(name, **kw)
    N = model.num_params
    parts = 1 + len(opt.buffers)
    run = tangent_matrix(opt, model, theta, lambda t: data[t], T)
    state0 = opt.init(theta)  # the buffers start at opt.init: zeros
    z0 = np.concatenate([theta] + [np.zeros(N) if getattr(state0, b) is None else getattr(state0, b)
                                   for b in opt.buffers])
    F = composed(model, data, twin(**kw), parts)
    J = np.asarray(jax.jacfwd(F)(jnp.asarray(z0)))
    assert run.Y.shape == (parts * N,) * 2 == J.shape
    rtol = rtol_for(T * (N + B))
    assert_normwise_close(run.Y, J, rtol, "whole-state tangent matrix vs jax.jacfwd")
    assert_normwise_close(run.Y_theta, J[:N, :N], rtol, "d theta(T) / d theta(0)")
    assert_normwise_close(run.theta, np.asarray(F(jnp.asarray(z0)))[:N], rtol, "trajectory")
    # The integrators' trajectory is the optimizer's own step.
    th, st = theta, opt.init(theta)
    for x, y in data:
        th, st, _ = opt.step(model, th, st, x, y)
    np.testing.assert_array_equal(run.theta, th)


def test_amsgrad_cases_exercise_both_branches():
    """The AMSGrad settings above take the max from u(t) in some coordinates, from v(t+1) in others."""
    model, theta, data = make()
    opt = get_optimizer("adam", lr=0.05, betas=(0.5, 0.6), amsgrad=True)
    st, old_branch = opt.init(theta), 0
    for x, y in data:
        prev = st
        theta, st, _ = opt.step(model, theta, st, x, y)
        old_branch += int(np.sum(st.v < prev.v_max))
    assert old_branch > 0 and old_branch < T * model.num_params


def test_adam_tangent_depends_on_moments():
    """The m and v rows matter: freezing them (a theta-only map) gives a different Y_theta."""
    model, theta, data = make(seed=2)
    opt = get_optimizer("adam", lr=0.05)
    N = model.num_params
    Y = tangent_matrix(opt, model, theta, lambda t: data[t], T).Y
    # d theta(T)/d m(0) and d theta(T)/d v(0) blocks are non-zero: the state is 3N-dimensional.
    assert np.linalg.norm(Y[:N, N:2 * N]) > 1e-3 * np.linalg.norm(Y[:N, :N])
    assert np.linalg.norm(Y[:N, 2 * N:]) > 0


def test_zero_buffer_rule():
    """A parameter whose gradient is always 0 (v = m = 0) has a finite tangent: the one-sided
    derivative 0 in v, and d theta/d theta = 1 (module docstring of optim.preconditioned)."""
    model = rc.mlp([3, 2, 2], activation="relu")
    theta = model.init(seed=0)
    x = -np.abs(np.random.default_rng(0).standard_normal((4, 3)))
    theta = theta.copy()
    theta[:6] = np.abs(theta[:6])  # W1 >= 0 and x <= 0: pre-activations <= 0 ...
    theta[6:8] = -1.0  # ... and negative biases: both hidden ReLUs are dead
    y = np.array([0, 1, 0, 1])
    for name in ("adam", "rmsprop"):
        opt = get_optimizer(name, lr=0.01)
        run = tangent_matrix(opt, model, theta, lambda t: (x, y), 3)
        assert np.all(np.isfinite(run.Y))
        N = model.num_params
        dead = np.arange(6)  # first-layer weights get no gradient
        np.testing.assert_array_equal(run.Y[dead, dead], 1.0)
        np.testing.assert_array_equal(run.Y[np.ix_(dead, N + N + dead if name == "adam" else N + dead)], 0.0)


def test_singular_state_is_refused():
    model, theta, data = make()
    opt = get_optimizer("adam", lr=0.01)
    st = opt.init(theta)
    bad = type(st)(step=3, m=np.ones_like(theta), v=np.zeros_like(theta))
    g = np.zeros_like(theta)  # v stays 0 while m != 0: sqrt has no derivative there
    with pytest.raises(SingularTangentError, match="sqrt has no derivative"):
        opt.tangent_update(theta, bad, g, np.eye(3 * theta.shape[0])[:, :2], np.zeros((theta.shape[0], 2)))


# ----- resumable integrators -------------------------------------------------------------------
STOP = 3
STEPS = 7


@pytest.mark.parametrize("name, kw", [("sgd", dict(lr=0.5, momentum=0.9)),
                                      ("adam", dict(lr=0.05, amsgrad=True)),
                                      ("rmsprop", dict(lr=0.01, centered=True, momentum=0.5)),
                                      ("cgd", dict(lr=0.5, prune="chaotic", momentum=0.5))])
def test_resume_is_bitwise(name, kw, tmp_path):
    model, theta, data = make(seed=4, steps=STEPS)
    batch = lambda t: data[t]  # noqa: E731
    opt = get_optimizer(name, **kw)
    builders = {
        "maxexp": lambda: MaxExponentIntegrator(opt, model, theta, seed=5, record_every=2),
        "spectrum": lambda: SpectrumIntegrator(opt, model, theta, k=3, qr_every=2, record_every=2,
                                               transient=1, seed=6),
        "matrix": lambda: TangentMatrixIntegrator(opt, model, theta),
    }
    for what, build in builders.items():
        whole = build().advance(batch, STEPS)
        part = build().advance(batch, STOP)
        np.savez(tmp_path / f"{what}.npz", **part.state_dict())
        with np.load(tmp_path / f"{what}.npz") as saved:
            resumed = type(part).from_state_dict(opt, model, dict(saved), like=theta)
        resumed.advance(batch, STEPS - STOP)
        a, b = whole.state_dict(), resumed.state_dict()
        assert a.keys() == b.keys(), what
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{what}: {key}")
    # The functions are the integrators run straight through.
    me = max_exponent(opt, model, theta, batch, STEPS, seed=5, transient=1, record_every=2)
    integ = MaxExponentIntegrator(opt, model, theta, seed=5, record_every=2).advance(batch, STEPS)
    assert me.exponent == integ.result(transient=1).exponent
    np.testing.assert_array_equal(me.trajectory, integ.result(1).trajectory)
    sp = lyapunov_spectrum(opt, model, theta, batch, STEPS - 1, k=3, qr_every=2, seed=6)
    assert sp.exponents.shape == (3,) and np.all(np.isfinite(sp.exponents))


@pytest.mark.parametrize("name, kw", [("adam", dict(lr=0.05)), ("rmsprop", dict(lr=0.01, momentum=0.5))])
def test_max_exponent_equals_qr_with_one_vector(name, kw):
    """The renormalised vector is the 1 x 1 QR: same start (same seed), same exponent."""
    model, theta, data = make(seed=3, steps=6)
    opt = get_optimizer(name, **kw)
    me = max_exponent(opt, model, theta, lambda t: data[t], 6, seed=9)
    qr = lyapunov_spectrum(opt, model, theta, lambda t: data[t], 6, k=1, seed=9)
    assert me.w.shape == (opt.tangent_dim(model.num_params),)
    assert abs(me.exponent - float(qr.exponents[0])) <= rtol_for(6 * (model.num_params + B)) * (1 + abs(me.exponent))
