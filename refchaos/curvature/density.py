"""The exact eigenvalue density of the minibatch Hessian, smoothed as SLQ tools report it.

Stochastic Lanczos quadrature (Ghorbani, Krishnan, Xiao 2019; Lin, Saad, Yang 2016) estimates
the Gaussian-smoothed spectral density of the N x N Hessian,

    rho_s(t) = (1/N) sum_{i=1}^N phi_s(t - lambda_i),
    phi_s(u) = exp(-u^2 / (2 s2)) / sqrt(2 pi s2)                                  (Eq. R1)

(s2 = s^2 the kernel's variance): for a probe v uniform on the unit sphere,
E[v^T phi_s(t I - H) v] = tr(phi_s(t I - H)) / N = rho_s(t), and a Lanczos run of m steps from v
replaces v^T phi_s(t I - H) v by its Gauss quadrature sum_j w_j phi_s(t - theta_j) (Ritz values
theta_j, weights w_j the squared first components of the Ritz vectors). Eq. (R1) evaluated
on the exact eigenvalues is therefore the quantity SLQ estimates, without probe or quadrature
error: a tool's density on the same grid and kernel compares with it directly.

Zero eigenvalues count: the range spectrum returns only the n non-zero eigenvalues, and the
N - n zeros enter Eq. (R1) as (N - n) phi_s(t). ``normalize=True`` rescales rho to unit mass
on the grid (sum rho dt = 1, dt the grid spacing), as tools that plot on a finite grid do; the
unscaled Eq. (R1) integrates to 1 over the real line.

Symbols: lambda_i -> ``lam``; s2 -> ``sigma2``; t -> ``grid``.
"""

from __future__ import annotations

import math

from ..backend import namespace_of
from .spectrum import spectrum

DEFAULT_BINS = 10_000  # grid points: resolves kernels down to 1e-4 of the spectrum's width
DEFAULT_SIGMA2 = 1e-5  # kernel variance per unit of spectrum width (the common SLQ setting)
DEFAULT_OVERHEAD = 0.01  # grid margin beyond [lambda_min, lambda_max], in eigenvalue units


def spectral_density(lam, grid, sigma2, num_params=None, normalize=False, weights=None):
    """rho_s(t) (T,) on ``grid`` (T,) from eigenvalues ``lam`` (n,) by Eq. (R1).

    Parameters
    ----------
    lam : (n,) eigenvalues; ``num_params`` N >= n counts N - n further zero eigenvalues.
    sigma2 : float > 0, the variance of the Gaussian kernel.
    normalize : rescale to unit mass on the grid (needs a uniform grid of >= 2 points).
    weights : (n,), optional
        Quadrature weights w_i in place of 1/N: sum_i w_i phi_s(t - lam_i), the form of one
        SLQ run (Ritz values and squared first components); ``num_params`` is then unused.
    """
    xp = namespace_of(lam, grid)
    if not sigma2 > 0:
        raise ValueError(f"sigma2 must be positive, got {sigma2}")
    n = lam.shape[0]
    norm = 1.0 / math.sqrt(2.0 * math.pi * sigma2)
    if weights is not None:
        u = grid[:, None] - lam[None, :]  # (T, n)
        rho = norm * xp.sum(weights[None, :] * xp.exp(-(u * u) / (2.0 * sigma2)), axis=1)
        return _normalized(rho, grid, xp) if normalize else rho
    N = n if num_params is None else int(num_params)
    if N < n or N < 1:
        raise ValueError(f"num_params ({num_params}) must be >= the {n} eigenvalues given and >= 1")
    u = grid[:, None] - lam[None, :]  # (T, n)
    rho = xp.sum(xp.exp(-(u * u) / (2.0 * sigma2)), axis=1)  # Eq. (R1), non-zero eigenvalues
    rho = rho + (N - n) * xp.exp(-(grid * grid) / (2.0 * sigma2))  # the N - n zeros
    rho = norm * rho / N
    return _normalized(rho, grid, xp) if normalize else rho


def _normalized(rho, grid, xp):
    """rho rescaled to unit mass on the uniform grid: sum rho dt = 1."""
    if grid.shape[0] < 2:
        raise ValueError("normalize needs a grid of at least two points")
    return rho / (xp.sum(rho) * (grid[1] - grid[0]))


def default_grid(lam_min, lam_max, xp, dtype, num_bins=DEFAULT_BINS, overhead=DEFAULT_OVERHEAD):
    """The uniform grid [lam_min - overhead, lam_max + overhead] of ``num_bins`` points."""
    return xp.linspace(lam_min - overhead, lam_max + overhead, int(num_bins), dtype=dtype)


def all_eigenvalues(model, theta, x, y):
    """All N eigenvalues of H, ascending, with the zeros the range spectrum leaves implicit."""
    xp = namespace_of(theta)
    lam, _ = spectrum(model, theta, x, y)
    zeros = xp.zeros((model.num_params - lam.shape[0],), dtype=lam.dtype)
    return xp.sort(xp.concat([lam, zeros]))


def hessian_density(model, theta, x, y, grid=None, sigma2=None, num_bins=DEFAULT_BINS,
                    normalize=True):
    """(grid, rho) of the exact Hessian's smoothed density, Eq. (R1).

    By default the grid spans the exact spectrum plus :data:`DEFAULT_OVERHEAD`, and
    sigma2 = :data:`DEFAULT_SIGMA2` * max(1, width of the grid), the SLQ tools' convention.
    """
    xp = namespace_of(theta)
    lam, _ = spectrum(model, theta, x, y)  # non-zero eigenvalues (range) or all N (dense)
    N = model.num_params
    if grid is None:
        lo, hi = float(xp.min(lam)), float(xp.max(lam))
        if lam.shape[0] < N:  # the implied zeros are part of the spectrum
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        grid = default_grid(lo, hi, xp, theta.dtype, num_bins)
    if sigma2 is None:
        width = float(grid[-1] - grid[0])
        sigma2 = DEFAULT_SIGMA2 * max(1.0, width)
    return grid, spectral_density(lam, grid, sigma2, num_params=N, normalize=normalize)
