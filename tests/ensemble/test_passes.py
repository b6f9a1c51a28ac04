"""Batched passes over a member axis against JAX and against each member's single-model pass.

Tolerance: member m's gradient and H v differ from its single-model pass (and from JAX) only in
rounding; the shared first-layer GEMM and the batched products add the same dot products in
possibly another order. The longest accumulation is over B samples plus the features of each
layer, so normwise ``rtol_for(B + sum of layer widths) * kappa`` (tests/tolerances.py, kappa the
softmax condition of cross-entropy). Per-member inputs run the very same products per member.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import refchaos as rc
from refchaos.backend import asarray, to_host
from refchaos.ensemble import EnsembleInputError, EnsemblePasses
from refchaos.ensemble.rules import Folded, Looped, StackedDense, rule_for
from refchaos.nn import Dense, Elementwise, Flatten, Model
from refchaos.nn.cnn import cnn
from refchaos.nn.layer import Layer
from tests.autodiff import jax_loss
from tests.tolerances import assert_normwise_close, rtol_for, softmax_condition

M, K = 3, 2  # members, directions per member


def _mlp_tanh():
    return rc.mlp([6, 5, 4], activation="tanh")


def _flatten_relu_mse():
    return Model([Flatten(), Dense(8, 5), Elementwise("relu"), Dense(5, 3)], "mse", (2, 4))


def _cnn():
    return cnn(channels=1, activation="tanh", input_size=16)


CASES = {"mlp-tanh": _mlp_tanh, "flatten-relu-mse": _flatten_relu_mse, "cnn-looped": _cnn}
JAX_CHECKED = ("mlp-tanh", "flatten-relu-mse")  # the CNN's JAX twin takes ~30 s here; its
# single-model pass, checked against JAX in tests/curvature, is the reference for the loop


def _data(model, B, per_member, seed=0):
    rng = np.random.default_rng(seed)
    lead = (M, B) if per_member else (B,)
    x = rng.standard_normal((*lead, *model.input_shape))
    y = rng.integers(0, model.num_outputs, lead)
    Theta = np.stack([model.init(seed=s) for s in range(M)])
    VT = rng.standard_normal((K, M, model.num_params))
    return Theta, x, y, VT


def _accumulated(model, B):
    return B + sum(int(np.prod(s)) for s in model.in_shapes) + model.num_outputs


@pytest.mark.parametrize("per_member", [False, True], ids=["shared-x", "per-member-x"])
@pytest.mark.parametrize("case", list(CASES))
def test_members_equal_single_model_and_jax(case, per_member):
    model = CASES[case]()
    B = 7
    Theta, x, y, VT = _data(model, B, per_member)
    losses, G, HV = EnsemblePasses(model).grad_and_hvp(Theta, x, y, VT)
    losses2, G2 = EnsemblePasses(model).loss_and_grad(Theta, x, y)
    assert losses.shape == (M,) and G.shape == (M, model.num_params)
    assert HV.shape == (K, M, model.num_params)
    np.testing.assert_array_equal(G, G2)  # the gradient does not depend on the R-pass
    np.testing.assert_array_equal(losses, losses2)
    L = jax_loss(model) if case in JAX_CHECKED else None
    for m in range(M):
        xm, ym = (x[m], y[m]) if per_member else (x, y)
        rtol = rtol_for(_accumulated(model, B)) * softmax_condition(model, Theta[m], xm)
        if case in JAX_CHECKED:
            g_jax = jax.grad(L)(jnp.asarray(Theta[m]), jnp.asarray(xm), jnp.asarray(ym))
            hv_jax = np.stack([jax.jvp(lambda th: jax.grad(L)(th, xm, ym),
                                       (jnp.asarray(Theta[m]),), (jnp.asarray(VT[k, m]),))[1]
                               for k in range(K)])
            assert_normwise_close(G[m], g_jax, rtol, f"{case} gradient of member {m} vs JAX")
            assert_normwise_close(HV[:, m], hv_jax, rtol, f"{case} H v of member {m} vs JAX")
        assert_normwise_close(G[m], model.grad(Theta[m], xm, ym), rtol, "vs single model")
        assert_normwise_close(HV[:, m], model.hvp(Theta[m], xm, ym, VT[:, m].T).T, rtol,
                              "H v vs single model")
        assert losses[m] == pytest.approx(float(model.loss(Theta[m], xm, ym)), rel=rtol)
        if per_member:  # the very same products per member: bitwise the single-model pass
            np.testing.assert_array_equal(G[m], model.grad(Theta[m], xm, ym))


def test_every_backend(xp):
    """numpy, array_api_strict, torch (CPU) and cupy give the NumPy numbers (shared x)."""
    model = _mlp_tanh()
    Theta, x, y, VT = _data(model, 9, per_member=False, seed=2)
    want = EnsemblePasses(model).grad_and_hvp(Theta, x, y, VT)
    dev = lambda a: asarray(a, xp, xp.float64)  # noqa: E731
    got = EnsemblePasses(model).grad_and_hvp(dev(Theta), dev(x), asarray(y, xp), dev(VT))
    rtol = rtol_for(_accumulated(model, 9)) * softmax_condition(model, Theta[0], x)
    for a, b, what in zip(got, want, ("losses", "gradients", "H v")):
        assert type(a).__module__.split(".")[0] == type(dev(Theta)).__module__.split(".")[0]
        assert_normwise_close(to_host(a), b, rtol, what)


class _Opaque(Layer):
    """A layer that declares nothing: the ensemble must loop over members."""

    def output_shape(self, in_shape):
        return tuple(in_shape)


def test_rules_follow_declarations():
    conv = _cnn()
    kinds = {type(layer).__name__: type(rule_for(layer, s)).__name__
             for layer, s in zip(conv.layers, conv.in_shapes)}
    assert kinds == {"Conv2d": "Looped", "Elementwise": "Folded", "MaxPool2d": "Looped",
                     "Flatten": "Folded", "Dense": "StackedDense"}  # cnn(): tanh
    assert isinstance(rule_for(_Opaque(), (3,)), Looped)
    assert isinstance(rule_for(Dense(3, 2), (3,)), StackedDense)
    assert isinstance(rule_for(Elementwise("relu"), (3,)), Folded)
    assert isinstance(rule_for(Elementwise("sigmoid"), (3,)), Folded)


def test_bad_input_is_named():
    model = _mlp_tanh()
    Theta, x, y, VT = _data(model, 5, per_member=False)
    passes = EnsemblePasses(model)
    with pytest.raises(EnsembleInputError, match="Theta must be"):
        passes.loss_and_grad(Theta[:, :-1], x, y)
    with pytest.raises(EnsembleInputError, match="x must be shared"):
        passes.loss_and_grad(Theta, x[:, :-1], y)
    with pytest.raises(EnsembleInputError, match="per member"):
        passes.loss_and_grad(Theta, np.stack([x] * (M + 1)), np.stack([y] * (M + 1)))
    with pytest.raises(EnsembleInputError, match="y must have shape"):
        passes.loss_and_grad(Theta, x, y[:-1])
    with pytest.raises(EnsembleInputError, match="dtype"):
        passes.loss_and_grad(Theta, x.astype(np.float32), y)
    with pytest.raises(EnsembleInputError, match="directions must have shape"):
        passes.grad_and_hvp(Theta, x, y, VT[:, :-1])


@pytest.mark.parametrize("per_member", [False, True], ids=["shared-x", "per-member-x"])
def test_sample_blocks_equal_the_whole_batch(per_member):
    """sum_c (B_c / B) (block means) = the mean over B: the same sums regrouped, so the two
    agree to the rounding of the longest accumulation (plus one rounding of each weight)."""
    model = _mlp_tanh()
    B = 23
    Theta, x, y, VT = _data(model, B, per_member, seed=4)
    whole = EnsemblePasses(model).grad_and_hvp(Theta, x, y, VT)
    blocked = EnsemblePasses(model, sample_block=5).grad_and_hvp(Theta, x, y, VT)
    kappa = max(softmax_condition(model, th, x[m] if per_member else x) for m, th in enumerate(Theta))
    rtol = rtol_for(_accumulated(model, B) + 2) * kappa
    for a, b, what in zip(blocked, whole, ("losses", "gradients", "H v")):
        assert_normwise_close(a, b, rtol, what)
    one = EnsemblePasses(model, sample_block=B).grad_and_hvp(Theta, x, y, VT)
    for a, b in zip(one, whole):  # one block is the plain pass
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="sample_block"):
        EnsemblePasses(model, sample_block=0)
