"""Adam and AdamW in PyTorch's definitions, with the exact tangent map on (theta, m, v).

``torch.optim.Adam`` (L2 weight decay omega in the gradient) and ``torch.optim.AdamW``
(decoupled decay), step count s = t + 1, bias corrections b1 = 1 - beta1^s, b2 = 1 - beta2^s:

    g~       = g(theta(t)) + omega theta(t)        (Adam; AdamW: g~ = g)
    theta~   = theta(t)                            (Adam; AdamW: (1 - eta omega) theta(t))
    m(t+1)   = beta1 m(t) + (1 - beta1) g~
    v(t+1)   = beta2 v(t) + (1 - beta2) g~^2
    u(t+1)   = max(u(t), v(t+1))                   (AMSGrad only; r = u(t+1), else r = v(t+1))
    theta(t+1) = theta~ - (eta / b1) m(t+1) / (sqrt(r / b2) + eps)

i.e. theta - eta m_hat / (sqrt(v_hat) + eps) with eps after the root, as PyTorch places it.
The state starts at m = v = u = 0 (:meth:`Adam.init`), so theta(t) depends on theta(0) also
through m and v: the state is 3N-dimensional (4N with AMSGrad).

Tangent map on (dtheta, dm, dv[, du]), dg~ = (H + omega I) dtheta (Adam) or H dtheta (AdamW):

    dm'     = beta1 dm + (1 - beta1) dg~
    dv'     = beta2 dv + 2 (1 - beta2) g~ dg~
    du'     = dv' where v(t+1) >= u(t), du where v(t+1) < u(t)           (AMSGrad)
    dtheta' = dtheta~ - (eta / b1) [dm' / (q + eps) - m' dr / (2 b2 q (q + eps)^2)]

with q = sqrt(r / b2), dtheta~ = dtheta (Adam) or (1 - eta omega) dtheta (AdamW)
(:func:`refchaos.optim.preconditioned.root_quotient_jvp`, which also states the rule at
r = 0). AMSGrad's max is piecewise linear: off ties the map is exact; at a tie
v(t+1) = u(t) the max has no derivative and the tangent takes the branch of the new second
moment (du' = dv', the one-sided derivative towards v(t+1) >= u(t)).

Symbols
-------
eta -> ``lr``; (beta1, beta2) -> ``betas``; eps -> ``eps``; omega -> ``weight_decay``;
m, v, u -> ``state.m``, ``state.v``, ``state.v_max`` (N,); b1, b2 -> ``bc1``, ``bc2``;
Y -> rows [dtheta; dm; dv; du] of ``Y`` (n, K).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backend import namespace_of
from .eigensets import check_lr
from .preconditioned import root_quotient, root_quotient_jvp
from .sgd import _finite, check_unit, check_weight_decay
from .stepper import Stepper, register


@dataclass(frozen=True)
class AdamState:
    """Adam's state: steps taken, first and second moments m, v (N,), AMSGrad's max u or None."""

    step: int = 0
    m: object = None
    v: object = None
    v_max: object = None


def check_betas(betas):
    """(beta1, beta2) as floats in [0, 1), or ValueError."""
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    return check_unit(b1, "beta1", closed=False), check_unit(b2, "beta2", closed=False)


def check_eps(eps):
    """eps as a finite float > 0, or ValueError."""
    e = _finite(eps, "eps")
    if e <= 0.0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    return e


@register("adam")
class Adam(Stepper):
    """Adam (``torch.optim.Adam``): L2 weight decay in the gradient, optional AMSGrad.

    Parameters
    ----------
    lr : float
        eta > 0 (PyTorch's default 1e-3).
    betas : (float, float)
        (beta1, beta2) in [0, 1) (default (0.9, 0.999)).
    eps : float
        eps > 0 added after the root (default 1e-8).
    weight_decay : float
        omega >= 0 (default 0).
    amsgrad : bool
        Keep the running max u of v and divide by its root (default False).
    """

    decoupled = False  # AdamW: the decay multiplies theta instead of entering the gradient
    preconditioned = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        self.lr = check_lr(lr)
        self.betas = check_betas(betas)
        self.eps = check_eps(eps)
        self.weight_decay = check_weight_decay(weight_decay)
        self.amsgrad = bool(amsgrad)
        self.buffers = ("m", "v", "v_max") if self.amsgrad else ("m", "v")

    def __repr__(self):
        return (f"{type(self).__name__}(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
                f"weight_decay={self.weight_decay}, amsgrad={self.amsgrad})")

    def init(self, theta):
        """Step 0 with m = v = 0 (and u = 0 with AMSGrad), PyTorch's initial buffers."""
        xp = namespace_of(theta)
        return AdamState(step=0, m=xp.zeros_like(theta), v=xp.zeros_like(theta),
                         v_max=xp.zeros_like(theta) if self.amsgrad else None)

    def _moments(self, theta, state, g):
        """(theta~, g~, m', v', r, bc1, bc2) of the step (module docstring)."""
        b1, b2 = self.betas
        s = state.step + 1
        gt, tt = g, theta
        if self.weight_decay != 0.0:
            if self.decoupled:
                tt = theta * (1.0 - self.lr * self.weight_decay)  # AdamW: theta~ = (1 - eta omega) theta
            else:
                gt = g + self.weight_decay * theta  # Adam: g~ = g + omega theta
        m = b1 * state.m + (1.0 - b1) * gt  # m' = beta1 m + (1 - beta1) g~
        v = b2 * state.v + (1.0 - b2) * gt * gt  # v' = beta2 v + (1 - beta2) g~^2
        u = None
        if self.amsgrad:
            xp = namespace_of(theta)
            u = xp.maximum(state.v_max, v)  # u' = max(u, v')
        return tt, gt, m, v, u, 1.0 - b1 ** s, 1.0 - b2 ** s

    def update(self, theta, state, g):
        """One Adam step for the loss gradient g (N,) at theta: (theta, state)."""
        tt, _, m, v, u, bc1, bc2 = self._moments(theta, state, g)
        ratio = root_quotient(m, u if self.amsgrad else v, self.eps, bc2)[0]  # m / (sqrt(r / b2) + eps)
        theta_new = tt - (self.lr / bc1) * ratio  # theta - eta m_hat / (sqrt(v_hat) + eps)
        return theta_new, AdamState(step=state.step + 1, m=m, v=v, v_max=u)

    def tangent_update(self, theta, state, g, Y, dg):
        """The step and its tangent map on (dtheta, dm, dv[, du]) (module docstring)."""
        xp = namespace_of(theta, Y)
        b1, b2 = self.betas
        N = theta.shape[0]
        parts = self.blocks(Y, N)
        dtheta, dm, dv = parts[0], parts[1], parts[2]
        tt, gt, m, v, u, bc1, bc2 = self._moments(theta, state, g)
        dgt, dtt = dg, dtheta
        if self.weight_decay != 0.0:
            if self.decoupled:
                dtt = (1.0 - self.lr * self.weight_decay) * dtheta  # dtheta~ = (1 - eta omega) dtheta
            else:
                dgt = dg + self.weight_decay * dtheta  # dg~ = (H + omega I) dtheta
        dm_new = b1 * dm + (1.0 - b1) * dgt  # dm' = beta1 dm + (1 - beta1) dg~
        dv_new = b2 * dv + (2.0 * (1.0 - b2)) * gt[:, None] * dgt  # dv' = beta2 dv + 2 (1 - beta2) g~ dg~
        r, dr, rows = v, dv_new, [dm_new, dv_new]
        if self.amsgrad:
            new_branch = v >= state.v_max  # ties take the new second moment
            dr = xp.where(new_branch[:, None], dv_new, parts[3])  # du' = dv' or du
            r = u
            rows.append(dr)
        ratio, dratio = root_quotient_jvp(m, dm_new, r, dr, self.eps, bc2, xp)
        theta_new = tt - (self.lr / bc1) * ratio
        dtheta_new = dtt - (self.lr / bc1) * dratio  # dtheta' = dtheta~ - (eta / b1) d[m / (q + eps)]
        state_new = AdamState(step=state.step + 1, m=m, v=v, v_max=u)
        return theta_new, state_new, xp.concat([dtheta_new] + rows, axis=0)


@register("adamw")
class AdamW(Adam):
    """AdamW (``torch.optim.AdamW``): decoupled decay theta~ = (1 - eta omega) theta.

    Same parameters as :class:`Adam`; PyTorch's default weight_decay is 1e-2.
    """

    decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
