"""Perturbation analysis of Herrmann et al. 2022, Sec. 4.2: directions, distances, Eq. (15), Eq. (5).

A model A is trained; its Lyapunov exponents lambda_i and eigenvectors v_i (of Y^T Y, Eq. (3),
computed elsewhere) define directions along which copies B start, theta_B(0) = theta_A(0) + dtheta,
with |dtheta| = eps. A and B share the seed and batches (the same step function), and the
divergence is the Euclidean distance over all parameters, d(t) = |theta_A(t) - theta_B(t)|.
With a stateful optimizer (momentum, Adam) each model carries its own optimizer state, B's
starting at ``opt.init(theta_B(0))`` as a freshly built model's would.

Strategies (H22's five):

=============  =============================================================================
``top``        v_1, the eigenvector of the largest exponent
``bottom``     v_N, the eigenvector of the smallest exponent
``chaotic``    a random direction of V_chaotic = span{v_i : lambda_i > 0}
``nonchaotic`` a random direction of V_non-chaotic = span{v_i : lambda_i < 0}
``random``     a direction uniform on the sphere in R^N
=============  =============================================================================

The subspaces are H22's (Sec. 4.2: V_chaotic(t) := {v | lambda > 0}, V_non-chaotic(t) :=
{v | lambda < 0}); an exponent that is 0 belongs to neither. ``neutral`` widens that 0 to a
band |lambda_i| <= neutral, for exponents that rounding cannot tell from 0
(:func:`refchaos.lyapunov.neutral_exponent`; the same rule as the neutral band of
:mod:`.subspaces`). With ``neutral=0`` the split is by raw sign, and the chaotic set is the
released code's (an eigenvalue w_i of Y^T Y is chaotic when w_i > 1, i.e. lambda_i > 0).

Every direction is a property of the spectrum, not of the basis a linear-algebra library
returns for it, so it is the same on any LAPACK and any number of threads. An eigenvector is
defined up to its sign: ``top`` and ``bottom`` are taken with their entry of largest magnitude
positive. A random direction of a subspace S is P_S g / |P_S g| with g standard normal in R^N
and P_S = V_S V_S^T the orthogonal projector on S: uniform on the unit sphere of S, and
unchanged by any rotation of the basis V_S within S (standard-normal coefficients in the
returned basis have the same distribution, but their draw would follow the basis). Each
direction is normalised and scaled by eps (0.1 in H22's figures); the unit direction depends
only on the seed, so several eps give parallel perturbations. With only the k < N leading
eigenvectors given, ``bottom`` is the k-th, ``nonchaotic`` draws from the resolved vectors
with lambda_i < 0, and ``random`` is still uniform in R^N.

Eq. (15) models the divergence as a linear drift plus a random walk, d(t) = sqrt(alpha t^2 +
beta t). The released code fits d^2 = a t + b t^2 + d0^2 by unweighted least squares with
d0 = eps fixed; :func:`fit_distance` does exactly that (alpha = b, beta = a).

Eq. (5) bounds a linearised perturbation: e^{lambda_N t} eps <= |dtheta(t)| <= e^{lambda_1 t} eps.

Symbols: lambda_i -> ``exponents``, v_i -> ``eigenvectors[:, i]``, eps -> ``eps``,
theta_A, theta_B -> ``theta``, ``perturbed``; alpha, beta -> ``alpha``, ``beta``.
"""

from __future__ import annotations

from dataclasses import dataclass

import array_api_compat
import numpy as np

from ..backend import host_rng, namespace_of, to_float, to_host
from .copies import StatefulStep

STRATEGIES = ("top", "bottom", "chaotic", "nonchaotic", "random")
DEFAULT_EPS = 0.1  # The perturbation size of H22's perturbation figures.


def perturbation_directions(exponents, eigenvectors, *, eps=DEFAULT_EPS, strategies=STRATEGIES,
                            neutral=0.0, seed=0):
    """H22 Sec. 4.2 perturbations dtheta (N,) with |dtheta|_2 = eps, one per strategy.

    Parameters
    ----------
    exponents : array (k,)
        Lyapunov exponents lambda_i (any order).
    eigenvectors : array (N, k), k <= N
        Column i is the eigenvector v_i of ``exponents[i]``; orthonormal columns (all N, or
        the k leading ones: module docstring).
    eps : float
        Euclidean norm of every returned perturbation.
    strategies : sequence of str
        A subset of :data:`STRATEGIES`.
    neutral : float >= 0
        v_i is chaotic when lambda_i > neutral, non-chaotic when lambda_i < -neutral.
    seed : int or numpy.random.Generator
        Host RNG for the random directions (one standard-normal g in R^N per strategy that
        needs one, drawn in the order of ``strategies``).

    Returns
    -------
    dict str -> array (N,), in the namespace and dtype of ``eigenvectors``.

    Raises
    ------
    ValueError
        Unknown strategy, mismatched shapes, or an empty chaotic / non-chaotic set.
    """
    xp = namespace_of(exponents, eigenvectors)
    shape = tuple(eigenvectors.shape)
    if len(shape) != 2 or not 1 <= shape[1] <= shape[0] or tuple(exponents.shape) != shape[1:]:
        raise ValueError(f"need exponents (k,) and eigenvectors (N, k) with k <= N, got "
                         f"{tuple(exponents.shape)} and {shape}")
    N = shape[0]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; choose from {STRATEGIES}")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    if not neutral >= 0:
        raise ValueError(f"neutral must be >= 0, got {neutral}")
    lam = np.asarray(to_host(exponents), dtype=np.float64)
    rng = host_rng(seed)
    device = array_api_compat.device(eigenvectors)

    def gaussian():  # g ~ N(0, I_N), from the one host stream
        return xp.asarray(rng.standard_normal(N), dtype=eigenvectors.dtype, device=device)

    out = {}
    for name in strategies:
        if name in ("top", "bottom"):
            v = eigenvectors[:, int(np.argmax(lam) if name == "top" else np.argmin(lam))]
            v = v if to_float(v[int(xp.argmax(xp.abs(v)))]) > 0 else -v  # the sign convention
        elif name == "random":
            v = gaussian()
        else:
            idx = np.flatnonzero(lam > neutral if name == "chaotic" else lam < -neutral)
            if idx.size == 0:
                raise ValueError(f"no {name} exponents (neutral band {neutral:g}) to draw from")
            V_S = xp.take(eigenvectors, xp.asarray(idx, device=device), axis=1)  # (N, |S|)
            v = V_S @ (xp.matrix_transpose(V_S) @ gaussian())  # P_S g: basis-independent
        out[name] = v * (eps / xp.linalg.vector_norm(v))  # |dtheta| = eps
    return out


def distance_curves(step, theta0, perturbations, steps, init=None):
    """Euclidean distances d(t) = |theta_A(t) - theta_B(t)|, t = 0..steps, for each perturbation.

    Parameters
    ----------
    step : callable, (theta (N,), t) -> theta (N,); with ``init``, (theta, state, t) -> (theta, state)
        One training step; shared by A and every B (same batches), a pure function of its inputs.
    theta0 : array (N,)
        theta_A(0).
    perturbations : dict key -> array (N,)
        dtheta for each copy B: theta_B(0) = theta0 + dtheta (e.g. from
        :func:`perturbation_directions`, merged over several eps).
    steps : int
    init : callable or None
        ``init(theta) -> state`` of a stateful optimizer (``opt.init``): A starts at
        ``init(theta_A(0))``, each B at ``init(theta_B(0))``, and each carries its own state.

    Returns
    -------
    dict key -> numpy.ndarray (steps + 1,) float64 (host); NaN once non-finite.
    """
    xp = namespace_of(theta0)
    advance = StatefulStep(step, init)
    theta = theta0
    copies = {key: theta0 + d for key, d in perturbations.items()}
    state, states = advance.init(theta), {key: advance.init(c) for key, c in copies.items()}
    curves = {key: np.full(int(steps) + 1, np.nan) for key in copies}
    for key, c in copies.items():
        curves[key][0] = float(to_host(xp.linalg.vector_norm(c - theta)))
    for t in range(int(steps)):
        theta, state = advance(theta, state, t)
        for key in copies:
            copies[key], states[key] = advance(copies[key], states[key], t)
            curves[key][t + 1] = float(to_host(xp.linalg.vector_norm(copies[key] - theta)))
    return {key: np.where(np.isfinite(c), c, np.nan) for key, c in curves.items()}


@dataclass
class DistanceFit:
    """Fit of Eq. (15): d(t)^2 = alpha t^2 + beta t + d0^2.

    Attributes
    ----------
    alpha : float
        Quadratic coefficient (squared linear drift per step).
    beta : float
        Linear coefficient (random-walk diffusion per step).
    d0 : float
        The initial distance used (fixed, or fitted with ``d0=None``).
    residual : float
        Root-mean-square residual of the fit in d^2.
    """

    alpha: float
    beta: float
    d0: float
    residual: float

    def __call__(self, t):
        """The model curve d(t) = sqrt(alpha t^2 + beta t + d0^2) on host arrays.

        NaN where the fitted quadratic is negative: a shrinking distance curve can give
        alpha < 0, and Eq. (15) then has no real distance there (the fit cannot follow it)."""
        t = np.asarray(t, dtype=np.float64)
        d2 = self.alpha * t**2 + self.beta * t + self.d0**2
        return np.sqrt(np.where(d2 >= 0, d2, np.nan))


def fit_distance(t, d, *, d0=DEFAULT_EPS):
    """Unweighted least squares of d^2 = beta t + alpha t^2 + d0^2, Eq. (15) (released code).

    Parameters
    ----------
    t : array (T,)
        Steps.
    d : array (T,)
        Distances at those steps.
    d0 : float or None
        Initial distance held fixed (the released code: d0 = eps). None fits d0^2 as a free
        intercept instead (an option of ours; Eq. (15) itself has d(0) = 0).

    Returns
    -------
    DistanceFit
    """
    t = np.asarray(to_host(t), dtype=np.float64)
    y = np.asarray(to_host(d), dtype=np.float64) ** 2  # d^2
    if t.ndim != 1 or t.shape != y.shape or t.shape[0] < 3:
        raise ValueError(f"t and d must be (T,) with T >= 3, got {t.shape}, {y.shape}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
        raise ValueError("t and d must be finite; cut the curve before divergence")
    if d0 is None:
        X = np.stack([t, t**2, np.ones_like(t)], axis=1)  # (T, 3)
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        beta, alpha, d0_sq = coef
        d0 = float(np.sqrt(max(d0_sq, 0.0)))
    else:
        X = np.stack([t, t**2], axis=1)  # (T, 2)
        coef, *_ = np.linalg.lstsq(X, y - float(d0) ** 2, rcond=None)  # Eq. (15) with d0 fixed
        beta, alpha = coef
        d0_sq = float(d0) ** 2
    resid = y - (beta * t + alpha * t**2 + d0_sq)
    return DistanceFit(alpha=float(alpha), beta=float(beta), d0=float(d0),
                       residual=float(np.sqrt(np.mean(resid**2))))


def distance_bounds(exponents, t, eps=DEFAULT_EPS):
    """Eq. (5): lower e^{lambda_N t} eps and upper e^{lambda_1 t} eps at steps t.

    Parameters
    ----------
    exponents : array (N,)
        Lyapunov exponents per step (any order; only the extremes are used).
    t : array (T,)
        Steps.
    eps : float
        |dtheta(0)|.

    Returns
    -------
    (lower, upper) : numpy.ndarray (T,) each, float64 (host)
    """
    lam = np.asarray(to_host(exponents), dtype=np.float64)
    t = np.asarray(to_host(t), dtype=np.float64)
    lower = eps * np.exp(lam.min() * t)  # Eq. (5), left
    upper = eps * np.exp(lam.max() * t)  # Eq. (5), right
    return lower, upper
