"""``refchaos run --optimizer adam|adamw|rmsprop``: options, measures, and a bitwise --resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from refchaos.experiments.config import RunConfig
from refchaos.experiments.run import run as run_experiment
from refchaos.experiments.rundir import RunDirectory
from refchaos_cli.run import run

ALL = "loss,accuracy,spectrum,sharpness,ftle,maxexp,subspaces"
SMALL = ["--model", "mlp:6", "--subset", "64", "--batch-size", "16", "--every", "4"]


def _invoke(*args):
    return CliRunner().invoke(run, [str(a) for a in args])


@pytest.mark.parametrize("extra", [
    ["--optimizer", "adam", "--lr", "0.01", "--betas", "0.8,0.99", "--amsgrad"],
    ["--optimizer", "adamw", "--lr", "0.01", "--weight-decay", "0.01", "--eps", "1e-6"],
    ["--optimizer", "rmsprop", "--lr", "0.001", "--alpha", "0.9", "--centered",
     "--momentum", "0.5"],
])
def test_every_defined_measure_runs_for_the_adaptive_optimizers(tmp_path, extra):
    out = tmp_path / "run"
    result = _invoke(*SMALL, *extra, "--steps", 9, "--measure", ALL, "--ftle-k", 2,
                     "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    rd = RunDirectory(out)
    summary = rd.validate()
    assert summary["status"] == "completed" and np.isfinite(summary["maxexp"])
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    # eigenvalues, sharpness, ftle and maxexp; no Eq. (9)/(10) quantities of the map I - lr H
    for col in ("lam_min", "lam_max", "sharpness", "ftle_1", "ftle_2", "maxexp", "subspace_n_chaotic"):
        assert col in header
    assert not [c for c in header if c.startswith(("n_", "overlap_"))]
    # 2/lr is the edge of stability of the map I - lr H (GD, Cohen et al. 2021), not of a
    # preconditioned step: no column and no summary entry claims it for these optimizers
    assert "two_over_lr" not in header and "two_over_lr" not in summary
    assert summary["sharpness"] == float(RunDirectory(out).read_metrics()[1]["sharpness"][-1])
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["optimizer"] == extra[1]


@pytest.mark.parametrize("args, option", [
    (["--optimizer", "adamax"], "--optimizer"),
    (["--optimizer", "adam", "--betas", "0.9"], "--betas"),
    (["--optimizer", "adam", "--betas", "0.9,1.0"], "--betas"),
    (["--optimizer", "adam", "--eps", "0"], "--eps"),
    (["--optimizer", "rmsprop", "--alpha", "1.5"], "--alpha"),
    (["--optimizer", "sgd", "--betas", "0.8,0.9"], "--betas"),
    (["--optimizer", "sgd", "--amsgrad"], "--amsgrad"),
    (["--optimizer", "adam", "--centered"], "--centered"),
    (["--optimizer", "rmsprop", "--amsgrad"], "--amsgrad"),
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum"),
])
def test_bad_optimizer_options_fail_before_any_file(tmp_path, args, option):
    out = tmp_path / "run"
    result = _invoke(*args, "--steps", 2, "--out", out, "--quiet")
    assert result.exit_code == 2, result.output
    assert option in result.output
    assert not out.exists()


def test_adam_run_interrupted_then_resumed_is_bitwise_identical(tmp_path):
    opts = dict(model="mlp:6", subset=64, batch_size=16, every=3, steps=12, optimizer="adam",
                lr=0.01, measure=tuple(ALL.split(",")), ftle_k=2)

    def stop_at_7(step, row):
        if step == 7:
            raise KeyboardInterrupt

    out, ref = tmp_path / "run", tmp_path / "ref"
    first = run_experiment(RunConfig(**opts), out, progress=False, checkpoint_every=5,
                           on_step=stop_at_7)
    assert first["status"] == "interrupted" and first["steps_completed"] == 8
    arrays = RunDirectory(out).read_checkpoint()[1]
    assert {"opt_m", "opt_v", "opt_step"} <= set(arrays)  # Adam's moments are checkpointed
    result = _invoke("--resume", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    run_experiment(RunConfig(**opts), ref, progress=False, checkpoint_every=5)
    assert (out / "metrics.csv").read_bytes() == (ref / "metrics.csv").read_bytes()
    a, b = RunDirectory(out).read_checkpoint()[1], RunDirectory(ref).read_checkpoint()[1]
    for key in ("theta", "opt_m", "opt_v", "maxexp_w", "ftle_qr_Q"):
        assert a[key].tobytes() == b[key].tobytes(), key


@pytest.mark.parametrize("optimizer, expected", [("adamw", 0.01), ("adam", 0.0), ("sgd", 0.0)])
def test_weight_decay_defaults_to_pytorchs_for_the_optimizer(tmp_path, optimizer, expected):
    """Without --weight-decay the run trains what PyTorch's optimizer would (AdamW: 1e-2), and
    config.json records the value used; an explicit --weight-decay 0 stays 0."""
    out = tmp_path / optimizer
    result = _invoke("--optimizer", optimizer, "--model", "mlp:4", "--steps", "2",
                     "--measure", "loss", "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["config"]["weight_decay"] == expected
    explicit = tmp_path / f"{optimizer}-0"
    result = _invoke("--optimizer", optimizer, "--weight-decay", "0", "--model", "mlp:4",
                     "--steps", "2", "--measure", "loss", "--out", str(explicit), "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads((explicit / "config.json").read_text())["config"]["weight_decay"] == 0.0
