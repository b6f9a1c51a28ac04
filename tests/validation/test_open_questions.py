"""validation/j25_open_questions.py: its sweep directories, redrawn by ``refchaos plot``.

Its exponent is the library's theta-block exponent (``max_exponent(..., start="theta")``),
tested in tests/lyapunov/test_theta_exponent.py.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

from refchaos import io
from refchaos.experiments.setup import prepare
from refchaos.experiments.sweep import point_path, stored_sweep
from refchaos.lyapunov import max_exponent
from refchaos.plots import redraw

VALIDATION = Path(__file__).resolve().parents[2] / "validation"


def _script():
    spec = importlib.util.spec_from_file_location("j25_open_questions",
                                                  VALIDATION / "j25_open_questions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_experiment_directory_is_redrawn_by_refchaos_plot(tmp_path):
    mod = _script()
    assert mod.main(["--quick", "--experiments", "adam", "--out", str(tmp_path)]) == 0
    figures = tmp_path / "adam" / "figures"
    for name in ("sweep.png", "tangent.png"):
        (figures / name).unlink()
    paths = redraw(tmp_path / "adam")
    assert sorted(p.name for p in paths) == ["sweep.png", "tangent.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    # the exponent is the library's theta-block exponent of the point's run
    sweep = stored_sweep(tmp_path / "adam")
    lr, seed = sweep.points()[1]
    setup = prepare(replace(sweep.base, lr=lr, seed=seed))
    lam = max_exponent(setup.opt, setup.model, setup.theta0, setup.batch, setup.steps,
                       seed=seed, start="theta", record_every=None).theta_exponent
    point = io.read_json(point_path(tmp_path / "adam", lr, seed))
    assert point["exponent_tangent"] == point["exponent_tangent_theta"] == lam
    # a rerun keeps the finished points (resume) and gives the same table
    first = (tmp_path / "j25_open_questions.csv").read_text()
    assert mod.main(["--quick", "--experiments", "adam", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "j25_open_questions.csv").read_text() == first


def test_unknown_experiment_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        _script().main(["--quick", "--experiments", "sgd2", "--out", str(tmp_path)])
