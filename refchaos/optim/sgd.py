"""Stochastic gradient descent with PyTorch's momentum, dampening, Nesterov and weight decay.

Herrmann et al. 2022, Eq. (7): theta(t+1) = theta(t) - eta g(theta(t); z(t)). With weight decay
omega, momentum mu, dampening tau and Nesterov, exactly as ``torch.optim.SGD``:

    d(t)       = g(theta(t)) + omega theta(t)
    v(t+1)     = mu v(t) + (1 - tau) d(t)      (first step: v(1) = d(0), no buffer before)
    u(t)       = d(t) + mu v(t+1)  (Nesterov)  or  v(t+1)
    theta(t+1) = theta(t) - eta u(t)                                              Eq. (7)

Without momentum u(t) = d(t) and there is no buffer. The optimizer is pure: ``step`` returns
new arrays and a new :class:`OptState`; nothing passed in is modified. The state holds the step
counter and the momentum buffer v (``None`` until the first step, and always ``None`` without
momentum, as PyTorch keeps no buffer then).

Tangent map (:meth:`SGD.tangent_update`) on the state (theta, v), 2N-dimensional with momentum,
for tangent pairs (dtheta, dv) and dd = (H + omega I) dtheta:

    dv(t+1)     = mu dv(t) + (1 - tau) dd
    du          = dd + mu dv(t+1)  (Nesterov)  or  dv(t+1)
    dtheta(t+1) = dtheta(t) - eta du                                              Eq. (8)

Without momentum this is Y(t+1) = (I - eta (H + omega I)) Y(t), Eq. (8) with beta = 0.
Unrolling dv from dv(0) = 0 gives Eq. (8) with beta = mu (tau = 0, no Nesterov):
dtheta(t+1) = dtheta(t) - eta sum_{s<=t} mu^(t-s) (H(s) + omega I) dtheta(s). Before the
first step the buffer reads as v(0) = 0: with tau = 0 the first step is then mu v(0) + d(0),
the same v(1), and its tangent mu dv(0) + dd; with tau != 0 PyTorch's first step v(1) = d(0)
is not (1 - tau) d(0), so that step's tangent is dv(1) = dd, independent of dv(0).

Symbols
-------
eta -> ``lr``; mu -> ``momentum``; tau -> ``dampening``; omega -> ``weight_decay``;
theta -> ``theta`` (N,); g -> ``g`` (N,); d -> ``d``; v -> ``state.v`` (N,) or None;
dd -> ``dd`` (N, K); (dtheta, dv) -> rows [0, N) and [N, 2N) of ``Y`` (n, K).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend import namespace_of
from .eigensets import check_lr
from .stepper import Stepper, norm, register


@dataclass(frozen=True)
class OptState:
    """Optimizer state: steps taken so far and the momentum buffer v (N,) or None."""

    step: int = 0
    v: object = None


def check_momentum(momentum):
    """momentum as a float in [0, 1), or ValueError."""
    mu = _finite(momentum, "momentum")
    if not 0.0 <= mu < 1.0:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    return mu


def check_weight_decay(weight_decay):
    """weight_decay as a finite float >= 0, or ValueError."""
    wd = _finite(weight_decay, "weight_decay")
    if wd < 0.0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    return wd


def check_unit(value, name, closed=True):
    """value as a float in [0, 1] (``closed``) or [0, 1), or ValueError naming ``name``."""
    f = _finite(value, name)
    if not (0.0 <= f <= 1.0 if closed else 0.0 <= f < 1.0):
        raise ValueError(f"{name} must lie in [0, 1{']' if closed else ')'}, got {value!r}")
    return f


def _finite(value, name):
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(f):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return f


@register("sgd")
class SGD(Stepper):
    """SGD, Eq. (7), with PyTorch's momentum buffer, dampening, Nesterov and L2 weight decay.

    Parameters
    ----------
    lr : float
        Learning rate eta, finite and > 0.
    momentum : float
        mu in [0, 1); 0 (default) is plain SGD.
    weight_decay : float
        omega >= 0, added to the gradient as omega theta (PyTorch's L2 convention).
    dampening : float
        tau in [0, 1] (default 0), PyTorch's dampening of the buffer update.
    nesterov : bool
        Nesterov momentum (PyTorch's form); needs momentum > 0 and dampening 0, as PyTorch.

    Usage::

        opt = SGD(lr=0.1, momentum=0.9)
        state = opt.init(theta)
        theta, state, info = opt.step(model, theta, state, x, y)
    """

    def __init__(self, lr, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False):
        self.lr = check_lr(lr)
        self.momentum = check_momentum(momentum)
        self.weight_decay = check_weight_decay(weight_decay)
        self.dampening = check_unit(dampening, "dampening")
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum == 0.0 or self.dampening != 0.0):
            raise ValueError("Nesterov momentum requires momentum > 0 and dampening 0 (as torch.optim.SGD)")
        self.buffers = ("v",) if self.momentum != 0.0 else ()

    @property
    def symmetric_tangent(self):
        """Without momentum J = I - eta (H + omega I) (Eq. (8), beta = 0) is symmetric, H being a
        Hessian; the 2N momentum map is not."""
        return self.momentum == 0.0

    def __repr__(self):
        extra = ""
        if self.dampening != 0.0:
            extra += f", dampening={self.dampening}"
        if self.nesterov:
            extra += ", nesterov=True"
        return (f"{type(self).__name__}(lr={self.lr}, momentum={self.momentum}, "
                f"weight_decay={self.weight_decay}{extra})")

    def init(self, theta):
        """The state before the first step (step 0, no momentum buffer)."""
        namespace_of(theta)  # theta must be an array of a supported backend
        return OptState(step=0, v=None)

    def update(self, theta, state, g):
        """Apply Eq. (7) for a loss gradient g (N,) computed at theta: (theta, state).

        Under CGD, g is the projected gradient (Eq. (11)): the projection acts before weight
        decay and momentum, so the buffer sees the projected gradient.
        """
        namespace_of(theta, g)  # one backend
        d = g
        if self.weight_decay != 0.0:
            d = d + self.weight_decay * theta  # d = g + omega theta
        v = None
        if self.momentum != 0.0:
            if state.v is None:
                v = d  # PyTorch creates the buffer as d
            elif self.dampening != 0.0:
                v = self.momentum * state.v + (1.0 - self.dampening) * d  # v = mu v + (1 - tau) d
            else:
                v = self.momentum * state.v + d  # v = mu v + d
            d = d + self.momentum * v if self.nesterov else v
        theta_new = theta - self.lr * d  # Eq. (7)
        return theta_new, OptState(step=state.step + 1, v=v)

    def tangent_update(self, theta, state, g, Y, dg):
        """The step and its tangent map (module docstring, Eq. (8)): (theta, state, J Y).

        ``dg`` (N, K) is the directional derivative of the (projected) gradient along the
        dtheta rows of Y: H dtheta for SGD, P H dtheta for CGD with the projector held fixed.
        """
        xp = namespace_of(theta, Y)
        N = theta.shape[0]
        dtheta = Y[:N, :]
        dd = dg
        if self.weight_decay != 0.0:
            dd = dd + self.weight_decay * dtheta  # (H + omega I) dtheta
        if self.momentum != 0.0:
            if state.v is None and self.dampening != 0.0:
                dv = dd  # first step: v(1) = d(0) does not depend on v(0)
            elif self.dampening != 0.0:
                dv = self.momentum * Y[N:, :] + (1.0 - self.dampening) * dd
            else:
                dv = self.momentum * Y[N:, :] + dd  # dv' = mu dv + (H + omega I) dtheta
            du = dd + self.momentum * dv if self.nesterov else dv
            Y_new = xp.concat([dtheta - self.lr * du, dv], axis=0)  # dtheta' = dtheta - eta du
        else:
            Y_new = dtheta - self.lr * dd  # Eq. (8), beta = 0: (I - eta (H + omega I)) Y
        theta_new, state_new = self.update(theta, state, g)
        return theta_new, state_new, Y_new

