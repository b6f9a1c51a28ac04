"""Measure ``spectrum``: the Hessian eigenvalues lambda of the minibatch z(t) at theta(t), every
``config.every`` steps (:func:`refchaos.curvature.spectrum`, exact).

For a plain gradient step (SGD, CGD; the map I - lr H of Theorem 2.1 of Herrmann et al. 2022)
also the local exponents ln|1 - lr lambda| (Eq. (9)), the counts ``n_negative/positive/zero/
chaotic`` (Eq. (10)) and the gradient overlaps ``overlap_*``
(:func:`refchaos.lyapunov.local_analysis`). For a preconditioned stepper (Adam, AdamW,
RMSprop) only the eigenvalues, ``lam_min`` and ``lam_max``: the one-step map is not
I - lr H, so Eqs. (9) and (10) do not apply (EQUATIONS.md, 'Preconditioned steppers').

Per-step arrays ``eigenvalues`` and ``local_exponents`` (read back NaN-padded with
``spectrum_steps`` and ``spectrum_lengths``). Figures ``eigenvalue_counts``,
``local_exponents`` and ``sharpness`` (lam_max when sharpness is not measured).
"""

from __future__ import annotations

import numpy as np

from ...backend import to_host
from ...curvature import spectrum
from ...lyapunov import local_analysis
from . import Measure, preconditioned

COUNTS = ("negative", "positive", "zero", "chaotic")  # Theorem 2.1's eigenvalue sets


def _host(a):
    return np.asarray(to_host(a), dtype=np.float64)


class Spectrum(Measure):
    name = "spectrum"
    figures = ("eigenvalue_counts", "sharpness", "local_exponents")

    @classmethod
    def columns(cls, config):
        if preconditioned(config):  # eigenvalues only (module docstring)
            return ["lam_min", "lam_max"]
        return [f"n_{k}" for k in COUNTS] + ["lam_min", "lam_max"] + [f"overlap_{k}" for k in COUNTS]

    def observe(self, step):
        if not step.measured:
            return None
        s, row = self.setup, step.row
        if s.opt.preconditioned:
            lam = _host(spectrum(s.model, step.theta, step.x, step.y)[0])
            step.records.append(("eigenvalues", lam))
        else:
            la = local_analysis(s.model, step.theta, step.x, step.y, s.opt.lr)  # Eqs. (9), (10)
            lam = _host(la.lam)
            step.records += [("eigenvalues", lam), ("local_exponents", _host(la.exponents))]
            row.update({f"n_{k}": v for k, v in la.counts.items()})
            row.update({f"overlap_{k}": v for k, v in la.overlap.items()})
        if lam.size:
            row["lam_min"], row["lam_max"] = float(lam[0]), float(lam[-1])
        step.lam = lam
        return None
