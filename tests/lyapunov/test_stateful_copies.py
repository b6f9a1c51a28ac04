"""Perturbed copies and perturbation distances with a stateful optimizer: each trajectory
carries its own state, started at ``init`` of its own theta(0)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import refchaos as rc
from refchaos.lyapunov import copies_exponent, distance_curves
from refchaos.lyapunov.copies import perturbations
from refchaos.optim import get_optimizer


def heavy_ball(a, lr, mu):
    """PyTorch-style momentum GD on f = a/2 |theta|^2 as a step of (theta, v): v <- mu v + a
    theta, theta <- theta - lr v; with v(0) = 0 its theta-part follows M^t (theta(0), 0)."""
    def step(theta, v, t):
        v = mu * v + a * theta
        return theta - lr * v, v
    M = np.array([[1 - lr * a, -lr * mu], [a, mu]])  # (theta, v) -> (theta', v'), one coordinate
    return step, (lambda theta: np.zeros_like(theta)), M


def test_momentum_copies_grow_at_the_spectral_radius_of_the_state_map():
    # lr a = 4, mu = 1/2: M has real eigenvalues -0.219 and -2.281, so after a transient
    # d(t) = |c| 2.281^t |delta|_1 (1 + O(0.096^t)); between t = 10 and 40 the fitted slope is
    # ln 2.281 up to 0.096^10 ~ 1e-10 and the rounding of eps = 1e-8 on O(1) theta.
    step, init, M = heavy_ball(1.0, 4.0, 0.5)
    rho = float(np.max(np.abs(np.linalg.eigvals(M))))
    theta0 = np.random.default_rng(1).uniform(-1, 1, 4)
    res = copies_exponent(step, theta0, 40, init=init, num_copies=3, window=(10, 40), seed=2)
    assert res.slope == pytest.approx(math.log(rho), abs=1e-6)
    # Without the buffer the same step is GD at lr a = 4: growth |1 - 4| = 3 per step instead.
    gd = copies_exponent(lambda th, t: th - 4.0 * th, theta0, 40, num_copies=3, window=(10, 40),
                         seed=2)
    assert gd.slope == pytest.approx(math.log(3.0), abs=1e-6)


def test_distance_curves_follow_the_theta_part_of_the_state_map():
    step, init, M = heavy_ball(0.5, 1.0, 0.9)
    theta0 = np.array([0.3, -0.7])
    dtheta = {"a": np.array([1e-3, 0.0]), "b": np.array([2e-3, -1e-3])}
    T = 25
    curves = distance_curves(step, theta0, dtheta, T, init=init)
    for key, d in dtheta.items():
        # linear: theta_B(t) - theta_A(t) = (M^t (d, 0))_theta coordinatewise, v_B(0) = 0
        ref = [np.linalg.norm([(np.linalg.matrix_power(M, t) @ [di, 0.0])[0] for di in d])
               for t in range(T + 1)]
        np.testing.assert_allclose(curves[key], ref, rtol=1e-10, atol=0)


@pytest.mark.parametrize("name, kw", [("adam", dict(lr=0.05)), ("sgd", dict(lr=0.3, momentum=0.9)),
                                      ("rmsprop", dict(lr=0.01, momentum=0.5, centered=True))])
def test_copies_of_a_network_each_start_at_opt_init(name, kw):
    """The distances equal a plain loop that builds each copy as a fresh model would be built:
    theta_m(0) = theta(0) + delta_m, state opt.init(theta_m(0)), then opt.step on z(t)."""
    model = rc.mlp([4, 5, 3], activation="tanh")
    opt = get_optimizer(name, **kw)
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((6, 4)), rng.integers(0, 3, 6)) for _ in range(12)]
    theta0 = model.init(seed=3)

    def step(theta, state, t):
        return opt.step(model, theta, state, *data[t])[:2]

    res = copies_exponent(step, theta0, 12, init=opt.init, num_copies=2, eps=1e-6,
                          window=(0, 10), seed=4)
    delta = perturbations(theta0, 2, 1e-6, None, 4)
    ref = np.empty((2, 13))
    for m in range(2):
        a, sa = theta0, opt.init(theta0)
        b = theta0 + delta[m]
        sb = opt.init(b)
        ref[m, 0] = np.sum(np.abs(b - a))
        for t in range(12):
            a, sa, _ = opt.step(model, a, sa, *data[t])
            b, sb, _ = opt.step(model, b, sb, *data[t])
            ref[m, t + 1] = np.sum(np.abs(b - a))
    np.testing.assert_array_equal(res.distances, ref)  # the same operations in the same order
