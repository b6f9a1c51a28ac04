"""Exact spectra of H22's smooth MLPs: spectrum(auto) vs the dense path, and the Fig. 2 estimate.

Part 1. The 256-20-10 MLP with sigmoid and with tanh (5,350 parameters, PyTorch's default
initialisation, seed below) on the first batch of 8 real USPS training digits (standardised).
refchaos ``spectrum(method="auto")`` (the Dense-first reduction: a 390 x 390 problem) against
``spectrum(method="dense")`` (exact Hessian + SciPy eigh of 5,350 x 5,350), timed in one process;
agreement: the number of eigenvalues above COUNT_RTOL ||H|| from each, and the largest
difference of the non-zero eigenvalues over ||H||.

Part 2. H22 Fig. 2 (sigmoid MLP, USPS, B = 8, lr 1e-3, CGD pruning the chaotic set from onsets
2k, 5k and 10k of 15,000 steps): STEPS real CGD steps and STEPS SGD steps in a seeded shuffled
order; the estimate is the measured mean per step times the steps of the experiment. Run:

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m validation.bench.bench_spectrum
"""

from __future__ import annotations

import os
import time

import numpy as np

import refchaos as rc
from refchaos.curvature import spectrum
from validation.bench._timing import header, median_time

SEED = 0
B = 8
LR = 1e-3
ACTIVATIONS = ("sigmoid", "tanh")
REPEATS_FAST = 9
REPEATS_DENSE = 1  # each dense call is a 5,350 x 5,350 eigh (15-40 s here)
COUNT_RTOL = 1e-10  # |lambda| > COUNT_RTOL ||H|| counts as non-zero (the criterion)
FIG2_TOTAL = 15_000  # steps per run in H22 Fig. 2
FIG2_ONSETS = (2_000, 5_000, 10_000)
STEPS = 200  # measured CGD (and SGD) steps for the estimate
DATA_DIR = "../shared/data"


def load():
    return os.getloadavg()[0]


def part1(X, Y):
    x, y = X[:B], Y[:B]
    print("| activation | auto s (median) | load | dense s | load | dense/auto | non-zero (auto, dense) | max err / ||H|| |")
    print("|---|---|---|---|---|---|---|---|")
    for act in ACTIVATIONS:
        model = rc.mlp([256, 20, 10], activation=act)
        theta = model.init(seed=SEED)
        t_fast = median_time(lambda: spectrum(model, theta, x, y, method="auto"), REPEATS_FAST)
        l_fast = load()
        t0 = time.perf_counter()
        lam_d, _ = spectrum(model, theta, x, y, method="dense")
        t_dense = time.perf_counter() - t0
        l_dense = load()
        lam, _ = spectrum(model, theta, x, y, method="auto")
        scale = np.abs(lam_d).max()
        n_a = int(np.sum(np.abs(lam) > COUNT_RTOL * scale))
        n_d = int(np.sum(np.abs(lam_d) > COUNT_RTOL * scale))
        nz = np.sort(np.argsort(-np.abs(lam_d), kind="stable")[:lam.shape[0]])
        err = np.abs(lam - lam_d[nz]).max() / scale
        print(f"| {act} | {t_fast:.4f} | {l_fast:.1f} | {t_dense:.2f} | {l_dense:.1f} | "
              f"{t_dense / t_fast:.0f} | {n_a}, {n_d} (returned {lam.shape[0]}) | {err:.1e} |", flush=True)


def part2(X, Y):
    n = X.shape[0]
    order = np.random.default_rng(SEED).permutation(n)
    model = rc.mlp([256, 20, 10], activation="sigmoid")
    means = {}
    for name, opt in (("cgd", rc.optim.CGD(lr=LR, prune="chaotic", spectrum_method="auto")),
                      ("sgd", rc.optim.SGD(lr=LR))):
        theta = model.init(seed=SEED)
        state = opt.init(theta)
        times = []
        for t in range(STEPS):
            idx = order[(t * B) % n:(t * B) % n + B]
            t0 = time.perf_counter()
            theta, state, _ = opt.step(model, theta, state, X[idx], Y[idx])
            times.append(time.perf_counter() - t0)
        means[name] = float(np.mean(times))
        print(f"{name}: {STEPS} steps, mean {means[name] * 1e3:.2f} ms, median "
              f"{np.median(times) * 1e3:.2f} ms, p90 {np.percentile(times, 90) * 1e3:.2f} ms (load {load():.1f})")
    cgd_steps = sum(FIG2_TOTAL - s for s in FIG2_ONSETS)
    sgd_steps = sum(FIG2_ONSETS) + FIG2_TOTAL  # before the onsets, and the SGD baseline
    total = cgd_steps * means["cgd"] + sgd_steps * means["sgd"]
    print(f"H22 Fig. 2: {cgd_steps} CGD steps + {sgd_steps} SGD steps = {total / 60:.1f} min; "
          f"one 15,000-step run pruning from step 0: {FIG2_TOTAL * means['cgd'] / 60:.1f} min")


def main():
    header("exact spectra of smooth MLPs and the H22 Fig. 2 estimate",
           {"seed": SEED, "B": B, "lr": LR, "repeats (auto, dense)": (REPEATS_FAST, REPEATS_DENSE),
            "measured steps": STEPS})
    X, Y = rc.data.load("usps", data_dir=DATA_DIR, scaling="standardize", flatten=True)
    part1(X, Y)
    part2(X, Y)


if __name__ == "__main__":
    main()
