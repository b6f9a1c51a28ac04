"""Audit checks of the derivatives: backprop, R-operator per layer, HVP, exact Hessian, spectra.

Each check registers itself with :func:`refchaos.audit.core.check`; see :mod:`refchaos.audit`.
"""


from __future__ import annotations

import math

import numpy as np

from ..backend import asarray, host_rng, to_float
from ..curvature import spectrum as hessian_spectrum
from ..nn import AvgPool2d, Conv2d, Dense, Elementwise, Flatten, MaxPool2d, get_loss
from ..optim import ZERO_TOL
from .core import (FD_STEP, SOFTMAX_D3_BOUND, TANH_D3_BOUND, Outcome, _host, _linear_mse, _maxabs,
                   _norm, _rel, _relu_mlp, _tanh_cnn, _tanh_mlp, _to, check, fd_tolerance, rtol)

# ===== derivatives: backprop, R-operator, Hessian ============================================
def _fd_grad(xp, model, theta, x, y):
    N = model.num_params
    eye = np.eye(N)
    g_fd, scale = [], 0.0
    for j in range(N):
        e = _to(xp, FD_STEP * eye[j])
        lp, lm = model.loss(theta + e, x, y), model.loss(theta - e, x, y)
        g_fd.append((lp - lm) / (2 * FD_STEP))
        scale = max(scale, abs(to_float(lp)))
    return xp.stack(g_fd), scale


@check("BP-grad", "Backprop gradient vs central differences of the loss (tanh MLP and tanh CNN)")
def _bp_grad(xp):
    res, tol = 0.0, 0.0
    for build in (_tanh_mlp, _tanh_cnn):
        model, theta, x, y = build(xp)
        g_fd, scale = _fd_grad(xp, model, theta, x, y)
        res = max(res, _maxabs(xp, model.grad(theta, x, y) - g_fd))
        tol = max(tol, fd_tolerance(scale))
    return Outcome(res, tol, "every coordinate, max abs error")


@check("ADJ", "Adjoint identity <u, J v> = <J^T u, v> of jvp (R-forward) and vjp (backprop)")
def _adj(xp):
    res = 0.0
    for build in (_tanh_mlp, _tanh_cnn):
        model, theta, x, _ = build(xp)
        rng = host_rng(29)
        v = _to(xp, rng.standard_normal(model.num_params))
        u = _to(xp, rng.standard_normal((x.shape[0], model.num_outputs)))
        lhs = xp.sum(u * model.jvp(theta, x, v))
        rhs = xp.sum(model.vjp(theta, x, u) * v)
        scale = _norm(xp, u) * _norm(xp, model.jvp(theta, x, v)) + _norm(xp, model.vjp(theta, x, u)) * _norm(xp, v)
        res = max(res, abs(to_float(lhs - rhs)) / scale)
    return Outcome(res, rtol(2000), "relative to |u||Jv| + |J^T u||v|")


def _layer_rop(xp, layer, in_shape, h, d3, rng, B=2, x_host=None):
    """Max error of a layer's R-forward and R-backward against central differences in r of
    forward(params + r V, x + r R{x}) and backward(..., dy + r R{dy}); and its tolerance."""
    shapes = layer.param_shapes(in_shape)
    params = tuple(_to(xp, rng.uniform(-1, 1, s)) for s in shapes)
    vparams = tuple(_to(xp, rng.uniform(-1, 1, s)) for s in shapes)
    x = _to(xp, rng.uniform(-1, 1, (B, *in_shape)) if x_host is None else x_host)
    rx = _to(xp, rng.uniform(-1, 1, (B, *in_shape)))
    y, cache = layer.forward(params, x)
    dy = _to(xp, rng.uniform(-1, 1, tuple(y.shape)))
    rdy = _to(xp, rng.uniform(-1, 1, tuple(y.shape)))
    vb = tuple(v[None, ...] for v in vparams)  # K = 1 direction
    ry = layer.r_forward(params, cache, vb, rx[None, ...])[0, ...]
    rdx, rdp = layer.r_backward(params, cache, dy, vb, rx[None, ...], rdy[None, ...])

    def at(s):
        p = tuple(a + s * v for a, v in zip(params, vparams))
        ys, cs = layer.forward(p, x + s * rx)
        dxs, dps = layer.backward(p, cs, dy + s * rdy)
        return [ys, dxs, *dps]

    plus, minus = at(h), at(-h)
    exact = [ry, rdx[0, ...], *(r[0, ...] for r in rdp)]
    res = max(_maxabs(xp, r - (p - m) / (2 * h)) for r, p, m in zip(exact, plus, minus))
    scale = max(max(_maxabs(xp, p), _maxabs(xp, m)) for p, m in zip(plus, minus))
    return res, scale


def _bilinear_tol(scale, n_acc, h=1.0):
    """Rounding-only bound for a central difference of a function quadratic in r."""
    return rtol(n_acc) * scale / h


@check("ROP-dense", "R-operator of Dense (y = x W^T + b): R-forward, R-backward vs exact differences")
def _rop_dense(xp):
    res, scale = _layer_rop(xp, Dense(5, 4), (5,), 1.0, 0.0, host_rng(31), B=3)
    return Outcome(res, _bilinear_tol(scale, 2 * 5 + 3), "bilinear in (W, x, dy): h = 1 is exact")


@check("ROP-act", "R-operator of activations: tanh (with f'') vs differences; ReLU piecewise-linear")
def _rop_act(xp):
    rng = host_rng(37)
    res_t, scale_t = _layer_rop(xp, Elementwise("tanh"), (6,), FD_STEP, TANH_D3_BOUND, rng, B=3)
    tol_t = fd_tolerance(scale_t, d3=TANH_D3_BOUND)
    xr = rng.choice([-1.0, 1.0], (3, 6)) * rng.uniform(0.1, 1.0, (3, 6))  # |x| >= 0.1: no kink
    res_r, scale_r = _layer_rop(xp, Elementwise("relu"), (6,), 0.05, 0.0, rng, B=3, x_host=xr)
    tol_r = _bilinear_tol(scale_r, 4, h=0.05)  # |h rx| <= 0.05 < 0.1: linear piece, exact
    return Outcome(max(res_t / tol_t, res_r / tol_r), 1.0, "max over tanh and relu of residual/tolerance")


@check("ROP-conv", "R-operator of Conv2d (im2col): R-forward, R-backward vs exact differences")
def _rop_conv(xp):
    layer = Conv2d(2, 3, 3, stride=1, padding=1)
    res, scale = _layer_rop(xp, layer, (2, 5, 5), 1.0, 0.0, host_rng(41), B=2)
    return Outcome(res, _bilinear_tol(scale, 2 * 2 * 9 + 2 * 25 + 2), "bilinear: h = 1 is exact")


@check("ROP-maxpool", "R-operator of MaxPool2d: fixed routing, exact on the linear piece")
def _rop_maxpool(xp):
    rng = host_rng(43)
    gap = 0.01
    x = (rng.permutation(2 * 2 * 6 * 6).reshape(2, 2, 6, 6) - 72.0) * gap  # distinct, spaced by gap
    res, scale = _layer_rop(xp, MaxPool2d(2), (2, 6, 6), gap / 4, 0.0, rng, B=2, x_host=x)
    return Outcome(res, _bilinear_tol(scale, 4, h=gap / 4), "|h rx| < gap/2 keeps the argmax")


@check("ROP-avgpool", "R-operator of AvgPool2d: linear, exact differences")
def _rop_avgpool(xp):
    res, scale = _layer_rop(xp, AvgPool2d(2), (2, 6, 6), 1.0, 0.0, host_rng(47), B=2)
    return Outcome(res, _bilinear_tol(scale, 8), "linear: h = 1 is exact")


@check("ROP-flatten", "R-operator of Flatten: a reshape, exact")
def _rop_flatten(xp):
    res, scale = _layer_rop(xp, Flatten(), (2, 3, 3), 1.0, 0.0, host_rng(53), B=2)
    return Outcome(res, _bilinear_tol(scale, 2), "linear: h = 1 is exact")


@check("ROP-loss", "Loss R-operators: CE (diag(p) - p p^T) rz / B and MSE rz / B vs differences of dL/dz")
def _rop_loss(xp):
    rng = host_rng(59)
    B, C = 4, 5
    y = asarray(rng.integers(0, C, B).astype(np.int64), xp)
    z = _to(xp, rng.uniform(-1, 1, (B, C)))
    rz = _to(xp, rng.uniform(-1, 1, (B, C)))
    worst = 0.0
    for name, h, d3 in (("cross_entropy", FD_STEP, SOFTMAX_D3_BOUND / B), ("mse", 1.0, 0.0)):
        loss = get_loss(name)
        t = loss.targets(y, B, C, xp.float64, xp)
        gp, gm = loss.grad(z + h * rz, t, xp), loss.grad(z - h * rz, t, xp)
        r = loss.hvp(z, t, rz[None, ...], xp)[0, ...]
        hf = loss.hess_factor(z, xp)  # (B, C, C): R{dL/dz} = H_z rz per sample
        r_dense = xp.sum(hf * rz[:, None, :], axis=2)
        scale = max(_maxabs(xp, gp), _maxabs(xp, gm))
        tol = fd_tolerance(scale, d3=d3, h=h) if d3 else _bilinear_tol(scale, 2, h)
        err = max(_maxabs(xp, r - (gp - gm) / (2 * h)), _maxabs(xp, r - r_dense))
        worst = max(worst, err / tol)
    return Outcome(worst, 1.0, "max over losses of residual/tolerance (and vs hess_factor)")


@check("HVP-fd", "Network Hessian-vector product (R-operator) vs central differences of the gradient")
def _hvp_fd(xp):
    worst = 0.0
    for build in (_tanh_mlp, _tanh_cnn):
        model, theta, x, y = build(xp)
        V = host_rng(61).standard_normal((model.num_params, 3))
        V = _to(xp, V / np.linalg.norm(V, axis=0))
        HV = model.hvp(theta, x, y, V)
        for k in range(3):
            v = V[:, k]
            gp, gm = model.grad(theta + FD_STEP * v, x, y), model.grad(theta - FD_STEP * v, x, y)
            err = _maxabs(xp, HV[:, k] - (gp - gm) / (2 * FD_STEP))
            tol = fd_tolerance(max(_maxabs(xp, gp), _maxabs(xp, gm), 1.0))
            worst = max(worst, err / tol)
    return Outcome(worst, 1.0, "3 unit directions on each network; residual/tolerance")


@check("HESS-exact", "Exact Hessian assembly on a linear model with MSE: kron(I_C, X~^T X~ / B)")
def _hess_exact(xp):
    model, theta, x, t_, H = _linear_mse(xp)
    got = model.hessian(theta, x, t_, block_size=3)
    return Outcome(_rel(xp, got, _to(xp, H)), rtol(2 * x.shape[0]), "normwise, PyTorch order")


@check("HESS-sym", "Exact Hessian: symmetric to rounding, columns = HVPs, independent of block size")
def _hess_sym(xp):
    model, theta, x, y = _tanh_mlp(xp)
    N = model.num_params
    H = model.hessian(theta, x, y)
    H7 = model.hessian(theta, x, y, block_size=7)
    E = _to(xp, np.eye(N)[:, [0, 17, N - 1]])
    res = max(_rel(xp, H, xp.matrix_transpose(H)), _rel(xp, H7, H),
              _rel(xp, model.hvp(theta, x, y, E), H @ E))
    return Outcome(res, rtol(4 * N), f"N={N}, normwise")


def _hessian_method_vs_rop(xp, model, theta, x, y, method, note=""):
    """Outcome of ``hessian(method=method)`` against the R-operator reference, normwise."""
    from ..curvature.hessian import hessian

    ref = hessian(model, theta, x, y, method="rop")
    fast = hessian(model, theta, x, y, method=method)
    return Outcome(_rel(xp, fast, ref), rtol(4 * model.num_params), f"{note}N={model.num_params}")


@check("HESS-structured", "Structured (free-layer) Hessian assembly equals the R-operator reference")
def _hess_structured(xp):
    return _hessian_method_vs_rop(xp, *_relu_mlp(xp), "structured")


def _range_vs_dense(xp, model, theta, x, y, extra=()):
    """Outcome of the range spectrum against the dense eigh: count, values, eigen-residual."""
    lam_d, _ = hessian_spectrum(model, theta, x, y, method="dense")
    lam_r, V_r = hessian_spectrum(model, theta, x, y, method="range")
    ld, lr_ = _host(lam_d), _host(lam_r)
    nz = ld[np.abs(ld) > ZERO_TOL * np.abs(ld).max()]
    H = model.hessian(theta, x, y)
    scale = float(np.abs(ld).max())
    res = _norm(xp, H @ V_r - V_r * lam_r[None, :]) / scale  # eigen-residual ||H V - V diag||
    if nz.shape == lr_.shape:
        res = max(res, float(np.max(np.abs(nz - lr_))) / scale)
    N = model.num_params
    return Outcome(res, rtol(4 * N) * math.sqrt(N), f"{lr_.size} non-zero of N={N} (dense: {nz.size})",
                   ((nz.size == lr_.size, "the same number of non-zero eigenvalues"),
                    *((f(lr_.size, N), what) for f, what in extra)))


@check("SPEC-range", "Range spectrum: the non-zero eigenpairs equal those of the dense eigh")
def _spec_range(xp):
    model, theta, x, y = _relu_mlp(xp, D=40)  # range dimension well below N / 2
    return _range_vs_dense(xp, model, theta, x, y)


@check("HESS-layerwise", "Layerwise (truncated R-operator) Hessian equals the R-operator reference")
def _hess_layerwise(xp):
    return _hessian_method_vs_rop(xp, *_tanh_cnn(xp), "layerwise", note="tanh CNN, ")


@check("SPEC-dense-first", "Dense-first reduction: the non-zero eigenpairs of a smooth MLP equal the dense eigh's")
def _spec_dense_first(xp):
    model, theta, x, y = _tanh_mlp(xp, sizes=(30, 5, 3), B=3)  # q = 3 of D = 30 inputs
    return _range_vs_dense(xp, model, theta, x, y,
                           ((lambda n, N: n < N, "fewer pairs than N (the reduction applied)"),))


@check("SPEC-deflated", "Deflated spectrum: the exactly-zero rows split off, all N pairs equal the dense eigh's")
def _spec_deflated(xp):
    model, theta, x, y = _relu_mlp(xp, D=5, Hd=6, C=3, B=7)  # B > D: no reduction, no small range
    th = _host(theta).copy()
    th[30:33] = -50.0  # the biases of three hidden units: they never fire, their rows of H are 0
    theta = _to(xp, th)
    lam_d, _ = hessian_spectrum(model, theta, x, y, method="dense")
    lam, V = hessian_spectrum(model, theta, x, y, method="auto")
    H = model.hessian(theta, x, y)
    scale = float(np.abs(_host(lam_d)).max())
    res = max(_norm(xp, H @ V - V * lam[None, :]) / scale,
              float(np.max(np.abs(_host(lam) - _host(lam_d)))) / scale)
    N = model.num_params
    zeros = int(np.count_nonzero(_host(lam) == 0.0))
    return Outcome(res, rtol(4 * N) * math.sqrt(N), f"N={N}, {zeros} eigenvalues exactly 0",
                   ((zeros >= 3 * (5 + 1), "the dead units' W rows and biases give exact zeros"),))


@check("SPEC-lanczos", "Lanczos: the k largest eigenvalues from HVPs equal the dense eigh's")
def _spec_lanczos(xp):
    from ..curvature.lanczos import LANCZOS_TOL

    model, theta, x, y = _relu_mlp(xp, D=40)  # range dimension well below N / 2
    lam_d, _ = hessian_spectrum(model, theta, x, y, method="dense")
    lam_l, _ = hessian_spectrum(model, theta, x, y, method="lanczos", k=3, which="LA")
    ld = np.sort(_host(lam_d))[-3:]
    scale = float(np.abs(_host(lam_d)).max())
    res = float(np.max(np.abs(np.sort(_host(lam_l)) - ld))) / scale
    return Outcome(res, LANCZOS_TOL + rtol(4 * model.num_params), "relative to max|lambda|; "
                   "a Ritz residual <= tol max|theta| puts a Ritz value that close to an eigenvalue")
