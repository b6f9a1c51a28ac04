"""RMSprop in PyTorch's definition, with the exact tangent map on its whole state.

``torch.optim.RMSprop`` with smoothing alpha, eps after the root, L2 weight decay omega,
momentum mu and the centred variant:

    g~         = g(theta(t)) + omega theta(t)
    S(t+1)     = alpha S(t) + (1 - alpha) g~^2
    G(t+1)     = alpha G(t) + (1 - alpha) g~                 (centred only)
    r          = S(t+1) - G(t+1)^2   (centred)   or   S(t+1)
    p          = g~ / (sqrt(r) + eps)
    b(t+1)     = mu b(t) + p,  theta(t+1) = theta(t) - eta b(t+1)    (momentum)
    theta(t+1) = theta(t) - eta p                                     (no momentum)

All buffers start at 0 (PyTorch creates them zero at the first step), so the state is
(theta, S[, b][, G]), 2N to 4N dimensional. No bias correction.

Tangent map on (dtheta, dS[, db][, dG]), dg~ = (H + omega I) dtheta:

    dS' = alpha dS + 2 (1 - alpha) g~ dg~
    dG' = alpha dG + (1 - alpha) dg~                           (centred)
    dr  = dS' - 2 G' dG'  (centred)   or   dS'
    dp  = dg~ / (sqrt(r) + eps) - g~ dr / (2 sqrt(r) (sqrt(r) + eps)^2)
    db' = mu db + dp,  dtheta' = dtheta - eta db'  (momentum);  dtheta' = dtheta - eta dp

(:func:`refchaos.optim.preconditioned.root_quotient_jvp`, with its rule at r = 0.)

Symbols
-------
eta -> ``lr``; alpha -> ``alpha``; eps -> ``eps``; omega -> ``weight_decay``; mu -> ``momentum``;
S -> ``state.square_avg``; b -> ``state.momentum_buffer``; G -> ``state.grad_avg`` (N,).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backend import namespace_of
from .adam import check_eps
from .eigensets import check_lr
from .preconditioned import root_quotient, root_quotient_jvp
from .sgd import check_momentum, check_unit, check_weight_decay
from .stepper import Stepper, register


@dataclass(frozen=True)
class RMSpropState:
    """RMSprop's state: steps taken, S (N,), momentum buffer b (N,) or None, G (N,) or None."""

    step: int = 0
    square_avg: object = None
    momentum_buffer: object = None
    grad_avg: object = None


@register("rmsprop")
class RMSprop(Stepper):
    """RMSprop (``torch.optim.RMSprop``).

    Parameters
    ----------
    lr : float
        eta > 0 (PyTorch's default 1e-2).
    alpha : float
        Smoothing constant in [0, 1) (default 0.99).
    eps : float
        eps > 0 added after the root (default 1e-8).
    weight_decay : float
        omega >= 0 (default 0).
    momentum : float
        mu in [0, 1) (default 0).
    centered : bool
        Divide by the root of the variance estimate S - G^2 (default False).
    """

    preconditioned = True

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        self.lr = check_lr(lr)
        self.alpha = check_unit(alpha, "alpha", closed=False)
        self.eps = check_eps(eps)
        self.weight_decay = check_weight_decay(weight_decay)
        self.momentum = check_momentum(momentum)
        self.centered = bool(centered)
        self.buffers = (("square_avg",) + (("momentum_buffer",) if self.momentum != 0.0 else ())
                        + (("grad_avg",) if self.centered else ()))

    def __repr__(self):
        return (f"RMSprop(lr={self.lr}, alpha={self.alpha}, eps={self.eps}, weight_decay="
                f"{self.weight_decay}, momentum={self.momentum}, centered={self.centered})")

    def init(self, theta):
        """Step 0 with zero buffers (PyTorch's)."""
        xp = namespace_of(theta)
        z = xp.zeros_like
        return RMSpropState(step=0, square_avg=z(theta),
                            momentum_buffer=z(theta) if self.momentum != 0.0 else None,
                            grad_avg=z(theta) if self.centered else None)

    def _averages(self, theta, state, g):
        """(g~, S', G' or None, r) of the step (module docstring)."""
        a = self.alpha
        gt = g + self.weight_decay * theta if self.weight_decay != 0.0 else g  # g~ = g + omega theta
        S = a * state.square_avg + (1.0 - a) * gt * gt  # S' = alpha S + (1 - alpha) g~^2
        G, r = None, S
        if self.centered:
            G = a * state.grad_avg + (1.0 - a) * gt  # G' = alpha G + (1 - alpha) g~
            r = S - G * G  # r = S' - G'^2
        return gt, S, G, r

    def update(self, theta, state, g):
        """One RMSprop step for the loss gradient g (N,) at theta: (theta, state)."""
        gt, S, G, r = self._averages(theta, state, g)
        p = root_quotient(gt, r, self.eps)[0]  # p = g~ / (sqrt(r) + eps)
        b = None
        if self.momentum != 0.0:
            b = self.momentum * state.momentum_buffer + p  # b' = mu b + p
            p = b
        theta_new = theta - self.lr * p
        return theta_new, RMSpropState(step=state.step + 1, square_avg=S, momentum_buffer=b, grad_avg=G)

    def tangent_update(self, theta, state, g, Y, dg):
        """The step and its tangent map on (dtheta, dS[, db][, dG]) (module docstring)."""
        xp = namespace_of(theta, Y)
        a = self.alpha
        N = theta.shape[0]
        parts = dict(zip(("theta",) + self.buffers, self.blocks(Y, N)))
        dtheta = parts["theta"]
        gt, S, G, r = self._averages(theta, state, g)
        dgt = dg + self.weight_decay * dtheta if self.weight_decay != 0.0 else dg  # (H + omega I) dtheta
        dS = a * parts["square_avg"] + (2.0 * (1.0 - a)) * gt[:, None] * dgt  # dS' = alpha dS + 2 (1 - alpha) g~ dg~
        rows = {"square_avg": dS}
        dr = dS
        if self.centered:
            dG = a * parts["grad_avg"] + (1.0 - a) * dgt  # dG' = alpha dG + (1 - alpha) dg~
            dr = dS - 2.0 * G[:, None] * dG  # dr = dS' - 2 G' dG'
            rows["grad_avg"] = dG
        p, dp = root_quotient_jvp(gt, dgt, r, dr, self.eps, xp=xp)
        b = None
        if self.momentum != 0.0:
            b = self.momentum * state.momentum_buffer + p
            dp = self.momentum * parts["momentum_buffer"] + dp  # db' = mu db + dp
            rows["momentum_buffer"] = dp
            p = b
        theta_new = theta - self.lr * p
        dtheta_new = dtheta - self.lr * dp  # dtheta' = dtheta - eta dp (or eta db')
        state_new = RMSpropState(step=state.step + 1, square_avg=S, momentum_buffer=b, grad_avg=G)
        return theta_new, state_new, xp.concat([dtheta_new] + [rows[k] for k in self.buffers], axis=0)
