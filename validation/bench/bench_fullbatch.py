"""One full-batch GD step of J25's network on all 60,000 MNIST images: refchaos vs torch.

Jimenez-Gonzalez et al. 2025's setup: MLP 784-64(tanh)-10, N(0, 1) weights, zero biases,
float64, mean cross-entropy, full-batch gradient descent on the 60,000 MNIST training images
with pixels in [0, 1]. refchaos takes the step through the run pipeline
(``experiments.setup.prepare`` -> ``Setup.step_fn``: batch of step t, loss, gradient, update);
torch takes the same step on the same theta with ``nn.Sequential`` (``loss.backward()``, then
``p -= lr * p.grad``). The tangent step is refchaos's ``opt.tangent_step`` with one tangent
column (gradient and H v in one R-operator pass, then theta - lr g and v - lr H v) against
``torch.func.jvp`` of ``torch.func.grad`` (forward-over-reverse H v) with the same update.

Both libraries run with the same number of threads, set explicitly for each: threadpoolctl
for NumPy's OpenBLAS, ``torch.set_num_threads`` for torch. The two calls alternate (paired
repeats, one warm-up each); each row is the median of the per-pair ratios of one round, with
the 1-minute load average beside it. Run from the root:

    .venv/bin/python -m validation.bench.bench_fullbatch
"""

from __future__ import annotations

import os

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from refchaos.experiments.config import RunConfig
from refchaos.experiments.setup import prepare
from refchaos.optim import OptState
from validation.bench._timing import header, paired_times

SEED = 0
LR = 0.5  # one of J25's learning rates; the cost of a step does not depend on it
HIDDEN = 64
THREADS = (1, 2)
REPEATS = 5  # pairs per round
ROUNDS = 3
DATA_DIR = "../shared/data"


def torch_net(theta):
    """The same network in torch, float64, with theta copied into its parameters."""
    net = torch.nn.Sequential(torch.nn.Linear(784, HIDDEN), torch.nn.Tanh(),
                              torch.nn.Linear(HIDDEN, 10)).double()
    torch.nn.utils.vector_to_parameters(torch.from_numpy(theta.copy()), net.parameters())
    return net


def torch_step(net, x, y):
    """Loss, gradient by backward, and the GD update, in place as torch.optim.SGD does."""
    net.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            p.sub_(LR * p.grad)
    return loss


def torch_tangent_step(net, x, y, v):
    """(g, H v) by jvp of grad (forward-over-reverse), then theta - lr g and v - lr H v."""
    names = [n for n, _ in net.named_parameters()]
    params = tuple(p.detach() for p in net.parameters())
    tangents = tuple(torch.reshape(t, p.shape) for t, p in
                     zip(torch.split(v, [p.numel() for p in params]), params))

    def loss(*ps):
        z = torch.func.functional_call(net, dict(zip(names, ps)), (x,))
        return torch.nn.functional.cross_entropy(z, y)

    g, hv = torch.func.jvp(torch.func.grad(loss, argnums=tuple(range(len(params)))), params,
                           tangents)
    return ([p - LR * gi for p, gi in zip(params, g)],
            [t - LR * h for t, h in zip(tangents, hv)])


def check_same_step(setup, net, x, y):
    """Relative max difference of the gradients of the two libraries at theta(0)."""
    _, g = setup.model.loss_and_grad(setup.theta0, *setup.batch(0))
    net.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(net(x), y).backward()
    gt = torch.cat([p.grad.flatten() for p in net.parameters()]).numpy()
    return float(np.max(np.abs(g - gt)) / np.max(np.abs(gt)))


def main():
    header("full-batch GD step, J25 784-64-10 tanh on 60,000 MNIST images: refchaos vs torch",
           {"seed": SEED, "lr": LR, "threads": THREADS, "repeats": REPEATS, "rounds": ROUNDS})
    config = RunConfig(dataset="mnist", data_dir=DATA_DIR, model=f"mlp:{HIDDEN}",
                       activation="tanh", init="normal", init_std=1.0, batch_size=0, lr=LR,
                       steps=1, seed=SEED)
    setup = prepare(config)
    model, theta, opt = setup.model, setup.theta0, setup.opt
    step = setup.step_fn()
    v = np.random.default_rng(SEED).standard_normal((model.num_params, 1))
    x, y = torch.from_numpy(setup.x_train), torch.from_numpy(setup.y_train)
    vt = torch.from_numpy(v[:, 0].copy())
    net = torch_net(theta)
    print(f"# x {tuple(setup.x_train.shape)} {setup.x_train.dtype}, N = {model.num_params}; "
          f"max |g_refchaos - g_torch| / max |g_torch| = {check_same_step(setup, net, x, y):.1e}")
    print("| step | threads | round | torch s | refchaos s | refchaos / torch | load average (1 min) |")
    print("|---|---|---|---|---|---|---|")
    cases = (("loss + grad + update", lambda: torch_step(net, x, y), lambda: step(theta, 0)),
             ("grad + HVP (tangent step)", lambda: torch_tangent_step(net, x, y, vt),
              lambda: opt.tangent_step(model, theta, OptState(), *setup.batch(0), v)))
    for threads in THREADS:
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            for name, baseline, ours in cases:
                for r in range(ROUNDS):
                    tb, to, ratio = paired_times(baseline, ours, REPEATS)
                    print(f"| {name} | {threads} | {r} | {tb:.3f} | {to:.3f} | {ratio:.2f} | "
                          f"{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
