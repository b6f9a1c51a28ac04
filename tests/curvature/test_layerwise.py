"""The layerwise (truncated R-operator) Hessian equals the reference and JAX; fast paths follow
what layers and losses declare."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refchaos as rc
from refchaos.curvature import spectrum
from refchaos.curvature.hessian import hessian, method_costs
from refchaos.curvature.structure import free_layer
from refchaos.nn import Elementwise
from refchaos.nn.registry import LAYERS, register_layer
from tests.autodiff import jax_derivatives
from tests.curvature.test_hessian_fast import _accumulated
from tests.curvature.test_spectrum import _data
from tests.tolerances import assert_normwise_close, rtol_for


def test_cnn_layerwise_equals_rop_and_jax():
    model = rc.nn.cnn(2)
    theta = model.init(seed=1, scheme="he")  # PyTorch's default leaves the 4th block dead here
    x, y = _data(model, 3)
    H = hessian(model, theta, x, y, method="layerwise")
    rtol = rtol_for(_accumulated(model, 3) * 9)
    assert_normwise_close(H, hessian(model, theta, x, y, method="rop"), rtol, "cnn layerwise vs rop")
    _, _, H_jax, _ = jax_derivatives(model, theta, x, y, jit=True)
    assert_normwise_close(H, H_jax, rtol, "cnn layerwise vs jax")
    assert min(method_costs(model), key=method_costs(model).get) == "layerwise"


def test_h22_cnn_auto_is_layerwise(usps_head):
    """rc.cnn(4) on 4 real digits: hessian auto (layerwise) equals rop; spectrum auto (deflated)
    equals the eigh of the whole H."""
    x_all, y_all = usps_head
    model = rc.nn.cnn(4)
    theta = model.init(seed=0)
    x, y = x_all[:4].reshape(4, 1, 16, 16), y_all[:4]
    H = hessian(model, theta, x, y)
    assert_normwise_close(H, hessian(model, theta, x, y, method="rop"),
                          rtol_for(_accumulated(model, 4) * 9), "cnn(4) auto vs rop")
    lam, V = spectrum(model, theta, x, y)  # auto: deflated (dead units split off)
    N = model.num_params
    dead = np.all(H == 0, axis=1) & np.all(H == 0, axis=0)
    assert dead.sum() > 100 and lam.shape == (N,)  # PyTorch's init leaves many units dead here
    err = 2 * rtol_for(N) * np.abs(lam).max()
    lam_d = np.linalg.eigvalsh(0.5 * (H + H.T))
    np.testing.assert_allclose(lam, lam_d, rtol=0, atol=err)
    np.testing.assert_allclose(V.T @ V, np.eye(N), rtol=0, atol=rtol_for(N))
    assert np.linalg.norm(H @ V - V * lam[None, :], 2) <= err
    assert np.count_nonzero(lam == 0.0) >= dead.sum()  # exact zeros, no tolerance


@settings(max_examples=12, deadline=None)
@given(D=st.integers(1, 6), widths=st.lists(st.integers(1, 5), min_size=0, max_size=3),
       C=st.integers(2, 4), B=st.integers(1, 4),
       act=st.sampled_from(["relu", "tanh", "sigmoid", "softplus"]),
       loss=st.sampled_from(["cross_entropy", "mse"]), seed=st.integers(0, 2**16))
def test_layerwise_equals_rop_hypothesis(D, widths, C, B, act, loss, seed):
    model = rc.mlp([D, *widths, C], activation=act, loss=loss)
    theta = model.init(seed=seed)
    x, y = _data(model, B, seed)
    assert_normwise_close(hessian(model, theta, x, y, method="layerwise", block_size=3),
                          hessian(model, theta, x, y, method="rop"),
                          rtol_for(_accumulated(model, B)), "layerwise vs rop")


class Doubling(Elementwise):
    """y = 2 x: a new layer kind that declares itself linear in its input (test only)."""

    kind = "doubling"
    input_hessian_is_zero = True

    def __init__(self):
        super().__init__("identity")

    def forward(self, params, x):
        return 2 * x, x

    def backward(self, params, cache, dy, need_dx=True):
        return (2 * dy if need_dx else None), ()

    def backward_block(self, params, cache, dY, need_dx=True):
        return (2 * dY if need_dx else None), ()

    def r_forward(self, params, cache, vparams, rx):
        return None if rx is None else 2 * rx

    def r_backward(self, params, cache, dy, vparams, rx, rdy, need_dx=True):
        return (2 * rdy if need_dx else None), ()


class Undeclared(Doubling):
    kind = "undeclared"
    input_hessian_is_zero = False  # the safe default of refchaos.nn.layer.Layer


@pytest.fixture
def new_layers():
    register_layer("doubling", Doubling, lambda l: {})
    register_layer("undeclared", Undeclared, lambda l: {})
    yield
    del LAYERS["doubling"], LAYERS["undeclared"]


def test_a_new_layer_joins_the_fast_paths_by_declaring(new_layers):
    """The free layer and the range route follow the declarations, not layer kinds."""
    D, H, C, B = 30, 6, 4, 3
    declared = rc.sequential([rc.nn.Dense(D, H), Doubling(), rc.nn.Dense(H, C)], (D,))
    undeclared = rc.sequential([rc.nn.Dense(D, H), Undeclared(), rc.nn.Dense(H, C)], (D,))
    assert free_layer(declared) == 0 and free_layer(undeclared) == 2
    theta = declared.init(seed=0)
    x, y = _data(declared, B)
    H_ref = hessian(declared, theta, x, y, method="rop")
    for model in (declared, undeclared):
        for method in ("structured", "layerwise"):
            assert_normwise_close(hessian(model, theta, x, y, method=method), H_ref,
                                  rtol_for(_accumulated(model, B)), f"{model!r} {method}")
        lam, _ = spectrum(model, theta, x, y, method="auto")  # Dense first: reduced either way
        lam_d = np.linalg.eigvalsh(0.5 * (H_ref + H_ref.T))
        nz = np.sort(np.argsort(-np.abs(lam_d), kind="stable")[:lam.shape[0]])
        np.testing.assert_allclose(lam, lam_d[nz], rtol=0, atol=2 * rtol_for(60) * np.abs(lam_d).max())


def test_loss_declarations():
    """hessian_sqrt M: M M^T = the loss Hessian in z; hessian_rank = the rank of M."""
    rng = np.random.default_rng(3)
    z = rng.standard_normal((4, 6))
    xp = rc.backend.get_namespace("numpy")
    for name, rank in (("cross_entropy", 5), ("mse", 6)):
        loss = rc.nn.get_loss(name)
        M = loss.hessian_sqrt(z, xp)
        HZ = loss.hess_factor(z, xp)
        np.testing.assert_allclose(M @ np.swapaxes(M, 1, 2), HZ, rtol=0, atol=rtol_for(6) * np.abs(HZ).max())
        assert loss.hessian_rank(6) == rank
        assert all(np.linalg.matrix_rank(M[b]) == rank for b in range(4))


def test_layer_declarations():
    dense, conv = rc.nn.Dense(3, 2), rc.nn.Conv2d(1, 2, 3)
    assert dense.linear_in_params and dense.input_hessian_is_zero and dense.input_contracted
    assert conv.linear_in_params and conv.input_hessian_is_zero and not conv.input_contracted
    assert rc.nn.Elementwise("relu").input_hessian_is_zero
    assert not rc.nn.Elementwise("tanh").input_hessian_is_zero
    assert rc.nn.MaxPool2d(2).input_hessian_is_zero and rc.nn.Flatten().input_hessian_is_zero
    assert not rc.nn.Elementwise("relu").linear_in_params
    assert dense.with_in_features(5).in_features == 5
