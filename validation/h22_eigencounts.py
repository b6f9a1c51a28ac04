"""H22 App. B.2: Hessian eigenvalue counts over SGD training and the gradient's overlaps.

Every ``every`` steps :func:`refchaos.experiments.run` (measure ``spectrum``) decomposes the
minibatch Hessian at theta(t), counts its negative, positive, zero and chaotic eigenvalues
(Theorem 2.1, Eq. (10); zero: |lambda| <= ZERO_TOL max|lambda|) and splits the squared norm of
the gradient over those eigenspaces (``overlap_*``, fractions summing to 1). Statements tested:

* negative curvature persists:   n_negative > 0 at every measured step
* the gradient moves out of the negative (chaotic) eigenspace as training proceeds:
  mean overlap_negative over the last quarter of the measurements < over the first quarter
* late in training the gradient lies mostly in the positive eigenspace:
  mean overlap_positive over the last half > 0.5

Quick mode: digits, MLP 64-8-10 ReLU (610 parameters), batch 8, lr 0.1, 300 steps, spectrum
every 10 steps (a few seconds). Full mode: H22's USPS MLP 256-20-10 ReLU (5,350 parameters),
batch 8, lr 1e-3, 40 epochs (36,480 steps), spectrum every 456 steps (twice per epoch).

    python validation/h22_eigencounts.py --quick
    python validation/h22_eigencounts.py --data-dir ../shared/data [--epochs 5]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_claims.py, also when imported by path
from _claims import (Claim, add_training_options, finite, fmt, parser, train_sgd,  # noqa: E402
                     write_report)


# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0
BATCH_SIZE = 8
ACTIVATION = "relu"
QUICK = dict(dataset="digits", model="mlp:8", lr=0.1, epochs=1, steps=300, every=10)
FULL = dict(dataset="usps", model="mlp:20", lr=1e-3, epochs=40, steps=None, every=456)
POSITIVE_MAJORITY = 0.5  # "mostly in the positive eigenspace": overlap above one half
NAME = "h22_eigencounts"


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    args = add_training_options(p).parse_args(argv)
    started = time.perf_counter()
    params = dict(QUICK if args.quick else FULL)
    cfg, summary, m = train_sgd(args, params, ("loss", "accuracy", "spectrum"),
                                activation=ACTIVATION, init="pytorch", batch_size=BATCH_SIZE, seed=SEED)
    out = Path(args.out)
    sel = np.isfinite(m["n_negative"])
    steps, neg = m["step"][sel], m["n_negative"][sel]
    ov_neg, ov_pos = m["overlap_negative"][sel], m["overlap_positive"][sel]
    q = max(1, steps.size // 4)
    early, late = float(np.mean(ov_neg[:q])), float(np.mean(ov_neg[-q:]))
    late_pos = float(np.mean(ov_pos[steps.size // 2:]))
    claims = [
        Claim("negative Hessian eigenvalues (chaotic directions) persist throughout training",
              "H22 App. B.2 eigenvalue counts",
              f"n_negative min {fmt(neg.min())}, max {fmt(neg.max())} over {steps.size} measurements "
              f"(n_positive {fmt(np.nanmin(m['n_positive']))}..{fmt(np.nanmax(m['n_positive']))})",
              bool(steps.size > 0 and np.all(neg > 0)), "n_negative > 0 at every measured step"),
        Claim("the gradient's overlap with the negative eigenspace shrinks over training",
              "H22 App. B.2 gradient overlaps",
              f"mean overlap_negative first quarter {fmt(early)}, last quarter {fmt(late)}",
              bool(finite(early, late) and late < early),
              "mean over the last quarter < mean over the first quarter"),
        Claim("late in training the gradient lies mostly in the positive eigenspace",
              "H22 App. B.2 gradient overlaps",
              f"mean overlap_positive over the last half {fmt(late_pos)}",
              bool(finite(late_pos) and late_pos > POSITIVE_MAJORITY),
              f"mean overlap_positive over the last half > {POSITIVE_MAJORITY}"),
    ]
    size = (f"{cfg.dataset}, {cfg.model} {ACTIVATION}, N = {summary['num_params']}, batch "
            f"{BATCH_SIZE}, lr {cfg.lr:g}, {summary['steps_completed']} steps, spectrum every "
            f"{cfg.every}, seed {SEED}")
    write_report(out, NAME, claims, params, size,
                 extra={"status": summary["status"], "final": summary["final"]},
                 started=started, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
