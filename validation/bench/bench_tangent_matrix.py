"""One step of the full tangent matrix (H22 Eq. (2), Y <- (I - lr H) Y, N x N): the
integrator's column-major layout against a row-major Y (the layout before it), the stacked
R{dW} GEMM of :func:`refchaos.nn.dense.stacked_contract` against K per-direction products
(:func:`refchaos.nn.dense.transposed_contract`, the form before it), both in one block, and
the step in column blocks (:func:`refchaos.lyapunov.integrator.tangent_step_by_blocks`, the
default) on one and two threads against one block, same process.

USPS MLP 256-20-10 ReLU (N = 5,350, Y is 229 MB), batch 8, lr 1e-3, SGD: the step of
``refchaos run --measure subspaces`` and of ``refchaos perturb``. Both integrators start from
the same theta and take the same steps; the pairs alternate (``_timing.paired_times``), the
load average is printed beside them, and the two Y are checked equal bit for bit. Run from the
root:

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m validation.bench.bench_tangent_matrix
"""

from __future__ import annotations

import os

import numpy as np

import refchaos as rc
import refchaos.lyapunov.integrator as integrator
import refchaos.nn.dense as dense
from refchaos.lyapunov import TangentMatrixIntegrator
from validation.bench._timing import header, paired_times

SEED = 0
B = 8
LR = 1e-3
REPEATS = 5
DATA_DIR = "../shared/data"


def main():
    header("tangent-matrix step: column- vs row-major Y; stacked vs per-direction R{dW}",
           {"seed": SEED, "B": B, "lr": LR, "repeats": REPEATS})
    X, Y = rc.data.load("usps", data_dir=DATA_DIR, scaling="standardize", flatten=True)
    model = rc.mlp([256, 20, 10])
    theta = model.init(seed=SEED)
    opt = rc.optim.SGD(lr=LR)
    batch = lambda t: (X[B * t:B * (t + 1)], Y[B * t:B * (t + 1)])  # noqa: E731
    blocks(model, theta, opt, batch)
    integrator.BLOCK_BYTES = 2**62  # the tables below: one block, the step before column blocks
    cols = TangentMatrixIntegrator(opt, model, theta, theta_only=True)
    rows = TangentMatrixIntegrator(opt, model, theta, theta_only=True)
    rows.Y = np.ascontiguousarray(rows.Y)  # the baseline: Y row by row
    load0 = os.getloadavg()[0]
    t_rows, t_cols, ratio = paired_times(lambda: rows.advance(batch, 1),
                                         lambda: cols.advance(batch, 1), REPEATS)
    load1 = os.getloadavg()[0]
    assert cols.Y.flags.f_contiguous and rows.Y.flags.c_contiguous
    same = bool(np.array_equal(cols.Y, rows.Y))
    print(f"N = {model.num_params}, load average {load0:.1f} -> {load1:.1f}")
    print("| layout | s per step | ratio to row-major |")
    print("|---|---|---|")
    print(f"| row-major Y (baseline) | {t_rows:.3f} | 1.00 |")
    print(f"| column-major Y (TangentMatrixIntegrator) | {t_cols:.3f} | {ratio:.2f} |")
    print(f"Y equal bit for bit after {cols.t} steps: {same}")
    if not same:
        raise SystemExit("the two layouts gave different Y")

    # Baseline: Dense's R{dW} as K per-direction products. The module attribute is what
    # Dense.r_backward calls, so rebinding it for the baseline's steps swaps only that line.
    stacked = TangentMatrixIntegrator(opt, model, theta, theta_only=True)
    per_direction = TangentMatrixIntegrator(opt, model, theta, theta_only=True)
    chosen = dense.batch_contract

    def baseline():
        dense.batch_contract = dense.transposed_contract
        try:
            per_direction.advance(batch, 1)
        finally:
            dense.batch_contract = chosen

    load0 = os.getloadavg()[0]
    t_per, t_stack, ratio = paired_times(baseline, lambda: stacked.advance(batch, 1), REPEATS)
    load1 = os.getloadavg()[0]
    diff = float(np.max(np.abs(stacked.Y - per_direction.Y)))
    print(f"load average {load0:.1f} -> {load1:.1f}")
    print("| first layer's R{dW} (K = N directions, B = 8) | s per step | ratio to per-direction |")
    print("|---|---|---|")
    print(f"| K per-direction products (baseline) | {t_per:.3f} | 1.00 |")
    print(f"| one stacked GEMM (batch_contract) | {t_stack:.3f} | {ratio:.2f} |")
    print(f"max |Y difference| after {stacked.t} steps: {diff:.1e}")
    if not diff <= 1e-12:  # the same sums: equal within a few ulps of |Y| ~ 1
        raise SystemExit("the stacked and per-direction R{dW} gave different Y")


def blocks(model, theta, opt, batch):
    """Column blocks of at most BLOCK_BYTES (1 and 2 threads) against one block."""
    default = integrator.BLOCK_BYTES
    one = TangentMatrixIntegrator(opt, model, theta, theta_only=True)
    by_blocks = TangentMatrixIntegrator(opt, model, theta, theta_only=True)

    def one_block():
        integrator.BLOCK_BYTES = 2**62
        try:
            one.advance(batch, 1)
        finally:
            integrator.BLOCK_BYTES = default

    width = integrator.block_width(opt, by_blocks.Y)
    rows = []
    for threads in (1, 2):
        load0 = os.getloadavg()[0]
        t_one, t_blocks, ratio = paired_times(one_block,
                                              lambda: by_blocks.advance(batch, 1, threads=threads),
                                              REPEATS)
        rows.append((threads, t_one, t_blocks, ratio, load0, os.getloadavg()[0]))
    same = bool(np.array_equal(one.Y, by_blocks.Y))
    print(f"N = {model.num_params}, blocks of {width} columns ({default / 2**20:g} MiB)")
    print("| step | threads | s per step (one block, baseline) | s per step (blocks) | ratio | load |")
    print("|---|---|---|---|---|---|")
    for threads, t_one, t_blocks, ratio, l0, l1 in rows:
        print(f"| column blocks | {threads} | {t_one:.3f} | {t_blocks:.3f} | {ratio:.2f} | "
              f"{l0:.1f} -> {l1:.1f} |")
    print(f"Y equal bit for bit after {by_blocks.t} steps: {same}")
    if not same and not float(np.max(np.abs(one.Y - by_blocks.Y))) <= 1e-12:
        raise SystemExit("column blocks and one block gave different Y")
    print()


if __name__ == "__main__":
    main()
