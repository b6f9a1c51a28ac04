"""Finite-time chaotic / non-chaotic subspaces (H22 Sec. 4.2) and their overlap: exact cases,
the chance level, the complement identity, and Y(t) against JAX autodiff."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import refchaos as rc
from refchaos.lyapunov import (UnrepresentableError, finite_time_subspaces, random_similarity,
                               subspace_overlap, subspace_similarity, tangent_matrix)
from refchaos.optim import SGD
from tests.autodiff import jax_loss
from tests.tolerances import rtol_for

EPS = np.finfo(np.float64).eps


def orthogonal(n, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def test_similarity_of_exact_angles():
    """s = cos^2 of the angle for two lines; 1 for containment, 0 for orthogonal subspaces."""
    e = np.eye(5)
    for a in (0.0, 0.3, 1.0, np.pi / 2):
        line = np.cos(a) * e[:, :1] + np.sin(a) * e[:, 1:2]
        assert subspace_similarity(e[:, :1], line) == pytest.approx(np.cos(a) ** 2, abs=4 * EPS)
    assert subspace_similarity(e[:, :2], e[:, :4]) == pytest.approx(1.0, abs=8 * EPS)  # contained
    assert subspace_similarity(e[:, :2], e[:, 2:5]) == 0.0
    assert np.isnan(subspace_similarity(e[:, :0], e[:, :2]))
    with pytest.raises(ValueError, match="different spaces"):
        subspace_similarity(e[:, :2], np.eye(4)[:, :2])


def test_chance_level_is_max_dim_over_n():
    """Mean s of uniformly random subspaces (p = 5, q = 8 in R^40) is max(p, q) / n = 0.2,
    within 4 standard errors of 400 draws."""
    n, p, q, draws = 40, 5, 8, 400
    s = np.array([subspace_similarity(orthogonal(n, 2 * i)[:, :p], orthogonal(n, 2 * i + 1)[:, :q])
                  for i in range(draws)])
    assert abs(s.mean() - random_similarity(p, q, n)) < 4 * s.std() / np.sqrt(draws)


def test_split_of_a_designed_spectrum():
    """Y = U diag(sigma) R^T: chaotic = sigma > 1, neutral = sigma 1 within resolution,
    non-chaotic = the rest; bases, exponents and counts exact."""
    n, t = 12, 7.0
    U, R = orthogonal(n, 0), orthogonal(n, 1)
    sigma = np.array([3.0, 2.0, 1.5, 1.0 + 1e-3, 1.0, 1.0 - 2 * EPS, 0.5, 0.1, 1e-3, 1e-9, 1e-14, 0.0])
    Y = U @ np.diag(sigma) @ R.T
    sub = finite_time_subspaces(Y, t)
    delta = n * EPS * 3.0
    assert sub.delta == pytest.approx(delta, rel=1e-12)
    assert (sub.n_chaotic, sub.n_neutral, sub.n_nonchaotic) == (4, 2, 6)
    assert subspace_similarity(sub.chaotic, R[:, :4]) == pytest.approx(1.0, abs=64 * EPS)
    assert subspace_similarity(sub.W, R[:, :6]) == pytest.approx(1.0, abs=64 * EPS)
    # sigma_i carries an absolute error of order n eps sigma_max (delta); ln(sigma_i) then errs by
    # delta / sigma_i, relative to ln(sigma_i) most for sigma = 1.001: bound delta / ln(1.001), x 4
    np.testing.assert_allclose(sub.exponents[:4], np.log(sigma[:4]) / t, rtol=4 * delta / np.log(1.001))


def test_nonchaotic_overlap_equals_the_complements():
    """The non-chaotic overlap from the complement identity equals s of explicit bases of
    V_non-chaotic (trailing right singular vectors), for two designed times."""
    n = 20
    R1 = orthogonal(n, 3)
    R2 = np.linalg.qr(R1 + 0.2 * np.random.default_rng(4).standard_normal((n, n)))[0]
    s1 = np.geomspace(5.0, 0.05, n)
    s2 = np.geomspace(4.0, 0.02, n)
    Y1, Y2 = orthogonal(n, 5) @ np.diag(s1) @ R1.T, orthogonal(n, 6) @ np.diag(s2) @ R2.T
    a, b = finite_time_subspaces(Y1, 10), finite_time_subspaces(Y2, 20)
    ov = subspace_overlap(a, b)
    Wa = np.linalg.svd(Y1)[2].T[:, a.n_chaotic + a.n_neutral:]
    Wb = np.linalg.svd(Y2)[2].T[:, b.n_chaotic + b.n_neutral:]
    assert ov.nonchaotic == pytest.approx(subspace_similarity(Wa, Wb), abs=rtol_for(n * n))
    assert ov.chaotic == pytest.approx(subspace_similarity(a.chaotic, b.chaotic), abs=rtol_for(n * n))
    assert ov.chaotic_random == max(a.n_chaotic, b.n_chaotic) / n
    assert ov.nonchaotic_random == max(a.n_nonchaotic, b.n_nonchaotic) / n
    assert 0 < ov.nonchaotic < 1 and 0 < ov.chaotic < 1


def test_unrepresentable_is_refused():
    with pytest.raises(UnrepresentableError, match="non-finite"):
        finite_time_subspaces(np.array([[1.0, np.inf], [0.0, 1.0]]), 1)
    with pytest.raises(UnrepresentableError, match="reaches 1"):
        finite_time_subspaces(np.diag([1e17, 1.0, 1e-3]), 1)
    with pytest.raises(ValueError, match="square"):
        finite_time_subspaces(np.ones((3, 2)), 1)


def trained_case():
    """(model, theta(0), batches, T, lr, Y(T)) of 6 SGD steps at lr 2 of a tanh MLP, N = 51:
    both chaotic and non-chaotic directions, and neutral ones."""
    model = rc.mlp([4, 6, 3], activation="tanh")
    theta = model.init(seed=0)
    rng = np.random.default_rng(100)
    T, lr = 6, 2.0
    data = [(rng.standard_normal((5, 4)), rng.integers(0, 3, 5)) for _ in range(T)]
    return model, theta, data, T, lr, tangent_matrix(SGD(lr), model, theta, lambda t: data[t], T).Y


def test_chaotic_subspace_of_training_equals_jax():
    """V_chaotic(T) of Y(T) along SGD equals that of jax.jacfwd of the composed steps.
    Wedin: the subspaces differ by sin(angle) <= ||Y - J||_2 / gap, so 1 - s <= (||Y - J||_F / gap)^2,
    gap the distance between the chaotic and the other singular values of J."""
    model, theta, data, T, lr, Y = trained_case()
    grad = jax.grad(jax_loss(model))

    def F(th):
        for x, y in data:
            th = th - lr * grad(th, jnp.asarray(x), jnp.asarray(y))
        return th

    J = np.asarray(jax.jacfwd(F)(jnp.asarray(theta)))
    ours, ref = finite_time_subspaces(Y, T), finite_time_subspaces(J, T)
    p, m = ref.n_chaotic, ref.n_chaotic + ref.n_neutral
    assert ours.n_chaotic == p and 0 < p < model.num_params  # both kinds present
    assert ours.n_neutral == ref.n_neutral  # sigma = 1 exactly: directions no Hessian of the run moves
    ov = subspace_overlap(ours, ref)
    err = np.linalg.norm(Y - J)
    for got, k in ((ov.chaotic, p), (ov.nonchaotic, m)):  # the split after the k-th singular value
        gap = ref.sigma[k - 1] - ref.sigma[k]
        assert 1 - got <= (err / gap) ** 2 + rtol_for(m * m)


# ----- the Gram route (method="gram"): the same split from the top eigenpairs of Y^T Y --------
def test_gram_split_of_a_designed_spectrum():
    """As the SVD's designed case: counts exact, delta = n eps sigma_max^2, bases within the
    sin-theta bound of the Gram's rounding, 1 - s <= (delta / gap)^2, gap in mu = sigma^2."""
    n, t = 12, 7.0
    U, R = orthogonal(n, 0), orthogonal(n, 1)
    sigma = np.array([3.0, 2.0, 1.5, 1.0 + 1e-3, 1.0, 1.0 - 2 * EPS, 0.5, 0.1, 1e-3, 1e-9, 1e-14, 0.0])
    sub = finite_time_subspaces(U @ np.diag(sigma) @ R.T, t, method="gram")
    assert sub.delta == pytest.approx(n * EPS * 9.0, rel=1e-12)
    assert (sub.n_chaotic, sub.n_neutral, sub.n_nonchaotic) == (4, 2, 6)
    np.testing.assert_allclose(sub.sigma[:6], sigma[:6], rtol=0, atol=sub.delta)
    gap = (1.0 + 1e-3) ** 2 - 1.0  # between the chaotic mu and the neutral ones
    assert 1 - subspace_similarity(sub.chaotic, R[:, :4]) <= (sub.delta / gap) ** 2 + 64 * EPS
    gap = (1.0 - 2 * EPS) ** 2 - 0.25  # between W's mu and the non-chaotic 0.5^2
    assert 1 - subspace_similarity(sub.W, R[:, :6]) <= (sub.delta / gap) ** 2 + 64 * EPS


def test_gram_equals_svd_along_training():
    """On Y(T) of SGD training (N = 51, the JAX case above): the same counts and the same
    subspaces as the SVD route, within the Gram's sin-theta bound (delta / gap in mu)^2."""
    model, _, _, T, _, Y = trained_case()
    svd, gram = finite_time_subspaces(Y, T), finite_time_subspaces(Y, T, method="gram")
    assert (gram.n_chaotic, gram.n_neutral) == (svd.n_chaotic, svd.n_neutral)
    assert 0 < gram.n_chaotic < model.num_params
    m = gram.W.shape[1]
    np.testing.assert_allclose(gram.sigma[:m], svd.sigma[:m], rtol=0, atol=gram.delta)
    ov = subspace_overlap(svd, gram)
    for got, k in ((ov.chaotic, svd.n_chaotic), (ov.nonchaotic, m)):
        gap = svd.sigma[k - 1] ** 2 - svd.sigma[k] ** 2
        assert 1 - got <= (gram.delta / gap) ** 2 + rtol_for(m * m)


def test_gram_without_a_singular_value_near_one():
    """All sigma < 1: no eigenpair above the bound; sigma_max alone, W empty, counts 0."""
    Y = np.diag(np.linspace(0.9, 0.1, 6))
    sub = finite_time_subspaces(Y, 3, method="gram")
    assert (sub.n_chaotic, sub.n_neutral, sub.n_nonchaotic) == (0, 0, 6)
    assert sub.W.shape == (6, 0) and sub.sigma == pytest.approx([0.9], rel=4 * EPS)


def test_gram_on_array_api_strict_equals_numpy():
    xp = pytest.importorskip("array_api_strict")
    n = 10
    U, R = orthogonal(n, 3), orthogonal(n, 4)
    Y = U @ np.diag([2.0, 1.5, 1.0, 1.0, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1]) @ R.T
    a = finite_time_subspaces(Y, 2, method="gram")
    b = finite_time_subspaces(xp.asarray(Y), 2, method="gram")
    assert (a.n_chaotic, a.n_neutral) == (b.n_chaotic, b.n_neutral) == (2, 2)
    assert subspace_similarity(a.W, np.asarray(b.W)) == pytest.approx(1.0, abs=64 * EPS)
    with pytest.raises(ValueError, match="unknown method"):
        finite_time_subspaces(Y, 2, method="qr")
