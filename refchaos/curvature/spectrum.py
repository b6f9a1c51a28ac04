"""Eigendecomposition of the minibatch Hessian: the spectral engine.

    lam, V = spectrum(model, theta, x, y, method="auto", k=None, which="LA")

returns eigenvalues in ascending order (n,) and orthonormal eigenvectors as columns (N, n) of
the exact Hessian H of the mean loss over (x, y).

Methods
-------
dense    the reference: the exact Hessian (:func:`refchaos.curvature.hessian`, the cheapest
         exact assembly: structured or layerwise) and a dense symmetric eigh (SciPy's fastest LAPACK driver
         on NumPy, ``xp.linalg.eigh`` elsewhere). All N eigenpairs.
range    only the non-zero eigenpairs, exactly, from the range of H
         (:mod:`refchaos.curvature.range`): through a Dense first layer's input range for any
         activation (:mod:`refchaos.curvature.dense_first`), or the free-layer split; falls
         back to ``dense`` where the range is not much smaller than N. **n < N**: the N - n missing eigenvalues are zero (local exponent 0,
         never pruned); count them as ``model.num_params - lam.shape[0]``.
lanczos  the k eigenpairs selected by ``which`` ("LA" largest, "SA" smallest, "LM" largest
         |lambda|) from HVPs only (:mod:`refchaos.curvature.lanczos`), for networks too large
         for a dense Hessian.
auto     the fastest exact method: ``range`` where it applies, else ``deflated``: all N
         eigenpairs as ``dense`` gives them, with the parameters whose row and column of H are
         exactly zero (dead units: for H22's CNN on a USPS batch of 8, ~430 of 1,158) split off
         first: each such e_i is an eigenvector with eigenvalue exactly 0, and the eigh runs on
         the principal submatrix of the others (:func:`deflated_spectrum`).

``k`` with ``dense``/``range``/``auto`` keeps the k pairs selected by ``which`` of those computed
(in ascending order); with ``lanczos`` it is required.
"""

from __future__ import annotations

import numpy as np

from ..backend import asarray, namespace_of, to_host
from .dense_eigh import eigh
from .hessian import hessian
from .lanczos import WHICH, _order, lanczos_spectrum
from .range import range_applies, range_spectrum

METHODS = ("auto", "dense", "range", "lanczos")


def dense_spectrum(model, theta, x, y):
    """All N eigenpairs from the exact Hessian and a dense eigh."""
    xp = namespace_of(theta)
    H = hessian(model, theta, x, y)
    # eigh reads one triangle; symmetrising first makes the result independent of which.
    return eigh(0.5 * (H + xp.matrix_transpose(H)))


def deflated_spectrum(model, theta, x, y):
    """All N eigenpairs, the exactly-zero rows and columns of H split off before the eigh.

    If H[i, :] = H[:, i] = 0 exactly, H e_i = 0: e_i is an eigenvector with eigenvalue 0, and the
    other eigenpairs are those of the principal submatrix H[J, J] on the remaining indices J,
    with zeros outside J. No tolerance is involved.
    """
    xp = namespace_of(theta)
    H = hessian(model, theta, x, y)
    S = 0.5 * (H + xp.matrix_transpose(H))
    N = S.shape[0]
    dead = xp.all(S == 0, axis=1)  # (N,) bool: the row (and, S being symmetric, the column) is zero
    live = xp.nonzero(~dead)[0]
    n = live.shape[0]
    if n == N:
        return eigh(S)
    mu, U = eigh(xp.take(xp.take(S, live, axis=0), live, axis=1))  # (n,), (n, n)
    lam = xp.concat([mu, xp.zeros((N - n,), dtype=S.dtype)])
    # blockdiag(U, I) in the order (J, dead), then rows back to theta order
    W = xp.concat([xp.concat([U, xp.zeros((n, N - n), dtype=S.dtype)], axis=1),
                   xp.concat([xp.zeros((N - n, n), dtype=S.dtype), xp.eye(N - n, dtype=S.dtype)], axis=1)],
                  axis=0)
    perm = xp.concat([live, xp.nonzero(dead)[0]])
    V = xp.take(W, xp.argsort(perm), axis=0)
    order = xp.argsort(lam, stable=True)
    return xp.take(lam, order, axis=0), xp.take(V, order, axis=1)


def spectrum(model, theta, x, y, method="auto", k=None, which="LA"):
    """Eigenvalues (ascending) and eigenvectors (columns) of the minibatch Hessian (see module)."""
    if method not in METHODS:
        raise ValueError(f"unknown spectrum method {method!r}; choose one of {', '.join(METHODS)}")
    if which not in WHICH:
        raise ValueError(f"unknown which {which!r}; choose one of {', '.join(WHICH)}")
    if method == "lanczos":
        if k is None:
            raise ValueError("method='lanczos' needs k, the number of eigenpairs")
        return lanczos_spectrum(model, theta, x, y, k, which=which)
    if k is not None and not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ValueError(f"k must be None or an integer >= 1, got {k!r}")
    result = None
    if method in ("auto", "range") and range_applies(model, x.shape[0]):
        result = range_spectrum(model, theta, x, y)
    if result is None:
        result = deflated_spectrum(model, theta, x, y) if method == "auto" else dense_spectrum(model, theta, x, y)
    lam, V = result
    if k is None or k >= lam.shape[0]:
        return lam, V
    xp = namespace_of(lam)
    sel = np.sort(_order(to_host(lam), int(k), which))
    idx = asarray(sel, xp)
    return xp.take(lam, idx, axis=0), xp.take(V, idx, axis=1)
