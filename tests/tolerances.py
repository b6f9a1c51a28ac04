"""Tolerances argued from the dtype, and the assertions that use them.

Rounding analysis (Higham, "Accuracy and Stability of Numerical Algorithms", Sec. 3.1): a sum
or dot product of n terms computed in floating point carries a normwise relative error of at
most gamma_n = n u / (1 - n u), u = eps / 2, relative to the sum of the absolute terms. A
derivative computed by a chain of layers is a composition of such products; the longest
accumulation in a chain of d matrix products with inner sizes n_1..n_d is bounded by the sum
of n_i. We compare normwise (Frobenius norm of the difference against the norm of the
reference), which is robust to cancellation in single entries, and allow ``SAFETY`` ulps per
accumulated term because both sides (refchaos and the autodiff twin) round independently and
the absolute-term sum may exceed the result's norm by a modest factor.
"""

from __future__ import annotations

import numpy as np

from refchaos.backend import to_host

SAFETY = 16  # Factor over the first-order bound: two independent roundings, and |a||b| vs |ab|.


def rtol_for(n_accumulated, dtype=np.float64):
    """Normwise relative tolerance for results accumulated over ``n_accumulated`` terms."""
    u = np.finfo(dtype).eps / 2
    n = max(int(n_accumulated), 1)
    return SAFETY * n * u / (1 - n * u)


def assert_normwise_close(actual, desired, rtol, what=""):
    """||actual - desired||_F <= rtol * ||desired||_F (plus a floor of rtol for zero refs)."""
    a = np.asarray(to_host(actual), dtype=np.float64)
    d = np.asarray(to_host(desired), dtype=np.float64)
    assert a.shape == d.shape, f"{what}: shape {a.shape} != {d.shape}"
    assert np.all(np.isfinite(a)), f"{what}: non-finite values"
    err = np.linalg.norm(a - d)
    scale = max(np.linalg.norm(d), np.finfo(np.float64).tiny)
    assert err <= rtol * scale, f"{what}: normwise error {err / scale:.3e} > rtol {rtol:.3e}"
    return err / scale


def softmax_condition(model, theta, x):
    """kappa = max_b 1 / (1 - max_c p_bc) for cross-entropy, 1 for mse.

    Cross-entropy's value and every derivative pass through p = softmax(z): the loss of a
    sample is -ln p_y, its gradient in z is p - onehot(y), its Hessian diag(p) - p p^T. When a
    prediction is confident, p_y = 1 - delta is formed with absolute error ~u, so the small
    quantities delta (the loss -ln p_y ~ delta), p_y - 1 (the gradient) and p_c (1 - p_c) (the
    Hessian) carry a relative error ~u / delta: a condition number 1 / (1 - p_y) <= kappa of
    the problem itself, not of one implementation. Two implementations agree to the same
    factor only by luck (equal rounding in exp); one ulp of difference in exp gives u / delta.
    Measured (tests/nn/test_softmax_conditioning.py): refchaos's gradient against a 50-digit
    mpmath reference is off by up to ~u / delta, within ``rtol_for(n) * kappa``.
    """
    if model.loss_fn.name != "cross_entropy":
        return 1.0
    z = model.forward(theta, x)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return float(np.max(1.0 / np.maximum(1.0 - p.max(axis=1), np.finfo(np.float64).eps)))


def cancellation_condition(total, *parts):
    """(||part_1|| + ... + ||part_k||) / ||total|| >= 1 for total = part_1 + ... + part_k.

    A matrix computed as a sum of parts (a Hessian block as its Gauss-Newton part plus its
    residual part sum_b f''(z_b) dL/da_b ...) carries rounding errors relative to the parts,
    not to their sum (Higham, Sec. 3.1: relative to the sum of the absolute terms); where the
    parts cancel, a normwise comparison against the sum needs this factor. Measured: a 1 x 1
    block of 3.0e-5 formed from parts of norm 0.0315 and 0.0315 (condition 2,100) differed by
    2.9e-13 relative between two exact methods, 1.4e-16 relative to the parts.
    """
    t = np.linalg.norm(np.asarray(to_host(total), dtype=np.float64))
    s = sum(np.linalg.norm(np.asarray(to_host(p), dtype=np.float64)) for p in parts)
    return float(max(s / max(t, np.finfo(np.float64).tiny), 1.0))
