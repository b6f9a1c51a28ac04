"""``python -m refchaos_cli.perturb`` on a tiny configuration, and its option checks."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

from click.testing import CliRunner

from refchaos_cli.perturb import perturb

ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def test_tiny_perturb_writes_curves_fits_and_figure(tmp_path):
    out = tmp_path / "q"
    r = subprocess.run([sys.executable, "-m", "refchaos_cli.perturb", "--model", "mlp:4", "--steps", "8",
                        "--eps", "0.1,0.05", "--strategies", "top,random", "--out", str(out)],
                       env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with open(out / "perturb.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 2 * 9
    for row in rows:
        if row["step"] == "0":
            assert abs(float(row["distance"]) - float(row["eps"])) < 1e-12
    fits = json.loads((out / "fits.json").read_text())
    assert {(f["strategy"], f["eps"]) for f in fits} == {(s, e) for s in ("top", "random") for e in (0.1, 0.05)}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "perturb" and summary["steps"] == 8
    assert (out / "figures" / "perturb.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_options_are_named(tmp_path):
    for args, message in ([["--eps", "0"], "--eps"], [["--strategies", "top,sideways"], "sideways"],
                          [["--model", "cnn:0"], "--model"], [["--k", "0"], "--k"]):
        r = CliRunner().invoke(perturb, [*args, "--out", str(tmp_path / "x")])
        assert r.exit_code == 2 and message in r.output, r.output
    assert not (tmp_path / "x").exists()


def test_tangent_from_a_run_directory(tmp_path):
    from refchaos_cli.run import run

    base = ["--model", "mlp:4", "--steps", "8", "--seed", "3", "--batch-size", "8"]  # run and perturb defaults differ
    r = CliRunner().invoke(run, [*base, "--measure", "loss,subspaces", "--every", "8",
                                 "--out", str(tmp_path / "A"), "--quiet"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(perturb, [*base, "--strategies", "top", "--tangent-from",
                                     str(tmp_path / "A"), "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "p" / "summary.json").read_text())["status"] == "completed"
    r = CliRunner().invoke(perturb, [*base, "--lr", "0.2", "--tangent-from", str(tmp_path / "A"),
                                     "--out", str(tmp_path / "q")])
    assert r.exit_code != 0 and "another model A: lr" in r.output
