"""Audit checks of Jimenez-Gonzalez et al. 2025 and of the edge of stability.

Each check registers itself with :func:`refchaos.audit.core.check`; see :mod:`refchaos.audit`.
"""


from __future__ import annotations

import math

import numpy as np

from .. import lyapunov as ly
from ..backend import asarray, host_rng, to_host
from ..curvature import spectrum as hessian_spectrum
from ..data.batches import BatchOrder
from ..nn.builders import mlp
from ..optim import SGD, classify
from .core import Outcome, SAFETY, U, _host, _linear_mse, _to, check, rtol

# ===== J25 and the edge of stability =========================================================
@check("J25-time", "J25 training time: first epoch (0 = init) whose test accuracy reaches the target")
def _j25_time(xp):
    # A separable two-class problem under full-batch GD (one step per epoch, J25); the
    # accuracies are recomputed by an independent loop (forward, argmax) and the first epoch at
    # or above the target read off it.
    from ..experiments.config import RunConfig
    from ..experiments.setup import Setup
    from ..experiments.sweep import train_with_time

    rng = host_rng(83)
    n, epochs, target, lr = 40, 12, 0.95, 0.5
    y_h = rng.integers(0, 2, n).astype(np.int64)
    x_h = rng.standard_normal((n, 2)) * 0.3 + np.where(y_h[:, None] == 1, 1.0, -1.0)
    model = mlp([2, 2])
    theta0 = _to(xp, [0.5, 0.5, -0.5, -0.5, 0.0, 0.0])  # W = [[.5, .5], [-.5, -.5]]: wrong way round
    x, y = _to(xp, x_h), asarray(y_h, xp)
    setup = Setup(config=RunConfig(epochs=epochs, batch_size=0, lr=lr), xp=xp, x_train=x,
                  y_train=y, x_test=x, y_test=y, model=model, theta0=theta0, opt=SGD(lr=lr),
                  order=BatchOrder(n, 0))
    out = train_with_time(setup, target)
    th, state, acc = theta0, SGD(lr=lr).init(theta0), []
    for epoch in range(epochs + 1):
        if epoch:
            th, state, _ = SGD(lr=lr).step(model, th, state, *setup.batch(epoch - 1))
        pred = np.argmax(_host(model.forward(th, x)), axis=1)
        acc.append(float(np.mean(pred == y_h)))
    first = next((e for e, a in enumerate(acc) if a >= target), math.nan)
    res = abs(out["training_time"] - first) + float(np.max(np.abs(np.array(out["test_accuracy"]) - acc)))
    return Outcome(res, 0.0, f"training time {out['training_time']:g} epochs; accuracy at init {acc[0]:.2f}",
                   ((0 < first < epochs, "the target must be reached after, not at, initialisation"),))


@check("J25-copies", "J25 perturbed copies: slope of <ln d(t)/d(0)> = ln a for theta -> a S theta")
def _j25_copies(xp):
    # S a signed permutation: the L1 distance grows by exactly a per step. Rounding: each step
    # rounds every coordinate of the reference and of a copy once (<= u |theta_i|), a relative
    # error <= 2u ||theta||_1 / ||delta||_1 in d per step, accumulating to E(t) = t times that
    # (both grow by a); a least-squares slope then errs by <= sum|t - tbar| E(t) / sum (t - tbar)^2.
    n, a, steps, eps = 6, 1.1, 60, 1e-8
    rng = host_rng(23)
    perm = asarray(rng.permutation(n).astype(np.int64), xp)
    signs = _to(xp, a * rng.choice([-1.0, 1.0], n))
    theta0 = _to(xp, rng.uniform(-1, 1, n))
    mask = np.arange(n) < 4  # J25 perturbs a subset (the weights); here the first 4
    res = ly.copies_exponent(lambda th, t: signs * xp.take(th, perm, axis=0), theta0, steps,
                             num_copies=4, eps=eps, mask=mask, norm="l1", seed=3)
    t0, t1 = res.window
    tt = np.arange(t0, t1 + 1, dtype=np.float64)
    ratio = float(np.sum(np.abs(_host(theta0)))) / float(res.distances[:, 0].min())
    E = SAFETY * 2 * U * ratio * tt
    tol = float(np.sum(np.abs(tt - tt.mean()) * E) / np.sum((tt - tt.mean()) ** 2))
    err = max(abs(res.slope - math.log(a)), float(np.max(np.abs(res.copy_slopes - math.log(a)))))
    return Outcome(err, tol, f"window {res.window}, slope {res.slope:.12f} vs ln a = {math.log(a):.12f}")


@check("EOS-2/lr", "Sharpness = top Hessian eigenvalue (exact on a quadratic); unstable iff > 2/lr")
def _eos(xp):
    model, theta, x, t_, H = _linear_mse(xp)
    lam, _ = hessian_spectrum(model, theta, x, t_)
    sharp, exact = float(np.max(_host(lam))), float(np.linalg.eigvalsh(H).max())
    C = 2  # multiplicity of each eigenvalue of H (one block per output)
    below = int(np.sum(np.asarray(to_host(classify(lam, 1.99 / sharp)["chaotic"]))))
    above = int(np.sum(np.asarray(to_host(classify(lam, 2.01 / sharp)["chaotic"]))))
    # The dynamics agree: GD at lr = 2.2/sharpness grows along the top direction (exponent
    # ln 1.2 = 0.18, minus at most ln|c_1| / T ~ 0.03 for a random start over T = 50).
    grow = ly.max_exponent(SGD(lr=2.2 / sharp), model, theta, lambda t: (x, t_), 50).exponent
    from ..experiments.measures.sharpness import top_eigenvalue  # the run's sharpness (Lanczos)

    lanczos = top_eigenvalue(model, theta, x, t_, seed=0)
    res = max(abs(sharp / exact - 1), abs(lanczos / exact - 1))
    return Outcome(res, rtol(16 * model.num_params),
                   f"sharpness {sharp:.6f} (spectrum), {lanczos:.6f} (run's Lanczos); chaotic "
                   f"directions at lr = 1.99/s: {below}, 2.01/s: {above}",
                   ((below == 0 and above == C, "exactly the top eigenspace crosses 2/lr"),
                    (grow > 0, "GD beyond 2/sharpness must diverge")))
