"""Per-trajectory cost of a 50-member ensemble against one trajectory, in the two studies' regimes.

Two cases, each in one process with the same threads for both sides; the two measurements
alternate (paired repeats) and each is printed with the load average beside it. Separate
trajectories: one ``SGD(lr).step`` (the refchaos single-model path) of each of the M members in
turn, so both sides take about the same wall time and see the same share of a shared machine;
the ensemble: one ``Ensemble.step`` of the M members sharing x (first layer: one GEMM
x [W_1; ...; W_M]^T).

``fullbatch``  J25's full-batch GD step: 784-64(tanh)-10, N(0, 1) weights, zero biases, float64,
               mean cross-entropy, real MNIST training images in [0, 1] (all 60,000; the
               ensemble in blocks of SAMPLE_BLOCK samples). Then the FLOP count of one step
               (GEMMs only) and the estimate for J25's published grid (16 lrs x 50
               initialisations x (reference + 5 copies), 201 epochs, 60,000 images) from the
               rate measured here, and for one H200-class GPU at an assumed FP64 dense rate.
``minibatch``  H22's SGD step as its perturbation analysis runs it (Sec. 4.2, App. C.3: copies
               of one model that share the seed and the batches): 256-20(ReLU)-10, PyTorch's
               default initialisation, real USPS training digits standardised, batches of 8
               in the seeded order, lr 1e-3, float64; STEPS consecutive batches per repeat.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m validation.bench.bench_ensemble [--case fullbatch|minibatch|both] [--images 20000]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np

from refchaos.data import BatchOrder, load
from refchaos.ensemble import Ensemble
from refchaos.experiments.ensemble_chunk import SAMPLE_BLOCK
from refchaos.nn import mlp
from refchaos.optim import SGD
from validation.bench._timing import header

SEED = 0
MEMBERS = 50  # the ensemble measured
IMAGES = 60_000  # J25's full training set; the ensemble runs it in blocks of SAMPLE_BLOCK
# samples (50 x 1,000 x 64 float64 = 26 MB per activation array instead of 1.5 GB)
LR = 0.5  # a J25 lr; the cost does not depend on it
REPEATS = 2  # paired repeats (one ensemble step of 50 x 60,000 images is about a minute here)
DATA_DIR = "/work/shared/data"
GRID = dict(lrs=16, inits=50, trajectories=6, epochs=201, images=60_000)  # J25's published grid
GPU_FP64 = 60e12  # FLOP/s assumed for one H200-class GPU (FP64 dense; ~67 peak on tensor cores)
D, H, C = 784, 64, 10
H22_BATCH, H22_LR = 8, 1e-3  # H22's published setup (USPS MLP 256-20-10 ReLU)
STEPS = 200  # consecutive batches per repeat of the minibatch case
MB_REPEATS = 5


def step_flops(B, tangent=False):
    """GEMM flops of one full-batch step of 784-64-10 (2 per multiply-add).

    Gradient: forward x W1^T (2BDH), a W2^T (2BHC); backward dW2 (2BHC), dx2 = dz W2 (2BHC),
    dW1 (2BDH). The R-operator pass (tangent vector) adds x V1^T (2BDH), R{x}W2^T and a V2^T
    (4BHC), R{dx2} (4BHC), R{dW2} (4BHC) and R{dW1} (2BDH).
    """
    grad = 4 * B * D * H + 6 * B * H * C
    return grad + (4 * B * D * H + 12 * B * H * C if tangent else 0)


def paired(separate, ensemble, M, repeats):
    """Per-trajectory seconds of both sides over ``repeats`` alternating pairs; the ratios."""
    ratios = []
    for r in range(repeats):
        t0 = time.perf_counter()
        separate()
        t_single = (time.perf_counter() - t0) / M
        l1 = os.getloadavg()[0]
        t0 = time.perf_counter()
        ensemble()
        t_ens = (time.perf_counter() - t0) / M
        l2 = os.getloadavg()[0]
        ratios.append(t_ens / t_single)
        print(f"repeat {r}: separate {t_single:.6f} s per trajectory (load {l1:.1f}); ensemble "
              f"of {M} {t_ens * M:.4f} s = {t_ens:.6f} s per trajectory (load {l2:.1f}); "
              f"per-trajectory ratio {ratios[-1]:.3f}")
    print(f"median per-trajectory ratio {np.median(ratios):.3f} (target <= 0.6); peak memory "
          f"of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    return t_single, t_ens * M


def fullbatch(args):
    B, M = args.images, args.members
    header("ensemble vs single trajectory, J25 full-batch GD step",
           dict(seed=SEED, members=M, images=B, lr=LR, repeats=REPEATS, sample_block=SAMPLE_BLOCK,
                threads=os.environ.get("OPENBLAS_NUM_THREADS", "default")))
    x, y = load("mnist", "train", data_dir=DATA_DIR, scaling="unit", flatten=True)
    x, y = np.ascontiguousarray(x[:B]), y[:B]
    model = mlp([D, H, C], activation="tanh")
    Theta = np.stack([model.init(seed=SEED + m, scheme="normal", std=1.0) for m in range(M)])
    opt = SGD(LR)
    thetas = [Theta[m] for m in range(M)]
    states = [opt.init(th) for th in thetas]
    ens = Ensemble(model, Theta, LR, sample_block=SAMPLE_BLOCK)

    def separate():
        for m in range(M):
            thetas[m], states[m], _ = opt.step(model, thetas[m], states[m], x, y)

    opt.step(model, thetas[0], states[0], x, y)
    ens.step(x, y)  # warm-up
    t_single, t_ens = paired(separate, lambda: ens.step(x, y), M, REPEATS)
    f = step_flops(B)
    rate = f * M / t_ens
    print(f"FLOP per step and trajectory at B = {B}: {f / 1e9:.2f} GFLOP (gradient), "
          f"{step_flops(B, tangent=True) / 1e9:.2f} GFLOP with a tangent vector; "
          f"ensemble rate {rate / 1e9:.1f} GFLOP/s, single {f / t_single / 1e9:.1f} GFLOP/s")
    g = GRID
    total = g["lrs"] * g["inits"] * g["trajectories"] * g["epochs"] * step_flops(g["images"])
    print(f"J25 published grid ({g['lrs']} lrs x {g['inits']} inits x {g['trajectories']} "
          f"trajectories x {g['epochs']} epochs, {g['images']} images): {total / 1e15:.2f} PFLOP; "
          f"here at the ensemble rate {total / rate / 86400:.1f} days, at the single-trajectory "
          f"rate {total / (f / t_single) / 86400:.1f} days; one H200-class GPU at "
          f"{GPU_FP64 / 1e12:.0f} TFLOP/s: {total / GPU_FP64 / 60:.1f} min (at 100 % of that "
          f"rate; {2 * total / GPU_FP64 / 60:.1f} min at 50 %)")


def minibatch(args):
    M = args.members
    header("ensemble vs single trajectory, H22 SGD steps on shared batches (perturbed copies)",
           dict(seed=SEED, members=M, batch=H22_BATCH, lr=H22_LR, steps=STEPS,
                repeats=MB_REPEATS, threads=os.environ.get("OPENBLAS_NUM_THREADS", "default")))
    x, y = load("usps", "train", data_dir=DATA_DIR, scaling="standardize", flatten=True)
    model = mlp([256, 20, 10], activation="relu")
    theta0 = model.init(seed=SEED, scheme="pytorch")
    rng = np.random.default_rng(SEED)  # copies theta0 + delta_m, |delta_m| = 0.1 (H22 Fig. 3)
    deltas = rng.standard_normal((M, model.num_params))
    Theta = theta0 + 0.1 * deltas / np.linalg.norm(deltas, axis=1, keepdims=True)
    order = BatchOrder(x.shape[0], batch_size=H22_BATCH, seed=SEED)
    batches = [(np.ascontiguousarray(x[order.indices(t)]), y[order.indices(t)])
               for t in range(STEPS * (MB_REPEATS + 1))]
    opt = SGD(H22_LR)
    thetas = [Theta[m] for m in range(M)]
    states = [opt.init(th) for th in thetas]
    ens = Ensemble(model, Theta, H22_LR)
    clock = iter(range(len(batches) // STEPS))

    def separate(first):
        for t in range(first, first + STEPS):
            xb, yb = batches[t]
            for m in range(M):
                thetas[m], states[m], _ = opt.step(model, thetas[m], states[m], xb, yb)

    def ensemble(first):
        for t in range(first, first + STEPS):
            ens.step(*batches[t])

    block = next(clock)
    separate(block * STEPS), ensemble(block * STEPS)  # warm-up on the first STEPS batches
    starts = {}

    def sep():
        starts["block"] = next(clock) * STEPS
        separate(starts["block"])

    t_single, t_ens = paired(sep, lambda: ensemble(starts["block"]), M, MB_REPEATS)
    print(f"per trajectory and step: separate {t_single / STEPS * 1e6:.1f} us, ensemble "
          f"{t_ens / M / STEPS * 1e6:.1f} us")
    same = np.max(np.abs(ens.Theta - np.stack(thetas))) / np.max(np.abs(np.stack(thetas)))
    print(f"members after {ens.t} steps against the separate runs: max |difference| / max |theta| "
          f"= {same:.1e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=("fullbatch", "minibatch", "both"), default="both")
    ap.add_argument("--images", type=int, default=IMAGES)
    ap.add_argument("--members", type=int, default=MEMBERS)
    args = ap.parse_args()
    if args.case in ("minibatch", "both"):
        minibatch(args)
    if args.case in ("fullbatch", "both"):
        fullbatch(args)


if __name__ == "__main__":
    main()
