"""``python -m refchaos_cli.sweep``: files and contents of a tiny sweep, resume, option checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import refchaos.experiments.sweep as sweep_mod
from refchaos_cli.sweep import sweep

ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
TINY = ["--lrs", "0.05,2", "--seeds", "1", "--copies", "2", "--epochs", "6", "--subset", "100",
        "--model", "mlp:4", "--target", "0.2"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "refchaos_cli.sweep", *args], env=ENV,
                          capture_output=True, text=True, timeout=300)


def test_tiny_sweep_writes_table_summary_points_and_figures(tmp_path):
    out = tmp_path / "s"
    r = _cli(*TINY, "--chunk-size", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "in 2 chunk(s) of up to 1 points (--chunk-size)" in r.stderr
    assert "[2/2]" in r.stderr and "exponent (copies) positive from lr" in r.stderr
    lines = (out / "sweep.csv").read_text().splitlines()
    assert lines[0].startswith("lr,seed,exponent_copies,exponent_copies_std")
    assert [l.split(",")[:2] for l in lines[1:]] == [["0.05", "0"], ["2.0", "0"]]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "sweep" and summary["config"]["lrs"] == [0.05, 2.0]
    assert {"onset_lr_copies", "best_lr", "min_training_time", "per_lr"} <= set(summary)
    assert len(list((out / "points").glob("*.json"))) == 2
    for name in ("sweep.png", "divergence.png"):
        assert (out / "figures" / name).read_bytes()[:4] == b"\x89PNG"
    r = _cli("--resume", "--out", str(out))
    assert r.returncode == 0 and "2 of 2 points already done, 0 to run" in r.stderr
    r = _cli("--resume", "--chunk-size", "2", "--out", str(out))
    assert r.returncode == 1 and "keeps its chunks: leave out --chunk-size or give 1" in r.stderr
    r = _cli("--resume", "--epochs", "7", "--out", str(out))
    assert r.returncode == 2 and "leave out --epochs" in r.stderr
    r = _cli(*TINY[:-2], "--target", "0.3", "--out", str(out))
    assert r.returncode == 2 and "another configuration (target: stored 0.2, given 0.3)" in r.stderr
    assert "--resume" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--lrs", "0.1,0"], "--lrs"),
    (["--lrs", "0.1,x"], "comma-separated"),
    (["--model", "mlp:2x"], "--model"),
    (["--batch-size", "100000"], "larger than the training set"),
    (["--backend", "cupy"], "--backend"),
    (["--seeds", "0"], "seed count"),
    (["--workers", "0"], "--workers"),
    (["--chunk-size", "0"], "--chunk-size"),
])
def test_bad_options_are_named_before_any_work(tmp_path, args, message):
    r = CliRunner().invoke(sweep, [*TINY, *args, "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and message in r.output
    assert not (tmp_path / "x").exists()


def test_unreachable_dask_scheduler_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_mod, "DASK_CONNECT_TIMEOUT", "1s")
    r = CliRunner().invoke(sweep, [*TINY, "--dask", "tcp://127.0.0.1:9", "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'" in r.output
    assert not (tmp_path / "x").exists()


def test_help_says_how_chunks_are_sized():
    r = CliRunner().invoke(sweep, ["--help"])
    text = " ".join(r.output.split())
    assert r.exit_code == 0 and "--chunk-size" in text and "MemAvailable" in text
    assert "default: (from the memory available)" in text
