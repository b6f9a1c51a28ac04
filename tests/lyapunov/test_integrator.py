"""Integrators sharing one trajectory (advance_together) and the history-free form."""

from __future__ import annotations

import numpy as np
import pytest

import refchaos as rc
from refchaos.lyapunov import (MaxExponentIntegrator, SpectrumIntegrator, lyapunov_spectrum,
                               max_exponent)
from refchaos.lyapunov.integrator import advance_together
from refchaos.optim import SGD, get_optimizer

EPS = np.finfo(np.float64).eps
# Concatenating blocks changes only the column count of one HVP (N, K) product, so each
# column is the same sum in the same order up to the BLAS kernel's blocking: a few ulps per
# step, grown by the T-step product; 1e-12 relative leaves a wide margin over 10 steps.
RTOL = 1e-12
STEPS = 10


def _problem(seed=4):
    model = rc.mlp([4, 5, 3], activation="tanh")
    rng = np.random.default_rng(seed)
    data = [(rng.standard_normal((6, 4)), rng.integers(0, 3, 6)) for _ in range(STEPS)]
    return model, model.init(seed=seed), (lambda t: data[t])


@pytest.mark.parametrize("opt", [SGD(0.7, momentum=0.5), get_optimizer("adam", lr=0.05)],
                         ids=["momentum", "adam"])
def test_shared_step_equals_each_integrator_alone(opt):
    """A vector and a QR block riding along one step give the exponents each gives alone."""
    model, theta, batch = _problem()
    state = opt.init(theta)
    vec = MaxExponentIntegrator(opt, model, theta, seed=2, state=state, record_every=None,
                                history=False)
    block = SpectrumIntegrator(opt, model, theta, k=3, seed=5, state=state, history=False)
    for t in range(STEPS):
        th, st, info = advance_together([vec, block], *batch(t))
        assert vec.theta is th is block.theta and vec.state is st is block.state
    alone_vec = max_exponent(opt, model, theta, batch, STEPS, seed=2)
    alone_block = lyapunov_spectrum(opt, model, theta, batch, STEPS, k=3, seed=5)
    np.testing.assert_array_equal(vec.theta, alone_vec.theta)  # the same optimizer steps
    assert vec.running_exponent() == pytest.approx(alone_vec.exponent, rel=RTOL, abs=0)
    np.testing.assert_allclose(block.exponents(), alone_block.exponents, rtol=RTOL, atol=0)


def test_history_free_state_does_not_grow_and_resumes_bitwise():
    opt = SGD(0.7, momentum=0.5)
    model, theta, batch = _problem(5)

    def build():
        state = opt.init(theta)
        return [MaxExponentIntegrator(opt, model, theta, seed=1, state=state, record_every=None,
                                      history=False),
                SpectrumIntegrator(opt, model, theta, k=2, seed=1, state=state, history=False)]

    whole = build()
    sizes = []
    for t in range(STEPS):
        advance_together(whole, *batch(t))
        sizes.append(sum(a.nbytes for integ in whole for a in integ.state_dict().values()))
    assert len(set(sizes)) == 1  # O(state): nothing per step

    first = build()
    for t in range(4):
        advance_together(first, *batch(t))
    saved = [integ.state_dict() for integ in first]
    resumed = [type(i).from_state_dict(opt, model, s, like=theta) for i, s in zip(first, saved)]
    resumed[1].theta, resumed[1].state = resumed[0].theta, resumed[0].state  # one trajectory
    for t in range(4, STEPS):
        advance_together(resumed, *batch(t))
    for a, b in zip(whole, resumed):
        sa, sb = a.state_dict(), b.state_dict()
        assert set(sa) == set(sb)
        for k in sa:
            assert sa[k].tobytes() == sb[k].tobytes(), k
    with pytest.raises(ValueError, match="history=False"):
        whole[0].result()


def test_integrators_on_different_trajectories_are_refused():
    opt = SGD(0.5)
    model, theta, batch = _problem()
    a = MaxExponentIntegrator(opt, model, theta)
    b = MaxExponentIntegrator(opt, model, theta)  # its own opt.init state: another trajectory
    with pytest.raises(ValueError, match="not on one trajectory"):
        advance_together([a, b], *batch(0))
    with pytest.raises(ValueError, match="at least one"):
        advance_together([], *batch(0))
