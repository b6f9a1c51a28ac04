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
``chaotic``    random combination of the v_i with lambda_i > 0
``nonchaotic`` random combination of the v_i with lambda_i <= 0
``random``     a direction uniform on the sphere in R^N
=============  =============================================================================

"Chaotic" follows the released code, which calls an eigenvalue w_i of Y^T Y chaotic when
w_i > 1; since lambda_i = 1/(2t) ln w_i, that is exactly lambda_i > 0 (``threshold=0``).
Random combinations use standard-normal coefficients from the host generator, so the
resulting direction is uniform on the unit sphere of the subspace. Each direction is
normalised and scaled by eps (0.1 in H22's figures); the unit direction depends only on the
seed, so several eps give parallel perturbations.

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

from ..backend import host_rng, namespace_of, to_host
from .copies import StatefulStep

STRATEGIES = ("top", "bottom", "chaotic", "nonchaotic", "random")
DEFAULT_EPS = 0.1  # The perturbation size of H22's perturbation figures.
CHAOTIC_THRESHOLD = 0.0  # lambda > 0  <=>  eigenvalue of Y^T Y > 1 (the released code's test).


def perturbation_directions(exponents, eigenvectors, *, eps=DEFAULT_EPS, strategies=STRATEGIES,
                            threshold=CHAOTIC_THRESHOLD, seed=0):
    """H22 Sec. 4.2 perturbations dtheta (N,) with |dtheta|_2 = eps, one per strategy.

    Parameters
    ----------
    exponents : array (N,)
        Lyapunov exponents lambda_i (any order).
    eigenvectors : array (N, N)
        Column i is the eigenvector v_i of ``exponents[i]``; orthonormal columns.
    eps : float
        Euclidean norm of every returned perturbation.
    strategies : sequence of str
        A subset of :data:`STRATEGIES`.
    threshold : float
        v_i is chaotic when lambda_i > threshold.
    seed : int or numpy.random.Generator
        Host RNG for the random combinations and the random direction (drawn in the order of
        ``strategies``).

    Returns
    -------
    dict str -> array (N,), in the namespace and dtype of ``eigenvectors``.

    Raises
    ------
    ValueError
        Unknown strategy, mismatched shapes, or an empty chaotic / non-chaotic set.
    """
    xp = namespace_of(exponents, eigenvectors)
    N = eigenvectors.shape[0]
    if tuple(eigenvectors.shape) != (N, N) or tuple(exponents.shape) != (N,):
        raise ValueError(f"need exponents (N,) and eigenvectors (N, N), got "
                         f"{tuple(exponents.shape)} and {tuple(eigenvectors.shape)}")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; choose from {STRATEGIES}")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    lam = np.asarray(to_host(exponents), dtype=np.float64)
    rng = host_rng(seed)
    device = array_api_compat.device(eigenvectors)
    out = {}
    for name in strategies:
        if name == "top":
            v = eigenvectors[:, int(np.argmax(lam))]
        elif name == "bottom":
            v = eigenvectors[:, int(np.argmin(lam))]
        elif name == "random":
            v = xp.asarray(rng.standard_normal(N), dtype=eigenvectors.dtype, device=device)
        else:
            chaotic = lam > threshold
            idx = np.flatnonzero(chaotic if name == "chaotic" else ~chaotic)
            if idx.size == 0:
                raise ValueError(f"no {name} exponents (threshold {threshold}) to combine")
            c = xp.asarray(rng.standard_normal(idx.size), dtype=eigenvectors.dtype, device=device)
            V_S = xp.take(eigenvectors, xp.asarray(idx, device=device), axis=1)  # (N, |S|)
            v = V_S @ c
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
