"""``refchaos sweep|prune|perturb --optimizer ... --momentum ...``: the options ``run`` has,
defined once (refchaos_cli.optim_options), the configuration they build, and the refusals."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from refchaos_cli.perturb import perturb
from refchaos_cli.prune import prune
from refchaos_cli.run import run
from refchaos_cli.sweep import sweep

SWEEP = ["--lrs", "0.05", "--seeds", "1", "--copies", "2", "--epochs", "3", "--subset", "100",
         "--model", "mlp:4", "--target", "0.2"]
PRUNE = ["--model", "mlp:3", "--steps", "4", "--every", "2", "--subset", "200",
         "--variants", "sgd,chaotic", "--lr", "0.05"]
PERTURB = ["--model", "mlp:3", "--steps", "6", "--subset", "200", "--strategies", "top,random",
           "--lr", "0.05"]
ADAM = ["--optimizer", "adam", "--betas", "0.8,0.99", "--optimizer-eps", "1e-7"]
MOMENTUM = ["--momentum", "0.9", "--weight-decay", "0.001"]


def _invoke(command, *args):
    return CliRunner().invoke(command, [str(a) for a in args])


def _stored(out):
    return json.loads((out / "summary.json").read_text())["config"]


@pytest.mark.parametrize("extra, expect", [
    (ADAM, dict(optimizer="adam", betas=[0.8, 0.99], eps=1e-7, momentum=0.0)),
    (MOMENTUM, dict(optimizer="sgd", momentum=0.9, weight_decay=0.001)),
], ids=["adam", "momentum"])
@pytest.mark.parametrize("command, args", [(sweep, SWEEP), (perturb, PERTURB)], ids=["sweep", "perturb"])
def test_sweep_and_perturb_train_with_the_given_optimizer(tmp_path, command, args, extra, expect):
    out = tmp_path / "out"
    r = _invoke(command, *args, *extra, "--out", out)
    assert r.exit_code == 0, r.output
    config = _stored(out)
    config = config["base"] if command is sweep else config
    assert {k: config[k] for k in expect} == expect


def test_prune_with_momentum_and_weight_decay(tmp_path):
    out = tmp_path / "out"
    r = _invoke(prune, *PRUNE, *MOMENTUM, "--out", out)
    assert r.exit_code == 0, r.output
    config = _stored(out)
    assert config["momentum"] == 0.9 and config["weight_decay"] == 0.001
    assert "momentum=0.9" in json.loads((out / "summary.json").read_text())["final"]["sgd"]["optimizer"]


@pytest.mark.parametrize("command, args, bad, option", [
    (prune, PRUNE, ["--optimizer", "adam"], "--optimizer"),
    (prune, PRUNE, ["--optimizer", "rmsprop", "--alpha", "0.9"], "--optimizer"),
    (sweep, SWEEP, ["--optimizer", "cgd"], "--optimizer"),
    (perturb, PERTURB, ["--optimizer", "cgd"], "--optimizer"),
    (sweep, SWEEP, ["--optimizer-eps", "1e-6"], "--optimizer-eps"),  # sgd has no eps
    (perturb, PERTURB, ["--optimizer", "adam", "--optimizer-eps", "0"], "--optimizer-eps"),
    (prune, PRUNE, ["--momentum", "1.0"], "--momentum"),
    (sweep, SWEEP, ["--optimizer", "adam", "--momentum", "0.9"], "--momentum"),
    (perturb, PERTURB, ["--betas", "0.9"], "--betas"),
])
def test_inapplicable_optimizer_options_exit_2_and_write_nothing(tmp_path, command, args, bad,
                                                                 option):
    out = tmp_path / "out"
    r = _invoke(command, *args, *bad, "--out", out)
    assert r.exit_code == 2 and f"'{option}'" in r.output, r.output
    assert not out.exists()


def test_the_four_commands_share_one_definition_of_the_optimizer_options():
    def options(command):
        return {p.name: (p.default, p.help) for p in command.params
                if p.name in ("optimizer", "momentum", "weight_decay", "betas", "alpha",
                              "amsgrad", "centered")}

    ref = options(sweep)
    assert len(ref) == 7
    for command in (prune, perturb, run):
        mine = options(command)
        assert set(mine) == set(ref)
        for name in ref:  # the same help and default (run also offers cgd)
            assert mine[name] == ref[name] or name == "optimizer", name
