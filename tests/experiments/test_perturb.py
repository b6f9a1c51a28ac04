"""H22 Sec. 4.2 perturbation analysis: directions of norm eps, d(0) = eps, Eq. (15) fit, refusals."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from refchaos.experiments.perturb import (PerturbError, default_config, directions,
                                          lyapunov_basis, read_table, run_perturb)
from refchaos.experiments.setup import prepare
from refchaos.lyapunov import DistanceFit, STRATEGIES

TINY = replace(default_config(), model="mlp:4", steps=15)
N = 4 * 64 + 4 + 4 * 10 + 10


@pytest.fixture(scope="module")
def perturbed(tmp_path_factory):
    out = tmp_path_factory.mktemp("perturb")
    return out, run_perturb(TINY, out, eps=(0.1, 0.01))


@pytest.mark.parametrize("k", [None, 40])
def test_directions_have_norm_eps(k):
    setup = prepare(TINY)
    exponents, W = lyapunov_basis(setup, TINY.steps, k)
    assert W.shape == (N, k or N)
    strategies = STRATEGIES if k is None else ("top", "chaotic", "random")
    for eps in (0.1, 0.003):
        dirs = directions(exponents, W, eps, strategies, seed=0, steps=TINY.steps)
        assert list(dirs) == list(strategies)
        for d in dirs.values():
            assert abs(np.linalg.norm(d) - eps) <= 8 * np.finfo(float).eps * eps
    top = directions(exponents, W, 1.0, ("top",), seed=0, steps=TINY.steps)["top"]
    np.testing.assert_allclose(abs(top @ W[:, 0]), 1.0, rtol=1e-12)


def test_distance_starts_at_eps_and_fit_follows_the_curve(perturbed):
    out, summary = perturbed
    table = read_table(out / "perturb.csv")
    fits = {(f["strategy"], f["eps"]): f for f in json.loads((out / "fits.json").read_text())}
    assert set(table) == {(s, e) for s in STRATEGIES for e in (0.1, 0.01)} == set(fits)
    for (s, eps), cols in table.items():
        np.testing.assert_allclose(cols["distance"][0], eps, rtol=1e-12)
        f = fits[(s, eps)]
        model = DistanceFit(f["alpha"], f["beta"], f["d0"], f["residual"])
        np.testing.assert_allclose(cols["fit"], model(cols["step"]), rtol=1e-12)
        # Eq. (15) describes the growing divergences at eps = 0.1 (RMS relative error < 10 %);
        # the bottom direction first contracts, which the model (d^2 rising) cannot follow.
        rel = (cols["fit"] - cols["distance"]) / cols["distance"]
        if eps == 0.1 and s != "bottom":
            assert np.sqrt(np.mean(rel**2)) < 0.1, (s, eps)
        lam = np.load(out / "exponents.npz")["exponents"]
        np.testing.assert_allclose(cols["upper_bound"], eps * np.exp(lam.max() * cols["step"]))
        np.testing.assert_allclose(cols["lower_bound"], eps * np.exp(lam.min() * cols["step"]))
    assert summary["kind"] == "perturb" and summary["num_params"] == N
    assert (out / "figures" / "perturb.png").read_bytes()[:4] == b"\x89PNG"


def test_unrepresentable_tangent_matrix_is_refused_with_advice(tmp_path):
    with pytest.raises(PerturbError, match="smaller --model"):
        run_perturb(TINY, tmp_path, max_matrix_bytes=1024)
    setup = prepare(replace(TINY, lr=50.0, steps=400))
    with pytest.raises(PerturbError, match="fewer --steps, or --k"):
        lyapunov_basis(setup, 400)


def test_tangent_from_a_stored_run_gives_the_same_analysis(tmp_path, perturbed):
    """Model A's Y(T) from a completed `run --measure subspaces` of the same training: the
    same exponents and distance curves, bit for bit, as integrating it in the analysis."""
    from refchaos.experiments.run import run

    run_dir = tmp_path / "A"
    run(replace(TINY, measure=("loss", "subspaces"), every=TINY.steps), run_dir, progress=False)
    out = tmp_path / "p"
    run_perturb(TINY, out, eps=(0.1, 0.01), tangent_from=run_dir)
    ref = perturbed[0]
    np.testing.assert_array_equal(np.load(out / "exponents.npz")["exponents"],
                                  np.load(ref / "exponents.npz")["exponents"])
    assert (out / "perturb.csv").read_bytes() == (ref / "perturb.csv").read_bytes()


def test_tangent_from_refuses_another_model_a(tmp_path):
    from refchaos.experiments.run import run

    other, short, plain = tmp_path / "lr", tmp_path / "short", tmp_path / "plain"
    run(replace(TINY, lr=0.05, measure=("loss", "subspaces"), every=TINY.steps), other, progress=False)
    run(replace(TINY, steps=10, measure=("loss", "subspaces"), every=10), short, progress=False)
    run(TINY, plain, progress=False)
    with pytest.raises(PerturbError, match="another model A: lr: stored 0.05, given 0.1"):
        run_perturb(TINY, tmp_path / "p1", tangent_from=other)
    with pytest.raises(PerturbError, match="needs a completed run of 15 steps"):
        run_perturb(TINY, tmp_path / "p2", tangent_from=short)
    with pytest.raises(PerturbError, match="no tangent matrix"):
        run_perturb(TINY, tmp_path / "p3", tangent_from=plain)
    with pytest.raises(PerturbError, match="not a run directory"):
        run_perturb(TINY, tmp_path / "p4", tangent_from=tmp_path / "missing")
    assert not (tmp_path / "p1").exists()  # refused before anything was written
