"""run(): files and contents of a run directory, bitwise resume, divergence, sharpness by Lanczos."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from refchaos.experiments.config import RunConfig
from refchaos.experiments.run import metric_columns, prepare, run, top_eigenvalue
from refchaos.experiments.divergence import REASONS
from refchaos.experiments.rundir import RunDirectory, RunDirectoryError

ALL = ("loss", "accuracy", "spectrum", "sharpness", "ftle", "maxexp")
# Tiny but complete: momentum makes the tangent state 2N-dimensional and the optimizer stateful.
TINY = dict(subset=96, model="mlp:4", steps=24, every=8, batch_size=16, momentum=0.5,
            measure=ALL, ftle_k=3, seed=2)
CKPT = 8


def _config(**kw):
    return RunConfig(**{**TINY, **kw})


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of the tiny configuration."""
    out = tmp_path_factory.mktemp("ref") / "run"
    summary = run(_config(), out, progress=False, checkpoint_every=CKPT)
    return out, summary


def _same_run(a, b):
    """metrics.csv byte for byte, and every checkpoint entry and recorded array bit for bit."""
    ra, rb = RunDirectory(a), RunDirectory(b)
    assert ra.metrics_path.read_bytes() == rb.metrics_path.read_bytes()
    (ma, xa), (mb, xb) = ra.read_checkpoint(), rb.read_checkpoint()
    assert ma["step"] == mb["step"] and set(xa) == set(xb)
    for k in xa:
        assert xa[k].dtype == xb[k].dtype and np.array_equal(xa[k], xb[k], equal_nan=True), k
    ya, yb = ra.read_arrays(), rb.read_arrays()
    for k in ya:
        assert np.array_equal(ya[k], yb[k], equal_nan=True), k


def test_run_directory_contents(reference):
    out, summary = reference
    rd = RunDirectory(out)
    assert rd.validate()["status"] == "completed" == summary["status"]
    doc = json.loads(rd.config_path.read_text())
    assert RunConfig.from_dict(doc["config"]) == _config()
    N = doc["num_params"]
    assert N == 64 * 4 + 4 + 4 * 10 + 10 and doc["model"]["layers"] and doc["versions"]["numpy"]
    columns, m = rd.read_metrics()
    assert columns == metric_columns(_config())
    assert np.array_equal(m["step"], np.arange(24))
    measured = np.array([0, 8, 16, 23])
    assert np.array_equal(np.flatnonzero(~np.isnan(m["n_chaotic"])), measured)
    assert np.all(np.isfinite(m["loss"])) and np.all(np.isfinite(m["maxexp"]))  # every step
    counts = sum(m[f"n_{k}"][measured] for k in ("negative", "positive", "zero"))
    assert np.array_equal(counts, np.full(4, N))  # every eigenvalue counted once
    assert np.array_equal(m["sharpness"][measured], m["lam_max"][measured])
    assert np.all(m["two_over_lr"][measured] == 2 / 0.1)
    assert np.all((m["test_acc"][measured] >= 0) & (m["test_acc"][measured] <= 1))
    arrays = rd.read_arrays()
    assert np.array_equal(arrays["spectrum_steps"], measured)
    # The exact spectrum engine may return only the eigenpairs with non-zero eigenvalue (the
    # rest span the null space of H): rows hold `spectrum_lengths` values, NaN-padded.
    lengths = arrays["spectrum_lengths"]
    assert np.all((lengths >= 1) & (lengths <= N))
    width = int(lengths.max())
    assert arrays["eigenvalues"].shape == (4, width) == arrays["local_exponents"].shape
    for row, n in zip(arrays["eigenvalues"], lengths):
        assert np.all(np.isfinite(row[:n])) and np.all(np.isnan(row[n:]))
    lam = arrays["eigenvalues"][-1, :lengths[-1]]
    e = arrays["local_exponents"][-1, :lengths[-1]]
    assert np.all(np.diff(lam) >= 0) and lam[-1] == m["lam_max"][23]
    assert np.allclose(e, np.log(np.abs(1 - 0.1 * lam)), rtol=1e-12, atol=1e-15)  # Eq. (9)
    # the running exponent is the mean of the per-step log growth factors
    g = arrays["log_growth"]
    assert g.shape == (24,)
    assert np.allclose(m["maxexp"], np.cumsum(g) / np.arange(1, 25), rtol=1e-12)
    assert arrays["ftle"].shape == (4, 3) and np.array_equal(arrays["ftle_steps"], measured)
    assert np.array_equal(arrays["ftle"][-1], [m[f"ftle_{j}"][23] for j in (1, 2, 3)])
    assert summary["ftle"] == list(arrays["ftle"][-1]) and summary["maxexp"] == m["maxexp"][23]
    assert set(summary["final"]) == {"train_loss", "train_acc", "test_acc"}
    assert summary["divergence"] is None and summary["steps_completed"] == 24
    assert {"figures/training.png", "figures/lyapunov.png"} <= set(summary["figures"])


def test_interrupt_then_resume_is_bitwise_identical(reference, tmp_path):
    out = tmp_path / "run"

    def ctrl_c(step, row):
        if step == 13:  # not a checkpoint step: the interrupt itself writes one
            raise KeyboardInterrupt

    s = run(_config(), out, progress=False, checkpoint_every=CKPT, on_step=ctrl_c)
    assert s["status"] == "interrupted" and s["steps_completed"] == 14
    assert RunDirectory(out).read_checkpoint()[0]["step"] == 14
    assert len(RunDirectory(out).read_metrics()[1]["step"]) == 14
    s = run(None, out, resume=True, progress=False, checkpoint_every=CKPT)
    assert s["status"] == "completed" and s["resumed_at"] == [14]
    _same_run(reference[0], out)


def test_crash_resumes_from_last_checkpoint_dropping_later_rows(reference, tmp_path):
    out = tmp_path / "run"

    def crash(step, row):
        if step == 19:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        run(_config(), out, progress=False, checkpoint_every=CKPT, on_step=crash)
    rd = RunDirectory(out)
    assert rd.read_summary()["status"] == "running"
    meta = rd.read_checkpoint()[0]
    assert meta["step"] == 16 == meta["records"]["rows"]  # the last periodic checkpoint
    assert len(rd.read_metrics()[1]["step"]) == 20  # rows are appended: 16..19 past it
    run(_config(), out, resume=True, progress=False, checkpoint_every=5)  # any cadence
    _same_run(reference[0], out)


def test_resume_refusals(reference, tmp_path):
    out, _ = reference
    with pytest.raises(RunDirectoryError, match="nothing to resume"):
        run(None, out, resume=True, progress=False)
    with pytest.raises(RunDirectoryError, match="lr: stored 0.1, given 0.2"):
        run(_config(lr=0.2), out, resume=True, progress=False)
    with pytest.raises(RunDirectoryError, match="already holds this run.*--resume"):
        run(_config(), out, progress=False)
    with pytest.raises(RunDirectoryError, match="not a refchaos result directory"):
        run(None, tmp_path / "empty", resume=True, progress=False)


def test_divergence_is_recorded(tmp_path):
    # MSE with lr 50 on a tiny MLP: the quadratic loss grows geometrically within a few steps.
    cfg = RunConfig(subset=64, model="mlp:4", loss="mse", lr=50.0, steps=60, every=5,
                    batch_size=0, measure=("loss", "maxexp", "accuracy"))
    s = run(cfg, tmp_path / "d", progress=False, checkpoint_every=10)
    assert s["status"] == "diverged"
    d = s["divergence"]
    assert 0 < d["step"] < 60 and d["reason"] in REASONS and d["message"]
    rd = RunDirectory(tmp_path / "d")
    assert rd.validate()["status"] == "diverged"
    _, m = rd.read_metrics()
    assert len(m["step"]) == d["step"] + 1  # the diverging step's row is kept
    assert np.all(np.isfinite(m["loss"][:d["step"]]))
    assert (rd.figures_dir / "training.png").is_file()
    with pytest.raises(RunDirectoryError, match="diverged"):
        run(None, tmp_path / "d", resume=True, progress=False)


def test_lanczos_sharpness_matches_dense_top_eigenvalue():
    setup = prepare(RunConfig(subset=40, model="mlp:6", steps=1, batch_size=0))
    model = setup.model
    theta = model.init(1)
    x, y = setup.x_train, setup.y_train
    lam = np.linalg.eigvalsh(np.asarray(model.hessian(theta, x, y)))
    top = top_eigenvalue(model, theta, x, y, seed=[0, 3, 0])
    assert top <= lam[-1] * (1 + 1e-12)  # a Ritz value never exceeds lambda_max
    assert math.isclose(top, lam[-1], rel_tol=1e-8)
    again = top_eigenvalue(model, theta, x, y, seed=[0, 3, 0])
    assert again == top  # one seed, one start vector: resumed runs see the same number


def test_sharpness_only_run_uses_lanczos(tmp_path):
    cfg = RunConfig(subset=40, model="mlp:3", steps=3, every=2, batch_size=0, lr=0.05,
                    measure=("loss", "sharpness"))
    run(cfg, tmp_path / "s", progress=False)
    setup = prepare(cfg)
    _, m = RunDirectory(tmp_path / "s").read_metrics()
    theta0 = setup.model.init(0)
    lam = np.linalg.eigvalsh(np.asarray(setup.model.hessian(theta0, setup.x_train, setup.y_train)))
    assert math.isclose(m["sharpness"][0], lam[-1], rel_tol=1e-8)
    assert np.flatnonzero(~np.isnan(m["sharpness"])).tolist() == [0, 2]
    assert "n_chaotic" not in m and np.all(m["two_over_lr"][[0, 2]] == 40.0)
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["two_over_lr"] == 40.0 and summary["sharpness"] == m["sharpness"][2]


def test_full_batch_step_reads_the_loaded_arrays_without_a_copy():
    # Full batch: the batch of every step is the training set itself, prepared once at setup.
    setup = prepare(RunConfig(subset=30, model="mlp:4", steps=3, batch_size=0))
    for t in range(3):
        x, y = setup.batch(t)
        assert x is setup.x_train and y is setup.y_train
    with pytest.raises(ValueError, match="step"):
        setup.batch(-1)
