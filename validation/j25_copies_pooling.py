"""J25's two estimators on a max-pool CNN: the steps on which a perturbed copy leaves the tangent map.

In the sweep of H22's CNN from PyTorch's initialisation (REPORT, row J25-robust-cnn-init) the
perturbed copies grow by e-folds at small learning rates while the tangent vector barely moves,
and the copies' log distance rises in single-epoch steps. This script follows J25's copies of
one sweep point (the same theta(0), the same perturbations U(-eps, eps) on the weights, the same
full-batch GD) and, at every step t and for every copy, splits its difference from the reference,
delta(t) = theta_copy(t) - theta_ref(t), into what the tangent map predicts and what it misses:

    delta(t + 1) = (I - lr H(theta_ref(t))) delta(t) + r(t),
    r(t) = -lr [g(theta_copy) - g(theta_ref) - H(theta_ref) delta(t)]

(Eq. (8) of Herrmann et al. 2022 for SGD; H the Hessian of the mean loss, g its gradient). For a
twice continuously differentiable loss the remainder is second order, |r| / |delta| = O(lr |delta|)
(|delta| ~ 1e-8 at the start), plus the rounding of the difference of two gradients,
u |g| / |H delta| <= 1e-6 at |delta| ~ 1e-8; so a relative residual |r|_1 / |delta|_1 above
JUMP = 1e-2 is a step on which the step map is not differentiable along the segment from
theta_ref to theta_copy. The only
non-differentiable operation of the network is the max-pool's selection (tanh, the convolutions,
the Dense head and cross-entropy are smooth), so the script also records, per step and copy, how
many pooling windows select a different input in the copy than in the reference (over the whole
training set, per pooling layer), and the copy's difference propagated by the tangent map alone,
Y(t) delta(0). Statements tested (criteria fixed before the full run):

* the copies leave the tangent map only where the max-pool selects differently: some copy-step
  has |r|_1 / |delta|_1 > JUMP, and every such step has at least one routing difference
* without a routing difference the copies follow the tangent map to rounding: every copy-step
  with no routing difference, taken while the copy is still within SMALL = 2 e-folds of its
  start (|delta(t)|_1 <= e^2 |delta(0)|_1, so the second-order term is at most e^2 times its
  starting size), has |r|_1 / |delta|_1 < SMOOTH = 1e-6 (the bound above)
* the steps off the tangent map carry the copies' growth: for each copy whose log distance ratio
  reaches one e-fold, the increments of ln(|delta(t)|_1 / |delta(0)|_1) over its steps with
  |r| / |delta| > JUMP sum to at least half of its final value

Control, ``--pool avg``: the same network with average pooling where H22 max-pool (model string
``cnn:avg``; tanh and average pooling make every step map smooth). Its statements, fixed before
the run:

* with average pooling the copies never leave the tangent map: no copy-step has |r|_1 /
  |delta|_1 > JUMP, and every copy-step taken within SMALL e-folds of the start has |r|_1 /
  |delta|_1 < SMOOTH
* with average pooling the copies grow as the tangent map: while a copy is within SMALL e-folds,
  its ln(|delta(t)|_1 / |delta(0)|_1) and ln(|Y(t) delta(0)|_1 / |delta(0)|_1) differ by less
  than TRACK = 1e-2. Argument: delta(t) - Y(t) delta(0) = sum_s Y(t, s + 1) r(s), each term at
  most SMOOTH |delta(s)| grown by at most e^SMALL, so the relative gap is at most
  T SMOOTH e^(2 SMALL) = 5.5e-3 over T = 100 steps (3.3e-3 over the quick run's 60).

Quick mode: the embedded digits (8x8), a two-block max-pool CNN (conv 3x3 + tanh + 2x2 max-pool,
4 channels each, Dense head; N = 358; ``--pool avg``: average pools), lr 0.5, 60 epochs
(seconds). Full mode: the sweep point lr 0.01 of row J25-robust-cnn-init (MNIST, 2,000 training
images resized to 16x16, H22's CNN tanh, PyTorch's initialisation, 3 copies, eps 1e-8), 100
epochs.

    python validation/j25_copies_pooling.py --quick [--pool avg]
    python validation/j25_copies_pooling.py --data-dir ../shared/data [--lr 0.01 --epochs 100] [--pool avg]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_claims.py, also when imported by path
from _claims import Claim, fmt, parser, write_report  # noqa: E402

from refchaos.curvature.backprop import forward_pass  # noqa: E402
from refchaos.experiments import RunConfig  # noqa: E402
from refchaos.experiments.config import load_run_data  # noqa: E402
from refchaos.experiments.setup import prepare  # noqa: E402
from refchaos.lyapunov import weight_mask  # noqa: E402
from refchaos.lyapunov.copies import perturbations  # noqa: E402
from refchaos.nn import Conv2d, Dense, Elementwise, Flatten, MaxPool2d, Model  # noqa: E402
from refchaos.nn.cnn import POOLS  # noqa: E402
from refchaos.plots import validation as figure_data  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0  # initialisation and perturbations, as the sweep's point of seed 0
EPS = 1e-8  # J25's copies: U(-eps, eps) on the weights
COPIES = 3
JUMP = 1e-2  # |r| / |delta| above this: the step is not differentiable along the segment
SMOOTH = 1e-6  # |r| / |delta| below this: second order and rounding only (argued above)
SMALL = 2.0  # ... while ln(|delta(t)| / |delta(0)|) < SMALL, where that argument holds
TRACK = 1e-2  # avg-pool control: |ln copy growth - ln tangent growth| below this (argued above)
QUICK = dict(dataset="digits", lr=0.5, epochs=60, subset=None)
FULL = dict(dataset="mnist", lr=0.01, epochs=100, subset=2000)
NAME = "j25_copies_pooling"


def quick_model(pool="max"):
    """Two pooling blocks on (1, 8, 8) digits: 8 -> 4 -> 2, then a Dense head."""
    return Model([Conv2d(1, 4, 3, padding=1), Elementwise("tanh"), POOLS[pool](2),
                  Conv2d(4, 4, 3, padding=1), Elementwise("tanh"), POOLS[pool](2),
                  Flatten(), Dense(16, 10)], "cross_entropy", (1, 8, 8))


def problem(params, data_dir, pool="max"):
    """(model, theta0, x, y) of the run: the sweep's setup in full mode, the small CNN quick
    (the config's model "cnn" only asks the loader for (B, 1, 8, 8) images there)."""
    cfg = RunConfig(dataset=params["dataset"], data_dir=data_dir, model=f"cnn:{pool}", activation="tanh",
                    init="pytorch", batch_size=0, lr=params["lr"], epochs=params["epochs"],
                    subset=params["subset"], seed=SEED, measure=("loss",))
    if params["dataset"] == "digits":
        x, y, _, _ = load_run_data(cfg, np)
        model = quick_model(pool)
        return model, model.init(seed=SEED), x, y
    s = prepare(cfg)
    return s.model, s.theta0, s.x_train, s.y_train


def routing(model, theta, x):
    """The selected input of every pooling window, one int array per max-pool layer."""
    _, caches = forward_pass(model, model.unflatten(theta), x)
    return [caches[i][0] for i, layer in enumerate(model.layers) if isinstance(layer, MaxPool2d)]


def follow(model, theta0, x, y, lr, steps):
    """Reference and copies under full-batch GD: per step and copy the relative residual of
    the tangent map, the routing differences per pooling layer, |delta|_1 and |Y delta(0)|_1."""
    delta0 = perturbations(theta0, COPIES, EPS, weight_mask(model), SEED)
    ref, copies, lin = theta0.copy(), [theta0 + d for d in delta0], [d.copy() for d in delta0]
    n_pool = sum(isinstance(layer, MaxPool2d) for layer in model.layers)
    resid = np.zeros((COPIES, steps))
    flips = np.zeros((COPIES, steps, n_pool), dtype=np.int64)
    dist = np.zeros((COPIES, steps + 1))
    dist_lin = np.zeros((COPIES, steps + 1))
    dist[:, 0] = dist_lin[:, 0] = np.abs(delta0).sum(axis=1)
    for t in range(steps):
        g_ref = model.loss_and_grad(ref, x, y)[1]
        a_ref = routing(model, ref, x)
        for m, c in enumerate(copies):
            d = c - ref
            g_c = model.loss_and_grad(c, x, y)[1]
            r = -lr * (g_c - g_ref - model.hvp(ref, x, y, d))  # what the tangent map misses
            resid[m, t] = np.abs(r).sum() / np.abs(d).sum()
            flips[m, t] = [int(np.sum(a != b)) for a, b in zip(a_ref, routing(model, c, x))]
            lin[m] = lin[m] - lr * model.hvp(ref, x, y, lin[m])  # Y(t + 1) delta(0), Eq. (8)
            copies[m] = c - lr * g_c
        ref = ref - lr * g_ref
        for m in range(COPIES):
            dist[m, t + 1] = np.abs(copies[m] - ref).sum()
            dist_lin[m, t + 1] = np.abs(lin[m]).sum()
        if (t + 1) % max(1, steps // 10) == 0 or t + 1 == steps:
            print(f"step {t + 1}/{steps}: ln ratio per copy "
                  + ", ".join(f"{np.log(dist[m, t + 1] / dist[m, 0]):.3f}" for m in range(COPIES))
                  + f"; steps off the tangent map so far {int(np.sum(resid[:, :t + 1] > JUMP))}",
                  flush=True)
    return resid, flips, dist, dist_lin


def statements(resid, flips, dist):
    """The three statements of the module docstring."""
    any_flip = flips.sum(axis=2) > 0
    jump = resid > JUMP
    log_ratio = np.log(dist / dist[:, :1])
    inc = np.diff(log_ratio, axis=1)
    grown = [m for m in range(COPIES) if log_ratio[m, -1] >= 1.0]
    share = {m: float(inc[m][jump[m]].sum() / log_ratio[m, -1]) for m in grown}
    small = log_ratio[:, :-1] < SMALL  # delta(t) at the step's start within SMALL e-folds
    no_flip = resid[~any_flip & small]
    at_jumps = [(int(m), int(t), flips[m, t].tolist()) for m, t in zip(*np.nonzero(jump))]
    return [
        Claim("the copies leave the tangent map only where the max-pool selects differently",
              "J25 estimators (row J25-estimators; new measurement)",
              f"{int(jump.sum())} of {jump.size} copy-steps with |r|/|delta| > {JUMP:g} "
              f"(largest {fmt(resid.max(), 3)}); routing differences per pooling layer there "
              f"(copy, step, per layer): {at_jumps}; copy-steps with any routing difference "
              f"{int(any_flip.sum())} of {any_flip.size}",
              bool(jump.any() and np.all(any_flip[jump])),
              f"some copy-step has |r|_1/|delta|_1 > {JUMP:g}, and every such step has a "
              "routing difference"),
        Claim("without a routing difference the copies follow the tangent map to rounding",
              "J25 estimators (row J25-estimators; new measurement)",
              f"{no_flip.size} copy-steps without a routing difference within {SMALL:g} e-folds "
              "of the start, largest |r|/|delta| "
              f"{fmt(no_flip.max() if no_flip.size else float('nan'), 3)}; median over all "
              f"copy-steps {fmt(float(np.median(resid)), 3)}",
              bool(no_flip.size > 0 and no_flip.max() < SMOOTH),
              f"|r|_1/|delta|_1 < {SMOOTH:g} at every copy-step without a routing difference "
              f"while ln(|delta(t)|_1/|delta(0)|_1) < {SMALL:g}"),
        Claim("the steps off the tangent map carry the copies' growth",
              "J25 estimators (row J25-estimators; new measurement)",
              "final ln(|delta(T)|/|delta(0)|) per copy "
              + ", ".join(fmt(v, 3) for v in log_ratio[:, -1])
              + "; share gained on steps with |r|/|delta| > "
              f"{JUMP:g}: " + (", ".join(f"copy {m}: {fmt(v, 3)}" for m, v in share.items())
                               or "no copy reaches one e-fold"),
              bool(share and min(share.values()) >= 0.5),
              "for every copy with ln ratio >= 1 at the end, the increments on its steps with "
              f"|r|/|delta| > {JUMP:g} sum to >= 0.5 of it"),
    ]


def control_statements(resid, dist, dist_lin):
    """The two statements of the average-pool control (module docstring)."""
    log_ratio = np.log(dist / dist[:, :1])
    log_lin = np.log(dist_lin / dist_lin[:, :1])
    small = log_ratio[:, :-1] < SMALL  # delta(t) at the step's start within SMALL e-folds
    within = np.cumprod(np.concatenate([np.ones((len(dist), 1), bool), small], axis=1), axis=1) > 0
    gap = np.where(within, np.abs(log_ratio - log_lin), 0.0).max(axis=1)  # per copy, up to SMALL
    near = resid[small]
    return [
        Claim("with average pooling the copies never leave the tangent map",
              "J25 estimators (row J25-estimators; new measurement, control)",
              f"largest |r|/|delta| over all {resid.size} copy-steps {fmt(resid.max(), 3)}, over the "
              f"{near.size} within {SMALL:g} e-folds of the start {fmt(near.max() if near.size else float('nan'), 3)}; "
              f"median {fmt(float(np.median(resid)), 3)}",
              bool(near.size > 0 and resid.max() <= JUMP and near.max() < SMOOTH),
              f"no copy-step with |r|_1/|delta|_1 > {JUMP:g}, and |r|_1/|delta|_1 < {SMOOTH:g} at "
              f"every copy-step while ln(|delta(t)|_1/|delta(0)|_1) < {SMALL:g}"),
        Claim("with average pooling the copies grow as the tangent map",
              "J25 estimators (row J25-estimators; new measurement, control)",
              "final ln(|delta(T)|/|delta(0)|) per copy " + ", ".join(fmt(v, 4) for v in log_ratio[:, -1])
              + "; tangent map ln(|Y(T) delta(0)|/|delta(0)|) "
              + ", ".join(fmt(v, 4) for v in log_lin[:, -1])
              + "; largest gap while within " + f"{SMALL:g} e-folds " + ", ".join(fmt(v, 3) for v in gap),
              bool(np.all(gap < TRACK)),
              f"|ln copy growth - ln tangent-map growth| < {TRACK:g} at every step while the copy "
              f"is within {SMALL:g} e-folds"),
    ]


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    p.add_argument("--lr", type=float, default=None, help="override the learning rate")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    p.add_argument("--pool", choices=sorted(POOLS), default="max",
                   help="max: H22's CNN (default); avg: the average-pool control")
    args = p.parse_args(argv)
    started = time.perf_counter()
    params = dict(QUICK if args.quick else FULL)
    for key in ("lr", "epochs"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if params["epochs"] < 1:
        p.error(f"--epochs must be >= 1, got {params['epochs']}")
    model, theta0, x, y = problem(params, args.data_dir, args.pool)
    resid, flips, dist, dist_lin = follow(model, theta0, x, y, params["lr"], params["epochs"])
    claims = (statements(resid, flips, dist) if args.pool == "max"
              else control_statements(resid, dist, dist_lin))
    figure_data.write(args.out, NAME, {"residual": resid, "flips": flips.sum(axis=2),
                                       "distance": dist, "distance_tangent": dist_lin},
                      {"jump": JUMP, "lr": params["lr"], "pool": args.pool})
    network = ({"max": "cnn", "avg": "cnn:avg"} if params["dataset"] != "digits"
               else {"max": "2-block max-pool CNN", "avg": "2-block average-pool CNN"})[args.pool]
    size = (f"{params['dataset']}{'' if params['subset'] is None else ' subset ' + str(params['subset'])}, "
            f"{network} tanh, "
            f"N = {model.num_params}, PyTorch initialisation, full-batch GD, lr {params['lr']:g}, "
            f"{params['epochs']} epochs, {COPIES} copies, eps {EPS:g}, seed {SEED}")
    tangent_growth = np.log(dist_lin[:, -1] / dist_lin[:, 0])
    write_report(args.out, NAME, claims,
                 {**params, "copies": COPIES, "eps": EPS, "jump": JUMP, "smooth": SMOOTH,
                  "small": SMALL, "track": TRACK, "pool": args.pool, "seed": SEED},
                 size, extra={"log_ratio_final": np.log(dist[:, -1] / dist[:, 0]).tolist(),
                              "tangent_log_growth_final": tangent_growth.tolist(),
                              "jump_steps": [[int(m), int(t)] for m, t in zip(*np.nonzero(resid > JUMP))]},
                 started=started, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
