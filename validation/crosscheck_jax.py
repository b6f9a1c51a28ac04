"""Cross-check refchaos against JAX: same network, same initialisation, same batches.

The networks are written independently in JAX (float64): H22's ReLU MLP and J25's tanh MLP
with N(0, 1) weights. For each, STEPS steps of SGD with momentum (written in JAX from the
PyTorch convention v <- mu v + g + wd theta, theta <- theta - lr v) run beside
``refchaos.optim.SGD`` on the same batches; the largest parameter difference per step, the
gradient, the exact Hessian (``jax.hessian``) and its eigenvalues are compared. Writes
``crosscheck_jax.csv`` and ``crosscheck_jax.json`` to --out; exits non-zero on failure.

    python validation/crosscheck_jax.py --quick            # digits, 100 steps (CI)
    python validation/crosscheck_jax.py --data-dir ../shared/data   # USPS and MNIST
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_compare.py, also when imported by path
from _compare import derivative_differences, report_line, verdict  # noqa: E402

import refchaos as rc  # noqa: E402
from refchaos.io import atomic_write_csv, atomic_write_json  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0
LR = 0.05
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
BATCH_SIZE = 8
HIDDEN = {"h22-relu": (20, "relu", "pytorch"), "j25-tanh": (64, "tanh", "normal")}
QUICK_MAX_WIDTH = 16  # --quick keeps jax.hessian small enough for CI
STEPS_QUICK, STEPS_FULL = 100, 1000
PARAM_TOL = 1e-10  # largest |theta_rc - theta_jax| over the run
HESSIAN_RTOL = 1e-12  # normwise relative: two independent float64 computations


def jax_setup():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def jax_mlp_loss(sizes, act):
    jax, jnp = jax_setup()
    f = {"relu": jax.nn.relu, "tanh": jnp.tanh}[act]

    def loss(theta, x, y):
        a, i = x, 0
        for li, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            W = theta[i:i + n_out * n_in].reshape(n_out, n_in)
            i += n_out * n_in
            b = theta[i:i + n_out]
            i += n_out
            a = a @ W.T + b
            if li < len(sizes) - 2:
                a = f(a)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(a), y[:, None], axis=1))

    return loss


def crosscheck(name, dataset, data_dir, steps, max_width=None):
    jax, jnp = jax_setup()
    width, act, scheme = HIDDEN[name]
    width = width if max_width is None else min(width, max_width)
    scaling = "standardize" if dataset == "usps" else "unit"
    x, y = rc.data.load(dataset, "train", data_dir=data_dir, scaling=scaling, flatten=True)
    sizes = [x.shape[1], width, 10]
    model = rc.mlp(sizes, activation=act)
    theta = model.init(seed=SEED, scheme=scheme)
    L = jax_mlp_loss(sizes, act)
    order = rc.data.BatchOrder(x.shape[0], BATCH_SIZE, seed=SEED)

    idx = order.indices(0)
    xb, yb = x[idx], y[idx]
    g_j = np.asarray(jax.grad(L)(jnp.asarray(theta), xb, yb))
    H_j = np.asarray(jax.jit(jax.hessian(L))(jnp.asarray(theta), xb, yb))
    g_r, H_r = model.grad(theta, xb, yb), model.hessian(theta, xb, yb)
    summary = {"model": name, "sizes": sizes, "dataset": dataset, "num_params": model.num_params,
               "steps": steps, **derivative_differences(g_r, g_j, H_r, H_j)}

    @jax.jit
    def jax_step(th, v, xb, yb):
        d = jax.grad(L)(th, xb, yb) + WEIGHT_DECAY * th
        v = MOMENTUM * v + d
        return th - LR * v, v

    opt = rc.optim.SGD(LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    state = opt.init(theta)
    th_j, v_j = jnp.asarray(theta), jnp.zeros_like(jnp.asarray(theta))
    rows = []
    for t in range(steps):
        idx = order.indices(t)
        xb, yb = x[idx], y[idx]
        th_j, v_j = jax_step(th_j, v_j, xb, yb)
        theta, state, _ = opt.step(model, theta, state, xb, yb)
        rows.append([name, t + 1, float(np.abs(theta - np.asarray(th_j)).max())])
    return verdict(summary, [r[2] for r in rows], PARAM_TOL, HESSIAN_RTOL), rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="digits, 100 steps (CI)")
    p.add_argument("--data-dir", default=None, help="folder with usps/ and mnist/ (full mode)")
    p.add_argument("--out", default="validation/results/crosscheck_jax")
    args = p.parse_args(argv)
    steps = STEPS_QUICK if args.quick else STEPS_FULL
    datasets = {"h22-relu": "digits", "j25-tanh": "digits"} if args.quick else \
        {"h22-relu": "usps", "j25-tanh": "mnist"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summaries, rows = [], []
    for name, dataset in datasets.items():
        s, r = crosscheck(name, dataset, args.data_dir, steps,
                          QUICK_MAX_WIDTH if args.quick else None)
        summaries.append(s)
        rows += r
        print(report_line(name, s, steps))
    atomic_write_csv(out / "crosscheck_jax.csv", rows, header=["model", "step", "max_abs_param_diff"])
    atomic_write_json(out / "crosscheck_jax.json", {"parameters": {
        "seed": SEED, "lr": LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY,
        "batch_size": BATCH_SIZE, "param_tol": PARAM_TOL, "hessian_rtol": HESSIAN_RTOL},
        "results": summaries})
    return 0 if all(s["passed"] for s in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
