"""Audit check of the ensemble axis (:mod:`refchaos.ensemble`).

Each check registers itself with :func:`refchaos.audit.core.check`; see :mod:`refchaos.audit`.
"""

from __future__ import annotations

import math

import numpy as np

from ..ensemble import Ensemble
from ..optim import SGD
from .core import Outcome, _linear_mse, _rel, _sgd_run, _tanh_mlp, _to, check, rtol

STEPS = 5  # steps of the ensemble check


@check("ENS-members", "Ensemble members = separate SGD/momentum runs; tangent exponents of GD on "
                      "a quadratic = ln|1 - lr a| exactly")
def _ens_members(xp):
    # (1) three tanh-MLP members with their own lr, momentum and weight decay on one batch:
    # each equals its separate refchaos.optim.SGD run (SGD-torch) up to the rounding of the
    # products, accumulated over STEPS steps.
    model, theta, x, y = _tanh_mlp(xp)
    hyper = [(0.2, 0.0, 0.0), (0.1, 0.9, 0.05), (0.3, 0.5, 0.0)]
    Theta = xp.stack([theta, 0.5 * theta, -theta])
    ens = Ensemble(model, Theta, [h[0] for h in hyper], [h[1] for h in hyper],
                   [h[2] for h in hyper]).advance(lambda t: (x, y), STEPS)
    res = 0.0
    for m, (lr, mu, wd) in enumerate(hyper):
        th, _ = _sgd_run(SGD(lr, momentum=mu, weight_decay=wd), model, Theta[m, :], x, y, STEPS)
        res = max(res, _rel(xp, ens.Theta[m, :], th))
    # (2) GD on the quadratic of a linear MSE model, tangent vector started on the eigenvector
    # v_i of the constant Hessian: Y(t) = (1 - lr a_i)^t v_i, so lambda_1(t) = ln|1 - lr a_i|.
    lin, th0, X, Tgt, H = _linear_mse(xp)
    a, V = np.linalg.eigh(H)
    lrs = (0.5 / a[-1], 1.5 / a[-1], 2.5 / a[-1])
    pick = (len(a) - 1, len(a) // 2, len(a) - 1)
    w0 = _to(xp, np.stack([V[:, i] for i in pick])[None])
    quad = Ensemble(lin, xp.stack([th0] * 3), lrs, w0=w0).advance(lambda t: (X, Tgt), STEPS)
    got = quad.running_exponent()[-1, 0, :]
    want = np.array([math.log(abs(1 - lr * a[i])) for lr, i in zip(lrs, pick)])
    err = float(np.max(np.abs(got - want)))
    n = 6 + 5 + 3 + STEPS  # batch, widths, and one rounding of the update per step
    tol = STEPS * rtol(n)
    return Outcome(max(res, err), tol, "members vs separate runs; exponents vs ln|1 - lr a|",
                   ((not ens.divergences and not quad.divergences, "no member was masked"),))
