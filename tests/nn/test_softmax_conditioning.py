"""The conditioning of cross-entropy near a confident prediction, against a 50-digit reference.

A one-layer network z = W x + b with two classes and x = 1 puts any logit gap d = z_0 - z_1
on the output, so 1 - p_0 = delta = 1 / (1 + e^d) is chosen directly. The exact loss and
gradient come from mpmath at 50 digits. The test shows the two facts the autodiff tolerance
rests on (tests/tolerances.softmax_condition): the float64 error of the loss and gradient
grows like u / delta, beyond the accumulation bound ``rtol_for(n)`` alone, and it stays within
``rtol_for(n) * kappa``, kappa = 1 / (1 - p_max).
"""

from __future__ import annotations

import mpmath
import numpy as np

import refchaos as rc
from tests.tolerances import rtol_for, softmax_condition

mpmath.mp.dps = 50  # 50 digits: the reference's own rounding is ~1e-50, far below float64's u
GAPS = np.linspace(2.0, 30.0, 57)  # logit gaps d: 1 - p_max from 0.12 down to 1e-13
ACCUMULATED = 10  # the accumulation length the MLP autodiff test uses for sizes [1, 2], B = 1


def exact_loss_and_grad(theta):
    """-ln p_0 and its gradient (p - e_0) (x, 1) for theta = (W_00, W_10, b_0, b_1), x = 1."""
    w0, w1, b0, b1 = (mpmath.mpf(float(t)) for t in theta)
    z0, z1 = w0 + b0, w1 + b1
    lse = z0 + mpmath.log1p(mpmath.exp(z1 - z0))
    p0, p1 = mpmath.exp(z0 - lse), mpmath.exp(z1 - lse)
    g = [p0 - 1, p1, p0 - 1, p1]  # PyTorch order: W (2, 1) row-major, then b
    return float(lse - z0), np.array([float(v) for v in g])


def test_confident_predictions_carry_the_softmax_condition():
    model = rc.mlp([1, 2], activation="relu", loss="cross_entropy")
    x, y = np.ones((1, 1)), np.array([0])
    rtol = rtol_for(ACCUMULATED)
    rng = np.random.default_rng(0)
    worst_plain, worst_scaled = 0.0, 0.0
    for d in GAPS:
        w0, w1 = rng.normal(size=2)
        theta = np.array([w0, w1, d - w0 + 0.3, 0.3 - w1])  # z_0 - z_1 = d, up to rounding
        loss_ref, grad_ref = exact_loss_and_grad(theta)
        kappa = softmax_condition(model, theta, x)
        for value, ref in ((model.loss(theta, x, y), loss_ref), (model.grad(theta, x, y), grad_ref)):
            err = np.linalg.norm(np.asarray(value) - ref) / np.linalg.norm(ref)
            worst_plain = max(worst_plain, err / rtol)
            worst_scaled = max(worst_scaled, err / (rtol * kappa))
    assert worst_plain > 1.0, "the loss/gradient error never exceeded the unconditioned bound"
    assert worst_scaled <= 1.0, f"error {worst_scaled:.3g} x rtol * kappa"
