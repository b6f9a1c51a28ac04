"""Networks shared by the tests of the exact diagonal, GGN, blocks and density (cases as data)."""

from __future__ import annotations

import numpy as np

import refchaos as rc

# (id, builder, batch size): piecewise-linear and smooth activations, both losses, a network
# whose residual terms cross a dense layer (two smooth hidden layers), and a CNN.
CASES = [
    ("relu-ce", lambda: rc.mlp([10, 6, 4]), 5),
    ("tanh2-ce", lambda: rc.mlp([8, 5, 6, 3], "tanh"), 4),
    ("sigmoid-mse", lambda: rc.mlp([7, 5, 3], "sigmoid", loss="mse"), 6),
    ("softplus-ce-nobias", lambda: rc.mlp([6, 4, 4, 3], "softplus", bias=False), 3),
    ("cnn-tanh", lambda: rc.cnn(1, "tanh", input_size=16), 2),
]
IDS = [c[0] for c in CASES]


def case_data(builder, B, seed=0):
    """(model, theta, x, y) in float64 on the host."""
    model = builder()
    theta = model.init(seed=seed + 1, scheme="pytorch")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, *model.input_shape))
    return model, theta, x, rng.integers(0, model.num_outputs, B)


def accumulated(model, B):
    """Terms accumulated along the longest chain of products (as in test_hessian_fast.py)."""
    return 2 * (sum(max(1, int(np.prod(s))) for s in model.in_shapes) + model.num_outputs + B)


_JAX_HESSIANS = {}


def jax_hessian(name):
    """(model, theta, x, y, H from JAX) of case ``name``, computed once per test process."""
    if name not in _JAX_HESSIANS:
        from tests.autodiff import jax_derivatives

        _, builder, B = next(c for c in CASES if c[0] == name)
        model, theta, x, y = case_data(builder, B)
        _JAX_HESSIANS[name] = (model, theta, x, y, np.asarray(jax_derivatives(model, theta, x, y, jit=True)[2]))
    return _JAX_HESSIANS[name]
