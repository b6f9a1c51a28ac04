"""``run --measure subspaces``: the overlaps of the finite-time subspaces between measurements
equal those computed from ``tangent_matrix`` and ``finite_time_subspaces`` directly, survive an
interrupt and resume bit for bit, and a model too large for Y is refused with a clear error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from refchaos.experiments.config import ConfigError, RunConfig
from refchaos.experiments.rundir import RunDirectory
from refchaos.experiments.run import run
from refchaos.experiments.setup import prepare
from refchaos.lyapunov import finite_time_subspaces, subspace_overlap, tangent_matrix

STEPS, EVERY = 24, 8


def _config(**kw):
    return RunConfig(model="mlp:6", subset=64, batch_size=8, steps=STEPS, seed=2, lr=0.5,
                     measure=("loss", "subspaces"), every=EVERY, **kw)


@pytest.mark.parametrize("method", ["svd", "gram"])
def test_columns_equal_the_library(tmp_path, method):
    config = _config(subspace_method=method)
    run(config, tmp_path / "run", progress=False)
    _, m = RunDirectory(tmp_path / "run").read_metrics()
    setup = prepare(config)
    measured = [t for t in range(STEPS) if t % EVERY == 0 or t == STEPS - 1]
    subs = [finite_time_subspaces(tangent_matrix(setup.opt, setup.model, setup.theta0, setup.batch,
                                                 t + 1).Y, t + 1, method=method)
            for t in measured]
    for i, t in enumerate(measured):
        assert m["subspace_n_chaotic"][t] == subs[i].n_chaotic
        assert m["subspace_n_neutral"][t] == subs[i].n_neutral
        if i == 0:
            assert math.isnan(m["subspace_chaotic_overlap"][t])
            continue
        ov = subspace_overlap(subs[i - 1], subs[i])
        assert m["subspace_chaotic_overlap"][t] == ov.chaotic
        assert m["subspace_nonchaotic_overlap"][t] == ov.nonchaotic
        assert m["subspace_chaotic_random"][t] == ov.chaotic_random
    unmeasured = [t for t in range(STEPS) if t not in measured]
    assert np.all(np.isnan(m["subspace_chaotic_overlap"][unmeasured]))
    assert 0 < subs[-1].n_chaotic < setup.model.num_params


def test_interrupt_and_resume_are_bitwise(tmp_path):
    config = _config()
    run(config, tmp_path / "ref", progress=False)

    def ctrl_c(step, row):
        if step == 13:  # after the measurement at step 8: the previous subspaces are in the checkpoint
            raise KeyboardInterrupt

    out = tmp_path / "run"
    s = run(config, out, progress=False, checkpoint_every=5, on_step=ctrl_c)
    assert s["status"] == "interrupted"
    s = run(None, out, resume=True, progress=False)
    assert s["status"] == "completed"
    _, a = RunDirectory(tmp_path / "ref").read_metrics()
    _, b = RunDirectory(out).read_metrics()
    for c in a:
        np.testing.assert_array_equal(a[c], b[c], err_msg=c)
    assert (out / "figures" / "subspaces.png").exists()


def test_an_unknown_method_is_refused():
    with pytest.raises(ConfigError, match="--subspace-method"):
        _config(subspace_method="qr").validate()


def test_too_large_a_model_is_refused(tmp_path):
    config = RunConfig(dataset="digits", model="mlp:300-300", measure=("loss", "subspaces"), steps=2)
    with pytest.raises(ConfigError, match="tangent matrix Y"):
        run(config, tmp_path / "run", progress=False)


def test_a_tangent_matrix_out_of_range_stops_or_blanks():
    """Y non-finite: a recorded divergence; Y whose SVD resolution reaches 1: NaN cells."""
    from refchaos.experiments.measures import Step
    from refchaos.experiments.measures.subspaces import COLUMNS, Subspaces

    setup = prepare(_config())
    measure = Subspaces(setup, setup.theta0, setup.opt.init(setup.theta0))
    N = setup.model.num_params

    def observe(Y):
        measure.integrator.Y, measure.integrator.t = Y, 6  # as after 6 steps
        step = Step(t=5, x=None, y=None, theta=None, theta_next=None, state_next=None, info={},
                    measured=True, row={})
        return measure.observe(step), step.row

    bad = np.eye(N)
    bad[0, 1] = np.inf
    divergence, _ = observe(bad)
    assert divergence is not None and divergence.reason == "non-finite"
    divergence, row = observe(np.diag(np.r_[1e17, np.ones(N - 1)]))
    assert divergence is None and all(math.isnan(row[c]) for c in COLUMNS)
