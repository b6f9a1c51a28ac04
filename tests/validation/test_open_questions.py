"""validation/j25_open_questions.py: the theta-block exponent of a perturbation of theta(0) and
its sweep directories, redrawn by ``refchaos plot``.

The exponent lambda = (1/T) ln(||dtheta(T)|| / ||dtheta(0)||) is computed with a tangent vector
renormalised every step. It is checked against two references that do not renormalise: the
unnormalised tangent product Y(T) w(0) (same tangent map, no bookkeeping) and a central
difference of the trained theta(T) in theta(0) along dtheta(0) (``opt.step`` only, no tangent
map at all).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from refchaos.experiments import RunConfig
from refchaos.experiments.setup import prepare
from refchaos.plots import redraw
from tests.tolerances import rtol_for

VALIDATION = Path(__file__).resolve().parents[2] / "validation"
STEPS = 12


def _script():
    spec = importlib.util.spec_from_file_location("j25_open_questions",
                                                  VALIDATION / "j25_open_questions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _setup(**change):
    cfg = RunConfig(dataset="digits", subset=60, model="mlp:4", activation="tanh", init="normal",
                    init_std=1.0, batch_size=0, steps=STEPS, seed=3, measure=("loss",))
    return prepare(replace(cfg, **change))


def _start(setup, seed):
    """The start vector of the script: theta block random, buffers 0 (same seed)."""
    N = setup.model.num_params
    w0 = np.zeros(setup.opt.tangent_dim(N))
    w0[:N] = np.random.default_rng(seed).standard_normal(N)
    return w0 / np.linalg.norm(w0)


def _trained(setup, theta):
    state = setup.opt.init(theta)
    for t in range(STEPS):
        x, y = setup.batch(t)
        theta, state, _ = setup.opt.step(setup.model, theta, state, x, y)
    return theta


@pytest.mark.parametrize("change", [{"optimizer": "adam", "lr": 0.05},
                                    {"optimizer": "rmsprop", "lr": 0.01},
                                    {"momentum": 0.9, "lr": 0.5},
                                    {"lr": 2.0, "batch_size": 20}])
def test_theta_block_exponent_against_unnormalised_product_and_differences(change):
    mod, setup, seed = _script(), _setup(**change), 5
    lam, running = mod.theta_block_exponent(setup, seed)
    assert running.shape == (STEPS,)
    N, w0 = setup.model.num_params, _start(setup, seed)
    # unnormalised: Y(T) w0 by the same tangent map, theta block taken at the end
    theta, state, Y = setup.theta0, setup.opt.init(setup.theta0), w0[:, None]
    for t in range(STEPS):
        x, y = setup.batch(t)
        theta, state, Y, _ = setup.opt.tangent_step(setup.model, theta, state, x, y, Y)
    direct = math.log(np.linalg.norm(Y[:N, 0])) / STEPS
    # renormalising rescales by exact positive factors; rounding ~ one dot product per step
    assert abs(lam - direct) <= rtol_for(STEPS * N) * max(1.0, abs(direct))
    # central difference of theta(T) in theta(0): error h^2 |d^3| / 6 + u |theta| / h, ~1e-7
    # relative at h = 1e-5 for these O(1) maps; 1e-5 leaves a factor 100
    h, d = 1e-5, w0[:N]
    fd = (_trained(setup, setup.theta0 + h * d) - _trained(setup, setup.theta0 - h * d)) / (2 * h)
    assert abs(lam - math.log(np.linalg.norm(fd)) / STEPS) <= 1e-5


def test_plain_gd_theta_block_is_the_whole_vector():
    """Without buffers the theta block is the whole state: lambda = mean ln r(s)."""
    mod, setup = _script(), _setup(lr=1.0)
    lam, running = mod.theta_block_exponent(setup, 0)
    assert lam == pytest.approx(running[-1], rel=rtol_for(STEPS), abs=1e-15)


def test_experiment_directory_is_redrawn_by_refchaos_plot(tmp_path):
    mod = _script()
    assert mod.main(["--quick", "--experiments", "adam", "--out", str(tmp_path)]) == 0
    figures = tmp_path / "adam" / "figures"
    for name in ("sweep.png", "tangent.png"):
        (figures / name).unlink()
    paths = redraw(tmp_path / "adam")
    assert sorted(p.name for p in paths) == ["sweep.png", "tangent.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    # a rerun keeps the finished points (resume) and gives the same table
    first = (tmp_path / "j25_open_questions.csv").read_text()
    assert mod.main(["--quick", "--experiments", "adam", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "j25_open_questions.csv").read_text() == first


def test_unknown_experiment_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        _script().main(["--quick", "--experiments", "sgd2", "--out", str(tmp_path)])
