"""H22's CNN rc.cnn(4) (1,158 parameters): exact Hessian and full spectrum vs a torch pipeline.

On the first batch of B real USPS training digits (standardised, 1 x 16 x 16), PyTorch's
default initialisation (seed below), float64, one thread for everyone:

    Hessian   refchaos ``hessian`` (auto: layerwise)       vs torch.func.hessian
    spectrum  refchaos ``spectrum`` (auto: H + SciPy eigh)  vs torch.func.hessian + numpy.linalg.eigh

all in one process (median of REPEATS after a warm-up; the load average is printed beside
each). The floor: the dense eigh alone (SciPy evd, what ``spectrum`` uses), and the rank of H
(|lambda| > RANK_RTOL ||H||), the size a range method would decompose, and the eigh of the
principal submatrix on the parameters whose row of H is not exactly zero (what ``spectrum``
decomposes after splitting off the dead units). Run from the root:

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m validation.bench.bench_cnn
"""

from __future__ import annotations

import os

import numpy as np
import torch

import refchaos as rc
from refchaos.curvature import spectrum
from refchaos.curvature.dense_eigh import eigh
from refchaos.curvature.hessian import hessian
from validation.bench._timing import header, median_time
from validation.bench.bench_hessian import torch_loss

SEED = 0
B = 8
CHANNELS = 4
REPEATS = 5
RANK_RTOL = 1e-12  # the count of non-zero eigenvalues
THREADS = 1
DATA_DIR = "../shared/data"


def main():
    torch.set_num_threads(THREADS)
    header("cnn(4): exact Hessian and spectrum vs torch.func.hessian (+ numpy.linalg.eigh)",
           {"seed": SEED, "B": B, "channels": CHANNELS, "repeats": REPEATS, "torch threads": THREADS})
    X, Y = rc.data.load("usps", data_dir=DATA_DIR, scaling="standardize", flatten=True)
    model = rc.nn.cnn(CHANNELS)
    theta = model.init(seed=SEED)
    x, y = X[:B].reshape((B, *model.input_shape)), Y[:B]
    tt = (torch.from_numpy(theta), torch.from_numpy(x), torch.from_numpy(y))
    hess_t = torch.func.hessian(torch_loss(model))

    def torch_spectrum():
        return np.linalg.eigh(hess_t(*tt).numpy())

    rows = []
    for _ in range(2):  # twice, to see the spread under a shared machine's load
        t_h = median_time(lambda: hessian(model, theta, x, y), REPEATS)
        t_ht = median_time(lambda: hess_t(*tt), REPEATS)
        t_s = median_time(lambda: spectrum(model, theta, x, y), REPEATS)
        t_st = median_time(torch_spectrum, REPEATS)
        H = hessian(model, theta, x, y)
        Hs = 0.5 * (H + H.T)
        t_eigh = median_time(lambda: eigh(Hs), REPEATS)
        live = np.flatnonzero(~np.all(Hs == 0, axis=1))
        Hl = Hs[np.ix_(live, live)]
        t_live = median_time(lambda: eigh(Hl), REPEATS)
        rows.append((t_h, t_ht, t_s, t_st, t_eigh, t_live, live.size, os.getloadavg()[0]))
    print("| refchaos H s | torch H s | torch/refchaos | refchaos spectrum s | torch H + eigh s | "
          "torch/refchaos | eigh of H s | eigh of the live block s (size) | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for t_h, t_ht, t_s, t_st, t_eigh, t_live, n_live, ld in rows:
        print(f"| {t_h:.4f} | {t_ht:.3f} | {t_ht / t_h:.1f} | {t_s:.4f} | {t_st:.3f} | "
              f"{t_st / t_s:.1f} | {t_eigh:.4f} | {t_live:.4f} ({n_live}) | {ld:.1f} |")
    Ht = hess_t(*tt).numpy()
    lam = np.linalg.eigvalsh(Hs)
    rank = int(np.sum(np.abs(lam) > RANK_RTOL * np.abs(lam).max()))
    print(f"||H_rc - H_torch|| / ||H_torch|| = {np.linalg.norm(H - Ht) / np.linalg.norm(Ht):.2e}; "
          f"rank {rank} of {model.num_params} (|lambda| > {RANK_RTOL:g} ||H||)")


if __name__ == "__main__":
    main()
