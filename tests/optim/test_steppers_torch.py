"""Every stepper against torch.optim (float64) over 100 training steps, several settings each.

Both sides train the same tanh MLP from the same theta on the same batches, each with its own
gradient (torch autograd, refchaos's backward pass). Tolerance: one step's gradient carries a
normwise relative rounding error of rtol_for(B + sum(SIZES)) (tests/tolerances.py); the
optimizers' own arithmetic adds a few ulps of the update (elementwise, no accumulation; the
operation order differs from PyTorch's in places, e.g. lerp against beta m + (1 - beta) g).
Summed over the steps this gives rtol_for(STEPS * (B + sum(SIZES))) = 3.4e-12 on theta and on
every buffer, normwise: the bound if the differences add. If the training map amplified them
(a chaotic trajectory) the test would fail, and it should: the comparison is then not of
definitions but of rounding. Measured (float64): at most 2.7e-15 (SGD with momentum), about
2e-16 for Adam, AdamW and RMSprop, i.e. below 1e-3 of the tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import refchaos as rc
from refchaos.optim import get_optimizer
from tests.optim.test_sgd import SIZES, torch_model  # the tanh MLP 5-7-3 (N = 66) and its torch twin
from tests.tolerances import assert_normwise_close, rtol_for

B = 4
STEPS = 100

CASES = [
    ("sgd", torch.optim.SGD, dict(lr=0.1)),
    ("sgd", torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("sgd", torch.optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.3)),
    ("sgd", torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.02)),
    ("adam", torch.optim.Adam, dict(lr=1e-2)),
    ("adam", torch.optim.Adam, dict(lr=5e-3, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05)),
    ("adam", torch.optim.Adam, dict(lr=1e-2, betas=(0.9, 0.9), amsgrad=True)),
    ("adamw", torch.optim.AdamW, dict(lr=1e-2)),
    ("adamw", torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    ("rmsprop", torch.optim.RMSprop, dict(lr=1e-3)),
    ("rmsprop", torch.optim.RMSprop, dict(lr=1e-3, alpha=0.9, momentum=0.8, weight_decay=0.01)),
    ("rmsprop", torch.optim.RMSprop, dict(lr=1e-3, centered=True, eps=1e-6)),
    ("rmsprop", torch.optim.RMSprop, dict(lr=5e-4, centered=True, momentum=0.5)),
]

# refchaos state field -> torch state key, per optimizer
ADAM_KEYS = {"m": "exp_avg", "v": "exp_avg_sq", "v_max": "max_exp_avg_sq"}
TORCH_KEYS = {"sgd": {"v": "momentum_buffer"}, "adam": ADAM_KEYS, "adamw": ADAM_KEYS,
              "rmsprop": {k: k for k in ("square_avg", "momentum_buffer", "grad_avg")}}


def case_id(case):
    name, _, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def torch_buffer(topt, net, key):
    return np.concatenate([topt.state[p][key].numpy().ravel() for p in net.parameters()])


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_trajectory_equals_torch(case):
    name, torch_cls, kw = case
    model = rc.mlp(SIZES, activation="tanh")
    theta = model.init(seed=3)
    net = torch_model(theta)
    topt = torch_cls(net.parameters(), **kw)
    opt = get_optimizer(name, **kw)
    state = opt.init(theta)
    rng = np.random.default_rng(7)
    rtol = rtol_for(STEPS * (B + sum(SIZES)))
    for t in range(STEPS):
        x, y = rng.standard_normal((B, SIZES[0])), rng.integers(0, SIZES[-1], B)
        topt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        topt.step()
        theta, state, info = opt.step(model, theta, state, x, y)
        assert info["step"] == t
    ref = torch.nn.utils.parameters_to_vector(net.parameters()).detach().numpy()
    assert np.linalg.norm(ref - model.init(seed=3)) > 1e-3  # it moved
    assert_normwise_close(theta, ref, rtol, f"theta after {STEPS} steps")
    for field in opt.buffers:
        assert_normwise_close(getattr(state, field), torch_buffer(topt, net, TORCH_KEYS[name][field]),
                              rtol, f"buffer {field} after {STEPS} steps")
    assert state.step == STEPS
