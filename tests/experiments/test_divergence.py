"""The one divergence rule: each reason, its threshold, and its record in every command's summary."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from refchaos.experiments.divergence import DEFAULT_POLICY, MAX_LOSS, MAX_PARAM_NORM, DivergencePolicy
from refchaos.experiments.prune import default_config as prune_config, run_prune

THETA = np.ones(4)  # ||theta|| = 2


@pytest.mark.parametrize("loss, theta, reason", [
    (math.nan, THETA, "non-finite"),
    (math.inf, THETA, "non-finite"),
    (1.0, np.array([1.0, math.inf]), "non-finite"),
    (1.0, np.array([math.nan, 0.0]), "non-finite"),
    (MAX_LOSS * 2, THETA, "loss"),
    (1.0, np.full(4, MAX_PARAM_NORM), "param-norm"),
])
def test_each_reason_is_named(loss, theta, reason):
    d = DEFAULT_POLICY.check(7, loss, theta)
    assert d is not None and d.reason == reason and d.step == 7
    assert d.to_dict() == {"step": 7, "reason": reason, "message": d.message} and d.message


def test_thresholds_are_strict_and_configurable():
    assert DEFAULT_POLICY.check(0, MAX_LOSS, THETA) is None  # at the threshold: not yet
    assert DEFAULT_POLICY.check(0, 1.0, np.array([MAX_PARAM_NORM, 0.0])) is None
    tight = DivergencePolicy(max_loss=0.5, max_param_norm=1.5)
    assert tight.check(0, 0.6, np.zeros(2)).reason == "loss"
    assert tight.check(0, 0.1, THETA).reason == "param-norm"
    assert "1.5" in tight.check(0, 0.1, THETA).message


def test_prune_names_the_divergence_of_a_variant_in_its_summary(tmp_path):
    cfg = replace(prune_config(), model="mlp:4", loss="mse", lr=80.0, batch_size=0, steps=40,
                  every=40)
    summary = run_prune(cfg, tmp_path / "p", variants=("sgd",), figures=False)
    d = summary["divergences"]["sgd"]
    assert d["reason"] in ("non-finite", "loss", "param-norm") and 0 <= d["step"] < 40
    assert summary["final"]["sgd"]["diverged"] and summary["final"]["sgd"]["divergence"] == d
