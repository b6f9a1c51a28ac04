"""J25: chaotic dynamics precede the edge of stability, measured in the same runs.

J25 (summary, Executive Summary): the chaotic transient "appears to precede convergence toward
the edge-of-stability regime in Hessian dynamics". For each learning rate of the J25 network
(MLP tanh, weights N(0, 1), biases 0, float64, mean cross-entropy, full-batch GD: one step per
epoch) one training run (:func:`refchaos.experiments.run`, measures ``sharpness`` and
``maxexp``) records the sharpness (top eigenvalue of the full-batch Hessian, Lanczos, every
EVERY epochs) and the running exponent of one tangent vector, and J25's perturbed copies
(:func:`refchaos.lyapunov.copies_exponent`: U(-eps, eps) on the weights, eps = 1e-8, L1 over all
parameters, 3 copies, the same batches) give L(t) = <ln d(t)/d(0)>. Two epochs per lr:

* t_chaos: the first epoch at which L(t) >= 1 (the copies' distance has grown by one e-fold:
  "starts growing" read as the first e-fold, so that rounding-level wiggles of L do not count;
  the tangent vector's first e-fold, sum_s ln r(s) >= 1, is reported beside it);
* t_eos:   the first measured epoch at which the sharpness >= 2/lr (Cohen et al. 2021).

Reported beside them, not part of the criterion: t_hover, the first measured epoch from which
the sharpness stays within HOVER_BAND of 2/lr to the end of the run (the edge-of-stability
regime itself, which a sharpness starting above 2/lr can only approach from above).

Statement tested (criterion of the claims register's J25-precedes-eos row, fixed before the
run): t_chaos < t_eos at every chaotic lr, chaotic meaning that L reaches 1 within the run. An
lr whose sharpness never reaches 2/lr counts as preceded (t_eos = never); one whose sharpness
is >= 2/lr from epoch 0 fails it.

Quick mode: the embedded digits, MLP 64-16-10, lrs 5, 20, 25 epochs, sharpness every epoch
(seconds). Full mode: 2,000 MNIST training images (the REPORT's J25 size), MLP 784-64-10,
lrs 5, 7.5, 10, 20 (the lrs of the REPORT's sweep whose copies grow by an e-fold), 60 epochs
(the copies' fit windows of that sweep end by epoch 20), sharpness every epoch.

    python validation/j25_precedes_eos.py --quick
    python validation/j25_precedes_eos.py --data-dir ../shared/data [--lrs 5,10 --epochs 40 --every 2]
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_claims.py, also when imported by path
from _claims import Claim, fmt, overridden, parser, write_report  # noqa: E402

from refchaos.experiments import RunConfig, RunDirectory, run  # noqa: E402
from refchaos.experiments.setup import prepare  # noqa: E402
from refchaos.lyapunov import copies_exponent, weight_mask  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0
ACTIVATION = "tanh"
INIT, INIT_STD = "normal", 1.0  # J25: weights N(0, 1), biases 0
EPS, COPIES = 1e-8, 3  # J25's perturbation; copies as the REPORT's sweep
EFOLD = 1.0  # "starts growing": L(t) >= this
HOVER_BAND = 0.1  # reported beside the criterion: within +-10 % of 2/lr (edge_of_stability.py)
QUICK = dict(dataset="digits", hidden="mlp:16", subset=None, lrs=(5.0, 20.0), epochs=25, every=1)
FULL = dict(dataset="mnist", hidden="mlp:64", subset=2000, lrs=(5.0, 7.5, 10.0, 20.0), epochs=60,
            every=1)
NAME = "j25_precedes_eos"


def first_at_least(steps, values, level):
    """The first step whose value is >= level, None if none (NaN never counts)."""
    hit = np.flatnonzero(np.nan_to_num(np.asarray(values, dtype=float), nan=-np.inf) >= level)
    return None if hit.size == 0 else int(np.asarray(steps)[hit[0]])


def measure_lr(base, lr, out):
    cfg = replace(base, lr=float(lr))
    summary = run(cfg, out, progress=False)
    _, m = RunDirectory(out).read_metrics()
    sel = np.isfinite(m["sharpness"])
    s_steps, sharp = m["step"][sel].astype(int), m["sharpness"][sel]
    setup = prepare(cfg)
    with np.errstate(all="ignore"):
        cop = copies_exponent(setup.step_fn(), setup.theta0, setup.steps, num_copies=COPIES,
                              eps=EPS, mask=weight_mask(setup.model), norm="l1", seed=SEED)
    L = cop.log_ratio
    t_chaos = first_at_least(np.arange(L.size), L, EFOLD)
    e_steps = m["step"][np.isfinite(m["maxexp"])].astype(int)
    growth = m["maxexp"][np.isfinite(m["maxexp"])] * (e_steps + 1)  # sum of ln r(s), s <= t
    t_tangent = first_at_least(e_steps + 1, growth, EFOLD)
    t_eos = first_at_least(s_steps, sharp, 2.0 / lr)
    inside = np.abs(sharp * lr / 2.0 - 1.0) <= HOVER_BAND
    outside = np.flatnonzero(~inside)
    t_hover = (int(s_steps[0]) if outside.size == 0 else
               None if outside[-1] == sharp.size - 1 else int(s_steps[outside[-1] + 1]))
    return {"lr": float(lr), "t_chaos": t_chaos, "t_tangent": t_tangent, "t_eos": t_eos,
            "t_hover": t_hover,
            "two_over_lr": 2.0 / lr, "sharpness_0": float(sharp[0]),
            "sharpness_max": float(np.nanmax(sharp)), "copies_slope": cop.slope,
            "copies_window": list(cop.window), "log_ratio": L.tolist(),
            "sharpness_steps": s_steps.tolist(), "sharpness": sharp.tolist(),
            "final_test_acc": summary.get("final", {}).get("test_acc"),
            "status": summary["status"]}


def _t(v):
    return "never" if v is None else str(v)


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    p.add_argument("--lrs", default=None, help="comma-separated learning rates")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--every", type=int, default=None, help="sharpness every this many epochs")
    args = p.parse_args(argv)
    started = time.perf_counter()
    params = overridden(args, QUICK if args.quick else FULL, ("lrs", "epochs", "every"))
    base = RunConfig(dataset=params["dataset"], data_dir=args.data_dir, subset=params["subset"],
                     model=params["hidden"], activation=ACTIVATION, init=INIT, init_std=INIT_STD,
                     batch_size=0, epochs=params["epochs"], every=params["every"], seed=SEED,
                     measure=("loss", "accuracy", "sharpness", "maxexp"))
    out = Path(args.out)
    rows = [measure_lr(base, lr, out / f"lr_{lr:g}") for lr in params["lrs"]]
    chaotic = [r for r in rows if r["t_chaos"] is not None]
    preceded = [r for r in chaotic if r["t_eos"] is None or r["t_chaos"] < r["t_eos"]]
    measured = "; ".join(
        f"lr {r['lr']:g}: copies' first e-fold at epoch {_t(r['t_chaos'])} (tangent "
        f"{_t(r['t_tangent'])}), sharpness {fmt(r['sharpness_0'], 3)} at epoch 0, first >= 2/lr = "
        f"{fmt(r['two_over_lr'], 3)} at epoch {_t(r['t_eos'])} (max {fmt(r['sharpness_max'], 3)}), "
        + (f"within {HOVER_BAND:.0%} of 2/lr from epoch {r['t_hover']} on" if r["t_hover"] is not None
         else f"never settles within {HOVER_BAND:.0%} of 2/lr")
        for r in rows)
    claims = [Claim("chaotic dynamics precede the edge of stability",
                    "J25 summary: 'appears to precede convergence toward the edge-of-stability "
                    "regime in Hessian dynamics'", measured,
                    bool(chaotic and len(preceded) == len(chaotic)),
                    f"t_chaos (first epoch with L(t) >= {EFOLD:g}) < t_eos (first epoch with "
                    "sharpness >= 2/lr) at every lr whose copies grow by an e-fold")]
    size = (f"{params['dataset']}{'' if params['subset'] is None else ' subset ' + str(params['subset'])}, "
            f"{params['hidden']} {ACTIVATION}, N(0, {INIT_STD:g}) weights, full-batch GD, "
            f"{params['epochs']} epochs, lrs {list(params['lrs'])}, sharpness every "
            f"{params['every']}, {COPIES} copies, eps {EPS:g}, seed {SEED}")
    write_report(out, NAME, claims, {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
                 size, extra={"per_lr": rows}, started=started, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
