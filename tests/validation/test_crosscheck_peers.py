"""validation/crosscheck_peers.py in quick mode: exact peers agree to rounding, the rest is reported."""

from __future__ import annotations

import json

from refchaos.peers import peer_available
from tests.validation.test_crosscheck import load_script


def test_crosscheck_peers_quick(tmp_path):
    script = load_script("crosscheck_peers")
    assert script.main(["--quick", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "crosscheck_peers.json").read_text())
    (result,) = report["results"]
    assert result["passed"] and max(result["self"].values()) <= script.EXACT_RTOL
    for name, entry in result["peers"].items():
        if not peer_available(name):
            assert entry == "not installed"
            continue
        for q in script.EXACT_QUANTITIES.get(name, ()):
            assert entry[f"{q}_exact_ok"] and entry[q] <= script.EXACT_RTOL
    # The peers in the test extra are installed, and what they estimate has an error recorded.
    for name in ("pyhessian", "hessian-eigenthings"):
        assert {"top", "trace"} <= set(result["peers"][name]), result["peers"][name]
