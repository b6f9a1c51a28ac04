"""The numerical audit (refchaos.audit) and the equation ledger (EQUATIONS.md) agree and pass."""

from __future__ import annotations

import importlib
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from refchaos import audit as rcaudit
from refchaos_cli.audit import audit as audit_command
from tests.conftest import BACKENDS

ROOT = Path(__file__).resolve().parents[1]
LEDGER = (ROOT / "EQUATIONS.md").read_text()
ENTRY = re.compile(r"^### `([^`]+)`", re.M)


def ledger_entries():
    """{id: entry text} from the ### headings of EQUATIONS.md."""
    heads = list(ENTRY.finditer(LEDGER))
    return {m.group(1): LEDGER[m.start():(heads[i + 1].start() if i + 1 < len(heads) else len(LEDGER))]
            for i, m in enumerate(heads)}


def field(entry, name):
    line = next((l for l in entry.splitlines() if l.startswith(f"- **{name}:**")), None)
    assert line is not None, f"missing field {name!r} in\n{entry[:200]}"
    return line


@pytest.mark.parametrize("backend", BACKENDS)
def test_audit_passes_on_every_backend(backend):
    rows = rcaudit.run_audit(backend)
    failed = [f"{r.id}: {r.residual} > {r.tolerance} ({r.note})" for r in rows if not r.passed]
    assert not failed, "\n".join(failed)
    assert [r.id for r in rows] == list(rcaudit.CHECKS)
    for r in rows:  # every residual is a number within its (non-negative) tolerance
        assert math.isfinite(r.residual) and 0 <= r.residual <= r.tolerance
        expected = "numpy (host" if rcaudit.CHECKS[r.id].host_only else backend
        assert r.ran_on.startswith(expected), (r.id, r.ran_on)


def test_every_ledger_id_has_a_check_and_vice_versa():
    ids = list(ledger_entries())
    assert len(ids) == len(set(ids)), "duplicate ledger ids"
    assert set(ids) == set(rcaudit.CHECKS), (
        f"ledger only: {sorted(set(ids) - set(rcaudit.CHECKS))}; "
        f"audit only: {sorted(set(rcaudit.CHECKS) - set(ids))}")


@pytest.mark.parametrize("ledger_id", list(ledger_entries()))
def test_named_functions_and_tests_exist(ledger_id):
    entry = ledger_entries()[ledger_id]
    for fname in ("Equation", "Audit"):
        field(entry, fname)
    functions = re.findall(r"`([\w.]+):([\w.]+)`", field(entry, "Implemented by"))
    assert functions, f"{ledger_id}: no module:function named"
    for module, attr in functions:
        obj = importlib.import_module(module)
        for part in attr.split("."):
            assert hasattr(obj, part), f"{ledger_id}: {module}:{attr} does not exist"
            obj = getattr(obj, part)
    tests = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", field(entry, "Tested by"))
    assert tests, f"{ledger_id}: no test named"
    for path, name in tests:
        source = (ROOT / path).read_text()
        assert re.search(rf"^def {name}\(", source, re.M), f"{ledger_id}: {path}::{name} not found"


def test_cli_prints_the_table_writes_json_and_exits_zero(tmp_path):
    out = tmp_path / "audit.json"
    res = CliRunner().invoke(audit_command, ["--only", "H22-9", "--only", "LOSS-ce", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "H22-9" in res.output and "PASS" in res.output and "2 of 2 checks passed" in res.output
    data = json.loads(out.read_text())
    assert [r["id"] for r in data["rows"]] == ["H22-9", "LOSS-ce"] and all(r["passed"] for r in data["rows"])


def test_cli_exits_non_zero_when_a_tolerance_is_made_too_tight(monkeypatch):
    # LOSS-mse's residual is exactly 0 at its tolerance rtol(8); a negative tolerance must fail.
    for module in rcaudit.CHECK_MODULES:  # each check module holds its own name for rtol
        if hasattr(module, "rtol"):
            monkeypatch.setattr(module, "rtol", lambda n: -1.0)
    res = CliRunner().invoke(audit_command, ["--only", "LOSS-mse", "--only", "H22-10"])
    assert res.exit_code == 1
    assert "FAIL" in res.output and "FAILED: LOSS-mse" in res.output


def test_cli_exits_non_zero_on_an_injected_failing_or_raising_check(monkeypatch):
    checks = {
        "INJECTED-residual": rcaudit.Check("INJECTED-residual", "always fails",
                                           lambda xp: rcaudit.Outcome(1.0, 0.5)),
        "INJECTED-raise": rcaudit.Check("INJECTED-raise", "raises", lambda xp: 1 / 0),
        "INJECTED-condition": rcaudit.Check(
            "INJECTED-condition", "condition",
            lambda xp: rcaudit.Outcome(0.0, 1.0, "", ((False, "no"),)))}
    for cid, chk in checks.items():  # the registry is one dict shared by the whole package
        monkeypatch.setitem(rcaudit.CHECKS, cid, chk)
    rows = {r.id: r for r in rcaudit.run_audit("numpy", ids=[k for k in checks if k.startswith("INJ")])}
    assert not any(r.passed for r in rows.values())
    assert "ZeroDivisionError" in rows["INJECTED-raise"].note
    assert "FAILED: no" in rows["INJECTED-condition"].note
    res = CliRunner().invoke(audit_command, ["--only", "INJECTED-raise", "--only", "H22-10"])
    assert res.exit_code == 1 and "FAILED: INJECTED-raise" in res.output


def test_unknown_backend_and_id_are_usage_errors():
    assert CliRunner().invoke(audit_command, ["--backend", "nope"]).exit_code == 2
    assert CliRunner().invoke(audit_command, ["--only", "H22-99"]).exit_code == 2


def test_module_runs_as_a_script():
    res = subprocess.run([sys.executable, "-m", "refchaos_cli.audit", "--only", "MAP-linear"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "MAP-linear" in res.stdout and "PASS" in res.stdout
