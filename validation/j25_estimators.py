"""J25's perturbed-copies exponent beside the tangent-vector exponent, on the same runs.

The learning-rate sweep (``j25_lr_sweep.py``) reports two estimates of the maximum Lyapunov
exponent per learning rate, and they differ by factors of 2 to 10:

* copies (J25's estimator, :func:`refchaos.lyapunov.copies_exponent`): M copies perturbed by
  U(-eps, eps), eps = 1e-8, on the weights only; L(t) = mean_m ln(d_m(t)/d_m(0)) with the L1
  distance over all parameters; least-squares slope of L over [0, t_stop], t_stop a decade
  before the saturation plateau;
* tangent (:func:`refchaos.lyapunov.max_exponent`): one infinitesimal vector w, random over all
  parameters, w <- (I - lr H) w renormalised each step; ln ||Y(T) w|| / T over the whole run.

They estimate the same exponent only in a limit. This script measures each difference by
changing one ingredient at a time, on the same trajectory, batches and perturbations:

1. norm: L1 -> L2 (same copies, same automatic window);
2. window: the L2 copies' slope over the J25 window vs over the whole run;
3. start: a tangent vector started along copy 1's perturbation delta_1 instead of a random w;
4. linear regime: copy 1's L2 log ratio ln(d_1(t)/d_1(0)) against ln ||Y(t) delta_1|| /
   ||delta_1|| while d_1(t) < LINEAR_D (Eq. (6) of Herrmann et al. 2022: a copy is theta +
   Y(t) delta to first order), their largest difference;
5. transient: the tangent's mean growth rate over the first and the second half of the run;
6. eps -> 0: the J25 estimator with eps = 1e-4, 1e-8, 1e-12 (the fit window lengthens as the
   saturation moves later).

Statements tested (criteria fixed before the run):

* the two measure the same thing to first order: max |ln d_1 ratio - ln ||Y delta_1|| ratio|
  over the linear regime < MATCH_LOG at every lr
* with the same start, norm and window the two exponents agree: the L2 copies' slope and
  the delta_1 tangent's slope over the same window differ by < MATCH_REL relative (or
  < MATCH_ABS per epoch absolute) at every lr
* as the sweep reports them (J25 copies vs random-start tangent) they agree within a factor
  2 at every lr (a measured statement; expected to fail where the windows differ)

Quick mode: 500 of the embedded digits, MLP 64-64-10 tanh, N(0, 1) weights, full-batch GD,
lrs 1 and 20, 2 copies, 40 epochs (seconds). Full mode: MNIST, 784-64-10 tanh, 2,000 training
images, lrs 0.5, 1, 5, 10, 20, 3 copies, 200 epochs (minutes).

    python validation/j25_estimators.py --quick
    python validation/j25_estimators.py --data-dir ../shared/data [--subset 2000 --lrs 1,5]
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_claims.py, also when imported by path
from _claims import Claim, fmt, overridden, parser, write_report  # noqa: E402

from refchaos.experiments import RunConfig  # noqa: E402
from refchaos.experiments.setup import prepare  # noqa: E402
from refchaos.lyapunov import copies_exponent, max_exponent, weight_mask  # noqa: E402
from refchaos.lyapunov.copies import fit_slope, perturbations  # noqa: E402
from refchaos.plots import validation as figure_data  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0  # initialisation, and the copies' perturbations
ACTIVATION = "tanh"
INIT, INIT_STD = "normal", 1.0  # J25: weights N(0, 1), biases 0
EPS = 1e-8  # J25
EPS_SCAN = (1e-4, 1e-8, 1e-12)  # eps -> 0
COPIES = 3
QUICK = dict(dataset="digits", hidden="mlp:64", lrs=(1.0, 20.0), epochs=40, subset=500, copies=2)
FULL = dict(dataset="mnist", hidden="mlp:64", lrs=(0.5, 1.0, 5.0, 10.0, 20.0), epochs=200,
            subset=2000, copies=COPIES)
LINEAR_D = 1e-4  # L2 distance below which a copy is in the first-order regime (weights O(1))
MATCH_LOG = 1e-3  # largest |difference| of the two log ratios in the linear regime
MATCH_REL, MATCH_ABS = 0.01, 1e-4  # same start, norm and window: relative or absolute agreement
FACTOR = 2.0  # "agree within a factor 2"
NAME = "j25_estimators"


def compare(setup, copies):
    """Every estimate of one (lr, initialisation) point as a dict of floats and lists."""
    step, theta0, T = setup.step_fn(), setup.theta0, setup.steps
    mask = weight_mask(setup.model)
    kw = dict(num_copies=copies, mask=mask, seed=SEED)
    j25 = copies_exponent(step, theta0, T, norm="l1", eps=EPS, **kw)  # J25's estimator
    l2 = copies_exponent(step, theta0, T, norm="l2", eps=EPS, **kw)  # same copies, L2
    t_all = np.arange(l2.usable, dtype=np.float64)
    l2_whole = fit_slope(t_all, l2.log_ratio[:l2.usable])[0]
    tan_rand = max_exponent(setup.opt, setup.model, theta0, setup.batch, T, seed=SEED,
                            record_every=None)  # the sweep's cross-check
    delta1 = perturbations(theta0, copies, EPS, mask, SEED)[0]
    tan_d = max_exponent(setup.opt, setup.model, theta0, setup.batch, T, w0=delta1,
                         record_every=None)
    log_tan = np.concatenate([[0.0], np.cumsum(tan_d.log_growth)])  # ln ||Y(t) d1|| / ||d1||
    log_rand = np.concatenate([[0.0], np.cumsum(tan_rand.log_growth)])
    d1 = l2.distances[0]
    log_copy = np.log(d1 / d1[0])  # copy 1, L2
    out_of_linear = np.flatnonzero(~(d1 < LINEAR_D))
    t_lin = int(out_of_linear[0]) if out_of_linear.size else d1.shape[0]  # steps 0..t_lin-1

    def slope(y, a, b):
        return fit_slope(np.arange(a, b + 1, dtype=np.float64), y[a:b + 1])[0]

    a, b = j25.window
    scan = {f"{EPS:g}": {"slope": j25.slope, "window_stop": int(b)}}
    for eps in EPS_SCAN:
        if eps != EPS:
            r = copies_exponent(step, theta0, T, norm="l1", eps=eps, **kw)
            scan[f"{eps:g}"] = {"slope": r.slope, "window_stop": int(r.window[1])}
    dip = int(np.argmin(log_tan))
    lin_ok = t_lin - 1 >= 1
    return {"j25_l1_auto": j25.slope, "window": [int(a), int(b)], "l2_auto": l2.slope,
            "l2_window": [int(w) for w in l2.window], "l2_whole_run": l2_whole,
            "copy1_l2_j25_window": slope(log_copy, a, b),
            "tangent_delta_j25_window": slope(log_tan, a, b),
            "tangent_random_j25_window": slope(log_rand, a, b),
            "tangent_random": tan_rand.exponent, "tangent_delta": tan_d.exponent,
            "tangent_first_half": float(np.mean(tan_rand.log_growth[:T // 2])),
            "tangent_second_half": float(np.mean(tan_rand.log_growth[T // 2:])),
            "linear_steps": t_lin,
            "copy1_l2_linear_window": slope(log_copy, 0, t_lin - 1) if lin_ok else math.nan,
            "tangent_delta_linear_window": slope(log_tan, 0, t_lin - 1) if lin_ok else math.nan,
            "linear_mismatch": float(np.max(np.abs(log_copy[:t_lin] - log_tan[:t_lin]))),
            "alignment_dip": float(log_tan[dip]), "alignment_dip_step": dip,
            "l1_over_l2_start": float(j25.distances[0, 0] / l2.distances[0, 0]),
            "l1_over_l2_window_end": float(j25.distances[0, b] / l2.distances[0, b]),
            "eps_scan": scan}


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    p.add_argument("--lrs", default=None, help="comma-separated learning rates")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--subset", type=int, default=None, help="training-set size (seeded subset)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    params = overridden(args, QUICK if args.quick else FULL, ("lrs", "epochs", "subset"))
    base = RunConfig(dataset=params["dataset"], data_dir=args.data_dir, model=params["hidden"],
                     activation=ACTIVATION, init=INIT, init_std=INIT_STD, batch_size=0,
                     epochs=params["epochs"], subset=params["subset"], seed=SEED,
                     measure=("loss",))
    points = {}
    for lr in params["lrs"]:
        t0 = time.perf_counter()
        with np.errstate(all="ignore"):
            points[f"{lr:g}"] = compare(prepare(replace(base, lr=float(lr))), params["copies"])
        q = points[f"{lr:g}"]
        print(f"lr {lr:g} ({time.perf_counter() - t0:.1f} s): " + ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in q.items()))
    claims = _claims(points)
    figure_data.write(args.out, NAME, {key: [points[lr][key] for lr in points]
                                       for key, _ in figure_data.ESTIMATOR_SERIES},
                      {"lrs": list(points)})
    size = (f"{params['dataset']}{'' if params['subset'] is None else ' subset ' + str(params['subset'])}, "
            f"{params['hidden']} {ACTIVATION}, N(0, {INIT_STD:g}) weights, full-batch GD, "
            f"{params['epochs']} epochs, lrs {list(params['lrs'])}, {params['copies']} copies, eps {EPS:g}")
    write_report(args.out, NAME, claims,
                 {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
                 size, extra={"points": points}, started=started, argv=argv)
    return 0


def _claims(points):
    def close(a, b):
        return abs(a - b) <= max(MATCH_REL * abs(b), MATCH_ABS)

    def ratio(q):
        return q["tangent_random"] / q["j25_l1_auto"] if q["j25_l1_auto"] != 0 else math.inf

    rows = "; ".join(f"lr {lr}: {fmt(q['linear_mismatch'], 2)} over {q['linear_steps']} steps"
                     for lr, q in points.items())
    same = "; ".join(f"lr {lr}: copy 1 {fmt(q['copy1_l2_linear_window'], 4)} vs tangent "
                     f"{fmt(q['tangent_delta_linear_window'], 4)} over steps 0..{q['linear_steps'] - 1}"
                     f" (J25 window {q['window']}: {fmt(q['copy1_l2_j25_window'], 4)} vs "
                     f"{fmt(q['tangent_delta_j25_window'], 4)})" for lr, q in points.items())
    sweep = "; ".join(f"lr {lr}: J25 {fmt(q['j25_l1_auto'], 3)}, tangent "
                      f"{fmt(q['tangent_random'], 3)}, ratio {fmt(ratio(q), 3)}"
                      for lr, q in points.items())
    return [
        Claim("copies and tangent vector measure the same growth to first order",
              "Eq. (6) of H22: theta'(t) ~ theta(t) + Y(t) (eps w)", "max |log-ratio difference| "
              + rows,
              all(q["linear_steps"] > 1 and q["linear_mismatch"] < MATCH_LOG for q in points.values()),
              f"< {MATCH_LOG:g} at every lr while d_1 < {LINEAR_D:g}"),
        Claim("same start, norm and window (inside the linear regime): the two exponents agree",
              "J25 (copies) vs H22 Eq. (4) (tangent)", same,
              all(q["linear_steps"] > 1 and close(q["copy1_l2_linear_window"],
                                                  q["tangent_delta_linear_window"])
                  for q in points.values()),
              f"relative difference < {MATCH_REL:g} or absolute < {MATCH_ABS:g} per epoch, every lr"),
        Claim("as the sweep reports them, the two estimates agree within a factor 2",
              "refchaos sweep: exponent_copies vs exponent_tangent", sweep,
              all(q["j25_l1_auto"] > 0 and 1 / FACTOR <= ratio(q) <= FACTOR for q in points.values()),
              f"tangent / copies in [1/{FACTOR:g}, {FACTOR:g}] at every lr"),
    ]



if __name__ == "__main__":
    sys.exit(main())
