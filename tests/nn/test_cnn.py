"""CNNs end to end: H22's 1,158-parameter network, PyTorch's theta order and numbers, and
loss / gradient / HVP / exact Hessian against the JAX twin on random small CNNs (Hypothesis).

Tolerance argument (tests/tolerances.py): a derivative of the loss is a chain through every
layer, and the longest nested accumulation in it is bounded by the sum of the inner lengths
of the layers' contractions (:func:`accumulation_length`): per convolution C kh kw (forward),
O kh kw (input adjoint: W^T dy sums O terms, col2im at most kh kw) and B Ho Wo (weight
adjoint); per dense layer D, H and B; per average pool kh kw twice; the softmax C.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refchaos as rc
from refchaos.backend import asarray, to_float, to_host
from refchaos.nn import cnn
from tests.autodiff import jax_derivatives
from tests.tolerances import assert_normwise_close, rtol_for

ACTIVATIONS = ["relu", "tanh", "sigmoid", "softplus", "identity"]


def accumulation_length(model, B):
    """Upper bound on the nested accumulation length of the model's derivatives at batch B."""
    n = model.num_outputs  # softmax normaliser
    for layer, in_shape in zip(model.layers, model.in_shapes):
        if layer.kind == "conv2d":
            kh, kw = layer.kernel_size
            _, Ho, Wo = layer.output_shape(in_shape)
            n += layer.in_channels * kh * kw + layer.out_channels * kh * kw + B * Ho * Wo
        elif layer.kind == "dense":
            n += layer.in_features + layer.out_features + B
        elif layer.kind == "avgpool2d":
            n += 2 * layer.kernel_size[0] * layer.kernel_size[1]
    return n


def torch_twin(model):
    """The equivalent torch.nn.Sequential (float64), built from the model's spec."""
    import torch.nn as tnn

    acts = {"relu": tnn.ReLU, "tanh": tnn.Tanh, "sigmoid": tnn.Sigmoid, "softplus": tnn.Softplus,
            "identity": tnn.Identity}
    mods = []
    for s in model.spec()["layers"]:
        kind = s["kind"]
        if kind == "conv2d":
            mods.append(tnn.Conv2d(s["in_channels"], s["out_channels"], tuple(s["kernel_size"]),
                                   stride=tuple(s["stride"]), padding=tuple(s["padding"]),
                                   bias=s["bias"]))
        elif kind == "dense":
            mods.append(tnn.Linear(s["in_features"], s["out_features"], bias=s["bias"]))
        elif kind == "activation":
            mods.append(acts[s["activation"]]())
        elif kind == "maxpool2d":
            mods.append(tnn.MaxPool2d(tuple(s["kernel_size"]), tuple(s["stride"])))
        elif kind == "avgpool2d":
            mods.append(tnn.AvgPool2d(tuple(s["kernel_size"]), tuple(s["stride"])))
        elif kind == "flatten":
            mods.append(tnn.Flatten())
        else:
            raise KeyError(f"no torch twin for layer kind {kind!r}")
    return tnn.Sequential(*mods).double()


def _usps_batch(usps_head, B=8):
    images, labels = usps_head
    return images[:B].reshape(B, 1, 16, 16), labels[:B]


# ----- the H22 network ------------------------------------------------------------------------------
def test_h22_cnn_has_1158_parameters_and_the_published_layers():
    model = cnn()
    assert model.num_params == 1158
    kinds = [l.kind for l in model.layers]
    assert kinds == ["conv2d", "activation", "maxpool2d"] * 4 + ["flatten", "dense"]
    convs = [l for l in model.layers if l.kind == "conv2d"]
    assert [(l.in_channels, l.out_channels) for l in convs] == [(1, 4), (4, 4), (4, 8), (8, 8)]
    assert all(l.kernel_size == (3, 3) and l.padding == (1, 1) and l.stride == (1, 1) for l in convs)
    assert model.in_shapes[-1] == (8,) and model.output_shape == (10,)
    assert model.input_shape == (1, 16, 16)
    assert sum(p.numel() for p in torch_twin(model).parameters()) == 1158
    # other widths and sizes: c*9 + c + c*c*9 + c + 2c*c*9 + 2c + 4c*c*9 + 2c + (2c s^2 + 1) * 10
    for c, size in [(2, 16), (3, 32)]:
        s = size // 16
        want = 10 * c + 9 * c * c + c + 18 * c * c + 2 * c + 36 * c * c + 2 * c + (2 * c * s * s + 1) * 10
        assert cnn(channels=c, input_size=size).num_params == want
    with pytest.raises(ValueError, match="input_size"):
        cnn(input_size=8)


def test_cnn_with_average_pooling_keeps_the_shapes_and_parameters():
    """pool="avg": AvgPool2d(2) in each of H22's four places, nothing else changed."""
    model = cnn(pool="avg")
    assert [l.kind for l in model.layers] == ["conv2d", "activation", "avgpool2d"] * 4 + ["flatten", "dense"]
    assert model.num_params == 1158 and model.in_shapes == cnn().in_shapes
    with pytest.raises(ValueError, match="pool 'min' is unknown"):
        cnn(pool="min")


def test_h22_cnn_hessian_on_usps_matches_jax(usps_head):
    """The exact Hessian (1,158 x 1,158) at batch 8 on real USPS digits, against JAX."""
    model = cnn()
    x, y = _usps_batch(usps_head)
    theta = to_host(model.init(seed=0))
    L, g, H, _ = jax_derivatives(model, theta, x, y, jit=True)
    rtol = rtol_for(accumulation_length(model, 8))  # n = 3,127: rtol 5.6e-12
    assert abs(float(model.loss(theta, x, y)) - float(L)) <= rtol * abs(float(L))
    assert_normwise_close(model.grad(theta, x, y), np.asarray(g), rtol, "grad")
    Hrc = model.hessian(theta, x, y)
    err = assert_normwise_close(Hrc, np.asarray(H), rtol, "Hessian")
    assert err <= 1e-12, f"Hessian relative error {err:.2e}"
    assert_normwise_close(Hrc.T, Hrc, rtol, "symmetry")


# ----- PyTorch: theta order, forward, loss, gradient ------------------------------------------------
TORCH_MODELS = {
    "h22-cnn": lambda: cnn(),
    "h22-cnn-avgpool-tanh": lambda: cnn(channels=2, activation="tanh", pool="avg"),
    "avgpool-strided-tanh": lambda: rc.sequential(
        [{"kind": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": [3, 2],
          "stride": [2, 1], "padding": [1, 0]},
         {"kind": "activation", "activation": "tanh"},
         {"kind": "avgpool2d", "kernel_size": 2, "stride": 1},
         {"kind": "conv2d", "in_channels": 3, "out_channels": 2, "kernel_size": 2, "bias": False},
         {"kind": "activation", "activation": "softplus"},
         {"kind": "maxpool2d", "kernel_size": [2, 1]},
         {"kind": "flatten"},
         {"kind": "dense", "in_features": 2 * 1 * 4, "out_features": 4}],
        (2, 9, 7)),
}


@pytest.mark.parametrize("name", list(TORCH_MODELS))
def test_theta_order_forward_loss_grad_match_torch(name):
    torch = pytest.importorskip("torch")
    model = TORCH_MODELS[name]()
    net = torch_twin(model)
    B = 5
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, *model.input_shape))
    y = rng.integers(0, model.num_outputs, size=B)
    rtol = rtol_for(accumulation_length(model, B))
    # theta order: PyTorch's own initialisation, read through parameters_to_vector
    torch.manual_seed(0)
    net = torch_twin(model)
    theta_t = torch.nn.utils.parameters_to_vector(net.parameters()).detach().numpy().copy()
    assert theta_t.shape == (model.num_params,)
    z_t = net(torch.from_numpy(x)).detach().numpy()
    assert_normwise_close(model.forward(theta_t, x), z_t, rtol, "forward (torch theta)")
    # ours into torch: loss and gradient
    theta = to_host(model.init(seed=1))
    torch.nn.utils.vector_to_parameters(torch.from_numpy(theta.copy()), net.parameters())
    net.zero_grad()
    loss_t = torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))
    loss_t.backward()
    g_t = torch.cat([p.grad.flatten() for p in net.parameters()]).numpy()
    loss, g = model.loss_and_grad(theta, x, y)
    assert abs(float(loss) - loss_t.item()) <= rtol * abs(loss_t.item())
    assert_normwise_close(g, g_t, rtol, "grad")


# ----- random small CNNs against JAX ----------------------------------------------------------------
@st.composite
def small_cnns(draw):
    """1-3 conv layers (channels 1-4, kernel 1-3, stride 1-2, padding 0-1), each followed by an
    activation and optionally a max or average pool (window 1-2, stride default/1/2); images
    4-10 per side, batch 1-6, 2-4 classes; then flatten and a dense head."""
    act = draw(st.sampled_from(ACTIVATIONS))
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(4, 10)), draw(st.integers(4, 10))
    input_shape = (c, h, w)
    specs = []
    for _ in range(draw(st.integers(1, 3))):
        p = draw(st.integers(0, 1))
        kh, kw = min(draw(st.integers(1, 3)), h + 2 * p), min(draw(st.integers(1, 3)), w + 2 * p)
        sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        o = draw(st.integers(1, 4))
        specs.append({"kind": "conv2d", "in_channels": c, "out_channels": o,
                      "kernel_size": [kh, kw], "stride": [sh, sw], "padding": p,
                      "bias": draw(st.booleans())})
        c, h, w = o, (h + 2 * p - kh) // sh + 1, (w + 2 * p - kw) // sw + 1
        specs.append({"kind": "activation", "activation": act})
        pool = draw(st.sampled_from([None, "maxpool2d", "avgpool2d"]))
        k = draw(st.integers(1, 2))
        if pool is not None and h >= k and w >= k:
            s = draw(st.sampled_from([None, 1, 2]))
            specs.append({"kind": pool, "kernel_size": k, "stride": s})
            s = k if s is None else s
            h, w = (h - k) // s + 1, (w - k) // s + 1
    classes = draw(st.integers(2, 4))
    specs += [{"kind": "flatten"}, {"kind": "dense", "in_features": c * h * w, "out_features": classes}]
    loss = draw(st.sampled_from(["cross_entropy", "cross_entropy", "mse"]))
    return specs, input_shape, loss, draw(st.integers(1, 6)), draw(st.integers(0, 2**32 - 1))


@settings(max_examples=30, deadline=None)
@given(small_cnns())
def test_random_cnns_match_jax(case):
    specs, input_shape, loss_name, B, seed = case
    model = rc.sequential(specs, input_shape, loss=loss_name)
    rng = np.random.default_rng(seed)
    N = model.num_params
    # PyTorch's default initialisation keeps the logits O(1). With large logits (uniform(-1, 1)
    # weights on 72 features, B = 1, C = 2) the softmax Hessian p(1 - p) is formed with
    # cancellation in refchaos.nn.losses (p rz - p sum(p rz)), relative error ~ u / (1 - p_max):
    # a property of the loss, not of the layers tested here.
    theta = to_host(model.init(seed=seed % 2**31, scheme="pytorch"))
    x = rng.normal(size=(B, *input_shape))  # real-valued: no ties in the max pools
    y = rng.integers(0, model.num_outputs, size=B)
    v, V = rng.normal(size=N), rng.normal(size=(N, 3))
    L, g, H, _ = jax_derivatives(model, theta, x, y, jit=True)
    # JAX's exact Hessian times v and V: the reference HVPs (JAX's own jvp-of-grad would only
    # add compile time per example, and H is checked entry by entry below)
    Hv, HV = np.asarray(H) @ v, np.asarray(H) @ V  # (N,), (N, 3)
    rtol = rtol_for(accumulation_length(model, B) + N)  # + N: the sum in H @ v
    assert abs(to_float(model.loss(theta, x, y)) - float(L)) <= rtol * max(abs(float(L)), 1.0)
    assert_normwise_close(model.grad(theta, x, y), np.asarray(g), rtol, "grad")
    # H v can cancel far below |H| |v| (at B = 1 the loss Hessian has rank C - 1): both sides'
    # rounding is bounded relative to the absolute terms |H| |v| (tests/tolerances.py), not |H v|.
    absH = np.abs(np.asarray(H))
    for got, want, scale, what in [(model.hvp(theta, x, y, v), Hv, absH @ np.abs(v), "hvp"),
                                   (model.hvp(theta, x, y, V), HV, absH @ np.abs(V), "hvp block")]:
        err = np.linalg.norm(to_host(got) - want)
        assert got.shape == want.shape and err <= rtol * np.linalg.norm(scale), (
            f"{what}: error {err:.3e} > rtol * || |H| |v| || = {rtol * np.linalg.norm(scale):.3e}")
    assert_normwise_close(model.hessian(theta, x, y, block_size=7), np.asarray(H), rtol, "Hessian")


# ----- backends, builders, specs --------------------------------------------------------------------
def test_average_pool_cnn_hessian_matches_jax():
    """The avg-pool CNN (tanh, c = 2, N = 352) against JAX: the exact Hessian and an HVP."""
    model = cnn(channels=2, activation="tanh", pool="avg")
    rng = np.random.default_rng(7)
    B = 4
    theta = to_host(model.init(seed=3, scheme="pytorch"))
    x, y = rng.normal(size=(B, 1, 16, 16)), rng.integers(0, 10, size=B)
    v = rng.normal(size=model.num_params)
    L, g, H, _ = jax_derivatives(model, theta, x, y, jit=True)
    rtol = rtol_for(accumulation_length(model, B) + model.num_params)  # + N: the sum in H @ v
    assert abs(to_float(model.loss(theta, x, y)) - float(L)) <= rtol * abs(float(L))
    assert_normwise_close(model.grad(theta, x, y), np.asarray(g), rtol, "grad")
    assert_normwise_close(model.hessian(theta, x, y), np.asarray(H), rtol, "Hessian")
    assert_normwise_close(model.hvp(theta, x, y, v), np.asarray(H) @ v, rtol, "hvp")


def test_cnn_derivatives_agree_across_backends(xp):
    model = cnn(channels=2, activation="tanh")
    rng = np.random.default_rng(3)
    B = 3
    theta = model.init(seed=2)
    x, y = rng.normal(size=(B, 1, 16, 16)), rng.integers(0, 10, size=B)
    V = rng.normal(size=(model.num_params, 2))
    rtol = rtol_for(accumulation_length(model, B) + model.num_params)
    ref = [model.loss(theta, x, y), model.grad(theta, x, y), model.hvp(theta, x, y, V),
           model.hessian(theta, x, y)]
    T, X, Y, VV = (asarray(a, xp) for a in (to_host(theta), x, y, V))
    got = [model.loss(T, X, Y), model.grad(T, X, Y), model.hvp(T, X, Y, VV), model.hessian(T, X, Y)]
    for a, b, what in zip(got, ref, ["loss", "grad", "hvp", "hessian"]):
        assert_normwise_close(a, b, rtol, f"{what} on {xp.__name__}")


def test_sequential_specs_round_trip():
    model = cnn(channels=2)
    again = rc.Model.from_spec(model.spec())
    assert [l.kind for l in again.layers] == [l.kind for l in model.layers]
    assert again.num_params == model.num_params
    rng = np.random.default_rng(5)
    theta, x = to_host(model.init(seed=0)), rng.normal(size=(2, 1, 16, 16))
    np.testing.assert_array_equal(again.forward(theta, x), model.forward(theta, x))
    layers = rc.sequential(model.layers, model.input_shape)
    np.testing.assert_array_equal(layers.forward(theta, x), model.forward(theta, x))


def test_model_names_the_layer_on_shape_errors():
    with pytest.raises(rc.nn.LayerShapeError, match=r"layer 0 \(Conv2d\(3, 4.*\(1, 8, 8\)"):
        rc.sequential([{"kind": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3},
                       {"kind": "flatten"}, {"kind": "dense", "in_features": 144, "out_features": 2}],
                      (1, 8, 8))
    with pytest.raises(rc.nn.LayerShapeError, match=r"MaxPool2d.*smaller than the window"):
        rc.sequential([{"kind": "maxpool2d", "kernel_size": 4}, {"kind": "flatten"},
                       {"kind": "dense", "in_features": 1, "out_features": 2}], (1, 3, 3))
