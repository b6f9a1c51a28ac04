"""Run directories: round trips of metrics and checkpoints, and clear errors on bad directories."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from refchaos.experiments.config import RunConfig
from refchaos.experiments.recorder import Recorder
from refchaos.experiments.rundir import CHECKPOINT_FILE, RunDirectory, RunDirectoryError


def _claim(rd, config):
    rd.claim(config.to_dict(), document={"model": {"layers": []}})
    rd.release()


def test_metrics_round_trip_is_bitwise(tmp_path):
    rd = RunDirectory(tmp_path / "r")
    _claim(rd, RunConfig())
    columns = ["step", "epoch", "loss", "n_chaotic", "maxexp"]
    rng = np.random.default_rng(0)
    values = np.column_stack([np.arange(6), np.zeros(6), rng.standard_normal(6) * 1e-7,
                              np.arange(6) * 3, rng.standard_normal(6)])
    values[4, 2], values[5, 2] = math.inf, math.nan  # a diverging loss is written, not dropped
    present = np.ones(values.shape, dtype=bool)
    present[1::2, 3] = False  # counts measured every other step
    rec = Recorder(rd.path, columns).start()
    for vrow, prow in zip(values, present):
        rec.append({c: v for c, v, p in zip(columns, vrow, prow) if p})
    rec.sync()
    rec.close()
    cols, data = rd.read_metrics()
    assert cols == columns
    for j, c in enumerate(columns):
        expect = np.where(present[:, j], values[:, j], np.nan)
        assert np.array_equal(data[c], expect, equal_nan=True), c
    text = rd.metrics_path.read_text().splitlines()
    assert text[2].split(",")[3] == ""  # not measured: an empty cell
    assert text[1].split(",")[3] == "0"  # counts are integers


def test_checkpoint_round_trip_and_corruption(tmp_path):
    rd = RunDirectory(tmp_path)
    arrays = {"theta": np.random.default_rng(1).standard_normal(7), "rows": np.eye(3, dtype=bool)}
    rd.write_checkpoint({"step": 12, "note": "x"}, arrays)
    meta, back = rd.read_checkpoint()
    assert meta["step"] == 12 and meta["note"] == "x"
    assert set(back) == set(arrays)
    assert np.array_equal(back["theta"], arrays["theta"]) and back["rows"].dtype == bool
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"not a zip file")
    with pytest.raises(RunDirectoryError, match="corrupt"):
        rd.read_checkpoint()
    (tmp_path / CHECKPOINT_FILE).unlink()
    with pytest.raises(RunDirectoryError, match="missing"):
        rd.read_checkpoint()


def test_missing_and_corrupt_config(tmp_path):
    rd = RunDirectory(tmp_path / "nothing")
    with pytest.raises(RunDirectoryError, match="missing.*not a refchaos result directory"):
        rd.read_config()
    rd = RunDirectory(tmp_path)
    rd.config_path.write_text("{ not json")
    with pytest.raises(RunDirectoryError, match="corrupt"):
        rd.read_config()
    rd.config_path.write_text(json.dumps({"config": {"lr": -1.0}}))
    with pytest.raises(RunDirectoryError, match="--lr"):
        rd.read_config()
    rd.config_path.write_text(json.dumps({"config": {"no_such_option": 1}}))
    with pytest.raises(RunDirectoryError, match="no_such_option"):
        rd.read_config()


def test_config_mismatch_names_each_option(tmp_path):
    rd = RunDirectory(tmp_path / "r")
    _claim(rd, RunConfig(lr=0.1, seed=3))
    rd.check_config(RunConfig(lr=0.1, seed=3))  # the same: no error
    with pytest.raises(RunDirectoryError) as err:
        rd.check_config(RunConfig(lr=0.2, seed=4))
    assert "lr: stored 0.1, given 0.2" in str(err.value) and "seed" in str(err.value)
    with pytest.raises(RunDirectoryError, match="another configuration.*seed: stored 3, given 0"):
        rd.claim(RunConfig().to_dict())
    with pytest.raises(RunDirectoryError, match="already holds this run.*--resume"):
        rd.claim(RunConfig(lr=0.1, seed=3).to_dict())


def test_summary_non_finite_becomes_null_and_status_is_checked(tmp_path):
    rd = RunDirectory(tmp_path)
    rd.write_summary({"kind": "run", "status": "diverged", "final": {"loss": math.inf}})
    assert rd.read_summary()["final"]["loss"] is None
    rd.summary_path.write_text(json.dumps({"kind": "run", "status": "exploded"}))
    with pytest.raises(RunDirectoryError, match="unknown status"):
        rd.read_summary()
