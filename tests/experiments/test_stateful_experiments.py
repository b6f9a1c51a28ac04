"""sweep, perturb and prune with a stateful optimizer (momentum, Adam, RMSprop): each model
carries its own optimizer state from opt.init; plain SGD takes the same steps as before."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from refchaos.experiments.config import ConfigError
from refchaos.experiments.perturb import default_config as perturb_default
from refchaos.experiments.perturb import lyapunov_basis, read_table, run_perturb
from refchaos.experiments.prune import default_config as prune_default
from refchaos.experiments.prune import read_table as read_prune, run_prune
from refchaos.experiments.setup import prepare
from refchaos.experiments.sweep import SweepConfig, default_base, run_point
from refchaos.lyapunov import copies_exponent, distance_curves, lyapunov_matrix, tangent_matrix, weight_mask

BASE = replace(default_base(), model="mlp:4", epochs=6, subset=100)
OPTIMIZERS = [dict(optimizer="adam", lr=0.01), dict(momentum=0.9, lr=0.05),
              dict(optimizer="rmsprop", lr=0.01, momentum=0.5)]
IDS = ["adam", "momentum", "rmsprop"]


def test_plain_sgd_steps_are_the_pure_step_of_theta():
    """For SGD without momentum the stateful route is bitwise the former step of theta alone."""
    setup = prepare(replace(BASE, lr=0.5, seed=2))
    init, step = setup.stateful_step()
    kw = dict(num_copies=2, eps=1e-8, mask=weight_mask(setup.model), norm="l1", seed=2)
    a = copies_exponent(step, setup.theta0, 6, init=init, **kw)
    b = copies_exponent(setup.step_fn(), setup.theta0, 6, **kw)
    np.testing.assert_array_equal(a.distances, b.distances)
    d = {"x": setup.theta0 * 1e-3}
    np.testing.assert_array_equal(distance_curves(step, setup.theta0, d, 6, init=init)["x"],
                                  distance_curves(setup.step_fn(), setup.theta0, d, 6)["x"])


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=IDS)
def test_sweep_point_copies_carry_their_optimizer_state(opt):
    lr = opt["lr"]
    sweep = SweepConfig(base=replace(BASE, **{k: v for k, v in opt.items() if k != "lr"}),
                        lrs=(lr,), seeds=(1,), copies=2, target=0.2).validate()
    point = run_point(sweep.to_dict(), lr, 1)
    setup = prepare(replace(sweep.base, lr=lr, seed=1))
    model, o = setup.model, setup.opt
    # J25's estimator from an independent closure over the optimizer (not setup's helper)
    ref = copies_exponent(lambda th, s, t: o.step(model, th, s, *setup.batch(t))[:2],
                          setup.theta0, setup.steps, init=o.init, num_copies=2, eps=sweep.eps,
                          mask=weight_mask(model), norm="l1", seed=1)
    np.testing.assert_array_equal(np.asarray(point["curves"]["log_ratio"]), ref.log_ratio)
    assert point["exponent_copies"] == ref.slope and np.isfinite(point["exponent_tangent"])


@pytest.mark.parametrize("opt", OPTIMIZERS[:2], ids=IDS[:2])
def test_perturb_with_a_stateful_optimizer(tmp_path, opt):
    config = replace(perturb_default(), model="mlp:3", steps=12, subset=200, **opt)
    summary = run_perturb(config, tmp_path / "p", eps=(0.1,), strategies=("top", "random"),
                          figures=False)
    assert summary["status"] == "completed" and not summary["diverged_copies"]
    setup = prepare(config)
    # the Lyapunov basis is that of Y_theta of the whole-state tangent matrix from Y(0) = I
    full = tangent_matrix(setup.opt, setup.model, setup.theta0, setup.batch, 12)
    assert full.Y.shape[0] == setup.opt.tangent_dim(setup.model.num_params) > setup.model.num_params
    lam_ref, _ = lyapunov_matrix(full.Y_theta, 12)
    lam, W = lyapunov_basis(setup, 12)
    np.testing.assert_allclose(lam, lam_ref, rtol=1e-9, atol=1e-12)
    # model B: a fresh optimizer state at theta_B(0), the same batches as A
    v = W[:, 0] * np.sign(W[np.argmax(np.abs(W[:, 0])), 0])  # the sign convention of "top"
    dtheta = v * (0.1 / np.linalg.norm(v))
    a, sa = setup.theta0, setup.opt.init(setup.theta0)
    b = setup.theta0 + dtheta
    sb = setup.opt.init(b)
    d = [np.linalg.norm(b - a)]
    for t in range(12):
        a, sa, _ = setup.opt.step(setup.model, a, sa, *setup.batch(t))
        b, sb, _ = setup.opt.step(setup.model, b, sb, *setup.batch(t))
        d.append(np.linalg.norm(b - a))
    got = read_table(tmp_path / "p" / "perturb.csv")[("top", 0.1)]["distance"]
    np.testing.assert_allclose(got, d, rtol=1e-9, atol=0)


def test_prune_with_momentum_trains_momentum_sgd(tmp_path):
    config = replace(prune_default(), model="mlp:3", steps=6, every=3, subset=200, momentum=0.9)
    run_prune(config, tmp_path / "p", variants=("sgd", "chaotic"), figures=False)
    table = read_prune(tmp_path / "p" / "prune.csv")
    setup = prepare(config)
    theta, state, losses = setup.theta0, setup.opt.init(setup.theta0), []
    for t in range(6):  # torch.optim.SGD(momentum=0.9) semantics (refchaos.optim.SGD)
        theta, state, info = setup.opt.step(setup.model, theta, state, *setup.batch(t))
        losses.append(info["loss"])
    np.testing.assert_allclose(table["sgd"]["loss"][:6], losses, rtol=1e-12, atol=0)
    assert (table["chaotic"]["n_pruned"][:6] == table["chaotic"]["chaotic"][:6]).all()


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop"])
def test_prune_refuses_steppers_without_a_cgd(tmp_path, optimizer):
    config = replace(prune_default(), optimizer=optimizer)
    with pytest.raises(ConfigError, match=f"--optimizer {optimizer}"):
        run_prune(config, tmp_path / "p", figures=False)
    assert not (tmp_path / "p").exists()


def test_perturb_and_sweep_refuse_cgd(tmp_path):
    with pytest.raises(ConfigError, match="--optimizer cgd"):
        run_perturb(replace(perturb_default(), optimizer="cgd"), tmp_path / "p")
    with pytest.raises(ConfigError, match="--optimizer cgd"):
        SweepConfig(base=replace(BASE, optimizer="cgd")).validate()
    assert not (tmp_path / "p").exists()
