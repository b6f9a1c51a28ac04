"""run_chunk (one ensemble per chunk of sweep points) against run_point, point by point.

Tolerances. Non-chaotic lrs: the ensemble computes each member's step with the same formulas,
the products in another order, so each step differs by rounding (normwise rtol_for(n) * kappa,
tests/ensemble/test_passes.py) and, with |1 - lr h| <= 1 for the Hessian's eigenvalues, these
differences add up over T steps without growth: theta, losses and accuracies agree to
T rtol_for(n) kappa. The copies' distances d ~ eps are differences of O(|theta|) numbers, so
their relative error is |theta|_max / eps times that, and the fitted slope (a mean of logs
over the window) carries the same absolute error. Chaotic lrs: rounding differences grow like
e^(lambda t); the exponents are then compared within the statistical band of the estimate
itself, 2 x the spread of the per-copy slopes (exponent_copies_std), and the tangent exponent
within the same band. Training time and divergence must be equal.
"""

from __future__ import annotations

import math
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest

from refchaos.experiments.ensemble_chunk import member_bytes, run_chunk, supports
from refchaos.experiments.setup import prepare
from refchaos.experiments.sweep import SweepConfig, default_base, run_point
from refchaos.lyapunov import weight_mask
from tests.tolerances import rtol_for, softmax_condition

QUIET, CHAOTIC = 0.05, 5.0  # digits, mlp:8 tanh N(0, 1): exponent ~0 and clearly > 0
FULL = SweepConfig(base=replace(default_base(), model="mlp:8", epochs=14, subset=300),
                   lrs=(QUIET, CHAOTIC), seeds=(0, 1), copies=2, target=0.3)
SHARED = replace(FULL, base=replace(FULL.base, subset=None))  # one x for the whole chunk
MINI = replace(FULL, base=replace(FULL.base, batch_size=100, epochs=3), lrs=(QUIET, 1.0))
SCALARS = ("training_time", "diverged", "diverged_epoch", "steps", "num_params",
           "steps_per_epoch", "window_start", "window_stop")


def _bounds(sweep, lr, seed):
    """(tol on theta-derived curves, atol on ln d(t)/d(0)) of the module docstring."""
    s = prepare(replace(sweep.base, lr=lr, seed=seed))
    n = s.x_train.shape[0] + sum(int(np.prod(a)) for a in s.model.in_shapes) + 10
    kappa = softmax_condition(s.model, s.theta0, s.x_train)
    tol = s.steps * rtol_for(n) * kappa
    # |delta d| <= ||delta theta_copy||_1 + ||delta theta_ref||_1 <= 2 sqrt(N) tol ||theta||_2,
    # with ||theta|| <= 2 ||theta(0)|| at these small lrs, against d(0) >= N_w eps / 4 (the L1
    # norm of N_w draws of U(-eps, eps) concentrates at N_w eps / 2).
    N, Nw = s.model.num_params, int(weight_mask(s.model).sum())
    theta = 2 * float(np.linalg.norm(s.theta0))
    return tol, 2 * math.sqrt(N) * tol * theta / (Nw * sweep.eps / 4)


@pytest.mark.parametrize("sweep, block", [(FULL, 1000), (SHARED, 1000), (SHARED, None), (MINI, 1000)],
                         ids=["full-batch-per-seed-subsets", "full-batch-shared-x-in-blocks",
                              "full-batch-shared-x-whole", "minibatch"])
def test_chunk_equals_run_point(sweep, block):
    d = sweep.to_dict()
    ticks = []
    got = run_chunk(d, sweep.points(), tick=lambda: ticks.append(1), sample_block=block)
    assert len(ticks) == len(sweep.points()) * sweep.base.epochs * (sweep.copies + 3) * \
        got[0]["steps_per_epoch"]
    for g in got:
        _assert_like(g, run_point(d, g["lr"], g["seed"]), sweep)


def _assert_like(g, w, sweep):
    """g (run_chunk) equals w (run_point) within the bounds of the module docstring."""
    tol, atol_log = _bounds(sweep, g["lr"], g["seed"])
    assert list(g) == list(w)  # the same keys in the same order
    for k in SCALARS:
        assert g[k] == w[k] or (math.isnan(g[k]) and math.isnan(w[k])), k
    assert g["divergence"] == w["divergence"]
    for k in ("test_accuracy", "train_loss"):
        np.testing.assert_allclose(g["curves"][k], w["curves"][k], rtol=tol, atol=tol)
    if g["lr"] <= 0.1:  # non-chaotic
        np.testing.assert_allclose(g["curves"]["log_ratio"], w["curves"]["log_ratio"], rtol=0,
                                   atol=atol_log)
        # a least-squares slope over >= 3 points moves by at most 2 max|error|
        assert g["exponent_copies"] == pytest.approx(w["exponent_copies"], abs=2 * atol_log)
        assert g["exponent_tangent"] == pytest.approx(w["exponent_tangent"], abs=tol)
        np.testing.assert_allclose(g["curves"]["tangent_running"],
                                   w["curves"]["tangent_running"], rtol=0, atol=tol)
    else:
        band = 2 * w["exponent_copies_std"]
        assert abs(g["exponent_copies"] - w["exponent_copies"]) <= band
        assert abs(g["exponent_tangent"] - w["exponent_tangent"]) <= band


def test_diverging_point_is_recorded_like_run_point():
    base = replace(default_base(), model="mlp:8", epochs=20, subset=200, activation="relu",
                   init="pytorch", loss="mse")
    sweep = SweepConfig(base=base, lrs=(0.1, 1e5), seeds=(0,), copies=2, target=0.25)
    d = sweep.to_dict()
    calm, wild = run_chunk(d, sweep.points())
    want = run_point(d, 1e5, 0)
    assert wild["diverged"] and wild["divergence"] == want["divergence"]
    assert wild["diverged_epoch"] == want["diverged_epoch"]
    assert math.isnan(wild["training_time"]) and math.isnan(wild["final_test_accuracy"])
    assert len(wild["curves"]["test_accuracy"]) == base.epochs + 1
    assert not calm["diverged"]  # the diverging neighbour did not poison the quiet point
    _assert_like(calm, run_point(d, 0.1, 0), sweep)


def test_supports_and_member_bytes():
    assert supports(FULL) and supports(FULL.to_dict())
    assert not supports(replace(FULL, base=replace(FULL.base, optimizer="cgd")))
    with pytest.raises(ValueError, match="run_point"):
        run_chunk(replace(FULL, base=replace(FULL.base, optimizer="cgd")).to_dict(), [(0.1, 0)])
    assert run_chunk(FULL.to_dict(), []) == []
    # the estimate against the measured peak of one chunk per member (NumPy allocations are
    # traced): within a factor 3 either way
    sweep = replace(FULL, base=replace(FULL.base, epochs=2, subset=None), seeds=(0,))
    run_chunk(sweep.to_dict(), sweep.points()[:1])  # data cached, imports done
    tracemalloc.start()
    tracemalloc.reset_peak()
    base_mem = tracemalloc.get_traced_memory()[0]
    run_chunk(sweep.to_dict(), sweep.points())
    peak = tracemalloc.get_traced_memory()[1] - base_mem
    tracemalloc.stop()
    members = len(sweep.points()) * (1 + sweep.copies)
    est = member_bytes(sweep)
    first = prepare(replace(sweep.base, lr=float(sweep.lrs[0]), seed=int(sweep.seeds[0])))
    assert member_bytes(sweep, first) == est  # the caller's setup: the same estimate
    assert est / 3 <= peak / members <= 3 * est, (est, peak / members)
