"""``refchaos curvature`` on a saved nn.Sequential and on a state dict, and its named errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import refchaos as rc
from refchaos.curvature import hessian_diag
from refchaos_cli.curvature import curvature
from refchaos_cli.main import main
from tests.tolerances import rtol_for


@pytest.fixture
def files(tmp_path):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    torch.save(module, tmp_path / "model.pt")
    torch.save(module.state_dict(), tmp_path / "state.pt")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 6)), rng.integers(0, 3, 4)
    np.savez(tmp_path / "batch.npz", x=x, y=y)
    torch.save({"x": torch.tensor(x), "y": torch.tensor(y)}, tmp_path / "batch.pt")
    model, theta = rc.from_torch(module, input_shape=(6,))
    return tmp_path, model, theta, x, y


def test_saved_sequential_and_state_dict_give_the_exact_numbers(files):
    tmp, model, theta, x, y = files
    out1, out2 = tmp / "a.json", tmp / "b.json"
    r = CliRunner().invoke(main, ["curvature", str(tmp / "model.pt"), str(tmp / "batch.npz"),
                                  "--top-k", "3", "--json", str(out1)])
    assert r.exit_code == 0, r.output
    assert "top-3 eigenvalues" in r.output and "trace" in r.output and "block" in r.output
    r = CliRunner().invoke(curvature, [str(tmp / "state.pt"), str(tmp / "batch.pt"), "--model", "mlp:6-5-3",
                                       "--activation", "tanh", "--top-k", "3", "--json", str(out2)])
    assert r.exit_code == 0, r.output
    a, b = json.loads(out1.read_text()), json.loads(out2.read_text())
    H = model.hessian(theta, x, y)
    lam = np.linalg.eigvalsh(0.5 * (H + H.T))
    tol = rtol_for(model.num_params + 2 * (6 + 5 + 3 + 4)) * np.abs(lam).max()
    for rec in (a, b):
        np.testing.assert_allclose(rec["top"], lam[::-1][:3], rtol=0, atol=tol)
        np.testing.assert_allclose(rec["bottom"], lam[:5], rtol=0, atol=tol)
        np.testing.assert_allclose(rec["diag"], hessian_diag(model, theta, x, y), rtol=0, atol=tol)
        assert abs(rec["trace"] - np.trace(H)) <= tol * model.num_params
        assert [blk["span"] for blk in rec["blocks"]] == [[0, 35], [35, 53]]
        d = rec["density"]
        assert len(d["grid"]) == len(d["rho"]) == 1000
        assert abs(sum(d["rho"]) * (d["grid"][1] - d["grid"][0]) - 1) < 1e-12


def test_compare_reports_each_peer_or_says_it_is_missing(files):
    tmp = files[0]
    out = tmp / "c.json"
    r = CliRunner().invoke(curvature, [str(tmp / "model.pt"), str(tmp / "batch.npz"), "--compare",
                                       "hessian-eigenthings", "--compare", "backpack", "--json", str(out)])
    assert r.exit_code == 0, r.output
    rec = json.loads(out.read_text())["peers"]
    he = rec["hessian-eigenthings"]["compare"]
    assert set(he) == {"top", "trace", "density"} and he["trace"]["error"] < 1  # a stochastic estimate
    bp = rec["backpack"]
    if "unavailable" in bp:
        assert "not installed" in r.output
    else:  # BackPACK's DiagHessian is exact too
        assert bp["compare"]["diag"]["error"] < rtol_for(2 * (6 + 5 + 3 + 4))


@pytest.mark.parametrize("args,message", [
    (["missing.pt", "batch.npz"], "no such file"),
    (["state.pt", "batch.npz"], "give the network with --model"),
    (["state.pt", "batch.npz", "--model", "rnn:4"], "is unknown"),
    (["state.pt", "batch.npz", "--model", "mlp:6-4-3"], "parameters, the state dict"),
    (["model.pt", "bad.npz"], "batch shape wrong"),
    (["model.pt", "wide.npz"], "batch shape wrong for the model"),
    (["model.pt", "batch.txt"], "must be a .pt or .npz"),
])
def test_bad_input_is_named_with_exit_2(files, args, message):
    tmp = files[0]
    np.savez(tmp / "bad.npz", x=np.zeros((4, 6)), y=np.zeros(3, dtype=np.int64))
    np.savez(tmp / "wide.npz", x=np.zeros((4, 7)), y=np.zeros(4, dtype=np.int64))
    (tmp / "batch.txt").write_text("1 2 3\n")
    r = CliRunner().invoke(curvature, [str(tmp / a) if i < 2 else a for i, a in enumerate(args)]
                           + ["--json", str(tmp / "x.json")])
    assert r.exit_code == 2 and message in r.output, r.output
    assert not (tmp / "x.json").exists()


def test_a_failing_peer_is_reported_not_fatal(files, monkeypatch):
    from refchaos import peers

    def boom(*args):
        raise RuntimeError("boom")

    monkeypatch.setitem(peers.ADAPTERS, "hessian-eigenthings", boom)
    tmp = files[0]
    r = CliRunner().invoke(curvature, [str(tmp / "model.pt"), str(tmp / "batch.npz"), "--compare",
                                       "hessian-eigenthings", "--json", str(tmp / "f.json")])
    assert r.exit_code == 0 and "hessian-eigenthings: failed (RuntimeError: boom)" in r.output, r.output
    assert json.loads((tmp / "f.json").read_text())["peers"]["hessian-eigenthings"] == {"failed": "RuntimeError: boom"}
