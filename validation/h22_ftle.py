"""H22 App. C.1: finite-time Lyapunov exponents decay towards 0 over training.

:func:`refchaos.experiments.run` (measure ``ftle``) integrates a k-column tangent block along
SGD from step 0 (Benettin/Geist-H2 QR re-orthonormalisation every step) and records the k
largest finite-time exponents lambda_j(t) = (1/t) sum ln|R_jj| every ``every`` steps. H22 see
exponential divergence early that turns polynomial as training converges, i.e. the finite-time
exponents fall back towards 0. Statements tested, with lambda_1(t) the top exponent:

* the top exponent is positive during training:  max_t lambda_1(t) > 0
* it decays towards 0:  lambda_1(T) < DECAY_FRACTION x max_t lambda_1(t)

Quick mode: digits, MLP 64-8-10 ReLU (610 parameters), batch 8, lr 0.5, 600 steps, k = 3,
every 20 steps (a few seconds). Full mode: USPS MLP 256-20-10 ReLU, batch 8, lr 1e-3 (H22),
40 epochs (36,480 steps), k = 5, every 912 steps (one epoch).

    python validation/h22_ftle.py --quick
    python validation/h22_ftle.py --data-dir ../shared/data [--epochs 5] [--lr 0.01]
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
QUICK = dict(dataset="digits", model="mlp:8", lr=0.5, epochs=1, steps=600, every=20, k=3)
FULL = dict(dataset="usps", model="mlp:20", lr=1e-3, epochs=40, steps=None, every=912, k=5)
DECAY_FRACTION = 0.5  # "decays towards 0": the final exponent below half its maximum
NAME = "h22_ftle"


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    args = add_training_options(p).parse_args(argv)
    started = time.perf_counter()
    params = dict(QUICK if args.quick else FULL)
    cfg, summary, m = train_sgd(args, params, ("loss", "accuracy", "ftle"),
                                activation=ACTIVATION, init="pytorch", batch_size=BATCH_SIZE, seed=SEED,
                                ftle_k=params["k"])
    out = Path(args.out)
    sel = np.isfinite(m["ftle_1"])
    steps, lam1 = m["step"][sel], m["ftle_1"][sel]
    peak = float(np.max(lam1)) if lam1.size else float("nan")
    peak_step = int(steps[np.argmax(lam1)]) if lam1.size else -1
    final = float(lam1[-1]) if lam1.size else float("nan")
    claims = [
        Claim("training starts out chaotic: the top finite-time exponent is positive",
              "H22 Sec. 4.2 / App. C.1", f"max lambda_1 {fmt(peak)} per step at step {peak_step}",
              bool(finite(peak) and peak > 0), "max_t lambda_1(t) > 0"),
        Claim("finite-time exponents decay towards 0 over training",
              "H22 App. C.1 (FTLE over training)",
              f"lambda_1(T = {int(steps[-1]) if steps.size else -1}) = {fmt(final)}, "
              f"ratio to max {fmt(final / peak if finite(final, peak) and peak else float('nan'))}",
              bool(finite(final, peak) and peak > 0 and final < DECAY_FRACTION * peak),
              f"lambda_1(T) < {DECAY_FRACTION} x max_t lambda_1(t)"),
    ]
    size = (f"{cfg.dataset}, {cfg.model} {ACTIVATION}, N = {summary['num_params']}, batch "
            f"{BATCH_SIZE}, lr {cfg.lr:g}, {summary['steps_completed']} steps, k = {cfg.ftle_k}, "
            f"seed {SEED}")
    write_report(out, NAME, claims, params, size,
                 extra={"status": summary["status"], "final_ftle": summary["ftle"],
                        "final": summary["final"]}, started=started, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
