"""Audit checks of the Lyapunov machinery on maps with known exponents, the optimizer
conventions and released-code choices, the losses and the data preprocessing.

Each check registers itself with :func:`refchaos.audit.core.check`; see :mod:`refchaos.audit`.
"""


from __future__ import annotations

import math

import numpy as np

from .. import lyapunov as ly
from ..backend import asarray, host_rng, to_float, to_host
from ..data.batches import BatchOrder
from ..data.preprocess import apply_scaling, resize_bilinear, standardization_stats
from ..nn import get_loss
from ..optim import CGD, SGD, classify
from .core import (SAFETY, U, Outcome, _host, _linear_mse, _random_symmetric, _rel, _sgd_run,
                   _tanh_mlp, _to, check, rtol)

# ===== Lyapunov machinery on maps with known exponents ======================================
def _gd_quadratic(xp, lr=0.1, seed=0):
    a = np.array([-3.0, -0.5, 0.2, 5.0, 17.0, 25.0])  # |1 - lr a| = 1.3, 1.05, .98, .5, .7, 1.5
    A, V = _random_symmetric(xp, a, seed)
    mult = np.abs(1 - lr * a)
    order = np.argsort(-mult)
    J = xp.eye(6, dtype=xp.float64) - lr * A
    return (lambda th: th - lr * (A @ th)), (lambda th: J), np.log(mult[order]), V[:, order]


@check("QR-H2", "Benettin/Geist H2 QR: GD on a quadratic gives ln|1 - lr a_i| exactly (eigenbasis start)")
def _qr_h2(xp):
    f, jac, exact, V = _gd_quadratic(xp)
    lam = ly.spectrum(f, jac, _to(xp, np.zeros(6)), 200, Q0=_to(xp, V))
    return Outcome(float(np.max(np.abs(_host(lam) - exact))), rtol(6 * 6),
                   "per-step R_jj = 1 - lr a_j; error of an average of per-step roundings")


@check("QR-volume", "QR spectrum of SGD on a network quadratic from Y = I: sum = ln|det(I - lr H)|")
def _qr_volume(xp):
    model, theta, x, t_, H = _linear_mse(xp)
    a = np.linalg.eigvalsh(H)
    lr, T, N = 1.5 / a.max(), 50, model.num_params
    run = ly.lyapunov_spectrum(SGD(lr=lr), model, theta, lambda t: (x, t_), T)
    total = float(np.sum(_host(run.exponents)))
    exact = float(np.sum(np.log(np.abs(1 - lr * a))))
    cond = float(np.max(np.abs(1 - lr * a)) / np.min(np.abs(1 - lr * a)))
    return Outcome(abs(total - exact), N * rtol(N + 8) * cond, f"N={N}, T={T}: {total:.12f}")


@check("MAP-logistic", "Logistic map r = 4: lambda_T = ln 2 + (ln s(x_T) - ln s(x_0))/T exactly")
def _map_logistic(xp):
    # |f'(x)| = 2 s(f(x)) / s(x) with s(x) = 2 sqrt(x (1 - x)): the 1/T term is exact; rounding
    # per step moves ln s by <= 2u / min(x, 1 - x) and f' by <= u / |1 - 2x| + u.
    T = 2000
    orbit = []

    def f(x):
        orbit.append(to_float(x[0]))
        return 4.0 * x * (1 - x)

    jac = lambda x: xp.reshape(4.0 * (1 - 2 * x), (1, 1))  # noqa: E731
    lam = to_float(ly.spectrum(f, jac, _to(xp, [0.1234]), T)[0])
    xs = np.array(orbit + [4.0 * orbit[-1] * (1 - orbit[-1])])
    s = lambda v: math.log(2 * math.sqrt(v * (1 - v)))  # noqa: E731
    predicted = math.log(2) + (s(xs[T]) - s(xs[0])) / T
    per_step = 4 + 2 / np.minimum(xs[1:], 1 - xs[1:]) + 1 / np.abs(1 - 2 * xs[:-1])
    return Outcome(abs(lam - predicted), SAFETY * U * float(per_step.sum()) / T,
                   f"lambda_T = {lam:.9f}, ln 2 = {math.log(2):.9f} (1/T term {predicted - math.log(2):+.2e})")


@check("MAP-linear", "Linear map diag(1.1, 0.8): QR spectrum = (ln 1.1, ln 0.8) exactly")
def _map_linear(xp):
    A = _to(xp, np.diag([1.1, 0.8]))
    lam = ly.spectrum(lambda v: A @ v, lambda v: A, _to(xp, [0.3, -0.7]), 100)
    return Outcome(float(np.max(np.abs(_host(lam) - np.log([1.1, 0.8])))), rtol(4), "")


# ===== optimizer conventions and released-code choices ======================================
@check("SGD-torch", "PyTorch SGD: d = g + wd theta; v = d (first step), v = mu v + d; theta -= lr v")
def _sgd_torch(xp):
    model, theta, x, y = _tanh_mlp(xp)
    lr, mu, wd = 0.2, 0.9, 0.05
    got, state = _sgd_run(SGD(lr=lr, momentum=mu, weight_decay=wd), model, theta, x, y, 4)
    th, v = theta, None
    for _ in range(4):
        d = model.grad(th, x, y) + wd * th
        v = d if v is None else mu * v + d
        th = th - lr * v
    return Outcome(max(_rel(xp, got, th), _rel(xp, state.v, v)), rtol(4), "theta and buffer")


def _cgd_case(xp, lam, seed):
    H, _ = _random_symmetric(xp, np.asarray(lam, dtype=np.float64), seed)
    ev, V = xp.linalg.eigh(H)
    return ev, V


@check("REL-prune-zero", "Released code neg/pos modes also prune zero directions: prune_zero=True")
def _rel_prune_zero(xp):
    lr = 0.5
    lam = [-1.0, -0.3, 0.0, 0.0, 0.0, 0.4, 1.0, 3.0]
    ev, V = _cgd_case(xp, lam, seed=8)
    g = _to(xp, host_rng(3).standard_normal(8))
    masks = classify(ev, lr)
    pos = np.flatnonzero(np.asarray(to_host(masks["positive"])))
    neg = np.flatnonzero(np.asarray(to_host(masks["negative"])))
    Vp, Vn = xp.take(V, asarray(pos, xp), axis=1), xp.take(V, asarray(neg, xp), axis=1)
    released = CGD(lr=lr, prune="negative", prune_zero=True).select_pruned(ev, V, 0).project(g)
    ours = CGD(lr=lr, prune="negative").select_pruned(ev, V, 0).project(g)
    res = max(_rel(xp, released, Vp @ (xp.matrix_transpose(Vp) @ g)),
              _rel(xp, ours, g - Vn @ (xp.matrix_transpose(Vn) @ g)))
    return Outcome(res, rtol(64), "released: V_+ V_+^T g; default: g - V_- V_-^T g (zeros kept)")


@check("REL-replacement", "Released code random-k draws with replacement: replacement=True")
def _rel_replacement(xp):
    lr, k, seed = 0.25, 6, 4
    lam = host_rng(71).uniform(-3.0, 12.0, 16)
    ev, V = _cgd_case(xp, lam, seed=9)
    opt = CGD(lr=lr, prune="chaotic", k=k, select="random", replacement=True, seed=seed)
    cand = np.flatnonzero(np.asarray(to_host(classify(ev, lr)["chaotic"])))
    bad, fewer = 0, 0
    for step in range(8):
        pr = opt.select_pruned(ev, V, step)
        draws = np.random.default_rng([seed, step]).integers(0, cand.size, size=min(k, cand.size))
        want = np.unique(cand[draws])
        got = np.sort(np.asarray(to_host(xp.linalg.eigvalsh(xp.matrix_transpose(pr.basis) @ pr.basis))))
        bad += int(pr.n_pruned != want.size) + int(np.max(np.abs(got - 1)) > rtol(16))
        fewer += int(pr.n_pruned < min(k, cand.size))
    return Outcome(float(bad), 0.0, f"{fewer} of 8 steps pruned fewer than k = {k}",
                   ((fewer > 0, "with replacement some step must prune fewer than k"),))


@check("REL-proj-momentum", "Released code projects before momentum: the buffer holds P g")
def _rel_proj_momentum(xp):
    model, theta, x, y = _tanh_mlp(xp)
    lr, mu = 2.0, 0.5
    opt = CGD(lr=lr, prune="chaotic", momentum=mu)
    got, state = _sgd_run(opt, model, theta, x, y, 2)
    th, v = theta, None
    for step in range(2):
        pg = opt.pruning(model, th, x, y, step).project(model.grad(th, x, y))
        v = pg if v is None else mu * v + pg
        th = th - lr * v
    return Outcome(max(_rel(xp, got, th), _rel(xp, state.v, v)), rtol(4 * model.num_params), "")


@check("REL-top-exponent", "Released code's chaotic top-k orders by |1 - lr lam|: select='top_exponent'")
def _rel_top_exponent(xp):
    lr = 0.25  # 2/lr = 8: lam = -3 has |1 - lr lam| = 1.75, lam = 10 has 1.5
    lam = [-3.0, -0.5, 1.0, 4.0, 8.5, 10.0]
    ev, V = _cgd_case(xp, lam, seed=10)
    top_exp = CGD(lr=lr, k=1, select="top_exponent").select_pruned(ev, V, 0)
    top_mag = CGD(lr=lr, k=1, select="top").select_pruned(ev, V, 0)
    res = abs(to_float(top_exp.lam[0]) + 3.0) + abs(to_float(top_mag.lam[0]) - 10.0)
    return Outcome(res, rtol(36) * 10, "top_exponent picks -3 (1.75), top picks 10 (|lam|)")


# ===== losses and data ========================================================================
@check("LOSS-ce", "Cross-entropy = -(1/B) sum ln softmax(z)[y] (PyTorch mean) on hand values")
def _loss_ce(xp):
    z = _to(xp, np.log([[1.0, 2.0, 5.0], [1.0, 1.0, 2.0]]))  # softmax rows 1/8,2/8,5/8; 1/4,1/4,1/2
    y = asarray(np.array([2, 0], dtype=np.int64), xp)
    ce = get_loss("cross_entropy")
    t = ce.targets(y, 2, 3, xp.float64, xp)
    val = to_float(ce.value(z, t, xp))
    g = _host(ce.grad(z, t, xp))
    g_hand = (np.array([[1 / 8, 2 / 8, 5 / 8], [1 / 4, 1 / 4, 1 / 2]]) - np.eye(3)[[2, 0]]) / 2
    res = max(abs(val - (math.log(8 / 5) + math.log(4)) / 2), float(np.max(np.abs(g - g_hand))))
    return Outcome(res, rtol(8), f"L = {val:.15f}")


@check("LOSS-mse", "MSE = 1/(2B) sum ||z - t||^2 = 0.5 C * torch MSELoss (mean over B C) on hand values")
def _loss_mse(xp):
    zh = np.array([[1.0, 2.0], [0.5, -1.0], [0.0, 3.0]])
    th = np.array([[0.0, 2.0], [1.5, 1.0], [0.0, 0.0]])  # squared errors 1, 0, 1, 4, 0, 9
    mse = get_loss("mse")
    z, t = _to(xp, zh), _to(xp, th)
    val = to_float(mse.value(z, t, xp))
    torch_mean = 15.0 / 6.0
    res = max(abs(val - 15.0 / 6.0), abs(val - 0.5 * 2 * torch_mean),
              float(np.max(np.abs(_host(mse.grad(z, t, xp)) - (zh - th) / 3))))
    return Outcome(res, rtol(8), f"L = {val}")


@check("DATA-resize", "Bilinear resize (align_corners=False, no antialias) on hand-computed images",
       host_only="data preprocessing runs on host NumPy by design (before load() moves arrays)")
def _data_resize(xp):
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    down = resize_bilinear(x, 2)[0, 0]  # src = 2i + 1/2: the mean of each 2x2 block
    up = resize_bilinear(np.array([[[[0.0, 1.0], [2.0, 3.0]]]]), 4)[0, 0]
    r = np.array([0.0, 0.25, 0.75, 1.0])  # src = (i + 1/2)/2 - 1/2, clamped to [0, 1]
    res = max(float(np.max(np.abs(down - np.array([[2.5, 4.5], [10.5, 12.5]])))),
              float(np.max(np.abs(up - (2 * r[:, None] + r[None, :])))))
    return Outcome(res, 4 * U * 16, "4x4 -> 2x2 block means; 2x2 -> 4x4 by hand")


@check("DATA-std", "Standardisation: one scalar mean and unbiased std (ddof=1) of the training set",
       host_only="data preprocessing runs on host NumPy by design (before load() moves arrays)")
def _data_std(xp):
    x = np.arange(1.0, 7.0).reshape(1, 1, 2, 3)  # mean 3.5, unbiased var 17.5 / 5 = 3.5
    mean, std = standardization_stats(x)
    z = apply_scaling(x, "standardize", (mean, std))
    res = max(abs(mean - 3.5), abs(std - math.sqrt(3.5)), abs(float(z.mean())),
              abs(float(z.std(ddof=1)) - 1.0))
    return Outcome(res, rtol(8), f"mean {mean}, std {std:.15f}")


@check("DATA-batches", "Batches of 8 with the last partial batch kept: 912 USPS steps per epoch",
       host_only="batch indices are drawn on the host generator by design")
def _data_batches(xp):
    order = BatchOrder(7291, 8, seed=0)
    idx = np.concatenate([order.indices(s) for s in range(order.steps_per_epoch)])
    last = order.indices(order.steps_per_epoch - 1).size
    bad = int(order.steps_per_epoch != 912) + int(last != 3) + int(
        not np.array_equal(np.sort(idx), np.arange(7291)))
    return Outcome(float(bad), 0.0, f"{order.steps_per_epoch} steps, last batch {last}")
