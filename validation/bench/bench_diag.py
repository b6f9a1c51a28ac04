"""Exact Hessian diagonal and trace: refchaos (factored Hessian backpropagation) vs BackPACK.

The 256-20-10 ReLU MLP (5,350 parameters) of Herrmann et al. 2022 on the first B real USPS
training digits, B = 8 and 128, float64, same theta and batch in one process. BackPACK's
DiagHessian (backpack-for-pytorch, optional: see README) runs on the equal nn.Sequential
(:func:`refchaos.peers.to_torch`); the dense route trace(model.hessian) is timed once at
B = 8 for scale. Each number is the median of REPEATS runs after a warm-up, with the load
average beside it. Run from the repository root:

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m validation.bench.bench_diag
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch

import refchaos as rc
from refchaos.curvature import hessian_diag
from refchaos.peers import peer_available, to_torch
from validation.bench._timing import header, median_time

SEED = 0  # theta
BATCHES = (8, 128)
REPEATS = 7
DATA_DIR = "../shared/data"
THREADS = 1  # torch intra-op threads (the machine is shared; see README)


def backpack_diag(module, x, y):
    from backpack import backpack, extend
    from backpack.extensions import DiagHessian

    net, lossf = extend(module), extend(torch.nn.CrossEntropyLoss())

    def run():
        net.zero_grad()
        loss = lossf(net(x), y)
        with backpack(DiagHessian()):
            loss.backward()
        return torch.cat([p.diag_h.reshape(-1) for p in net.parameters()])

    return run


def load():
    return "%.2f %.2f %.2f" % os.getloadavg()


def main():
    torch.set_num_threads(THREADS)
    header("exact diag(H) and tr(H): refchaos vs BackPACK DiagHessian",
           {"seed": SEED, "batches": BATCHES, "repeats": REPEATS, "torch threads": THREADS})
    X, Y = rc.data.load("usps", data_dir=DATA_DIR, scaling="standardize", flatten=True)
    model = rc.mlp([256, 20, 10])
    theta = model.init(seed=SEED)
    has_backpack = peer_available("backpack")
    print("| B | refchaos s | BackPACK s | BackPACK/refchaos | diag rel. diff | load avg |")
    print("|---|---|---|---|---|---|")
    for B in BATCHES:
        x, y = np.asarray(X[:B], dtype=np.float64), np.asarray(Y[:B])
        t_rc = median_time(lambda: hessian_diag(model, theta, x, y), REPEATS)
        d = hessian_diag(model, theta, x, y)
        t_bp, diff = float("nan"), float("nan")
        if has_backpack:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run = backpack_diag(to_torch(model, theta), torch.as_tensor(x), torch.as_tensor(y))
                t_bp = median_time(run, REPEATS)
                diff = float(np.linalg.norm(run().detach().numpy() - d) / np.linalg.norm(d))
        print(f"| {B} | {t_rc:.5f} | {t_bp:.5f} | {t_bp / t_rc:.2f} | {diff:.1e} | {load()} |")
    x, y = np.asarray(X[:8], dtype=np.float64), np.asarray(Y[:8])
    t_dense = median_time(lambda: np.trace(model.hessian(theta, x, y)), 1, warmup=0)
    t_rc = median_time(lambda: hessian_diag(model, theta, x, y).sum(), REPEATS)
    print(f"\ntrace(model.hessian) at B = 8: {t_dense:.3f} s, {t_dense / t_rc:.0f}x the exact diagonal "
          f"(load {load()})")
    if not has_backpack:
        print("BackPACK is not installed: its column is nan")


if __name__ == "__main__":
    main()
