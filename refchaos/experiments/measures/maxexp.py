"""Measure ``maxexp``: the running maximum Lyapunov exponent of one tangent vector renormalised
every step, lambda_1(t) = 1/(t + 1) sum_{s <= t} ln ||J(s) w(s)|| (Eq. (4) of Herrmann et al.
2022: perturbations grow as e^(lambda_1 t)), held by
:class:`refchaos.lyapunov.MaxExponentIntegrator` (its state is in the checkpoint).

The vector rides along the optimizer step; every step the column ``maxexp`` and the array
``log_growth`` (ln r(t)) are recorded. The start vector is the integrator's from the run's
seed, so the exponent equals :func:`refchaos.lyapunov.max_exponent` (..., seed=seed) and a
sweep point's tangent exponent. A growth factor that is 0 or not finite stops the run
(status ``diverged``). Figure ``lyapunov``.
"""

from __future__ import annotations

import math

from ...backend import to_float
from ...lyapunov import MaxExponentIntegrator
from ..divergence import Divergence
from . import Measure


class MaxExp(Measure):
    name = "maxexp"
    figures = ("lyapunov",)
    summary_key = "maxexp"

    def __init__(self, setup, theta, opt_state):
        super().__init__(setup, theta, opt_state)
        self.integrator = MaxExponentIntegrator(setup.opt, setup.model, theta,
                                                seed=setup.config.seed, state=opt_state,
                                                record_every=None, history=False)

    @classmethod
    def columns(cls, config):
        return ["maxexp"]

    def observe(self, step):
        ln_r = to_float(self.integrator.last_log)  # ln r(t), this step's growth factor
        if not math.isfinite(ln_r):
            return Divergence(step.t, "non-finite", "the tangent vector collapsed or overflowed "
                                                    f"(ln r = {ln_r})")
        step.records.append(("log_growth", ln_r))
        step.row["maxexp"] = self.last = self.integrator.running_exponent()  # after step t
        return None
