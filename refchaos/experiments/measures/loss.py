"""Measure ``loss``: the minibatch loss L(theta(t); z(t)) before step t and ||g(t)||, every step,
and the shared divergence rule (:mod:`refchaos.experiments.divergence`) on theta(t + 1).

Columns ``loss``, ``grad_norm`` (and ``n_pruned`` for CGD: the directions its projection
removed, Theorem 2.2 of Herrmann et al. 2022). Always measured; figure ``training``.
"""

from __future__ import annotations

from ..divergence import DEFAULT_POLICY
from . import Measure


class Loss(Measure):
    name = "loss"
    figures = ("training",)

    @classmethod
    def columns(cls, config):
        return ["loss", "grad_norm"] + (["n_pruned"] if config.optimizer == "cgd" else [])

    def observe(self, step):
        info, row = step.info, step.row
        row["loss"], row["grad_norm"] = info["loss"], info["grad_norm"]
        if "n_pruned" in info:
            row["n_pruned"] = info["n_pruned"]
        return DEFAULT_POLICY.check(step.t, info["loss"], step.theta_next)
