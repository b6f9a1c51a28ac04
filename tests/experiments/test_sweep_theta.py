"""The sweep's ``exponent_tangent_theta``: the theta-block exponent of a tangent vector started
in theta (a perturbation of theta(0) alone), beside the whole-state ``exponent_tangent``; and
sweep directories written before the column existed (read, summarised, resumed).

Tolerance of the stateful comparison: the sweep's theta vector rides along the whole-state one
in one (n, 2) tangent step, ``max_exponent`` carries it alone (n, 1); concatenating columns
changes only the column count of the HVP products, so each column is the same sum in the same
order up to the BLAS kernel's blocking (as tests/lyapunov/test_integrator.py): a few ulps per
step, grown by the T-step product; 1e-12 relative leaves a wide margin over these 6 steps.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from refchaos import io
from refchaos.experiments.setup import prepare
from refchaos.experiments.sweep import (CSV_COLUMNS, SweepConfig, default_base, point_path,
                                        read_table, run_point, run_sweep, summarise,
                                        theta_is_state)
from refchaos.lyapunov import max_exponent

RTOL = 1e-12
BASE = replace(default_base(), model="mlp:4", epochs=6, subset=100)


def _sweep(**change):
    return SweepConfig(base=replace(BASE, **change), lrs=(0.01, 0.3), seeds=(1,), copies=2,
                       target=0.2).validate()


def _library(sweep, lr, seed, start):
    setup = prepare(replace(sweep.base, lr=lr, seed=seed))
    return max_exponent(setup.opt, setup.model, setup.theta0, setup.batch, setup.steps,
                        seed=seed, start=start, record_every=None)


@pytest.mark.parametrize("change", [dict(optimizer="adam"), dict(momentum=0.9)],
                         ids=["adam", "momentum"])
def test_stateful_sweep_column_is_the_library_theta_exponent(change, tmp_path):
    sweep = _sweep(**change)
    run_sweep(sweep, tmp_path / "s", figures=False)
    table = read_table(tmp_path / "s" / "sweep.csv")
    assert np.all(np.isfinite(table["exponent_tangent_theta"]))
    for lr, seed in sweep.points():
        row = table["lr"] == lr
        theta = _library(sweep, lr, seed, "theta").theta_exponent
        whole = _library(sweep, lr, seed, "state").exponent  # issue 13: run's maxexp, unchanged
        assert table["exponent_tangent_theta"][row][0] == pytest.approx(theta, rel=RTOL, abs=0)
        assert table["exponent_tangent"][row][0] == pytest.approx(whole, rel=RTOL, abs=0)
        assert abs(theta - whole) > 1e-3 * abs(whole)  # two quantities, not one
    summary = io.read_json(tmp_path / "s" / "summary.json")
    means = [q["exponent_tangent_theta"] for q in summary["per_lr"]]
    np.testing.assert_array_equal(means, table["exponent_tangent_theta"])  # one seed: the mean
    assert "onset_lr_tangent_theta" in summary


def test_plain_sgd_column_is_exponent_tangent(tmp_path):
    """Without buffers the two columns are one vector: equal bit for bit, on the ensemble chunk
    path (run_sweep's for plain SGD) and on run_point."""
    sweep = _sweep()
    run_sweep(sweep, tmp_path / "s", figures=False)
    table = read_table(tmp_path / "s" / "sweep.csv")
    assert np.all(np.isfinite(table["exponent_tangent"]))
    np.testing.assert_array_equal(table["exponent_tangent_theta"], table["exponent_tangent"])
    point = run_point(sweep.to_dict(), 0.3, 1)
    assert point["exponent_tangent_theta"] == point["exponent_tangent"]
    assert point["exponent_tangent"] == _library(sweep, 0.3, 1, "theta").theta_exponent


def test_points_written_before_the_column_read_as_nan_and_resume(tmp_path):
    """A sweep directory of the former code: its points lack the key. Resuming it is not
    refused; its table and summary carry NaN there, a point run now carries the value."""
    sweep, out = _sweep(optimizer="adam"), tmp_path / "s"
    run_sweep(sweep, out, figures=False)
    old = point_path(out, 0.01, 1)
    point = io.read_json(old)
    del point["exponent_tangent_theta"]
    io.atomic_write_json(old, point)
    point_path(out, 0.3, 1).unlink()  # interrupted before this point
    (out / "sweep.csv").unlink()
    lines = []
    run_sweep(sweep, out, resume=True, progress=lines.append, figures=True)
    assert "1 of 2 points already done, 1 to run" in lines[0]
    assert "exponent_tangent_theta" not in io.read_json(old)  # the finished point is kept
    table = read_table(out / "sweep.csv")
    got = dict(zip(table["lr"], table["exponent_tangent_theta"]))
    assert math.isnan(got[0.01])
    assert got[0.3] == pytest.approx(_library(sweep, 0.3, 1, "theta").theta_exponent,
                                     rel=RTOL, abs=0)
    per_lr = {q["lr"]: q for q in io.read_json(out / "summary.json")["per_lr"]}
    assert per_lr[0.01]["exponent_tangent_theta"] is None  # NaN in JSON
    assert math.isfinite(per_lr[0.3]["exponent_tangent_theta"])
    assert (out / "figures" / "sweep.png").stat().st_size > 0


def test_old_points_of_a_stepper_without_buffers_read_their_exponent_tangent(tmp_path):
    """Plain SGD: the tangent vector is theta alone, so a point written before the column
    reads it as its own exponent_tangent (what the sweep now writes for it), not NaN."""
    sweep, out = _sweep(), tmp_path / "s"
    run_sweep(sweep, out, figures=False)
    before = read_table(out / "sweep.csv")
    for lr, seed in sweep.points():
        point = io.read_json(point_path(out, lr, seed))
        del point["exponent_tangent_theta"]
        io.atomic_write_json(point_path(out, lr, seed), point)
    point_path(out, 0.3, 1).unlink()
    (out / "sweep.csv").unlink()
    run_sweep(sweep, out, resume=True, figures=False)
    after = read_table(out / "sweep.csv")
    for column in ("exponent_tangent", "exponent_tangent_theta"):
        np.testing.assert_array_equal(after[column], before[column])
    assert theta_is_state(sweep) and not theta_is_state(_sweep(optimizer="adam"))
    assert not theta_is_state(_sweep(momentum=0.5))


def test_a_table_written_before_the_column_reads_as_nan(tmp_path):
    old_columns = [c for c in CSV_COLUMNS if c != "exponent_tangent_theta"]
    row = {c: 0 for c in old_columns} | {"lr": 0.5, "seed": 0, "exponent_tangent": 0.25,
                                          "training_time": 3, "diverged": False}
    io.atomic_write_csv(tmp_path / "sweep.csv", [[row[c] for c in old_columns]],
                        header=old_columns)
    table = read_table(tmp_path / "sweep.csv")
    assert math.isnan(table["exponent_tangent_theta"][0]) and table["exponent_tangent"][0] == 0.25
    sweep = SweepConfig(base=BASE, lrs=(0.5,), seeds=(0,))
    summary = summarise(table, sweep)
    assert math.isnan(summary["per_lr"][0]["exponent_tangent_theta"])
    assert summary["onset_lr_tangent"] == 0.5 and summary["onset_lr_tangent_theta"] is None
    del table["exponent_tangent_theta"]  # a table built by hand without it
    assert math.isnan(summarise(table, sweep)["per_lr"][0]["exponent_tangent_theta"])
