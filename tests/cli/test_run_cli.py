"""``refchaos run``: option checks before any work, exit statuses, and a real Ctrl-C + --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from refchaos.backend import BackendUnavailableError, get_namespace
from refchaos.experiments.config import RunConfig
from refchaos.experiments.run import run as run_experiment
from refchaos.experiments.rundir import RunDirectory
from refchaos_cli.run import EXIT_DIVERGED, EXIT_INTERRUPTED, run

ROOT = Path(__file__).resolve().parents[2]


def _invoke(*args):
    return CliRunner().invoke(run, [str(a) for a in args])


def test_every_option_shows_its_default():
    ctx = run.make_context("run", [], resilient_parsing=True)
    for param in run.params:
        if param.name == "help":
            continue
        record = param.get_help_record(ctx)
        assert record is not None and "[default:" in record[1], param.name


@pytest.mark.parametrize("args, option", [
    (["--model", "resnet:50"], "--model"),
    (["--model", "mlp:0"], "--model"),
    (["--model", "cnn:4:min"], "--model"),
    (["--lr", "0"], "--lr"),
    (["--lr", "-0.5"], "--lr"),
    (["--subset", "50", "--batch-size", "64"], "--batch-size"),
    (["--measure", "loss,entropy"], "--measure"),
    (["--dataset", "imagenet"], "--dataset"),
], ids=["model", "mlp0", "cnn-pool", "lr0", "lr-neg", "batch", "measure", "dataset"])
def test_bad_options_fail_before_any_file(tmp_path, args, option):
    out = tmp_path / "out"
    result = _invoke(*args, "--out", out, "--quiet")
    assert result.exit_code == 2, result.output
    assert option in result.output
    assert not out.exists()


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "usps").is_dir(), reason="no USPS files")
def test_average_pool_cnn_runs_from_the_command_line(tmp_path):
    # --model cnn:avg reaches the run: the network written to config.json has four average pools
    out = tmp_path / "r"
    result = _invoke("--dataset", "usps", "--data-dir", ROOT.parent / "shared" / "data", "--subset", 32,
                     "--model", "cnn:2:avg", "--batch-size", 8, "--epochs", 1, "--lr", 0.1,
                     "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    spec = json.loads((out / "config.json").read_text())["model"]  # the network's layer spec
    assert [layer["kind"] for layer in spec["layers"]].count("avgpool2d") == 4
    assert "maxpool2d" not in [layer["kind"] for layer in spec["layers"]]


def test_cupy_without_gpu_is_one_clear_usage_error(tmp_path):
    try:
        get_namespace("cupy")
        pytest.skip("a GPU with CuPy is present")
    except BackendUnavailableError:
        pass
    out = tmp_path / "out"
    result = _invoke("--backend", "cupy", "--out", out, "--quiet")
    assert result.exit_code == 2 and "--backend" in result.output and "GPU" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_diverged_run_has_its_own_exit_status(tmp_path):
    out = tmp_path / "d"
    result = _invoke("--subset", 64, "--model", "mlp:4", "--loss", "mse", "--lr", 50,
                     "--batch-size", 0, "--steps", 60, "--measure", "loss", "--out", out)
    assert result.exit_code == EXIT_DIVERGED == 3, result.output
    assert "diverged at step" in result.output
    assert RunDirectory(out).validate()["status"] == "diverged"


def test_out_holding_a_run_needs_resume(tmp_path):
    args = ["--subset", 32, "--model", "mlp:2", "--steps", 2, "--batch-size", 8,
            "--measure", "loss", "--out", tmp_path / "r", "--quiet"]
    assert _invoke(*args).exit_code == 0
    again = _invoke(*args)
    assert again.exit_code == 2 and "--resume" in again.output
    mismatch = _invoke("--resume", "--out", tmp_path / "r", "--lr", 0.3)
    assert mismatch.exit_code == 2 and "--lr" in mismatch.output


SIGINT_ARGS = dict(subset=200, model="mlp:4", batch_size=16, steps=3000, seed=1,
                   measure=("loss", "maxexp"), every=50)
CKPT = 100


def _cli_args(cfg, out, ckpt=CKPT):
    return ["--subset", cfg["subset"], "--model", cfg["model"], "--batch-size", cfg["batch_size"],
            "--steps", cfg["steps"], "--seed", cfg["seed"], "--measure", ",".join(cfg["measure"]),
            "--every", cfg["every"], "--checkpoint-every", ckpt, "--out", out, "--quiet"]


def _rows(path):
    try:
        return path.read_text().count("\n") - 1
    except FileNotFoundError:
        return 0


def test_sigint_subprocess_then_resume_is_bitwise_identical(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONHASHSEED="0")
    cmd = [sys.executable, "-m", "refchaos_cli.run", *map(str, _cli_args(SIGINT_ARGS, out))]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _rows(out / "metrics.csv") < CKPT and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # the first periodic checkpoint rewrites metrics.csv with CKPT rows
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED == 130, err.decode()
    rd = RunDirectory(out)
    summary = rd.validate()
    assert summary["status"] == "interrupted" and 0 < summary["steps_completed"] < 3000
    assert rd.read_checkpoint()[0]["step"] == summary["steps_completed"]
    resumed = subprocess.run([sys.executable, "-m", "refchaos_cli.run", "--resume", "--out",
                              str(out), "--quiet"], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert rd.read_summary()["resumed_at"] == [summary["steps_completed"]]

    ref = tmp_path / "ref"
    run_experiment(RunConfig(**SIGINT_ARGS), ref, progress=False, checkpoint_every=CKPT)
    assert (out / "metrics.csv").read_bytes() == (ref / "metrics.csv").read_bytes()
    a, b = rd.read_checkpoint()[1], RunDirectory(ref).read_checkpoint()[1]
    assert a["theta"].tobytes() == b["theta"].tobytes()
    assert a["maxexp_w"].tobytes() == b["maxexp_w"].tobytes()


KILL_ARGS = dict(subset=160, model="mlp:4", batch_size=16, steps=300, seed=5, every=6,
                 measure=("loss", "maxexp", "spectrum"))
KILL_CKPT = 30
KILL_SEED = 18  # seed of the kill schedule
KILL_ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def test_kill_9_at_seeded_random_moments_then_resume_is_bitwise_identical(tmp_path):
    out = tmp_path / "run"
    rng = np.random.default_rng(KILL_SEED)
    targets = sorted(rng.choice(np.arange(5, KILL_ARGS["steps"] - 50), size=3, replace=False))
    first = [sys.executable, "-m", "refchaos_cli.run", *map(str, _cli_args(KILL_ARGS, out, KILL_CKPT))]
    again = [sys.executable, "-m", "refchaos_cli.run", "--resume", "--checkpoint-every",
             str(KILL_CKPT), "--out", str(out), "--quiet"]
    killed = 0
    for i, target in enumerate(targets):
        proc = subprocess.Popen(first if i == 0 else again, cwd=ROOT, env=KILL_ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while proc.poll() is None and _rows(out / "metrics.csv") < target \
                and time.monotonic() < deadline:
            time.sleep(0.002)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        _, err = proc.communicate(timeout=120)
        assert proc.returncode in (-signal.SIGKILL, 0), err.decode()
        if proc.returncode == 0:
            break
    assert killed >= 1
    rd = RunDirectory(out)
    if rd.read_summary()["status"] != "completed":
        final = subprocess.run(again, cwd=ROOT, env=KILL_ENV, capture_output=True, timeout=300)
        assert final.returncode == 0, final.stderr.decode()
        assert b"stale lock" in final.stderr  # the killed process left its lock
    assert rd.validate()["status"] == "completed"

    # The uninterrupted reference runs as the killed runs do, in a fresh process with the same
    # environment: OpenBLAS picks its kernels at start-up from OPENBLAS_NUM_THREADS, and a
    # noise-level column (overlap_zero ~1e-29) differs in its last bits between a process
    # started with it and one limited by threadpoolctl afterwards.
    ref = tmp_path / "ref"
    uninterrupted = subprocess.run(
        [sys.executable, "-m", "refchaos_cli.run", *map(str, _cli_args(KILL_ARGS, ref, KILL_CKPT))],
        cwd=ROOT, env=KILL_ENV, capture_output=True, timeout=300)
    assert uninterrupted.returncode == 0, uninterrupted.stderr.decode()
    assert (out / "metrics.csv").read_bytes() == (ref / "metrics.csv").read_bytes()
    a, b = rd.read_arrays(), RunDirectory(ref).read_arrays()
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k], equal_nan=True), k
    ca, cb = rd.read_checkpoint()[1], RunDirectory(ref).read_checkpoint()[1]
    assert ca["theta"].tobytes() == cb["theta"].tobytes() and ca["maxexp_w"].tobytes() == cb["maxexp_w"].tobytes()
