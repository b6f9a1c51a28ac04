"""The finite-time Lyapunov matrix Lambda(t) = 1/(2t) ln(Y^T Y), Eq. (3) of Herrmann et al. 2022.

Forming Y^T Y squares the condition number of Y, so its small eigenvalues are lost to rounding
long before those of Y are. Instead Y = U diag(sigma) W^T (SVD) gives Y^T Y = W diag(sigma^2) W^T
and

    Lambda(t) = W diag(ln(sigma_i) / t) W^T                                       Eq. (3)

so the finite-time exponents are ln(sigma_i) / t (descending) and the Lyapunov eigenvectors are
the right singular vectors W. (The released code takes eigh(Y^T Y) in float32 and raises it to
1/t, without this care.)

When it cannot be represented
-----------------------------
- Non-finite Y (the product of tangent maps over- or underflowed to inf/NaN): refused; use
  the QR spectrum (:func:`refchaos.lyapunov.tangent.lyapunov_spectrum`).
- A backward-stable SVD in float64 returns singular values with absolute errors of order
  n * eps * sigma_max (Golub & Van Loan, Sec. 8.6). Singular values below
  ``RESOLUTION_FACTOR * n * eps * sigma_max`` are not resolved: their exponents are rounding
  and their right singular vectors an arbitrary basis of the unresolved subspace. Refused,
  naming which; ask for the top ``k`` only to get the resolved part.
- sigma_i = 0 exactly (e.g. a step with lr * lambda = 1 on a quadratic) is the extreme case.

Symbols
-------
Y^(t) -> ``Y`` (n, n); t -> ``t``; sigma_i -> ``sigma``; lambda_i(t) -> ``exponents`` (k,);
eigenvectors of Lambda -> columns of ``W`` (n, k).
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import namespace_of, to_host

RESOLUTION_FACTOR = 1.0  # Multiple of n * eps * sigma_max below which sigma_i is unresolved.


def neutral_exponent(lambda_1, t, n, dtype):
    """Half-width of the exponents that rounding cannot tell from 0, for Lambda(t) of Eq. (3).

    The SVD gives each sigma_i within delta = RESOLUTION_FACTOR * n * eps * sigma_max, with
    sigma_max = e^(lambda_1 t); a singular value within 1 +- delta is 1 within rounding (the
    neutral band of :mod:`.subspaces`), i.e. lambda_i = ln(sigma_i) / t within
    [ln(1 - delta) / t, ln(1 + delta) / t]. Returned: the wider side, -ln(1 - delta) / t
    (inf where delta >= 1: no exponent can then be told from 0).
    """
    t = float(t)
    unit = RESOLUTION_FACTOR * int(n) * float(np.finfo(dtype).eps)
    log_delta = math.log(unit) + float(lambda_1) * t  # finite where e^(lambda_1 t) overflows
    return -math.log1p(-math.exp(log_delta)) / t if log_delta < 0.0 else math.inf


class UnrepresentableError(ValueError):
    """Lambda(t) cannot be computed in Y's dtype: non-finite Y or unresolved singular values."""


def check_tangent_matrix(Y, when=""):
    """Y's namespace; ValueError for a non-square or non-floating Y, UnrepresentableError for
    non-finite entries (``when`` says at which time, for the message)."""
    xp = namespace_of(Y)
    if Y.ndim != 2 or Y.shape[0] != Y.shape[1]:
        raise ValueError(f"Y must be square (n, n), got {tuple(Y.shape)}")
    if not xp.isdtype(Y.dtype, "real floating"):
        raise ValueError(f"Y must be a real floating array, got {Y.dtype}")
    n_bad = int(to_host(xp.sum(xp.astype(~xp.isfinite(Y), xp.int64))))
    if n_bad:
        raise UnrepresentableError(
            f"Y has {n_bad} non-finite entries (the tangent product left float range"
            f"{' ' + when if when else ''}); use the QR spectrum (lyapunov_spectrum) instead"
        )
    return xp


def singular_values(Y, when=""):
    """SVD of a tangent matrix Y (n, n), checked: (sigma (n,) descending, W^T (n, n), sigma on
    the host, the resolution floor n * eps * sigma_max below which sigma_i is rounding).

    Raises ValueError for a non-square or non-floating Y and UnrepresentableError for
    non-finite entries or sigma_max = 0 (``when`` says at which time, for the message).
    """
    xp = check_tangent_matrix(Y, when)
    _, sigma, Wt = xp.linalg.svd(Y, full_matrices=False)  # sigma descending
    s = to_host(sigma)
    if not math.isfinite(s[0]) or s[0] == 0:
        raise UnrepresentableError(f"sigma_max of Y is {s[0]}: Lambda(t) is undefined")
    floor = RESOLUTION_FACTOR * Y.shape[0] * float(xp.finfo(Y.dtype).eps) * s[0]
    return sigma, Wt, s, floor


def lyapunov_matrix(Y, t, k=None):
    """Exponents (k,) descending and eigenvectors W (n, k) of Lambda(t) = 1/(2t) ln(Y^T Y).

    Parameters
    ----------
    Y : array (n, n), floating
        Tangent matrix Y(t) (e.g. :func:`refchaos.lyapunov.tangent.tangent_matrix`).
    t : int or float > 0
        Elapsed steps.
    k : int or None
        Number of leading exponents and eigenvectors (default: all n). Only these must be
        resolved.

    Returns
    -------
    exponents : array (k,)
        ln(sigma_i) / t, descending. Lambda(t) = W diag(exponents) W^T for k = n.
    W : array (n, k)
        Right singular vectors of Y: the eigenvectors of Lambda(t), orthonormal columns.

    Raises
    ------
    UnrepresentableError
        Y has non-finite entries, or one of the k leading singular values is below float
        resolution (module docstring); the message says which.
    """
    xp = namespace_of(Y)
    t = float(t)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"t must be a finite number > 0, got {t}")
    square = Y.ndim == 2 and Y.shape[0] == Y.shape[1]
    n = Y.shape[0] if square else 0
    k = n if k is None else int(k)
    if square and not 1 <= k <= n:  # checked before the SVD; the shape is checked with it
        raise ValueError(f"k must lie in [1, {n}], got {k}")
    sigma, Wt, s, floor = singular_values(Y, f"after t = {t:g} steps")
    unresolved = [i for i in range(k) if not s[i] > floor]
    if unresolved:
        i = unresolved[0]
        raise UnrepresentableError(
            f"singular values {i + 1}..{k} of Y are not resolved in {Y.dtype}: "
            f"sigma_{i + 1} = {s[i]:.3e} <= n * eps * sigma_max = {floor:.3e} "
            f"(sigma_min / sigma_max = {s[k - 1] / s[0]:.3e}); exponents and eigenvectors "
            f"{i + 1}..{k} would be rounding noise. Ask for k <= {i} or use the QR spectrum"
        )
    exponents = xp.log(sigma[:k]) / t  # Eq. (3): 1/(2t) ln sigma_i^2
    W = xp.matrix_transpose(Wt[:k, :])  # right singular vectors as columns (n, k)
    return exponents, W
