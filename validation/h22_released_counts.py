"""Eigenvalue counts under the released H22 code's convention against refchaos's default.

The authors' released code (``luisherrmann/chaotic_neurips22``) decides the negative and
positive sets by the raw sign of each eigenvalue of the dense minibatch Hessian and the chaotic
set by (1 - lr lambda)^2 > 1 in floating point (``calc_update`` in ``experiments/optim/cgd.py``,
``log_eigval_metrics`` in ``experiments/models/skeletons.py``). The Hessian of a network has a
large null space whose eigenvalues come out of a dense eigh as rounding noise of either sign,
so those rules count noise. refchaos's default (:mod:`refchaos.optim.eigensets`) treats
|lambda| <= ZERO_TOL max|lambda| as zero. This script computes the dense spectrum at theta(0) on
the first batch and counts with both conventions (:func:`refchaos.optim.eigenvalue_counts`,
``convention="released"``) at several learning rates. Statements tested:

* the raw-sign rule counts null-space noise as negative: released negative count > refchaos's
* the released chaotic count grows with lr through noise eigenvalues: at the largest lr it
  exceeds refchaos's chaotic count, and the excess is larger at the largest lr than at the
  smallest

Quick mode: the embedded digits, MLP 64-16-10 ReLU, batch 8. Full mode: USPS, H22's MLP
256-20-10 ReLU (5,350 parameters; one dense 5,350 x 5,350 eigh, ~15 s), batch 8.

    python validation/h22_released_counts.py --quick
    python validation/h22_released_counts.py --data-dir ../shared/data
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_claims.py, also when imported by path
from _claims import Claim, parser, write_report  # noqa: E402

from refchaos.backend import to_host  # noqa: E402
from refchaos.curvature import dense_spectrum  # noqa: E402
from refchaos.experiments import RunConfig  # noqa: E402
from refchaos.experiments.setup import prepare  # noqa: E402
from refchaos.optim import ZERO_TOL, eigenvalue_counts  # noqa: E402
from refchaos.plots import validation as figure_data  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0
BATCH_SIZE = 8  # H22
LRS = (1e-3, 1e-1, 1.0)  # H22's lr first
QUICK = dict(dataset="digits", model="mlp:16")
FULL = dict(dataset="usps", model="mlp:20")
NAME = "h22_released_counts"


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    args = p.parse_args(argv)
    started = time.perf_counter()
    params = dict(QUICK if args.quick else FULL)
    cfg = RunConfig(dataset=params["dataset"], data_dir=args.data_dir, model=params["model"],
                    activation="relu", init="pytorch", lr=LRS[0], batch_size=BATCH_SIZE, steps=1,
                    seed=SEED, measure=("loss",))
    setup = prepare(cfg)
    x, y = setup.batch(0)
    lam, _ = dense_spectrum(setup.model, setup.theta0, x, y)
    counts = {f"{lr:g}": {c: eigenvalue_counts(lam, lr, convention=c)
                          for c in ("refchaos", "released")} for lr in LRS}
    for lr, c in counts.items():
        print(f"lr {lr}: refchaos {c['refchaos']}, released {c['released']}")
    lo, hi = f"{LRS[0]:g}", f"{LRS[-1]:g}"
    neg_ref, neg_rel = counts[lo]["refchaos"]["negative"], counts[lo]["released"]["negative"]
    excess = {lr: c["released"]["chaotic"] - c["refchaos"]["chaotic"] for lr, c in counts.items()}

    def row(lr, key):
        return (f"lr {lr}: {key} {counts[lr]['released'][key]} (released) vs "
                f"{counts[lr]['refchaos'][key]} (refchaos)")

    claims = [
        Claim("the raw-sign rule counts null-space rounding noise as negative eigenvalues",
              "released code: neg_eigs_cnt = sum(w < 0), CGD 'neg' keeps w > 0",
              f"N = {lam.shape[0]}; " + row(lo, "negative") + "; " + row(lo, "zero"),
              bool(neg_rel > neg_ref), "released negative count > refchaos's"),
        Claim("the released chaotic test (1 - lr w)^2 > 1 admits noise eigenvalues as lr grows",
              "released code: w_ = (1 - lr * w) ** 2; CGD 'chaotic' keeps w_ <= 1",
              "; ".join(row(lr, "chaotic") for lr in counts),
              bool(excess[hi] > 0 and excess[hi] > excess[lo]),
              f"released - refchaos chaotic count at lr {hi} > 0 and > the same at lr {lo}"),
    ]
    figure_data.write(args.out, NAME, {"lam": to_host(lam)}, {"zero_tol": ZERO_TOL})
    size = (f"{cfg.dataset}, {cfg.model} relu, N = {setup.model.num_params}, batch "
            f"{BATCH_SIZE}, theta(0) and the first batch, seed {SEED}, lrs {list(LRS)}")
    write_report(args.out, NAME, claims, {**params, "lrs": list(LRS), "seed": SEED}, size,
                 extra={"counts": counts, "max_abs_eigenvalue": float(np.max(np.abs(lam)))},
                 started=started, argv=argv)
    return 0



if __name__ == "__main__":
    sys.exit(main())
