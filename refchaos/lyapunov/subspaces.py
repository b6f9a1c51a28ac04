"""Finite-time chaotic and non-chaotic subspaces, and how much two of them overlap.

Herrmann et al. 2022, Sec. 4.2 ('Perturbation analysis'), define from the finite-time Lyapunov
matrix Lambda(t) of Eq. (3)

    V_chaotic(t)     := {v in Eig(Lambda(t), lambda) | lambda > 0}
    V_non-chaotic(t) := {v in Eig(Lambda(t), lambda) | lambda < 0}

and state that "the subspaces of chaotic and non-chaotic eigenvectors do stabilise towards the
end of the training (see Appendix C.2)". With Y(t) = U diag(sigma) W^T, Lambda(t) =
W diag(ln(sigma_i) / t) W^T (:mod:`.matrix`), so lambda_i > 0 exactly when sigma_i > 1: the
split depends on which singular values of Y(t) exceed 1, not on t.

Resolution
----------
A backward-stable SVD gives each sigma_i within delta = n eps sigma_max (:mod:`.matrix`). A
singular value with |sigma_i - 1| <= delta cannot be told from 1: its exponent is 0 within
rounding ("neutral") and it is counted in neither subspace. V_chaotic(t) is spanned by the
right singular vectors with sigma_i > 1 + delta. V_non-chaotic(t), those with
sigma_i < 1 - delta, is the orthogonal complement of the span of the vectors with
sigma_i >= 1 - delta; it is held as that complement, so it is well defined even where its own
singular values are below resolution (as they are after long horizons), and its (n - m)-column
basis is never formed. Rounding of size delta tilts a computed subspace by an angle of order
delta / gap, gap the distance from the subspace's singular values to the others (Wedin's
sin-theta theorem); the subspaces are reported with their singular values so that a reader can
judge the gap.

From the Gram matrix
--------------------
``method="gram"`` takes the same subspaces from G = Y^T Y = W diag(sigma^2) W^T: its
eigenvectors with eigenvalues mu_i = sigma_i^2 >= (1 - delta)^2, and sigma_i = sqrt(mu_i).
Forming G rounds each entry by about n eps |y_i| |y_j| and a backward-stable symmetric
eigensolver adds n eps mu_max, so mu_i is known within about n eps sigma_max^2 and sigma_i
near 1 within half of that; the resolution is taken as delta = n eps sigma_max^2, sigma_max
times coarser than the SVD's (the neutral band widens; a singular value between the two
resolutions is counted neutral here, chaotic or non-chaotic by the SVD). What it saves is the
full SVD: on NumPy only the eigenpairs with mu above a lower bound of (1 - delta)^2 are
computed (``scipy.linalg.eigh``, ``subset_by_value``; the MRRR driver), which at the USPS MLP's
n = 5,350 took 25 s against 111 s for the SVD, one core (validation/bench/bench_subspaces.py);
more when most singular values are within delta of 1 (Y near I), since W then holds most of the
space. Other namespaces take the full ``eigh`` of G. ``sigma`` then holds the computed singular
values only (those above the bound).

Overlap of two subspaces
------------------------
For subspaces A, B of R^n with orthonormal bases U_A (n, p), U_B (n, q) and projectors P_A, P_B,

    s(A, B) = ||U_A^T U_B||_F^2 / min(p, q) = tr(P_A P_B) / min(p, q)

is the mean squared cosine of their min(p, q) principal angles: 1 when the smaller lies in the
larger, 0 when they are orthogonal. For uniformly random subspaces E[P_B] = (q / n) I, so
E[tr(P_A P_B)] = p q / n and the chance level is max(p, q) / n. For the complements,
tr((I - P_A)(I - P_B)) = n - p - q + tr(P_A P_B), which gives the non-chaotic overlap from the
bases of the complements' complements.

Symbols
-------
Y(t) -> ``Y`` (n, n); sigma_i -> ``sigma`` (host, descending); delta -> ``delta``;
lambda_i(t) = ln(sigma_i) / t -> ``exponents``; right singular vectors with
sigma_i >= 1 - delta -> columns of ``W`` (n, m), the first ``n_chaotic`` spanning V_chaotic(t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ..backend import namespace_of, to_host
from .matrix import RESOLUTION_FACTOR, UnrepresentableError, check_tangent_matrix, singular_values

METHODS = ("svd", "gram")


@dataclass(frozen=True)
class FiniteTimeSubspaces:
    """V_chaotic(t) and (as its complement's basis) V_non-chaotic(t) of one Y(t).

    ``W`` (n, m): the right singular vectors of Y(t) with sigma_i >= 1 - delta, descending;
    its first ``n_chaotic`` columns span V_chaotic(t) and all m span the orthogonal complement
    of V_non-chaotic(t). ``sigma`` (host): the singular values, descending: all n by SVD, at
    least the m of W from the Gram matrix (module docstring).
    """

    W: object
    n_chaotic: int
    n_neutral: int
    t: float
    sigma: np.ndarray
    delta: float

    @property
    def dim(self):
        """n, the dimension of the space."""
        return int(self.W.shape[0])

    @property
    def n_nonchaotic(self):
        """Dimension of V_non-chaotic(t): the singular values below 1 - delta."""
        return self.dim - self.n_chaotic - self.n_neutral

    @property
    def chaotic(self):
        """Orthonormal basis (n, n_chaotic) of V_chaotic(t)."""
        return self.W[:, :self.n_chaotic]

    @property
    def exponents(self):
        """Host float64 finite-time exponents ln(sigma_i) / t of the columns of W (Eq. (3))."""
        return np.log(self.sigma[:self.W.shape[1]]) / self.t


def finite_time_subspaces(Y, t, method="svd"):
    """V_chaotic(t) and V_non-chaotic(t) of the tangent matrix Y(t) (n, n) after t steps.

    ``method``: "svd" (the SVD of Y) or "gram" (the top eigenpairs of Y^T Y; module
    docstring). Raises UnrepresentableError for a non-finite Y, or when the resolution delta
    reaches 1 (no singular value can then be told from 1; the message gives sigma_max).
    """
    t = float(t)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"t must be a finite number > 0, got {t}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "gram":
        Wt, s, delta = _gram_top(Y, f"after t = {t:g} steps")
    else:
        _, Wt, s, delta = singular_values(Y, f"after t = {t:g} steps")
    if not delta < 1.0:
        raise UnrepresentableError(
            f"sigma_max of Y is {s[0]:.3e}: the {method} resolution "
            f"{'n * eps * sigma_max' if method == 'svd' else 'n * eps * sigma_max^2'} = {delta:.3e} "
            f"reaches 1, so no singular value can be told apart from 1 (the chaotic / "
            f"non-chaotic split of Lambda(t)); take a shorter horizon"
        )
    n_chaotic = int(np.sum(s > 1.0 + delta))  # s descending: a prefix
    m = int(np.sum(s >= 1.0 - delta))
    xp = namespace_of(Y)
    W = xp.asarray(xp.matrix_transpose(Wt[:m, :]), copy=True)  # (n, m), not a view of all of W^T
    return FiniteTimeSubspaces(W=W, n_chaotic=n_chaotic, n_neutral=m - n_chaotic, t=t,
                               sigma=np.asarray(s, dtype=np.float64), delta=float(delta))


def _gram_top(Y, when):
    """(W^T (m', n), sigma (host, m') descending, delta) from G = Y^T Y (module docstring):
    every eigenpair with mu >= (1 - delta_bound)^2, where delta_bound = n eps ||G||_inf >= delta
    (||G||_inf >= mu_max); without one, sigma holds sigma_max alone and W^T no rows."""
    xp = check_tangent_matrix(Y, when)
    n = int(Y.shape[0])
    n_eps = RESOLUTION_FACTOR * n * float(xp.finfo(Y.dtype).eps)
    G = xp.matrix_transpose(Y) @ Y
    mu_bound = float(to_host(xp.max(xp.sum(xp.abs(G), axis=1))))
    if not (math.isfinite(mu_bound) and mu_bound > 0):
        raise UnrepresentableError(f"||Y^T Y||_inf is {mu_bound}: Lambda(t) is undefined")
    low = max(0.0, 1.0 - n_eps * mu_bound) ** 2
    if isinstance(G, np.ndarray):
        mu, V = scipy.linalg.eigh(G, subset_by_value=(low, np.inf), driver="evr")  # ascending
    else:
        mu, V = xp.linalg.eigh(G)  # ascending, all n
        keep = int(np.sum(to_host(mu) >= low))
        mu, V = mu[n - keep:], V[:, n - keep:]
    mu = np.asarray(to_host(mu), dtype=np.float64)[::-1]  # descending
    if mu.size == 0:
        mu = np.asarray(to_host(xp.linalg.eigvalsh(G)), dtype=np.float64)[-1:]  # mu_max only
        Wt = xp.zeros((0, n), dtype=Y.dtype)
    else:
        Wt = xp.flip(xp.matrix_transpose(V), axis=0)  # rows in descending mu
    if not (math.isfinite(mu[0]) and mu[0] > 0):
        raise UnrepresentableError(f"sigma_max^2 of Y is {mu[0]}: Lambda(t) is undefined")
    return Wt, np.sqrt(np.maximum(mu, 0.0)), n_eps * mu[0]  # delta = n eps sigma_max^2


def subspace_similarity(U, V):
    """s(A, B) = ||U^T V||_F^2 / min(p, q) for orthonormal bases U (n, p), V (n, q) (module
    docstring); NaN when either subspace is {0}."""
    if U.shape[0] != V.shape[0]:
        raise ValueError(f"bases of different spaces: {tuple(U.shape)} and {tuple(V.shape)}")
    p, q = int(U.shape[1]), int(V.shape[1])
    if min(p, q) == 0:
        return float("nan")
    xp = namespace_of(U, V)
    G = xp.matrix_transpose(U) @ V  # tr(P_U P_V) = ||U^T V||_F^2
    return float(to_host(xp.sum(G * G))) / min(p, q)


def random_similarity(p, q, n):
    """Chance level of s(A, B) for uniformly random subspaces of dimensions p, q in R^n:
    max(p, q) / n (module docstring); NaN when either is {0}."""
    return max(p, q) / n if min(p, q) > 0 else float("nan")


@dataclass(frozen=True)
class SubspaceOverlap:
    """s(a, b) of the chaotic and of the non-chaotic subspaces of two times, with chance levels."""

    chaotic: float
    nonchaotic: float
    chaotic_random: float
    nonchaotic_random: float


def subspace_overlap(a, b):
    """How much the chaotic and the non-chaotic subspaces of two :class:`FiniteTimeSubspaces`
    (two times of one run, say) overlap: s(A, B) of each, and the chance levels."""
    if a.dim != b.dim:
        raise ValueError(f"subspaces of different spaces: n = {a.dim} and {b.dim}")
    n = a.dim
    xp = namespace_of(a.W, b.W)
    G = xp.matrix_transpose(a.W) @ b.W  # (m_a, m_b); its top-left block pairs the chaotic bases
    Gc = G[:a.n_chaotic, :b.n_chaotic]
    tr_chaotic = float(to_host(xp.sum(Gc * Gc)))
    tr_complements = float(to_host(xp.sum(G * G)))  # tr(P P') of the non-chaotic complements
    p, q = a.n_chaotic, b.n_chaotic
    na, nb = a.n_nonchaotic, b.n_nonchaotic
    ma, mb = n - na, n - nb
    chaotic = tr_chaotic / min(p, q) if min(p, q) > 0 else float("nan")
    nonchaotic = (n - ma - mb + tr_complements) / min(na, nb) if min(na, nb) > 0 else float("nan")
    return SubspaceOverlap(chaotic=chaotic, nonchaotic=nonchaotic,
                           chaotic_random=random_similarity(p, q, n),
                           nonchaotic_random=random_similarity(na, nb, n))


__all__ = ["FiniteTimeSubspaces", "finite_time_subspaces", "subspace_similarity",
           "random_similarity", "SubspaceOverlap", "subspace_overlap"]
