"""The split of a tangent matrix into chaotic and non-chaotic subspaces (H22 Sec. 4.2, the
measure ``subspaces``): from the top eigenpairs of Y^T Y (``method="gram"``) against the full
SVD of Y (the baseline), same process, at the size of H22's USPS MLP (N = 5,350).

Y = U diag(sigma) R^T with U, R random orthogonal and a spectrum shaped as a trained model's
(300 chaotic singular values from 20 down to 1.01, 40 at exactly 1, the rest from 0.99 down to
0.1), so that both routes must find the same 300 + 40 directions. The pairs alternate
(``_timing.paired_times``), the load average is printed beside them, and the two results are
compared: counts equal, subspace similarity of the chaotic and non-chaotic parts. Run from the
root (about 7 min of one core):

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m validation.bench.bench_subspaces
"""

from __future__ import annotations

import os

import numpy as np

from refchaos.lyapunov import finite_time_subspaces, subspace_overlap
from validation.bench._timing import header, paired_times

SEED = 0
N = 5350
REPEATS = 2
T = 36480  # H22's 40 epochs of USPS at batch 8 (t only scales the exponents)


def designed(n, seed):
    """Y = U diag(sigma) R^T with the spectrum of the module docstring, and sigma."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    R, _ = np.linalg.qr(rng.standard_normal((n, n)))
    sigma = np.concatenate([np.linspace(20.0, 1.01, 300), np.ones(40),
                            np.linspace(0.99, 0.1, n - 340)])
    return (U * sigma) @ R.T, sigma


def main():
    header("finite-time subspaces: top eigenpairs of Y^T Y vs the SVD of Y",
           {"seed": SEED, "N": N, "repeats": REPEATS})
    Y, _ = designed(N, SEED)
    out = {}
    load0 = os.getloadavg()[0]
    t_svd, t_gram, ratio = paired_times(
        lambda: out.__setitem__("svd", finite_time_subspaces(Y, T)),
        lambda: out.__setitem__("gram", finite_time_subspaces(Y, T, method="gram")), REPEATS)
    load1 = os.getloadavg()[0]
    svd, gram = out["svd"], out["gram"]
    ov = subspace_overlap(svd, gram)
    print(f"N = {N}, load average {load0:.1f} -> {load1:.1f}")
    print("| route | s per split | ratio to SVD | chaotic | neutral | delta |")
    print("|---|---|---|---|---|---|")
    print(f"| SVD of Y (baseline) | {t_svd:.1f} | 1.00 | {svd.n_chaotic} | {svd.n_neutral} | "
          f"{svd.delta:.1e} |")
    print(f"| eigenpairs of Y^T Y above 1 - delta | {t_gram:.1f} | {ratio:.2f} | {gram.n_chaotic} | "
          f"{gram.n_neutral} | {gram.delta:.1e} |")
    print(f"between the routes: chaotic s = 1 - {1 - ov.chaotic:.1e}, "
          f"non-chaotic s = 1 - {1 - ov.nonchaotic:.1e}")
    if (svd.n_chaotic, svd.n_neutral) != (gram.n_chaotic, gram.n_neutral) or \
            not min(ov.chaotic, ov.nonchaotic) > 1 - 1e-12:
        raise SystemExit("the Gram route split Y differently from the SVD")


if __name__ == "__main__":
    main()
