"""Adam step with one tangent vector on its whole (theta, m, v) state vs a plain Adam step.

One step of Adam (PyTorch's defaults, lr 1e-3) on the 256-20-10 MLP at batch 8 of real USPS,
plain (``opt.step``: loss and gradient) against ``opt.tangent_step`` with one tangent column of
the 3N state (gradient and one HVP in a single R-operator pass plus the elementwise tangent of
the moments: the per-step cost of ``rc.lyapunov.max_exponent`` with Adam). SGD and RMSprop are
timed the same way for reference. The two calls alternate (plain, tangent, plain, ...), so
both see the same machine load; the ratio is the median of the per-pair ratios, ROUNDS rounds
per optimizer, with the load average beside each. Run from the root:

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m validation.bench.bench_stepper
"""

from __future__ import annotations

import os

import numpy as np

import refchaos as rc
from validation.bench._timing import header, paired_times

SEED = 0
B = 8
LR = 1e-3
REPEATS = 200
ROUNDS = 3
DATA_DIR = "../shared/data"
OPTIMIZERS = (("adam", {}), ("adam", {"amsgrad": True}), ("rmsprop", {"momentum": 0.9}),
              ("sgd", {}))


def main():
    header("Adam step + tangent vector vs plain Adam step",
           {"seed": SEED, "B": B, "lr": LR, "repeats": REPEATS, "rounds": ROUNDS})
    X, Y = rc.data.load("usps", data_dir=DATA_DIR, scaling="standardize", flatten=True)
    x, y = X[:B], Y[:B]
    model = rc.mlp([256, 20, 10])
    theta = model.init(seed=SEED)
    rng = np.random.default_rng(SEED)
    print("| optimizer | round | plain step s | step + tangent (K=1) s | median ratio | load average (1 min) |")
    print("|---|---|---|---|---|---|")
    for name, kw in OPTIMIZERS:
        opt = rc.optim.get_optimizer(name, lr=LR, **kw)
        state = opt.init(theta)
        theta1, state, _ = opt.step(model, theta, state, x, y)  # past step 0: non-zero moments
        w = rng.standard_normal((opt.tangent_dim(model.num_params), 1))
        for r in range(ROUNDS):
            t_plain, t_tan, ratio = paired_times(
                lambda: opt.step(model, theta1, state, x, y),
                lambda: opt.tangent_step(model, theta1, state, x, y, w), REPEATS)
            print(f"| {opt!r} | {r + 1} | {t_plain:.2e} | {t_tan:.2e} | {ratio:.2f} | "
                  f"{os.getloadavg()[0]:.2f} |")


if __name__ == "__main__":
    main()
