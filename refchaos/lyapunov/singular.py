"""Largest singular values of the tangent matrix Y(T), without forming Y(T).

Eq. (3) of Herrmann et al. 2022 defines the finite-time exponents from Y(T) = J(T-1) ... J(0)
(Eq. (2)): lambda_i(T) = ln(sigma_i(Y(T))) / T, sigma_1 >= sigma_2 >= ... its singular values.
The upper bound of Eq. (5), |dtheta(T)| <= eps e^(lambda_1 T) = eps sigma_1(Y(T)) for a
perturbation of size eps, needs sigma_1 itself: the growth of one tangent vector from a random
start (:func:`max_exponent`, or the first QR exponent) is ln ||Y(T) w|| / T, which at a finite
horizon is below lambda_1(T) by the start's misalignment with the top singular direction.

For H22's MLP (N = 5,350) over 40 epochs the N x N tangent matrix costs hours
(:class:`TangentMatrixIntegrator`); here Y(T) is only ever applied to a block of l vectors.

Adjoint. For plain SGD (no momentum) the step's tangent map is
J(t) = I - eta (H(t) + omega I) (Eq. (8), beta = 0), symmetric because the Hessian is, so

    Y(T)^T = J(0)^T ... J(T-1)^T = J(0) ... J(T-1):

the same tangent step taken in reverse order along the stored trajectory theta(0), ...,
theta(T-1). A stepper declares this by ``symmetric_tangent`` (:mod:`refchaos.optim.stepper`);
others are refused.

Randomised subspace iteration (Halko, Martinsson and Tropp 2011, SIAM Review 53, Alg. 4.4):

    Q_0 = orth(Y Omega),  Omega (N, l) Gaussian, l = k + oversample
    Q_i = orth(Y orth(Y^T Q_{i-1})),  i = 1 ... q
    B = Q_q^T Y = (Y^T Q_q)^T (l, N),  B = U_B diag(s) W^T

The s_j are Ritz values: s_j <= sigma_j(Y) for every j (B is Y seen through l orthonormal
rows: sigma_j(Q^T Y) <= ||Q^T|| sigma_j(Y) = sigma_j(Y)). Q_q spans (Y Y^T)^q Y Omega, whose angle
to the top j left singular directions falls as (sigma_{l+1} / sigma_j)^(2q+1); the relative
error of s_j falls as the square of that angle. The columns of W are the corresponding
right singular vectors, directions at theta(0). ``history`` records, after Q_0 and after each
iteration, the singular values of Y Z (Z = orth(Y^T Q_{i-1}), or Omega's orthonormal basis at
i = 0): also lower bounds, so a reader sees how far the estimate still moved. With l >= N, Q_0
spans R^N and s equals the singular values of Y to rounding.

Cost: storing the trajectory (T vectors of N floats: 1.6 GB for N = 5,350 and 36,480 steps),
one training pass, and 2q + 2 passes of the tangent step with l columns.

Symbols
-------
Y(T) -> applied by ``_apply``; Omega -> ``omega``; l -> ``width``; q -> ``iterations``;
s_j -> ``sigma``; W -> ``V``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import asarray, host_rng, namespace_of, to_host
from .tangent import _check_steps


class AdjointError(ValueError):
    """The stepper's tangent map has no adjoint here (it is not declared symmetric)."""


@dataclass(frozen=True)
class TopSingular:
    """Result of :func:`top_singular_values`.

    ``sigma`` (k,) host float64, descending: Ritz values s_j <= sigma_j(Y(T)); ``V`` (N, k)
    their right singular vectors (on theta's backend); ``history`` (q + 1, k) host: the
    estimates after Q_0 and after each iteration; ``theta`` theta(T); ``steps`` T.
    """

    sigma: np.ndarray
    V: object
    history: np.ndarray
    theta: object
    steps: int

    @property
    def exponents(self):
        """lambda_j(T) = ln(s_j) / T per step (Eq. (3)), lower bounds as ``sigma``."""
        return np.log(self.sigma) / self.steps


def top_singular_values(opt, model, theta, batch, steps, k=1, oversample=8, iterations=4, seed=0):
    """The k largest singular values of Y(T) for ``steps`` steps of ``opt`` from theta.

    Parameters
    ----------
    opt : Stepper
        With ``symmetric_tangent`` true (plain SGD, with or without weight decay).
    batch : callable
        ``batch(t) -> (x, y)``, the batch of step t (the same in every pass).
    k : int
        How many singular values.
    oversample : int
        Extra columns p >= 0; the block has l = min(k + p, N) columns.
    iterations : int
        q >= 0 subspace iterations (each one adjoint and one forward pass).
    seed : int
        Seed of Omega (:func:`refchaos.backend.host_rng`).
    """
    steps = _check_steps(steps)
    if not getattr(opt, "symmetric_tangent", False):
        raise AdjointError(
            f"top_singular_values needs the adjoint of the tangent map; {opt!r} does not declare "
            "a symmetric one (plain SGD does: J = I - lr (H + omega I)); momentum, CGD's projected "
            "map and the preconditioned steppers are not symmetric")
    N = model.num_params
    if int(k) != k or not 1 <= int(k) <= N:
        raise ValueError(f"k must be an integer in [1, {N}], got {k!r}")
    for name, value in (("oversample", oversample), ("iterations", iterations)):
        if isinstance(value, bool) or int(value) != value or int(value) < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    k, width = int(k), min(int(k) + int(oversample), N)
    xp = namespace_of(theta)
    path, theta_T = _trajectory(opt, model, theta, batch, steps)  # (theta(t), state(t)), t < T

    omega = asarray(host_rng(seed).standard_normal((N, width)), xp, theta.dtype)
    Z = _orth(omega, xp)
    W = _apply(opt, model, path, batch, Z, reverse=False)  # Y Z
    history = [_singular(W)[:k]]
    for _ in range(int(iterations)):
        Q = _orth(W, xp)
        Z = _orth(_apply(opt, model, path, batch, Q, reverse=True), xp)  # orth(Y^T Q)
        W = _apply(opt, model, path, batch, Z, reverse=False)  # Y Z
        history.append(_singular(W)[:k])
    Q = _orth(W, xp)
    BT = _apply(opt, model, path, batch, Q, reverse=True)  # Y^T Q = B^T (N, l)
    _, s, Vh = np.linalg.svd(np.asarray(to_host(BT)).T, full_matrices=False)  # B = U_B S W^T
    V = asarray(np.ascontiguousarray(Vh[:k].T), xp, theta.dtype)
    return TopSingular(sigma=np.asarray(s[:k], dtype=np.float64), V=V,
                       history=np.asarray(history, dtype=np.float64), theta=theta_T, steps=steps)


def _trajectory(opt, model, theta, batch, steps):
    """([(theta(t), state(t)) for t < T], theta(T)): the training run every pass follows."""
    path, state = [], opt.init(theta)
    for t in range(steps):
        path.append((theta, state))
        theta, state, _ = opt.step(model, theta, state, *batch(t))
    return path, theta


def _apply(opt, model, path, batch, V, reverse):
    """Y(T) V (forward) or Y(T)^T V = J(0) ... J(T-1) V (reverse; J symmetric), V (N, l)."""
    order = range(len(path) - 1, -1, -1) if reverse else range(len(path))
    for t in order:
        theta, state = path[t]
        V = opt.tangent_step(model, theta, state, *batch(t), V)[2]  # J(t) V
    return V


def _orth(A, xp):
    """An orthonormal basis of the columns of A (N, l), by QR."""
    return xp.linalg.qr(A)[0]


def _singular(A):
    """Singular values of A (N, l), host, descending."""
    return np.linalg.svd(np.asarray(to_host(A)), compute_uv=False)
