"""When training has diverged: one rule shared by ``run``, ``sweep``, ``prune`` and ``perturb``.

A step has diverged when (checked in this order)

==================  ===========================================================================
reason              condition
==================  ===========================================================================
``non-finite``      the loss or a parameter is NaN or infinite
``loss``            the mean loss exceeds ``max_loss`` (:data:`MAX_LOSS`)
``param-norm``      ||theta||_2 exceeds ``max_param_norm`` (:data:`MAX_PARAM_NORM`)
==================  ===========================================================================

Divergence is an outcome, not an error: the command records the step and the reason (both the
short name and a sentence) in its summary and stops that training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend import namespace_of, to_float

MAX_LOSS = 1e6  # A mean loss above this has left any trainable regime (CE at init ~ ln 10).
MAX_PARAM_NORM = 1e8  # ||theta|| this large: weights of order 1e8/sqrt(N), far past training.
REASONS = ("non-finite", "loss", "param-norm")


@dataclass(frozen=True)
class Divergence:
    """Step ``step`` diverged for ``reason`` (one of :data:`REASONS`); ``message`` says how."""

    step: int
    reason: str
    message: str

    def to_dict(self):
        return {"step": self.step, "reason": self.reason, "message": self.message}


@dataclass(frozen=True)
class DivergencePolicy:
    """The thresholds of the rule in the module docstring."""

    max_loss: float = MAX_LOSS
    max_param_norm: float = MAX_PARAM_NORM

    def check(self, step, loss, theta):
        """The :class:`Divergence` of step ``step`` (loss at it, theta after it), or None."""
        loss = float(loss)
        if not math.isfinite(loss):
            return Divergence(step, "non-finite", f"the loss is {loss}")
        xp = namespace_of(theta)
        norm = to_float(xp.sqrt(xp.sum(theta * theta)))
        if not math.isfinite(norm):
            return Divergence(step, "non-finite", "the parameters are not finite after the update")
        if loss > self.max_loss:
            return Divergence(step, "loss", f"the loss {loss:.4g} exceeds max_loss = "
                                            f"{self.max_loss:g}")
        if norm > self.max_param_norm:
            return Divergence(step, "param-norm", f"||theta|| = {norm:.4g} exceeds "
                                                  f"max_param_norm = {self.max_param_norm:g}")
        return None


DEFAULT_POLICY = DivergencePolicy()
