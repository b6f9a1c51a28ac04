"""H22 Sec. 4.2 / App. C.5: the upper bound of Eq. (5) for eps = 0.1 at H22's horizon.

What H22 say (Sec. 4.2, "Theoretical bounds"): "Both bounds hold for our choice of eps = 0.1
over the entirety of our experiments where the lower bound converges always to zero (see
Appendix C.5)", the bounds of Eq. (5) being eps e^(lambda_N(t) t) <= |dtheta(t)| <= eps
e^(lambda_1(t) t), with lambda_1(t) "calculated at every time step" (Fig. 3 caption). By Eq. (3)
e^(lambda_1(t) t) = sigma_1(Y(t)), the largest singular value of the tangent matrix
Y(t) = d theta(t) / d theta(0) (Eq. (2)). This script trains H22's model A and a model B from
theta(0) + eps w (w a seeded random unit direction, H22's strategy (5); the direction of
``h22_c4_float32.py``), and at the horizons t_h = T/4, T/2, T compares d(t_h) = |theta_B(t_h) -
theta_A(t_h)| with eps sigma_1(Y(t_h)), sigma_1 from :func:`refchaos.lyapunov.top_singular_values`
(randomised subspace iteration whose adjoint passes run the symmetric SGD tangent map in reverse;
Y(t_h) is never formed). Its estimate s_1 is a Ritz value, s_1 <= sigma_1, so a bound that holds
with s_1 holds with sigma_1; the per-iteration estimates are reported so that a reader sees how
far s_1 still moved.

Beside it, the growth of the same random direction under the tangent map, |Y(t) w| (what one
tangent vector, or the first QR exponent, from a random start measures at a finite horizon), is
reported: it is not sigma_1, and the bound needs sigma_1.

Statement tested (criterion fixed before the full run):

* Eq. (5)'s upper bound holds for eps = 0.1: d(t_h) <= eps s_1(t_h) at every horizon

The lower bound needs sigma_N(Y(t)), which this method does not reach; it is not evaluated.

Quick mode: the embedded digits, MLP 64-16-10 ReLU, batch 8, lr 0.1, 300 steps (seconds). Full
mode: USPS 16x16, H22's MLP 256-20-10 ReLU, batch 8, lr 1e-3, H22's 40 epochs (36,480 steps).

    python validation/h22_c5_bounds.py --quick
    python validation/h22_c5_bounds.py --data-dir ../shared/data [--steps S]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_claims.py, also when imported by path
from _claims import Claim, fmt, parser, write_report  # noqa: E402
from h22_c4_float32 import trajectory_distances  # noqa: E402  d(t) of model B against model A

from refchaos.backend import host_rng  # noqa: E402
from refchaos.experiments import RunConfig  # noqa: E402
from refchaos.experiments.setup import prepare  # noqa: E402
from refchaos.lyapunov import max_exponent, top_singular_values  # noqa: E402
from refchaos.plots import validation as figure_data  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0  # initialisation, batch order and the direction w (as h22_c4_float32.py)
BATCH_SIZE = 8  # H22
ACTIVATION = "relu"  # H22's MLP
EPS = 0.1  # H22's perturbation length
HORIZONS = (0.25, 0.5, 1.0)  # t_h / T
K, OVERSAMPLE, ITERATIONS = 1, 8, 5  # sigma_1 from a block of 9 columns, 5 subspace iterations
QUICK = dict(dataset="digits", model="mlp:16", lr=0.1, steps=300)
FULL = dict(dataset="usps", model="mlp:20", lr=1e-3, steps=40 * 912)  # 912 steps per USPS epoch
NAME = "h22_c5_bounds"


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    p.add_argument("--steps", type=int, default=None, help="override the number of steps T")
    args = p.parse_args(argv)
    started = time.perf_counter()
    params = dict(QUICK if args.quick else FULL)
    if args.steps is not None:
        params["steps"] = args.steps
    steps = params["steps"]
    if steps < 1:
        p.error(f"--steps must be >= 1, got {steps}")
    horizons = sorted({max(1, round(f * steps)) for f in HORIZONS})
    cfg = RunConfig(dataset=params["dataset"], data_dir=args.data_dir, model=params["model"],
                    activation=ACTIVATION, init="pytorch", lr=params["lr"], batch_size=BATCH_SIZE,
                    steps=steps, seed=SEED, measure=("loss",))
    setup = prepare(cfg)
    N = setup.model.num_params
    w = host_rng(SEED).standard_normal(N)
    w /= np.linalg.norm(w)  # unit direction, H22's strategy (5)
    d = trajectory_distances(setup, "float64", [setup.theta0 + EPS * w], steps)[0]
    tan = max_exponent(setup.opt, setup.model, setup.theta0, setup.batch, steps, w0=w,
                       record_every=None)
    growth = np.concatenate([[1.0], np.exp(np.cumsum(tan.log_growth))])  # |Y(t) w|
    sigma, history, walls = [], [], []
    for t_h in horizons:
        t0 = time.perf_counter()
        top = top_singular_values(setup.opt, setup.model, setup.theta0, setup.batch, t_h, k=K,
                                  oversample=OVERSAMPLE, iterations=ITERATIONS, seed=SEED)
        sigma.append(float(top.sigma[0]))
        history.append(top.history[:, 0].tolist())
        walls.append(time.perf_counter() - t0)
        print(f"t = {t_h}: s_1 {sigma[-1]:.6g} (per iteration {', '.join(f'{v:.6g}' for v in history[-1])}), "
              f"d / eps {d[t_h] / EPS:.6g}, |Y(t) w| {growth[t_h]:.6g}, {walls[-1]:.0f} s")
    ratio = [d[t] / (EPS * s) for t, s in zip(horizons, sigma)]
    moved = [abs(h[-1] - h[-2]) / h[-1] if len(h) > 1 else float("nan") for h in history]
    rows = "; ".join(
        f"t = {t}: d {fmt(d[t], 4)}, eps s_1 {fmt(EPS * s, 4)} (d / bound {fmt(r, 3)}; s_1 moved "
        f"{fmt(m, 2)} in the last iteration), eps |Y(t) w| {fmt(EPS * growth[t], 4)}"
        for t, s, r, m in zip(horizons, sigma, ratio, moved))
    claims = [
        Claim("Eq. (5)'s upper bound holds for eps = 0.1: d(t) <= eps e^(lambda_1(t) t)",
              "H22 Sec. 4.2 'Theoretical bounds' / App. C.5",
              rows, bool(all(r <= 1.0 for r in ratio)),
              f"d(t_h) <= eps s_1(Y(t_h)) at t_h = {horizons} (s_1 <= sigma_1: a lower estimate)"),
    ]
    figure_data.write(args.out, NAME, {"distance": d, "growth": growth,
                                       "horizons": np.asarray(horizons, dtype=np.float64),
                                       "sigma": np.asarray(sigma)},
                      {"eps": EPS, "iterations": ITERATIONS})
    size = (f"{cfg.dataset}, {cfg.model} {ACTIVATION}, N = {N}, batch {BATCH_SIZE}, lr {cfg.lr:g}, "
            f"{steps} steps, eps {EPS:g} along a random direction, sigma_1 from {K + OVERSAMPLE} "
            f"columns and {ITERATIONS} subspace iterations, seed {SEED}")
    write_report(args.out, NAME, claims,
                 {**params, "activation": ACTIVATION, "eps": EPS, "horizons": horizons, "k": K,
                  "oversample": OVERSAMPLE, "iterations": ITERATIONS, "seed": SEED},
                 size, extra={"sigma_1": sigma, "sigma_1_per_iteration": history,
                              "distance_at_horizons": [float(d[t]) for t in horizons],
                              "random_direction_growth": [float(growth[t]) for t in horizons],
                              "sigma_wall_s": walls},
                 started=started, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
