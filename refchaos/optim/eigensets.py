"""The eigenspaces of the minibatch Hessian that SGD's stability and CGD's pruning refer to.

With eigenvalues lambda_i of the minibatch Hessian H and learning rate eta, one SGD step
multiplies the component along v_i by (1 - eta lambda_i) (tangent map I - eta H, Eq. (8) of
Herrmann et al. 2022 with beta = 0). Theorem 2.1: v_i is locally chaotic iff

    lambda_i < 0  or  lambda_i > 2 / eta                                         Eq. (10)

This module holds that classification, shared by :mod:`refchaos.optim.cgd` (what CGD prunes)
and :mod:`refchaos.lyapunov.local` (local exponents, counts, gradient overlaps). It lives in
``optim`` so that ``optim`` never imports ``lyapunov`` (``lyapunov`` builds on ``optim``).

Zero eigenvalues
----------------
The minibatch Hessian of a network has a large null space. In floating point its exactly-zero
eigenvalues come out as rounding noise: a backward-stable eigh of a Hessian assembled from
HVPs perturbs every eigenvalue by about c * n * u * max|lambda| (u = 2^-53, n the longest
accumulation, c a modest constant). Measured on small MLPs (N = 172 ... 1,510, ReLU and tanh)
the noise is below 1.1e-15 * max|lambda| and the smallest genuine eigenvalue 9e-9 * max|lambda|.
``ZERO_TOL = 1e-10`` (relative to max|lambda|) sits 10^5 above the noise; an eigenvalue below it
has a local exponent |ln|1 - eta lambda|| <= eta * 1e-10 * max|lambda|, which with
eta max|lambda| of order 1 grows a perturbation by e^(1e-5) over 10^5 steps: indistinguishable
from 1. Such directions are *zero*: local exponent 0, neither negative, positive nor chaotic,
and never pruned by default. ``zero_tol=0`` gives the raw sign tests.

The released code's convention
------------------------------
``convention="released"`` (off by default) counts and classifies as the authors' released code
does (``luisherrmann/chaotic_neurips22``: ``calc_update`` in ``experiments/optim/cgd.py`` and
``log_eigval_metrics`` in ``experiments/models/skeletons.py``): by the raw sign, negative
lambda < 0, positive lambda > 0, zero lambda == 0 exactly; chaotic (1 - eta lambda)^2 > 1
evaluated in the eigenvalues' dtype (their CGD keeps (1 - eta lambda)^2 <= 1). Rounding-noise
null directions then count as negative or positive, and a negative noise eigenvalue counts as
chaotic once eta |lambda| exceeds about the dtype's unit roundoff (2^-53 in float64), so the
chaotic count grows with eta. ``zero_tol`` is not used by that convention.

Symbols: eta -> ``lr``; lambda_i -> ``lam`` (n,).
"""

from __future__ import annotations

import math

from ..backend import namespace_of, to_host

ZERO_TOL = 1e-10  # |lambda| <= ZERO_TOL * max|lambda| is a zero eigenvalue (module docstring).

EIGENSPACES = ("negative", "positive", "zero", "chaotic")
CONVENTIONS = ("refchaos", "released")  # Theorem 2.1 with a zero tolerance; the released code's rule.


def check_lr(lr):
    """The learning rate as a float, or ValueError unless it is finite and > 0."""
    try:
        lr_f = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}") from None
    if not (math.isfinite(lr_f) and lr_f > 0.0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    return lr_f


def check_zero_tol(zero_tol):
    """The zero tolerance as a float, or ValueError unless it is finite and >= 0."""
    try:
        tol = float(zero_tol)
    except (TypeError, ValueError):
        raise ValueError(f"zero_tol must be a finite number >= 0, got {zero_tol!r}") from None
    if not (math.isfinite(tol) and tol >= 0.0):
        raise ValueError(f"zero_tol must be a finite number >= 0, got {zero_tol!r}")
    return tol


def zero_mask(lam, zero_tol=ZERO_TOL):
    """Boolean (n,): |lam| <= zero_tol * max|lam| (all True if every lam is 0)."""
    xp = namespace_of(lam)
    tol = check_zero_tol(zero_tol)
    if lam.shape[0] == 0:
        return xp.zeros((0,), dtype=xp.bool)
    scale = xp.max(xp.abs(lam))
    return xp.abs(lam) <= tol * scale


def check_convention(convention):
    """The convention name, or ValueError unless it is one of :data:`CONVENTIONS`."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    return convention


def classify(lam, lr, zero_tol=ZERO_TOL, *, convention="refchaos"):
    """Masks (n,) of the eigenspaces ``negative``, ``positive``, ``zero``, ``chaotic``.

    Zero eigenvalues (:func:`zero_mask`) belong to ``zero`` only. Theorem 2.1, Eq. (10):
    chaotic iff lam < 0 or lam > 2 / lr, among the non-zero ones; the boundaries lam = 0 and
    lam = 2 / lr have local exponent 0 and are not chaotic.

    ``convention="released"``: the released code's raw-sign rule (module docstring).
    """
    lr = check_lr(lr)
    if check_convention(convention) == "released":
        return _classify_released(lam, lr)
    zero = zero_mask(lam, zero_tol)
    nonzero = ~zero
    negative = nonzero & (lam < 0)
    positive = nonzero & (lam > 0)
    chaotic = negative | (nonzero & (lam > 2.0 / lr))  # Eq. (10)
    return {"negative": negative, "positive": positive, "zero": zero, "chaotic": chaotic}


def _classify_released(lam, lr):
    """Raw-sign masks; chaotic by the squared one-step factor of Eq. (9), in lam's dtype."""
    factor_sq = (1 - lr * lam) ** 2  # exp(2 x local exponent), Eq. (9)
    return {"negative": lam < 0, "positive": lam > 0, "zero": lam == 0,
            "chaotic": factor_sq > 1}


def eigenvalue_counts(lam, lr, zero_tol=ZERO_TOL, dim=None, *, convention="refchaos"):
    """Counts (Python ints) of negative, positive, zero and chaotic eigenvalues.

    ``dim`` is the full dimension N when ``lam`` holds only some eigenvalues (the non-zero
    ones): the missing ``dim - n`` count as zero. By default dim = n. ``convention`` as in
    :func:`classify`.
    """
    masks = classify(lam, lr, zero_tol, convention=convention)
    n = lam.shape[0]
    dim = n if dim is None else int(dim)
    if dim < n:
        raise ValueError(f"dim ({dim}) is smaller than the number of eigenvalues ({n})")
    counts = {name: count(masks[name]) for name in EIGENSPACES}
    counts["zero"] += dim - n
    return counts


def count(mask):
    """Number of True entries of a boolean array, as a Python int."""
    xp = namespace_of(mask)
    return int(to_host(xp.sum(xp.astype(mask, xp.int64))))
