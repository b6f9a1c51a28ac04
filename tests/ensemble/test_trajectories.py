"""Each ensemble member equals its separate run; divergence of one member leaves the others alone.

Tolerance of the separate-run comparison: per step, member m's gradient differs from the
single-model gradient by rounding only (tests/ensemble/test_passes.py: normwise
``rtol_for(n) * kappa``, n the longest accumulation). The settings are non-chaotic (small lr,
few steps: every one-step map I - lr H has norm close to 1), so these per-step differences are
not amplified and add up over T steps: ``T * rtol_for(n) * kappa`` on theta, normwise. The
running exponent is a mean of ln r, each r a norm of a tangent vector that carries the same
relative error, so it is compared with the same bound as an absolute tolerance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import refchaos as rc
from refchaos.backend import asarray, host_rng, to_host
from refchaos.ensemble import Ensemble
from refchaos.experiments.divergence import REASONS, DivergencePolicy
from refchaos.lyapunov import max_exponent
from refchaos.optim import SGD
from tests.tolerances import assert_normwise_close, rtol_for, softmax_condition

T, B = 12, 16  # steps, batch size
LRS = (0.1, 0.3, 0.05, 0.2)
MOMENTA = (0.0, 0.9, 0.5, 0.0)
DECAYS = (0.0, 1e-3, 0.0, 1e-2)
NESTEROV = (False, True, False, False)
CARRIERS = 3  # members 0..2 carry a tangent vector


def _problem(seed=0, per_member=False, M=4):
    model = rc.mlp([6, 8, 3], activation="tanh")
    rng = np.random.default_rng(seed)
    lead = (M, B) if per_member else (B,)
    batches = [(rng.standard_normal((*lead, 6)), rng.integers(0, 3, lead)) for _ in range(T)]
    Theta = np.stack([model.init(seed=s) for s in range(M)])
    return model, Theta, batches


def _w0(N, momenta, carriers):
    """max_exponent's start vectors: host_rng(m).standard_normal(n_m), zero dv rows if n_m = N."""
    w0 = np.zeros((1, carriers, 2 * N if any(momenta[:carriers]) else N))
    for m in range(carriers):
        n = 2 * N if momenta[m] else N
        w0[0, m, :n] = host_rng(m).standard_normal(n)
    return w0


def _bound(model, Theta, x):
    n = B + sum(int(np.prod(s)) for s in model.in_shapes) + model.num_outputs
    return T * rtol_for(n) * max(softmax_condition(model, th, x) for th in Theta)


@pytest.mark.parametrize("per_member", [False, True], ids=["shared-x", "per-member-x"])
def test_members_equal_separate_runs(xp, per_member):
    model, Theta, batches = _problem(per_member=per_member)
    dev = lambda a: asarray(a, xp, xp.float64)  # noqa: E731
    data = [(dev(x), asarray(y, xp)) for x, y in batches]
    N = model.num_params
    ens = Ensemble(model, dev(Theta), LRS, MOMENTA, DECAYS, NESTEROV,
                   w0=dev(_w0(N, MOMENTA, CARRIERS)))
    ens.advance(lambda t: data[t], T)
    running = ens.running_exponent()
    assert running.shape == (T, 1, CARRIERS) and not ens.divergences
    tol = _bound(model, Theta, batches[0][0] if not per_member else batches[0][0][0])
    for m in range(len(LRS)):
        opt = SGD(LRS[m], momentum=MOMENTA[m], weight_decay=DECAYS[m], nesterov=NESTEROV[m])
        batch = (lambda t: data[t]) if not per_member else (lambda t: (data[t][0][m, ...], data[t][1][m, ...]))
        theta, state = dev(Theta[m]), opt.init(dev(Theta[m]))
        losses = []
        for t in range(T):
            theta, state, info = opt.step(model, theta, state, *batch(t))
            losses.append(info["loss"])
        assert_normwise_close(ens.Theta[m, :], theta, tol, f"theta of member {m}")
        np.testing.assert_allclose(np.array(ens.losses)[:, m], losses, rtol=tol)
        if MOMENTA[m]:
            assert_normwise_close(ens.V[m, :], state.v, tol, f"momentum buffer of member {m}")
        if m < CARRIERS:
            run = max_exponent(opt, model, dev(Theta[m]), batch, T, seed=m, record_every=None)
            np.testing.assert_allclose(running[:, 0, m], run.running, rtol=0, atol=tol)


def test_tangent_on_a_quadratic_is_exact():
    """GD on 1/2 ||X W^T - Tgt||^2 / B: lambda(t) = ln||(I - lr A)^t w0|| / t exactly."""
    rng = np.random.default_rng(0)
    D, C, Bq = 3, 2, 7
    X, Tgt = rng.standard_normal((Bq, D)), rng.standard_normal((Bq, C))
    model = rc.mlp([D, C], loss="mse", bias=False)
    A = np.kron(np.eye(C), X.T @ X / Bq)
    lrs = np.array([0.5, 1.0, 2.4]) / np.linalg.eigvalsh(A).max()
    Theta = np.stack([model.init(seed=s) for s in range(3)])
    w0 = rng.standard_normal((1, 3, model.num_params))
    free = DivergencePolicy(max_loss=math.inf, max_param_norm=math.inf)  # lr 2.4 / a grows
    ens = Ensemble(model, Theta, lrs, w0=w0, policy=free).advance(lambda t: (X, Tgt), 30)
    for m, lr in enumerate(lrs):
        J = np.eye(A.shape[0]) - lr * A
        ref = [np.log(np.linalg.norm(np.linalg.matrix_power(J, t) @ w0[0, m])
                      / np.linalg.norm(w0[0, m])) / t for t in range(1, 31)]
        np.testing.assert_allclose(ens.running_exponent()[:, 0, m], ref, rtol=1e-12,
                                   atol=64 * np.finfo(np.float64).eps)


@pytest.mark.parametrize("per_member", [False, True], ids=["shared-x", "per-member-x"])
def test_a_diverging_member_leaves_the_others_bitwise_unchanged(per_member):
    """Member 2 at lr 1e6 trips the policy; members 0, 1, 3 are bitwise those of an ensemble
    where member 2 trains quietly (see the module docstring of refchaos.ensemble.trajectories:
    fixed shapes, no operation mixes members)."""
    model, Theta, batches = _problem(seed=1, per_member=per_member)
    N = model.num_params
    w0 = _w0(N, MOMENTA, CARRIERS)
    wild = Ensemble(model, Theta, (0.1, 0.3, 1e6, 0.2), MOMENTA, DECAYS, NESTEROV, w0=w0)
    calm = Ensemble(model, Theta, LRS, MOMENTA, DECAYS, NESTEROV, w0=w0)
    with np.errstate(all="ignore"):
        for t in range(T):
            wild.step(*batches[t])
            calm.step(*batches[t])
    (div,) = wild.divergences
    assert div["member"] == 2 and div["reason"] in ("non-finite", "loss", "param-norm")
    assert div["reason"] in REASONS and div["message"]
    assert wild.member_divergence(2) == div and calm.divergences == []
    assert list(wild.active) == [True, True, False, True]
    for m in (0, 1, 3):
        np.testing.assert_array_equal(wild.Theta[m], calm.Theta[m])
        np.testing.assert_array_equal(wild.V[m], calm.V[m])
        np.testing.assert_array_equal(np.array(wild.losses)[:, m], np.array(calm.losses)[:, m])
    np.testing.assert_array_equal(wild.log_growth()[:, :, :2], calm.log_growth()[:, :, :2])
    # the masked member keeps its last state that passed the rule; its records stop
    s = div["step"]
    keep = Ensemble(model, Theta[2:3], 1e6, MOMENTA[2], DECAYS[2],
                    w0=None).advance(lambda t: (batches[t][0][2:3], batches[t][1][2:3])
                                     if per_member else batches[t], s)
    np.testing.assert_array_equal(wild.Theta[2], keep.Theta[0])
    assert np.all(np.isfinite(to_host(wild.Theta)))
    assert np.all(np.isnan(np.array(wild.losses)[s + 1:, 2]))
    assert np.all(np.isnan(wild.log_growth()[s:, 0, 2]))
    assert math.isnan(wild.running_exponent()[-1, 0, 2])


def test_bad_hyper_parameters_are_named():
    model, Theta, _ = _problem()
    with pytest.raises(ValueError, match="one entry per member"):
        Ensemble(model, Theta, (0.1, 0.2))
    with pytest.raises(ValueError, match="momentum"):
        Ensemble(model, Theta, 0.1, momentum=1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        Ensemble(model, Theta, 0.1, nesterov=True)
    with pytest.raises(ValueError, match="w0 must have shape"):
        Ensemble(model, Theta, 0.1, w0=np.ones((1, 2, 5)))
    with pytest.raises(ValueError, match="dv rows 0"):
        Ensemble(model, Theta, 0.1, momentum=(0.0, 0.9, 0, 0),
                 w0=np.ones((1, 2, 2 * model.num_params)))
