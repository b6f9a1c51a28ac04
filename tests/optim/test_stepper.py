"""The stepper protocol: registry, checkpoint round trip, purity, validation and the refusal of
Hessian-eigenvalue measures for preconditioned steppers."""

from __future__ import annotations

import numpy as np
import pytest

import refchaos as rc
from refchaos.optim import (CGD, OPTIMIZERS, SGD, Adam, AdamW, PreconditionedMapError, RMSprop,
                            get_optimizer)

SETTINGS = {
    "sgd": dict(lr=0.1, momentum=0.9, nesterov=True),
    "cgd": dict(lr=0.1, momentum=0.5),
    "adam": dict(lr=1e-2, amsgrad=True),
    "adamw": dict(lr=1e-2),
    "rmsprop": dict(lr=1e-2, momentum=0.5, centered=True),
}


def setup(seed=0):
    model = rc.mlp([3, 4, 2], activation="tanh")
    theta = model.init(seed=seed)
    rng = np.random.default_rng(seed)
    return model, theta, rng.standard_normal((5, 3)), rng.integers(0, 2, 5)


def test_registry_builds_every_optimizer_by_name():
    assert set(SETTINGS) == set(OPTIMIZERS)
    assert isinstance(get_optimizer("ADAM", lr=0.1), Adam)
    assert type(get_optimizer("adamw")) is AdamW and get_optimizer("adamw").weight_decay == 1e-2
    assert type(get_optimizer("rmsprop")) is RMSprop and get_optimizer("rmsprop").lr == 1e-2
    assert isinstance(get_optimizer("cgd", 0.1), CGD) and isinstance(get_optimizer("sgd", 0.1), SGD)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'; choose one of adam"):
        get_optimizer("lbfgs")


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_state_round_trip_and_purity(name):
    model, theta, x, y = setup()
    opt = get_optimizer(name, **SETTINGS[name])
    state = opt.init(theta)
    theta1, state1, _ = opt.step(model, theta, state, x, y)
    saved = opt.state_to_dict(state1)
    assert all(isinstance(v, np.ndarray) for v in saved.values())
    restored = opt.state_from_dict(saved, theta)
    a, _, _ = opt.step(model, theta1, state1, x, y)
    b, _, _ = opt.step(model, theta1, restored, x, y)
    np.testing.assert_array_equal(a, b)  # resuming from the dict is bitwise the same
    # tangent_step takes the same step as step, and modifies nothing passed in
    copies = {k: v.copy() for k, v in opt.state_to_dict(state1).items()}
    Y = np.eye(opt.tangent_dim(model.num_params))[:, :3]
    th_t, _, JY, info = opt.tangent_step(model, theta1, state1, x, y, Y)
    np.testing.assert_array_equal(th_t, a)
    assert JY.shape == Y.shape and info["step"] == 1
    for k, v in opt.state_to_dict(state1).items():
        np.testing.assert_array_equal(v, copies[k])


def test_tangent_dim_counts_the_buffers():
    N = 10
    assert SGD(0.1).tangent_dim(N) == N and SGD(0.1, momentum=0.5).tangent_dim(N) == 2 * N
    assert Adam().tangent_dim(N) == 3 * N and Adam(amsgrad=True).tangent_dim(N) == 4 * N
    assert RMSprop().tangent_dim(N) == 2 * N
    assert RMSprop(momentum=0.5, centered=True).tangent_dim(N) == 4 * N


def test_wrong_block_shape_is_refused():
    model, theta, x, y = setup()
    with pytest.raises(ValueError, match=r"Y must have shape \(78, K\) for Adam.* and 26 parameters"):
        Adam().tangent_step(model, theta, Adam().init(theta), x, y, np.ones((23, 1)))


@pytest.mark.parametrize("make, match", [
    (lambda: Adam(betas=(0.9, 1.0)), "beta2 must lie in"),
    (lambda: Adam(betas=0.9), "betas must be a pair"),
    (lambda: Adam(eps=0.0), "eps must be > 0"),
    (lambda: AdamW(weight_decay=-1), "weight_decay must be >= 0"),
    (lambda: RMSprop(alpha=1.0), "alpha must lie in"),
    (lambda: RMSprop(lr=0), "lr must be a finite number > 0"),
    (lambda: SGD(0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda: SGD(0.1, momentum=0.5, dampening=1.5), "dampening must lie in"),
])
def test_bad_hyper_parameters_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_preconditioned_steppers_refuse_local_exponents():
    for opt in (Adam(), AdamW(), RMSprop()):
        with pytest.raises(PreconditionedMapError, match="local exponents .* not I - lr H"):
            opt.require_plain_gradient("local exponents")
    SGD(0.1).require_plain_gradient("local exponents")  # defined: no error
    CGD(0.1).require_plain_gradient("chaotic directions")


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_backend_takes_the_same_tangent_step(name, xp):
    """The steppers are backend-generic: same step and tangent block as NumPy to rounding."""
    from refchaos.backend import asarray, to_host
    from tests.tolerances import assert_normwise_close, rtol_for

    model, theta, x, y = setup(seed=1)
    opt = get_optimizer(name, **SETTINGS[name])
    n = opt.tangent_dim(model.num_params)
    Y = np.random.default_rng(2).standard_normal((n, 2))
    ref_state, state = opt.init(theta), opt.init(asarray(theta, xp, "float64"))
    th_r, th = theta, asarray(theta, xp, "float64")
    Y_r, Y_x = Y, asarray(Y, xp, "float64")
    xb, yb = asarray(x, xp, "float64"), asarray(y, xp)
    for _ in range(3):
        th_r, ref_state, Y_r, _ = opt.tangent_step(model, th_r, ref_state, x, y, Y_r)
        th, state, Y_x, _ = opt.tangent_step(model, th, state, xb, yb, Y_x)
    rtol = rtol_for(3 * (model.num_params + 5))
    assert_normwise_close(to_host(th), th_r, rtol, "theta")
    assert_normwise_close(to_host(Y_x), Y_r, rtol, "tangent block")
    back = opt.state_from_dict(opt.state_to_dict(state), th)
    for k, v in opt.state_to_dict(back).items():
        np.testing.assert_array_equal(v, opt.state_to_dict(state)[k])
