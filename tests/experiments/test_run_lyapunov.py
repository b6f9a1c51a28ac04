"""``run`` measures the exponents of :mod:`refchaos.lyapunov`: the same numbers as
``max_exponent`` / ``lyapunov_spectrum`` and as a sweep point from the same seed."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from refchaos.experiments.config import RunConfig
from refchaos.experiments.run import run as run_experiment
from refchaos.experiments.setup import prepare
from refchaos.experiments.sweep import SweepConfig, default_base, run_point
from refchaos.lyapunov import lyapunov_spectrum, max_exponent

# The same computation in the same order: equal up to the rounding of a running mean of T
# terms (the run adds ln r one step at a time, max_exponent takes a cumulative sum).
RTOL = 64 * np.finfo(np.float64).eps


def _summary(tmp_path, config):
    run_experiment(config, tmp_path / "run", progress=False)
    return json.loads((tmp_path / "run" / "summary.json").read_text())


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.1), ("adam", 0.01)])
def test_run_maxexp_equals_lyapunov_max_exponent(tmp_path, optimizer, lr):
    config = RunConfig(model="mlp:6", subset=64, batch_size=16, steps=15, seed=3, lr=lr,
                       optimizer=optimizer, measure=("loss", "maxexp"))
    setup = prepare(config)
    ref = max_exponent(setup.opt, setup.model, setup.theta0, setup.batch, 15, seed=3)
    summary = _summary(tmp_path, config)
    assert summary["maxexp"] == pytest.approx(ref.exponent, rel=RTOL, abs=0)


def test_run_ftle_equals_lyapunov_spectrum(tmp_path):
    config = RunConfig(model="mlp:6", subset=64, batch_size=16, steps=12, seed=5,
                       measure=("loss", "ftle"), ftle_k=3)
    setup = prepare(config)
    ref = lyapunov_spectrum(setup.opt, setup.model, setup.theta0, setup.batch, 12, k=3, seed=5)
    summary = _summary(tmp_path, config)
    np.testing.assert_allclose(summary["ftle"], np.asarray(ref.exponents), rtol=1e-12, atol=0)


def test_run_and_sweep_give_the_same_maximum_exponent(tmp_path):
    base = replace(default_base(), model="mlp:4", epochs=6, subset=100)
    sweep = SweepConfig(base=base, lrs=(0.5,), seeds=(2,), copies=2, target=0.2)
    point = run_point(sweep.to_dict(), 0.5, 2)
    config = replace(base, lr=0.5, seed=2, measure=("loss", "maxexp"))
    summary = _summary(tmp_path, config)
    assert summary["maxexp"] == pytest.approx(point["exponent_tangent"], rel=RTOL, abs=0)
