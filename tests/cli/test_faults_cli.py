"""Faults and bad inputs of the four commands: named messages, exit 2, nothing half-written;
Ctrl-C and resume, ``refchaos ls``, the progress line (kill -9: ``test_run_cli.py``)."""

from __future__ import annotations

import errno
import io

import pytest
from click.testing import CliRunner

import refchaos.experiments.prune as prune_mod
import refchaos.experiments.sweep as sweep_mod
from refchaos.experiments import lock as lock_mod
from refchaos.experiments.progress import Progress
from refchaos_cli.ls import ls
from refchaos_cli.perturb import perturb
from refchaos_cli.prune import prune
from refchaos_cli.run import run
from refchaos_cli.sweep import sweep

TINY = {
    run: ["--model", "mlp:2", "--steps", "3", "--every", "2", "--batch-size", "8",
          "--measure", "loss", "--quiet"],
    sweep: ["--lrs", "0.1", "--seeds", "1", "--copies", "2", "--epochs", "2", "--subset", "48",
            "--model", "mlp:2"],
    prune: ["--model", "mlp:2", "--steps", "2", "--every", "2", "--variants", "sgd"],
    perturb: ["--model", "mlp:2", "--steps", "3", "--strategies", "top"],
}


def _invoke(command, *args):
    return CliRunner().invoke(command, [str(a) for a in args])


@pytest.mark.parametrize("command, args, option", [
    (run, ["--subset", "5000"], "--subset"),
    (prune, ["--subset", "5000"], "--subset"),
    (sweep, ["--subset", "5000"], "--subset"),
    (run, ["--seed", "-1"], "--seed"),
    (perturb, ["--seed", "-1"], "--seed"),
    (run, ["--init", "normal", "--init-std", "-1"], "--init-std"),
    (run, ["--measure", "ftle", "--ftle-k", "0"], "--ftle-k"),
    (run, ["--measure", "loss,ftle", "--ftle-k", "100000"], "tangent dimension"),
], ids=["run-subset", "prune-subset", "sweep-subset", "run-seed", "perturb-seed", "init-std",
        "ftle-k-0", "ftle-k-above-n"])
def test_bad_input_is_named_with_exit_2_and_nothing_written(tmp_path, command, args, option):
    out = tmp_path / "out"
    result = _invoke(command, *TINY[command], *args, "--out", out)
    assert result.exit_code == 2, result.output
    assert option in result.output and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("command", [run, sweep, prune, perturb],
                         ids=["run", "sweep", "prune", "perturb"])
def test_read_only_out_is_exit_2_for_every_command(tmp_path, monkeypatch, command):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(lock_mod.os, "open", refuse)
    out = tmp_path / "ro"
    result = _invoke(command, *TINY[command], "--out", out)
    assert result.exit_code == 2, result.output
    assert "--out" in result.output and "Read-only file system" in result.output
    assert not out.exists()


def test_sweep_ctrl_c_exits_130_with_a_resume_hint(tmp_path, monkeypatch):
    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_mod, "run_chunk", ctrl_c)  # the unit of work of every scheduler
    out = tmp_path / "s"
    result = _invoke(sweep, *TINY[sweep], "--out", out)
    assert result.exit_code == 130, result.output
    assert f"refchaos sweep --resume --out {out}" in result.output
    assert "Aborted" not in result.output and not (out / lock_mod.LOCK_FILE).exists()


def test_prune_ctrl_c_keeps_finished_variants_and_resumes(tmp_path, monkeypatch):
    args = ["--model", "mlp:2", "--steps", "3", "--every", "3", "--variants", "sgd,chaotic"]
    ref = tmp_path / "ref"
    assert _invoke(prune, *args, "--out", ref).exit_code == 0
    real = prune_mod.train_variant

    def ctrl_c_in_second(setup, opt, variant, *rest, **kwargs):
        if variant == "chaotic":
            raise KeyboardInterrupt
        return real(setup, opt, variant, *rest, **kwargs)

    monkeypatch.setattr(prune_mod, "train_variant", ctrl_c_in_second)
    out = tmp_path / "p"
    result = _invoke(prune, *args, "--out", out)
    assert result.exit_code == 130 and f"refchaos prune --resume --out {out}" in result.output
    assert (out / "variants" / "sgd.csv").is_file() and not (out / "prune.csv").exists()
    listing = _invoke(ls, out)
    assert "prune, interrupted (process gone), 1/2 variants" in listing.output
    monkeypatch.undo()
    assert _invoke(prune, "--resume", "--lr", "0.2", "--out", out).exit_code == 2
    result = _invoke(prune, "--resume", "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "prune.csv").read_bytes() == (ref / "prune.csv").read_bytes()


def test_ls_shows_kind_status_steps_and_key_numbers(tmp_path):
    done = tmp_path / "done"
    assert _invoke(run, *TINY[run], "--measure", "loss,maxexp", "--out", done).exit_code == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _invoke(ls, done, empty)
    assert result.exit_code == 1
    assert f"{done}: run, completed, 3/3 steps; lambda_1" in result.output
    assert "holds no refchaos results" in result.output


def test_progress_eta_comes_from_measured_step_times():
    now = [0.0]
    stream = io.StringIO()
    with Progress(100, done=40, stream=stream, clock=lambda: now[0]) as bar:
        assert bar.eta() is None
        for step_time in (1.0, 1.0, 4.0, 1.0, 1.0):  # one expensive measured step
            now[0] += step_time
            bar.advance(1, "loss 0.1")
        assert bar.eta() == pytest.approx(8.0 / 5 * 55)  # the steps of this process only
    assert "45/100" in stream.getvalue() and "ETA 01:28" in stream.getvalue()


def test_run_progress_line_advances_every_step(tmp_path, monkeypatch):
    import refchaos.experiments.progress as progress_mod

    monkeypatch.setattr(progress_mod, "REDRAW_S", 0.0)
    result = _invoke(run, *TINY[run][:-1], "--every", "3", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    for k in range(4):
        assert f"{k}/3" in result.output
    assert "ETA" in result.output


@pytest.mark.parametrize("command, label", [(sweep, "sweep"), (prune, "prune"),
                                            (perturb, "perturb")])
def test_every_command_shows_a_progress_line_with_eta(tmp_path, monkeypatch, command, label):
    import refchaos.experiments.progress as progress_mod

    monkeypatch.setattr(progress_mod, "REDRAW_S", 0.0)
    result = _invoke(command, *TINY[command], "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    lines = [l for l in result.output.replace("\r", "\n").splitlines() if l.startswith(label + " [")]
    done = [int(l.split("] ")[1].split("/")[0]) for l in lines]
    assert len(set(done)) > 3 and done[-1] == int(lines[-1].split("/")[1].split(" ")[0])
    assert "ETA" in lines[-1]


def test_resume_of_another_commands_directory_names_it(tmp_path):
    from refchaos.experiments.resultdir import ResultDirectory

    rd = ResultDirectory(tmp_path / "s", "sweep")
    rd.claim({"lrs": [0.1]})
    rd.release()
    for command in (run, prune, perturb):
        result = _invoke(command, "--resume", "--out", rd.path)
        assert result.exit_code == 2, result.output
        assert "refchaos sweep" in result.output
