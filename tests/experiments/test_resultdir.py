"""The one result-directory contract: claims by kind and configuration, locks, status, figures."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from refchaos.experiments import lock as lock_mod
from refchaos.experiments.config import RunConfig
from refchaos.experiments.lock import LOCK_FILE, StaleLockWarning
from refchaos.experiments.perturb import default_config as perturb_config, run_perturb
from refchaos.experiments.prune import default_config as prune_config, run_prune
from refchaos.experiments.resultdir import ResultDirectory, ResultDirectoryError, open_result
from refchaos.experiments.run import run
from refchaos.experiments.rundir import RunDirectory
from refchaos.experiments.sweep import SweepConfig, default_base, run_sweep

RUN = RunConfig(subset=48, model="mlp:2", steps=6, every=3, batch_size=8,
                measure=("loss", "maxexp", "accuracy"))
SWEEP = SweepConfig(base=replace(default_base(), model="mlp:2", epochs=3, subset=48),
                    lrs=(0.1,), seeds=(0,), copies=2, target=0.2)
PRUNE = replace(prune_config(), model="mlp:2", steps=3, every=3)
PERTURB = replace(perturb_config(), model="mlp:2", steps=4)

COMMANDS = {
    "run": lambda out: run(RUN, out, progress=False),
    "sweep": lambda out: run_sweep(SWEEP, out, resume=False, figures=False),
    "prune": lambda out: run_prune(PRUNE, out, variants=("sgd",), figures=False),
    "perturb": lambda out: run_perturb(PERTURB, out, eps=(0.1,), strategies=("top",),
                                       figures=False),
}


def _snapshot(folder):
    return {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def directories(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    for kind, command in COMMANDS.items():
        command(root / kind)
    return root


@pytest.mark.parametrize("command, holder", [(c, h) for c in COMMANDS for h in COMMANDS
                                              if c != h])
def test_each_command_refuses_another_commands_directory(directories, command, holder):
    out = directories / holder
    before = _snapshot(out)
    with pytest.raises(ResultDirectoryError) as err:
        COMMANDS[command](out)
    message = str(err.value)
    assert f"results of `refchaos {holder}`" in message and "another --out" in message
    assert f"refchaos {holder} --resume --out" in message
    assert _snapshot(out) == before  # nothing written, nothing rewritten
    assert open_result(out).validate()["kind"] == holder


def test_another_configuration_and_a_second_start_are_refused(directories, tmp_path):
    out = directories / "prune"
    with pytest.raises(ResultDirectoryError, match=r"another configuration \(run\.lr: stored"):
        run_prune(replace(PRUNE, lr=0.2), out, variants=("sgd",), figures=False)
    with pytest.raises(ResultDirectoryError, match="already holds this prune.*--resume"):
        COMMANDS["prune"](out)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ResultDirectoryError, match="not refchaos results"):
        COMMANDS["perturb"](tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_live_lock_is_refused_and_released_after_the_command(directories, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"pid": os.getpid(), "host": lock_mod.this_host()}))
    with pytest.raises(ResultDirectoryError, match=f"being written by process {os.getpid()}"):
        run(RUN, out, progress=False)
    assert not (out / "config.json").exists()
    (out / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere.example"}))
    with pytest.raises(ResultDirectoryError, match="another host.*delete"):
        run(RUN, out, progress=False)
    for kind in COMMANDS:  # every finished command released its lock
        assert not (directories / kind / LOCK_FILE).exists()


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    pid = _dead_pid()
    (out / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": lock_mod.this_host(),
                                             "started": "then"}))
    with pytest.warns(StaleLockWarning, match=f"process {pid} .*no longer runs"):
        summary = run(RUN, out, progress=False)
    assert summary["status"] == "completed" and not (out / LOCK_FILE).exists()


def test_status_tells_a_dead_run_from_a_running_one(tmp_path):
    rd = RunDirectory(tmp_path / "r")
    rd.claim(RUN.to_dict())
    rd.write_summary({"status": "running"})
    assert rd.status() == f"running (pid {os.getpid()})"  # this process holds the lock
    rd.release()
    assert rd.status() == "interrupted (process gone)"
    (rd.path / LOCK_FILE).write_text(json.dumps({"pid": _dead_pid(),
                                                 "host": lock_mod.this_host()}))
    assert rd.status() == "interrupted (process gone)"


def test_read_only_out_is_a_named_error_and_nothing_is_written(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    out = tmp_path / "ro"
    monkeypatch.setattr(lock_mod.os, "open", refuse)
    for command in COMMANDS.values():
        with pytest.raises(ResultDirectoryError, match="cannot write to .*Permission denied"):
            command(out)
        assert not out.exists()


def test_full_disk_while_drawing_figures_never_says_completed(tmp_path, monkeypatch):
    import refchaos.plots.run as plots_run

    real, calls = plots_run.atomic_write_bytes, []

    def second_fails(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(plots_run, "atomic_write_bytes", second_fails)
    out = tmp_path / "r"
    with pytest.raises(ResultDirectoryError, match="could not draw the figures.*No space left"):
        run(RUN, out, progress=False)
    rd = RunDirectory(out)
    summary = rd.read_summary()
    assert summary["status"] == "failed" and summary["outcome"] == "completed"
    assert "No space left" in summary["error"] and not (out / LOCK_FILE).exists()
    monkeypatch.undo()
    paths = rd.redraw()  # `refchaos plot DIR` after space was freed
    summary = rd.read_summary()
    assert summary["status"] == "completed" and "error" not in summary
    assert sorted(summary["figures"]) == sorted(str(p.relative_to(out)) for p in paths)


def test_result_directory_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        ResultDirectory(tmp_path, "experiment")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ResultDirectoryError, match="not a directory"):
        ResultDirectory(tmp_path / "file", "sweep").claim({})
    with pytest.raises(ResultDirectoryError, match="nothing to resume"):
        ResultDirectory(tmp_path / "none", "sweep").claim({}, resume=True)
