"""Measure ``sharpness``: the top eigenvalue of the minibatch Hessian at theta(t), every
``config.every`` steps; the spectrum's top when the spectrum measure took it that step, else
Lanczos by HVPs (:func:`top_eigenvalue`).

For a plain gradient step also ``two_over_lr``: 2/lr, the edge of stability of gradient
descent (Cohen et al. 2021: under full-batch GD the sharpness rises to 2/lr, where
|1 - lr lambda_max| = 1). A preconditioned stepper (Adam, AdamW, RMSprop) has no such edge in
terms of lr alone (its step is theta - lr P g with a state-dependent P), so the column is left
out for it rather than written as if it were its edge. Figure ``sharpness``.
"""

from __future__ import annotations

from ...backend import to_float
from ...curvature import spectrum
from ...curvature.lanczos import lanczos_spectrum
from . import Measure, preconditioned

LANCZOS_STREAM = 3  # host_rng([seed, LANCZOS_STREAM, t]): the Lanczos start vector of step t


def top_eigenvalue(model, theta, x, y, seed):
    """Sharpness: the largest eigenvalue of the minibatch Hessian, by the spectral engine's
    Lanczos iteration from HVPs only (:func:`refchaos.curvature.lanczos.lanczos_spectrum`,
    converged to its residual tolerance; start vector from ``host_rng(seed)``)."""
    if model.num_params < 2:  # Lanczos needs k < N; a 1 x 1 Hessian is its own spectrum
        return to_float(spectrum(model, theta, x, y, method="dense")[0][-1])
    lam, _ = lanczos_spectrum(model, theta, x, y, k=1, which="LA", seed=seed)
    return to_float(lam[0])


def edge_of_stability(config):
    """2/lr for a plain gradient step (Cohen et al. 2021), None for a preconditioned one."""
    return None if preconditioned(config) else 2.0 / config.lr


class Sharpness(Measure):
    name = "sharpness"
    figures = ("sharpness",)
    summary_key = "sharpness"

    def __init__(self, setup, theta, opt_state):
        super().__init__(setup, theta, opt_state)
        self.edge = edge_of_stability(setup.config)

    @classmethod
    def columns(cls, config):
        return ["sharpness"] + (["two_over_lr"] if edge_of_stability(config) is not None else [])

    def observe(self, step):
        if not step.measured:
            return None
        s = self.setup
        if step.lam is not None and step.lam.size:
            top = float(step.lam[-1])
        else:
            top = top_eigenvalue(s.model, step.theta, step.x, step.y,
                                 [s.config.seed, LANCZOS_STREAM, step.t])
        step.row["sharpness"] = self.last = top
        if self.edge is not None:
            step.row["two_over_lr"] = self.edge
        return None

    def summary(self):
        out = super().summary()
        if self.edge is not None:
            out["two_over_lr"] = self.edge
        return out
