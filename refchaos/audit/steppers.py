"""Audit checks of the adaptive steppers (Adam, AdamW, RMSprop): PyTorch's conventions on exact
constant-gradient cases, and their whole-state tangent maps against central differences.

Each check registers itself with :func:`refchaos.audit.core.check`; see :mod:`refchaos.audit`.
"""

from __future__ import annotations

import numpy as np

from .. import lyapunov as ly
from ..backend import host_rng
from ..optim import Adam, AdamW, RMSprop
from .core import Outcome, _fd_state_jacobian, _maxabs, _rel, _tanh_mlp, _to, check, fd_tolerance, rtol

CONST_STEPS = 10  # steps of the constant-gradient cases
SMOOTH_EPS = 0.3  # eps of the tangent checks: every denominator is >= eps, so the third
#                   derivatives of g / (sqrt(r) + eps) in (g, r) stay below ~6 / eps^3 = 222, times
#                   lr = 0.02: < 5, inside the audit's NETWORK_D3_BOUND for central differences.
TANGENT_LR = 0.02
TANGENT_STEPS = 3


def _constant_run(xp, opt, g, theta, steps):
    state = opt.init(theta)
    for _ in range(steps):
        theta, state = opt.update(theta, state, g)
    return theta


@check("ADAM-torch", "PyTorch Adam/AdamW/AMSGrad: constant g gives m_hat = g, v_hat = g^2, steps lr g / (|g| + eps)")
def _adam_torch(xp):
    # With g constant, m(t) = (1 - b1^t) g and v(t) = (1 - b2^t) g^2, so bias correction gives
    # m_hat = g, v_hat = g^2 exactly in exact arithmetic and every step is lr g / (|g| + eps):
    # theta(T) = theta(0) - T lr g / (|g| + eps) (AMSGrad: v increases, u = v). AdamW multiplies
    # theta by (1 - lr wd) first: theta(T) = c^T theta(0) - lr p sum_{k<T} c^k, c = 1 - lr wd.
    rng = host_rng(21)
    g_h, th_h = rng.standard_normal(7), rng.standard_normal(7)
    g, theta = _to(xp, g_h), _to(xp, th_h)
    lr, eps, wd, T = 0.01, 1e-3, 0.1, CONST_STEPS
    p = g_h / (np.abs(g_h) + eps)
    res = 0.0
    for opt in (Adam(lr=lr, eps=eps), Adam(lr=lr, eps=eps, amsgrad=True)):
        res = max(res, _rel(xp, _constant_run(xp, opt, g, theta, T), _to(xp, th_h - T * lr * p)))
    c = 1.0 - lr * wd
    want = c ** T * th_h - lr * p * sum(c ** k for k in range(T))
    res = max(res, _rel(xp, _constant_run(xp, AdamW(lr=lr, eps=eps, weight_decay=wd), g, theta, T),
                        _to(xp, want)))
    # Each step rounds the moments, their corrections and the quotient: a few ulps per step.
    return Outcome(res, rtol(8 * T), f"T = {T}, lr = {lr}, eps = {eps}, AdamW wd = {wd}")


@check("RMSPROP-torch", "PyTorch RMSprop (plain, centred, momentum): constant g gives S = (1 - a^t) g^2 exactly")
def _rmsprop_torch(xp):
    # Constant g: S(t) = (1 - a^t) g^2, G(t) = (1 - a^t) g, so r(t) = (1 - a^t) g^2 (plain) or
    # (1 - a^t) a^t g^2 (centred); p(t) = g / (sqrt(r(t)) + eps); momentum b(t) = mu b(t-1) + p(t).
    rng = host_rng(22)
    g_h, th_h = rng.standard_normal(7), rng.standard_normal(7)
    g, theta = _to(xp, g_h), _to(xp, th_h)
    lr, a, eps, mu, T = 0.01, 0.9, 1e-3, 0.5, CONST_STEPS
    res = 0.0
    for centered in (False, True):
        for momentum in (0.0, mu):
            opt = RMSprop(lr=lr, alpha=a, eps=eps, momentum=momentum, centered=centered)
            th, b = th_h.copy(), np.zeros(7)
            for t in range(1, T + 1):
                r = (1 - a ** t) * g_h ** 2 * (a ** t if centered else 1.0)
                p = g_h / (np.sqrt(r) + eps)
                b = momentum * b + p
                th = th - lr * b
            res = max(res, _rel(xp, _constant_run(xp, opt, g, theta, T), _to(xp, th)))
    return Outcome(res, rtol(8 * T), f"T = {T}, alpha = {a}, momentum 0 and {mu}, plain and centred")


def _tangent_vs_fd(xp, opt):
    """max |Y[:, :N] - central differences| of d state(T) / d theta(0), buffers from opt.init."""
    model, theta, x, y = _tanh_mlp(xp)
    N = model.num_params
    run = ly.tangent_matrix(opt, model, theta, lambda t: (x, y), TANGENT_STEPS)
    Y_fd, scale = _fd_state_jacobian(xp, opt, model, theta, x, y, TANGENT_STEPS, opt.buffers)  # (n, N)
    return _maxabs(xp, run.Y[:, :N] - Y_fd), fd_tolerance(scale), N


@check("ADAM-tangent", "Adam/AMSGrad tangent on (theta, m, v[, u]) vs central differences of T steps")
def _adam_tangent(xp):
    res, tol, N = 0.0, 0.0, 0
    for opt in (Adam(lr=TANGENT_LR, eps=SMOOTH_EPS, weight_decay=0.05),
                AdamW(lr=TANGENT_LR, eps=SMOOTH_EPS, betas=(0.5, 0.6), amsgrad=True)):
        r, t, N = _tangent_vs_fd(xp, opt)
        res, tol = max(res, r), max(tol, t)
    return Outcome(res, tol, f"N={N}, T={TANGENT_STEPS}, eps={SMOOTH_EPS}: d(theta, m, v[, u])(T)/d theta(0)")


@check("RMSPROP-tangent", "RMSprop tangent (centred, momentum) vs central differences of T steps")
def _rmsprop_tangent(xp):
    opt = RMSprop(lr=TANGENT_LR, alpha=0.9, eps=SMOOTH_EPS, momentum=0.5, centered=True,
                  weight_decay=0.05)
    res, tol, N = _tangent_vs_fd(xp, opt)
    return Outcome(res, tol, f"N={N}, T={TANGENT_STEPS}, eps={SMOOTH_EPS}: d(theta, S, b, G)(T)/d theta(0)")
