"""Perturbed-copies exponent (J25): exact linear cases, a bounded chaotic map, masks, failures."""

from __future__ import annotations

import math

import numpy as np
import pytest

import refchaos as rc
from refchaos.backend import to_host
from refchaos.lyapunov import CopiesError, copies_exponent, saturation_window, weight_mask
from refchaos.lyapunov.copies import perturbations
from refchaos.nn import Dense, Elementwise, Model

U = np.finfo(np.float64).eps / 2


def scaled_cycle(xp, a, N=5):
    """A = a P with P the cyclic shift: every vector grows exactly by a per step in L1 and L2."""
    P = np.roll(np.eye(N), 1, axis=0)
    return xp.asarray(a * P, dtype=xp.float64)


@pytest.mark.parametrize("a", [1.1, 0.9])
@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_linear_map_exponent_is_ln_of_top_eigenvalue(xp, a, norm):
    # theta <- a P theta: every eigenvalue has modulus a, and d(t) = a^t d(0) exactly, so
    # L(t) = t ln a and the slope is ln a up to rounding. Rounding: each step adds at most
    # u |theta| to theta and to each copy, i.e. a relative error <= 2 u max|theta| / mean|delta|
    # ~ 2 * 1.1e-16 * 1 / 5e-3 ~ 5e-14 per step in d, <= 1e-11 in L after 200 steps; a least-
    # squares slope over W >= 100 steps moves by at most 3 max|dL| / W. We allow 1e-11.
    N = 5
    A = scaled_cycle(xp, a, N)
    theta0 = xp.asarray(np.random.default_rng(3).uniform(-1, 1, N), dtype=xp.float64)
    res = copies_exponent(lambda th, t: A @ th, theta0, 200, num_copies=4, eps=1e-2, norm=norm)
    assert res.distances.shape == (4, 201) and res.log_ratio.shape == (201,)
    assert res.window[0] == 0 and res.window[1] - res.window[0] >= 100
    assert abs(res.slope - math.log(a)) < 1e-11
    np.testing.assert_allclose(res.copy_slopes, math.log(a), rtol=0, atol=1e-11)
    np.testing.assert_allclose(res.log_ratio, np.arange(201) * math.log(a), rtol=0, atol=1e-10)


def test_linear_map_with_mask_excites_only_the_top_mode():
    # diag(1.3, 0.7, 0.5) with only coordinate 0 perturbed: d(t) = 1.3^t |delta_0| exactly.
    A = np.diag([1.3, 0.7, 0.5])
    mask = np.array([True, False, False])
    res = copies_exponent(lambda th, t: A @ th, np.array([0.3, -0.2, 0.1]), 60, mask=mask,
                          num_copies=3, eps=1e-3)
    assert abs(res.slope - math.log(1.3)) < 1e-11


def test_tent_map_window_stops_before_saturation_and_slope_is_ln2():
    # N independent tent maps x -> 1 - |1 - 2x| (|f'| = 2 everywhere). Before saturation,
    # d(t) = 2^t d(0) exactly except for coordinates whose perturbation straddles the fold at
    # x = 1/2: with the invariant density 1, a coordinate with perturbation delta straddles it
    # with probability <= 2 |delta| per step, and since |delta| doubles per step the chance it
    # ever did up to the window end is <= 4 delta_stop. Such a coordinate carries at most twice
    # the mean share of d, so |L - t ln 2| <= G = -ln(1 - 8 delta_stop) on the window, and a
    # least-squares slope over W steps moves by at most 3 G / W.
    N = 40
    x0 = np.random.default_rng(7).uniform(0, 1, N)
    res = copies_exponent(lambda x, t: 1 - np.abs(1 - 2 * x), x0, 45, num_copies=10, seed=1)
    start, stop = res.window
    plateau = np.median(res.log_ratio[-10:])
    assert start == 0
    assert res.log_ratio[stop] <= plateau - math.log(10) + 2 * math.log(2)  # stopped before it
    assert res.log_ratio[stop] >= 0.5 * plateau  # and used most of the exponential phase
    delta_stop = float(np.mean(res.distances[:, stop])) / N
    G = -math.log(1 - 8 * delta_stop)
    assert abs(res.slope - math.log(2)) <= 3 * G / (stop - start)
    assert abs(res.slope - math.log(2)) < 0.05


def test_saturation_window_rules():
    t = np.arange(101, dtype=float)
    growth = np.minimum(0.5 * t, 20.0)  # saturates at t = 40
    start, stop = saturation_window(growth)
    assert start == 0 and growth[stop] == pytest.approx(20 - math.log(10), abs=0.5)
    flat = 1e-3 * np.sin(t)  # never leaves the margin: whole run
    assert saturation_window(flat) == (0, 100)
    decay = np.maximum(-0.5 * t, -20.0)  # decay to a floor: symmetric rule
    assert decay[saturation_window(decay)[1]] == pytest.approx(-20 + math.log(10), abs=0.5)
    with pytest.raises(CopiesError):
        saturation_window(t[:3])


def test_hand_window_is_used():
    A = np.diag([1.5, 0.5])
    res = copies_exponent(lambda th, t: A @ th, np.zeros(2), 50, window=(10, 30), num_copies=2)
    assert res.window == (10, 30)
    # Both coordinates perturbed: L(t) = ln((|d0| 1.5^t + |d1| 0.5^t)/(|d0| + |d1|)), whose
    # slope tends to ln 1.5 once 3^-t is negligible: by t = 10 the bias is < 3^-10 ~ 2e-5.
    assert abs(res.slope - math.log(1.5)) < 1e-4
    with pytest.raises(CopiesError):
        copies_exponent(lambda th, t: A @ th, np.zeros(2), 20, window=(5, 40))


def test_weight_mask_excludes_biases():
    model = rc.mlp([3, 4, 2])  # W1 (4,3) b1 (4,) W2 (2,4) b2 (2,)
    mask = weight_mask(model)
    expected = np.zeros(26, dtype=bool)
    expected[0:12] = True
    expected[16:24] = True
    np.testing.assert_array_equal(mask, expected)
    nobias = Model([Dense(3, 4, bias=False), Elementwise("tanh"), Dense(4, 2)], "cross_entropy", (3,))
    m2 = weight_mask(nobias)
    assert m2.sum() == 12 + 8 and not m2[-1] and not m2[-2]
    theta0 = model.init(0)
    delta = perturbations(theta0, 3, 1e-8, mask, seed=0)
    assert np.all(delta[:, ~mask] == 0) and np.all(delta[:, mask] != 0)
    assert np.all(np.abs(delta) <= 1e-8)


def test_vanished_perturbation_raises_and_partial_absorption_warns():
    step = lambda th, t: 1.01 * th  # noqa: E731
    with pytest.raises(CopiesError, match="vanished"):
        copies_exponent(step, np.full(4, 1e10), 5)  # spacing at 1e10 is 1.9e-6 >> eps
    with pytest.warns(RuntimeWarning, match="rounding changed"):
        copies_exponent(step, np.full(4, 1e7), 20)  # spacing 1.9e-9: ~20 % of eps


def test_non_finite_divergence_is_recorded():
    # Reference at the fixed point 0 of x -> 2x + x^3; copies grow like 2^t, then blow up.
    step = lambda x, t: 2 * x + x**3  # noqa: E731
    with np.errstate(over="ignore", invalid="ignore"):
        res = copies_exponent(step, np.zeros(3), 60, num_copies=3)
    assert np.all(res.diverged_at > 0) and res.reference_diverged_at == -1
    for m, t in enumerate(res.diverged_at):
        assert np.all(np.isnan(res.distances[m, t:])) and np.all(np.isfinite(res.distances[m, :t]))
    assert res.usable == res.diverged_at.min()
    assert np.isfinite(res.slope)
    # reference divergence: x -> 10 x overflows near step 308 for every trajectory
    with pytest.warns(RuntimeWarning, match="reference"), np.errstate(over="ignore"):
        res = copies_exponent(lambda x, t: 10 * x, np.ones(2), 400, num_copies=2)
    assert 300 < res.reference_diverged_at < 320
    assert abs(res.slope - math.log(10)) < 1e-6


def test_backends_agree(xp):
    # Backends round A @ theta differently (summation order, FMA): <= 2 * 2u |A||theta| ~ 1e-15
    # per step. With eps = 1e-3 that is ~1e-12 of d per step, <= 1e-10 after 80 steps (errors
    # and d grow alike under the map), so rtol 1e-9. (With eps = 1e-8 the same rounding is
    # 1e-8 of d per step: the copies method itself is only that reproducible across libraries.)
    A_host = np.array([[0.9, 0.5], [-0.4, 1.2]])
    A = xp.asarray(A_host, dtype=xp.float64)
    theta0 = xp.asarray([0.3, -0.7], dtype=xp.float64)
    kw = dict(num_copies=3, eps=1e-3)
    res = copies_exponent(lambda th, t: A @ th, theta0, 80, **kw)
    ref = copies_exponent(lambda th, t: A_host @ th, np.asarray(to_host(theta0)), 80, **kw)
    np.testing.assert_allclose(res.distances, ref.distances, rtol=1e-9)
    assert res.slope == pytest.approx(ref.slope, rel=1e-9)
    assert res.slope == pytest.approx(math.log(max(abs(np.linalg.eigvals(A_host)))), abs=0.02)
