"""The exact smoothed spectral density against the dense spectrum (refchaos and JAX)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import refchaos as rc
from refchaos.backend import to_host
from refchaos.curvature import all_eigenvalues, hessian_density, spectral_density
from tests.autodiff import jax_derivatives
from tests.curvature._curv_cases import accumulated, case_data
from tests.tolerances import rtol_for


def _density_from_dense(lam, grid, sigma2):
    """Eq. (R1) written out over all N eigenvalues, one Gaussian at a time."""
    rho = np.zeros_like(grid)
    for l in lam:
        rho += np.exp(-(grid - l) ** 2 / (2 * sigma2)) / math.sqrt(2 * math.pi * sigma2)
    return rho / lam.size


def test_density_equals_the_dense_jax_spectrum_smoothed():
    # The 256-20-10 relu shape at small width: the range spectrum omits many zeros (rank < N).
    model, theta, x, y = case_data(lambda: rc.mlp([20, 8, 4]), 3)
    H = np.asarray(jax_derivatives(model, theta, x, y, jit=True)[2])
    lam_jax = np.linalg.eigvalsh(0.5 * (H + H.T))
    lam = all_eigenvalues(model, theta, x, y)
    assert lam.shape == (model.num_params,)
    scale = np.abs(lam_jax).max()
    np.testing.assert_allclose(lam, lam_jax, rtol=0, atol=rtol_for(model.num_params + accumulated(model, 3)) * scale)
    sigma2 = 1e-3 * scale**2
    grid, rho = hessian_density(model, theta, x, y, num_bins=400, sigma2=sigma2, normalize=False)
    ref = _density_from_dense(lam_jax, grid, sigma2)
    # The kernel is Lipschitz with constant max|phi'| = phi(0) / sqrt(e sigma2): eigenvalue
    # errors delta move rho by at most that times delta.
    delta = rtol_for(model.num_params + accumulated(model, 3)) * scale
    lip = 1 / (math.sqrt(2 * math.pi * sigma2) * math.sqrt(math.e * sigma2))
    np.testing.assert_allclose(rho, ref, rtol=rtol_for(model.num_params), atol=lip * delta)


def test_density_has_unit_mass_and_normalizes():
    lam = np.array([-1.0, 0.5, 2.0])
    grid = np.linspace(-4, 5, 9001)
    rho = spectral_density(lam, grid, 0.05, num_params=5)
    dt = grid[1] - grid[0]
    # Trapezoid rule on a smooth integrand whose tails beyond the grid are < 1e-30: its error
    # is dt^2/12 * max|rho''| ~ 1e-7 / 12 * 2 / (0.05^1.5 sqrt(2 pi)) < 1e-6.
    assert abs(np.trapezoid(rho, grid) - 1) < 1e-6
    at0 = (2 + sum(math.exp(-l * l / 0.1) for l in lam)) / 5 / math.sqrt(2 * math.pi * 0.05)  # two zeros
    assert abs(rho[np.argmin(np.abs(grid))] - at0) <= rtol_for(5) * at0
    normed = spectral_density(lam, grid, 0.05, num_params=5, normalize=True)
    assert abs(normed.sum() * dt - 1) < 1e-12


def test_density_on_every_backend(xp):
    lam_np, grid_np = np.array([-0.3, 0.0, 1.2]), np.linspace(-1, 2, 31)
    out = spectral_density(xp.asarray(lam_np), xp.asarray(grid_np), 0.1, num_params=4)
    np.testing.assert_allclose(to_host(out), spectral_density(lam_np, grid_np, 0.1, num_params=4),
                               rtol=rtol_for(4), atol=0)


def test_bad_density_arguments():
    lam, grid = np.zeros(3), np.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="sigma2 must be positive"):
        spectral_density(lam, grid, 0.0)
    with pytest.raises(ValueError, match="num_params"):
        spectral_density(lam, grid, 1.0, num_params=2)
