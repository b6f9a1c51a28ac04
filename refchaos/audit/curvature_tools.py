"""Audit checks of the exact quantities other curvature tools estimate: diagonal, trace, layer
blocks, Gauss-Newton / Fisher, smoothed spectral density.

Each check registers itself with :func:`refchaos.audit.core.check`; see :mod:`refchaos.audit`.
The references are the dense Hessian (audited by HESS-exact), identities and closed forms.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import asarray, to_float
from ..curvature import ggn, ggn_vp, hessian_blocks, hessian_diag, hessian_trace, spectral_density
from .core import Outcome, _host, _rel, _tanh_cnn, _tanh_mlp, _to, check, rtol


def _two_smooth_layers(xp):
    """A tanh MLP 4-5-4-3: residual terms of the lower tanh cross a dense layer on the way down."""
    return _tanh_mlp(xp, seed=3, sizes=(4, 5, 4, 3), B=5)


def _with_dense_hessian(xp):
    """(model, theta, x, y, H) of the two smooth test networks, H the dense exact Hessian."""
    for build in (_two_smooth_layers, _tanh_cnn):
        model, theta, x, y = build(xp)
        yield model, theta, x, y, model.hessian(theta, x, y)


@check("CURV-diag", "Exact diag(H) and tr(H) by factored Hessian backpropagation = the dense Hessian's")
def _curv_diag(xp):
    res = 0.0
    for model, theta, x, y, H in _with_dense_hessian(xp):
        d = _to(xp, np.diag(_host(H)))
        res = max(res, _rel(xp, hessian_diag(model, theta, x, y), d))
        scale = to_float(xp.sum(xp.abs(d)))
        res = max(res, abs(to_float(hessian_trace(model, theta, x, y) - xp.sum(d))) / scale)
    return Outcome(res, rtol(2000), "normwise relative (diag); relative to sum |H_ii| (trace)")


@check("CURV-blocks", "Per-layer and per-parameter diagonal blocks = the dense Hessian's blocks")
def _curv_blocks(xp):
    res = 0.0
    for model, theta, x, y, H in _with_dense_hessian(xp):
        for by in ("layer", "param"):
            for blk in hessian_blocks(model, theta, x, y, by=by):
                a, b = blk.span
                res = max(res, _rel(xp, blk.H, H[a:b, a:b]))
    return Outcome(res, rtol(2000), "normwise relative, worst block")


@check("CURV-ggn", "GGN = J^T H_z J from jvp columns, G v = ggn_vp, and = the Fisher for cross-entropy")
def _curv_ggn(xp):
    model, theta, x, y = _two_smooth_layers(xp)
    N, (B, C) = model.num_params, (x.shape[0], model.num_outputs)
    G = ggn(model, theta, x, y)
    J = _host(model.jvp(theta, x, asarray(np.eye(N), xp)))  # (N, B, C): column j is J e_j
    z = _host(model.forward(theta, x))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    Hz = (np.einsum("bc,cd->bcd", p, np.eye(C)) - p[:, :, None] * p[:, None, :]) / B  # (B, C, C)
    G_ref = np.einsum("nbc,bcd,mbd->nm", J, Hz, J)  # Eq. (G1) written out
    res = _rel(xp, G, _to(xp, G_ref))
    # Eq. (G3): the Fisher as the expectation over the model's own labels, from vjp's.
    F = np.zeros((N, N))
    for b in range(B):
        for c in range(C):
            u = np.zeros((B, C))
            u[b] = np.eye(C)[c] - p[b]  # d ln p_b[c] / dz_b, placed at sample b
            g = _host(model.vjp(theta, x, _to(xp, u)))
            F += p[b, c] * np.outer(g, g) / B
    res = max(res, _rel(xp, G, _to(xp, F)))
    V = np.random.default_rng(5).standard_normal((N, 3))
    res = max(res, _rel(xp, ggn_vp(model, theta, x, y, _to(xp, V)), _to(xp, G_ref @ V)))
    return Outcome(res, rtol(2000), "normwise relative: G1, G3 and G2")


@check("CURV-density", "Smoothed density of 3 eigenvalues and 2 zeros at hand values; unit mass")
def _curv_density(xp):
    lam = [-1.0, 0.5, 2.0]
    s2 = 0.05
    grid_h = np.array([-1.0, 0.0, 0.5, 3.0])
    rho = _host(spectral_density(_to(xp, lam), _to(xp, grid_h), s2, num_params=5))
    ref = np.array([(2 * math.exp(-t * t / (2 * s2)) + sum(math.exp(-(t - l) ** 2 / (2 * s2)) for l in lam))
                    / (5 * math.sqrt(2 * math.pi * s2)) for t in grid_h])
    res = float(np.max(np.abs(rho - ref) / ref))
    fine = np.linspace(-4.0, 5.0, 9001)
    mass = _host(spectral_density(_to(xp, lam), _to(xp, fine), s2, num_params=5, normalize=True))
    res = max(res, abs(float(mass.sum()) * (fine[1] - fine[0]) - 1.0))
    return Outcome(res, rtol(9001), "relative at hand values; |mass - 1| on the grid")
