"""Measure ``ftle``: the k largest finite-time Lyapunov exponents from step 0 (Eq. (3) of
Herrmann et al. 2022 at finite t) by Benettin/Geist-H2 QR of a k-column tangent block,
held by :class:`refchaos.lyapunov.SpectrumIntegrator` (its state is in the checkpoint).

The block rides along the optimizer step (the run's one ``tangent_step``); every
``config.every`` steps the columns ``ftle_1 .. ftle_k`` (QR column order) and the array
``ftle`` are recorded. The start block is the integrator's from the run's seed, so the
exponents equal :func:`refchaos.lyapunov.lyapunov_spectrum` (..., k, seed=seed). For the
preconditioned steppers the block spans the whole state (theta, m, v, ...). Figure ``lyapunov``.
"""

from __future__ import annotations

import numpy as np

from ...backend import to_host
from ...lyapunov import SpectrumIntegrator, tangent_dim
from ..config import ConfigError
from . import Measure


class FTLE(Measure):
    name = "ftle"
    figures = ("lyapunov",)
    summary_key = "ftle"

    def __init__(self, setup, theta, opt_state):
        super().__init__(setup, theta, opt_state)
        c, n = setup.config, tangent_dim(setup.opt, setup.model)
        if c.ftle_k > n:  # the QR block has at most n columns
            raise ConfigError(f"--ftle-k {c.ftle_k} exceeds the tangent dimension n = {n} of this "
                              f"model and optimizer; give --ftle-k {n} or fewer")
        self.integrator = SpectrumIntegrator(setup.opt, setup.model, theta, k=c.ftle_k,
                                             seed=c.seed, state=opt_state, history=False)

    @classmethod
    def columns(cls, config):
        return [f"ftle_{j + 1}" for j in range(config.ftle_k)]

    def observe(self, step):
        if not step.measured:
            return None
        e = np.asarray(to_host(self.integrator.exponents()), dtype=np.float64)  # (k,)
        step.records.append(("ftle", e))
        step.row.update({f"ftle_{j + 1}": float(v) for j, v in enumerate(e)})
        self.last = [float(v) for v in e]
        return None
