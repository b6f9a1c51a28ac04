"""The J25 learning-rate sweep: same table serially, on local processes and on Dask; resume;
divergence recorded; onset and best-lr summary."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from refchaos.experiments.chunks import CHUNKS_FILE
from refchaos.experiments.config import ConfigError
from refchaos.experiments.resultdir import ResultDirectoryError
from refchaos.experiments.sweep import (SweepConfig, default_base, point_path,
                                        read_table, run_sweep, summarise)
from refchaos.io import read_json

from .sweep_tables import assert_same_to_rounding, csv_text

TINY = SweepConfig(base=replace(default_base(), model="mlp:4", epochs=12, subset=150),
                   lrs=(0.05, 3.0), seeds=(0, 1), copies=2, target=0.2)


def test_serial_processes_and_dask_give_the_same_table(tmp_path):
    dd = pytest.importorskip("dask.distributed")
    run_sweep(TINY, tmp_path / "procs", workers=2, figures=False, chunk_size=1)  # 4 chunks
    run_sweep(TINY, tmp_path / "procs_auto", workers=2, figures=False)  # memory: 2 of 2 points
    with dd.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster:
        run_sweep(TINY, tmp_path / "dask", dask=cluster.scheduler_address, figures=False)
    # Same code, same seeds, same machine, same chunk plan: the table is identical to the last
    # digit, whichever runs the chunks; across chunk plans it agrees to rounding.
    serial = {}
    for name in ("procs", "procs_auto", "dask"):
        size = read_json(tmp_path / name / CHUNKS_FILE)["chunk_size"]
        if size not in serial:
            serial[size] = tmp_path / f"serial_{size}"
            run_sweep(TINY, serial[size], figures=False, chunk_size=size)
        assert csv_text(tmp_path / name) == csv_text(serial[size]), name
        assert_same_to_rounding(tmp_path / name, tmp_path / "procs")
    assert csv_text(tmp_path / "procs").count("\n") == 1 + 4
    t = read_table(tmp_path / "procs" / "sweep.csv")
    assert np.all(np.isfinite(t["exponent_copies"])) and np.all(np.isfinite(t["exponent_tangent"]))
    # A larger lr is more chaotic: both estimates agree on the ordering.
    for col in ("exponent_copies", "exponent_tangent"):
        assert t[col][t["lr"] == 3.0].mean() > t[col][t["lr"] == 0.05].mean()


def test_interrupted_sweep_resumes_skipping_finished_points(tmp_path):
    out = tmp_path / "s"
    run_sweep(TINY, out, figures=False)
    before = csv_text(out)
    lost = point_path(out, 3.0, 1)
    lost.unlink()
    (out / "sweep.csv").unlink()
    kept = {p: p.stat().st_mtime_ns for p in (out / "points").glob("*.json")}
    lines = []
    run_sweep(TINY, out, progress=lines.append, figures=True)
    assert "3 of 4 points already done, 1 to run" in lines[0]
    assert len(lines) == 2 and "lr=3 seed=1" in lines[1]
    assert all(p.stat().st_mtime_ns == m for p, m in kept.items())  # finished points untouched
    assert lost.exists() and csv_text(out) == before
    assert (out / "figures" / "sweep.png").stat().st_size > 0
    with pytest.raises(ResultDirectoryError, match="already holds this sweep"):
        run_sweep(TINY, out, resume=False, figures=False)


def test_a_different_configuration_in_the_directory_is_an_error(tmp_path):
    out = tmp_path / "s"
    run_sweep(replace(TINY, lrs=(0.05,), seeds=(0,)), out, figures=False)
    with pytest.raises(ResultDirectoryError, match="another configuration.*lrs"):
        run_sweep(replace(TINY, lrs=(0.05, 0.1), seeds=(0,)), out, figures=False)
    with pytest.raises(ResultDirectoryError, match="nothing to resume"):
        run_sweep(TINY, tmp_path / "new", resume=True, figures=False)


def test_diverging_lr_is_a_recorded_outcome(tmp_path):
    base = replace(default_base(), model="mlp:8", epochs=40, subset=200, activation="relu",
                   init="pytorch", loss="mse")
    sweep = SweepConfig(base=base, lrs=(0.1, 1e5), seeds=(0,), copies=2, target=0.25)
    summary = run_sweep(sweep, tmp_path / "d", figures=False)
    t = read_table(tmp_path / "d" / "sweep.csv")
    big, small = t["lr"] == 1e5, t["lr"] == 0.1
    assert t["diverged"][big].all() and 0 < t["diverged_epoch"][big][0] <= 40
    assert math.isnan(t["training_time"][big][0]) and math.isnan(t["final_test_accuracy"][big][0])
    assert not t["diverged"][small].any() and np.isfinite(t["training_time"][small]).all()
    assert summary["diverged_lrs"] == [1e5] and summary["best_lr"] == 0.1


def test_summary_onset_and_best_lr():
    sweep = SweepConfig(lrs=(0.01, 0.1, 1.0, 10.0, 100.0), seeds=(0, 1))
    lr = np.repeat(sweep.lrs, 2)
    table = {
        "lr": lr,
        # slightly positive noise at 0.01, negative at 0.1, positive from 1.0 on
        "exponent_copies": np.array([1e-6, -1e-6, -0.01, -0.02, 0.05, 0.07, 0.5, 0.4, 2, 2.5]),
        "exponent_tangent": np.array([-1, -1, -1, -1, -1, -1, 0.3, 0.3, 1, 1.0]),
        "training_time": np.array([np.nan, 90, 40, 50, 10, 12, 30, 20, np.nan, np.nan]),
        "diverged": np.array([False] * 8 + [True, True]),
    }
    s = summarise(table, sweep)
    assert s["onset_lr_copies"] == 1.0 and s["onset_interval_copies"] == [0.1, 1.0]
    assert s["onset_lr_tangent"] == 10.0
    assert s["best_lr"] == 1.0 and s["min_training_time"] == 11.0 and s["best_minus_onset"] == 0
    assert s["per_lr"][0]["training_time"] != s["per_lr"][0]["training_time"]  # NaN: one seed missed
    assert s["diverged_lrs"] == [100.0]


@pytest.mark.parametrize("change, match", [
    (dict(lrs=(0.1, 0.0)), "finite number > 0"),
    (dict(lrs=()), "empty"),
    (dict(seeds=(0, 0)), "distinct"),
    (dict(copies=0), "--copies"),
    (dict(target=1.5), "--target"),
    (dict(base=replace(default_base(), model="mlp:x")), "--model"),
    (dict(base=replace(default_base(), optimizer="cgd")), "--optimizer cgd"),
])
def test_options_are_checked_before_work(tmp_path, change, match):
    with pytest.raises(ConfigError, match=match):
        run_sweep(replace(TINY, **change), tmp_path / "x", figures=False)
    assert not (tmp_path / "x").exists()
