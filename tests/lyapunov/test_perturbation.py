"""H22 Sec. 4.2: perturbation directions, distance curves, the Eq. (15) fit and Eq. (5) bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from refchaos.backend import to_host
from refchaos.lyapunov import (
    STRATEGIES,
    distance_bounds,
    distance_curves,
    fit_distance,
    neutral_exponent,
    perturbation_directions,
)
from tests.tolerances import rtol_for

N = 8


def spectrum_case(xp, seed=0):
    """Exponents in shuffled order (3 > 0, one exactly 0, 4 < 0) and orthonormal eigenvectors."""
    lam = np.array([0.3, -0.1, 0.0, 1.2, -2.0, 0.05, -0.4, -0.7])
    V, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((N, N)))
    return lam, V, xp.asarray(lam, dtype=xp.float64), xp.asarray(V, dtype=xp.float64)


def test_directions_have_norm_eps_and_lie_in_their_subspaces(xp):
    lam, V, lam_x, V_x = spectrum_case(xp)
    eps = 0.1
    dirs = perturbation_directions(lam_x, V_x, eps=eps, seed=1)
    assert set(dirs) == set(STRATEGIES)
    tol = rtol_for(N)
    host = {k: np.asarray(to_host(v)) for k, v in dirs.items()}
    for name, v in host.items():
        assert v.shape == (N,) and abs(np.linalg.norm(v) - eps) <= tol * eps, name
    # top / bottom: +-eps times the eigenvector of the largest / smallest exponent (any order)
    assert abs(abs(V[:, 3] @ host["top"]) - eps) <= tol * eps
    assert abs(abs(V[:, 4] @ host["bottom"]) - eps) <= tol * eps
    # H22's subspaces: lambda > 0 and lambda < 0; lambda = 0 (an eigenvalue 1 of Y^T Y) is in
    # neither, so each direction has no component outside its own subspace
    chaotic, nonchaotic = lam > 0, lam < 0
    assert np.max(np.abs(V[:, ~chaotic].T @ host["chaotic"])) <= tol * eps
    assert np.max(np.abs(V[:, ~nonchaotic].T @ host["nonchaotic"])) <= tol * eps
    # random directions of a subspace really mix it (every coefficient nonzero)
    assert np.min(np.abs(V[:, chaotic].T @ host["chaotic"])) > 1e-6
    assert np.min(np.abs(V[:, nonchaotic].T @ host["nonchaotic"])) > 1e-6
    # the random direction is not confined to either subspace
    assert np.linalg.norm(V[:, chaotic].T @ host["random"]) > 1e-3
    assert np.linalg.norm(V[:, ~chaotic].T @ host["random"]) > 1e-3


def test_directions_are_seeded_and_eps_only_scales():
    lam, V, _, _ = spectrum_case(np)
    a = perturbation_directions(lam, V, eps=0.1, seed=4)
    b = perturbation_directions(lam, V, eps=0.01, seed=4)
    c = perturbation_directions(lam, V, eps=0.1, seed=5)
    for k in STRATEGIES:
        np.testing.assert_allclose(10 * b[k], a[k], rtol=rtol_for(N))
    assert not np.allclose(a["random"], c["random"])


def test_directions_do_not_depend_on_the_basis_returned_for_the_spectrum():
    # An SVD may return any sign for each singular vector and, where singular values are close
    # or equal, any orthonormal basis of their subspace (the returned vectors do differ between
    # LAPACK builds and thread counts). Flipping every sign leaves each strategy's direction
    # unchanged; any orthonormal basis of V_chaotic and of V_non-chaotic (not an eigenbasis:
    # a rotation within the whole subspace) leaves the chaotic, non-chaotic and random ones
    # unchanged; both up to rounding, ~N u.
    lam, V, _, _ = spectrum_case(np)
    rng = np.random.default_rng(7)
    a = perturbation_directions(lam, V, eps=0.1, seed=3)
    flipped = perturbation_directions(lam, V * rng.choice([-1.0, 1.0], size=N), eps=0.1, seed=3)
    W = V.copy()
    for mask in (lam > 0, lam < 0):
        idx = np.flatnonzero(mask)
        Q, _ = np.linalg.qr(rng.standard_normal((idx.size, idx.size)))
        W[:, idx] = W[:, idx] @ Q
    rotated = perturbation_directions(lam, W, eps=0.1, seed=3)
    for k in STRATEGIES:
        np.testing.assert_allclose(flipped[k], a[k], rtol=0, atol=rtol_for(N) * 0.1, err_msg=k)
    for k in ("chaotic", "nonchaotic", "random"):
        np.testing.assert_allclose(rotated[k], a[k], rtol=0, atol=rtol_for(N) * 0.1, err_msg=k)
    # the sign convention: the entry of largest magnitude is positive
    for k in ("top", "bottom"):
        assert a[k][np.argmax(np.abs(a[k]))] > 0


def test_neutral_band_and_leading_vectors():
    lam, V, _, _ = spectrum_case(np)
    # |lambda| <= neutral is in neither subspace: 0.05 and -0.1 drop out at neutral = 0.1
    dirs = perturbation_directions(lam, V, eps=1.0, seed=0, neutral=0.1)
    inside = {"chaotic": lam > 0.1, "nonchaotic": lam < -0.1}
    for name, mask in inside.items():
        assert np.max(np.abs(V[:, ~mask].T @ dirs[name])) <= rtol_for(N)
        assert np.min(np.abs(V[:, mask].T @ dirs[name])) > 1e-6
    with pytest.raises(ValueError, match="no chaotic"):
        perturbation_directions(lam, V, strategies=["chaotic"], neutral=2.0)
    with pytest.raises(ValueError, match="neutral"):
        perturbation_directions(lam, V, neutral=-1.0)
    # only the k = 5 leading (largest) exponents known: bottom is the smallest of them, the
    # directions lie in their span except the random one, which is uniform in R^N
    order = np.argsort(-lam)[:5]
    part = perturbation_directions(lam[order], V[:, order], eps=1.0, seed=0)
    np.testing.assert_allclose(abs(V[:, order[-1]] @ part["bottom"]), 1.0, rtol=1e-14)
    rest = V[:, np.argsort(-lam)[5:]]
    for name in ("top", "bottom", "chaotic", "nonchaotic"):
        assert np.max(np.abs(rest.T @ part[name])) <= rtol_for(N), name
    assert np.linalg.norm(rest.T @ part["random"]) > 1e-3


def test_neutral_exponent_is_the_svd_resolution_in_exponent_units():
    # sigma_max = e^(lambda_1 t); delta = n u sigma_max; band = -ln(1 - delta) / t
    n, t, lam1 = 100, 50.0, 0.02
    delta = n * np.finfo(np.float64).eps * math.exp(lam1 * t)
    band = neutral_exponent(lam1, t, n, np.float64)
    assert band == pytest.approx(-math.log1p(-delta) / t, rel=1e-15)
    # a singular value 1 +- delta / 2 has an exponent inside the band, 1 +- 2 delta outside
    for f in (0.5, -0.5):
        assert abs(math.log1p(f * delta) / t) <= band
    for f in (2.0, -2.0):
        assert abs(math.log1p(f * delta) / t) > band
    assert neutral_exponent(lam1, t, n, np.float32) > band  # coarser dtype, wider band
    assert neutral_exponent(800.0, 1.0, n, np.float64) == math.inf  # delta >= 1


def test_direction_errors():
    lam, V, _, _ = spectrum_case(np)
    with pytest.raises(ValueError, match="no chaotic"):
        perturbation_directions(-np.abs(lam), V, strategies=["chaotic"])
    with pytest.raises(ValueError, match="unknown"):
        perturbation_directions(lam, V, strategies=["sideways"])
    with pytest.raises(ValueError, match="shape|need"):
        perturbation_directions(lam[:3], V)


def test_distances_stay_inside_eq5_bounds_for_a_linear_map():
    # theta <- A theta with A symmetric: Y(t) = A^t, its singular values are |a_i|^t exactly,
    # so e^{lambda_N t} eps <= |A^t dtheta| <= e^{lambda_1 t} eps for every |dtheta| = eps, with
    # equality along the top and bottom eigenvectors (up to rounding, ~t u relative).
    rng = np.random.default_rng(2)
    a = np.array([1.05, 0.9, -0.8, 1.02, 0.6, -1.01, 0.95, 0.3])
    lam = np.log(np.abs(a))
    V, _ = np.linalg.qr(rng.standard_normal((N, N)))
    A = V @ np.diag(a) @ V.T
    theta0 = rng.standard_normal(N)
    T = 100
    dirs = perturbation_directions(lam, V, eps=0.1, seed=0)
    perts = {(k, e): v * (e / 0.1) for k, v in dirs.items() for e in (0.1, 0.01)}
    curves = distance_curves(lambda th, t: A @ th, theta0, perts, T)
    t = np.arange(T + 1)
    for (name, e), d in curves.items():
        lower, upper = distance_bounds(lam, t, eps=e)
        assert d.shape == (T + 1,) and d[0] == pytest.approx(e, rel=1e-12)
        # theta (|theta| ~ 3) carries absolute rounding errors ~ t u |theta| < 1e-12, which is
        # all d measures once a curve (bottom: 0.3^t eps) falls below it; hence an absolute
        # 1e-12 on top of the relative rtol_for(T)
        slack = rtol_for(T) * upper + 1e-12
        assert np.all(d >= lower - slack) and np.all(d <= upper + slack), (name, e)
    np.testing.assert_allclose(curves[("top", 0.1)], distance_bounds(lam, t, 0.1)[1], rtol=1e-9)
    np.testing.assert_allclose(curves[("bottom", 0.1)], distance_bounds(lam, t, 0.1)[0],
                               rtol=1e-6, atol=1e-12)


def test_eq15_fit_is_exact_on_noiseless_data():
    # d^2 = alpha t^2 + beta t + eps^2 exactly: the least-squares solution reproduces alpha
    # and beta up to cond(X) times the rounding of the data (rtol_for(T) per entry).
    alpha, beta, eps = 3.0e-4, 2.0e-2, 0.1
    t = np.arange(0.0, 1000.0)
    d = np.sqrt(alpha * t**2 + beta * t + eps**2)
    fit = fit_distance(t, d, d0=eps)
    X = np.stack([t, t**2], axis=1)
    tol = np.linalg.cond(X) * rtol_for(t.size)
    assert fit.alpha == pytest.approx(alpha, rel=tol)
    assert fit.beta == pytest.approx(beta, rel=tol)
    assert fit.residual <= tol * np.max(d**2)
    free = fit_distance(t, d, d0=None)
    assert free.d0 == pytest.approx(eps, rel=1e-6)
    np.testing.assert_allclose(fit(t), d, rtol=1e-10)


def test_eq15_fit_on_noisy_data_is_within_its_standard_error():
    # Gaussian noise sigma on d^2: the estimator is unbiased with covariance
    # sigma^2 (X^T X)^{-1}; allow 4 standard errors (two-sided probability 6e-5).
    rng = np.random.default_rng(11)
    alpha, beta, eps, sigma = 3.0e-4, 2.0e-2, 0.1, 0.5
    t = np.arange(100.0, 1100.0)  # d^2 >= 5 = 10 sigma: the noisy d^2 stays positive
    y = alpha * t**2 + beta * t + eps**2 + sigma * rng.standard_normal(t.size)
    d = np.sqrt(np.maximum(y, 0.0))
    assert np.all(y > 0)
    fit = fit_distance(t, d, d0=eps)
    X = np.stack([t, t**2], axis=1)
    cov = sigma**2 * np.linalg.inv(X.T @ X)
    assert abs(fit.beta - beta) <= 4 * math.sqrt(cov[0, 0])
    assert abs(fit.alpha - alpha) <= 4 * math.sqrt(cov[1, 1])
    assert fit.residual == pytest.approx(sigma, rel=0.1)  # 1000 residuals: rel. error ~ 2 %


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError):
        fit_distance(np.arange(2.0), np.ones(2))
    with pytest.raises(ValueError, match="finite"):
        fit_distance(np.arange(5.0), np.array([1.0, 2.0, np.inf, 3.0, 4.0]))


def test_distance_model_is_nan_where_the_fitted_square_is_negative():
    """A shrinking curve fits alpha < 0: d(t)^2 = alpha t^2 + beta t + d0^2 turns negative at
    the positive root, where Eq. (15) has no real distance; the model says NaN, silently."""
    import warnings

    from refchaos.lyapunov.perturbation import DistanceFit

    fit = DistanceFit(alpha=-1.0, beta=0.0, d0=2.0, residual=0.0)  # d^2 = 4 - t^2, root t = 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = fit(np.array([0.0, 1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(d[:3], [2.0, np.sqrt(3.0), 0.0])
    assert np.isnan(d[3])
