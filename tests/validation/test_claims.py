"""The claims register is complete against the papers and every row is well formed.

EXPECTED lists the claim ids read from the two papers' texts (H22: Sec. 2 theorems, Secs. 4,
4.1, 4.2, Figs. 1-3 and the appendix results the text cites; J25: the key results and
robustness claims of the summary). A missing id fails; so does a row without a quote, a
criterion, or a measurement (or a reason where it was not measured), a quote that is not
verbatim in the paper's text, and a REPORT whose table is not the register's.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAPERS = ROOT.parent / "shared" / "papers"

EXPECTED = {
    # H22 Sec. 2: tangent map, Theorems 2.1 and 2.2, the bounds of Eq. (5) (App. C.5)
    "H22-2.3-eq8-tangent", "H22-2.4-thm2.1", "H22-2.5-thm2.2", "H22-2.2-eq5-bounds",
    # H22 Sec. 4: the two expectations
    "H22-4-claim1-positive-lle", "H22-4-claim2-negative-bulk",
    # H22 Sec. 4.1, Fig. 1, Fig. 2, App. B.1, B.2
    "H22-fig1-chaotic", "H22-fig1-negative", "H22-fig1-positive", "H22-fig1-validation",
    "H22-B1-cnn", "H22-B1-across", "H22-fig2-onset", "H22-B2-overlap", "H22-B2-count-trend",
    "H22-B2-hessian-nonzero",
    # H22 Sec. 4.2, Fig. 3, App. A.8, C.1-C.5
    "H22-C1-ftle", "H22-C1-nonnegative", "H22-C2-subspaces", "H22-fig3-growth", "H22-fig3-order",
    "H22-4.2-no-saturation", "H22-4.2-max-divergence", "H22-A8-6.38",
    "H22-C3-magnitude-similar", "H22-C3-magnitude-drop", "H22-C3-momentum", "H22-eq15-fit",
    "H22-C4-random", "H22-C4-float64", "H22-C4-larger-eps",
    # J25 (summary): key results, robustness, edge of stability, the estimator
    "J25-chaos-at-large-lr", "J25-min-training-time", "J25-early-transient", "J25-too-large-lr",
    "J25-small-lr-slow", "J25-robustness", "J25-precedes-eos", "J25-estimators",
    # J25's open questions, answered by new experiments (not claims of J25)
    "J25-open-adaptive", "J25-open-batch", "J25-open-momentum", "J25-open-init",
    # J25-robustness's CNN from another initialisation (a new experiment)
    "J25-robust-cnn-init",
    "J25-robust-cnn-avgpool",
}


def _module():
    spec = importlib.util.spec_from_file_location("claims_table", ROOT / "validation" / "claims_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def table():
    return _module()


@pytest.fixture(scope="module")
def register(table):
    return table.load()


def _norm(text):
    return re.sub(r"\s+", " ", text).strip()


def test_every_expected_claim_is_present_once(register):
    ids = [c["id"] for c in register["claims"]]
    assert len(ids) == len(set(ids)), "duplicate claim ids"
    missing = EXPECTED - set(ids)
    assert not missing, f"claims missing from the register: {sorted(missing)}"


def test_rows_are_complete(register, table):
    for c in register["claims"]:
        for key in table.REQUIRED:
            assert str(c.get(key, "")).strip(), f"{c.get('id')}: no {key}"
        assert c["paper"] in register["papers"], c["id"]
        assert c["verdict"] in table.VERDICTS, f"{c['id']}: verdict {c['verdict']!r}"
        text = " ".join(str(v) for v in c.values())
        assert "PENDING" not in text, f"{c['id']}: unfilled field"
        if c["verdict"] == "not measured":
            assert str(c.get("reason", "")).strip(), f"{c['id']}: not measured, but no reason"
        else:
            assert str(c.get("measurement") or "").strip(), f"{c['id']}: no measured value"
            assert re.search(r"\d", c["measurement"]), f"{c['id']}: measurement without a number"


def test_quotes_are_verbatim(register):
    if not PAPERS.is_dir():
        pytest.skip(f"the papers' texts are not at {PAPERS}")
    for c in register["claims"]:
        path = PAPERS / Path(register["papers"][c["paper"]].split(" ")[0]).name
        assert _norm(c["quote"]) in _norm(path.read_text(encoding="utf-8")), (
            f"{c['id']}: the quote is not verbatim in {path.name}")


def test_differs_rows_quote_the_paper_beside_the_measurement(register, table):
    for c in register["claims"]:
        if c["verdict"] == "differs":
            row = next(line for line in table.render(register).splitlines()
                       if line.startswith(f"| {c['id']} |"))
            assert _norm(c["quote"]).replace("|", "\\|") in row and c["measurement"].split()[0] in row


def test_report_holds_the_current_table(table):
    report = (ROOT / "validation" / "REPORT.md").read_text(encoding="utf-8")
    assert table.splice(report, table.render(table.load())) == report, (
        "validation/REPORT.md: run python validation/claims_table.py --write validation/REPORT.md")


def test_splice_refuses_a_report_without_markers(table):
    with pytest.raises(ValueError, match="markers"):
        table.splice("no table here", "x")


def test_new_experiments_are_labelled(register, table):
    for c in register["claims"]:
        new = c["verdict"] in table.NEW
        assert new == ("new experiment" in c["place"]), (
            f"{c['id']}: a new experiment's row says so in its place, and only such a row "
            "takes a new-experiment verdict")
