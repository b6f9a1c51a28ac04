"""H22 Sec. 4.2 / App. C.3: large initial perturbations, and distances that do not saturate.

What H22 say (Sec. 4.2, "Distance results"): "we are still reaching a similar performance with
perturbations of magnitudes up to eps <= 7.5, and only for >= 10 there seems to be a significant
drop in performance (see Appendix C.3)"; "the distances do not seem to saturate for the duration
of our experiments"; and the maximal divergence "lies in range of the expected distance of
standard initialized models in Pytorch" (their App. A.8). This script trains a model A from
theta(0) and models B from theta(0) + eps w (w a seeded random unit direction, H22's strategy
(5)) for every eps below, all with SGD on the same batches, and records the distance
||theta_B(t) - theta_A(t)|| every step and the test accuracy after every epoch. Statements
tested (criteria fixed before the full run):

* eps <= 7.5 reach a similar performance: final test accuracy within SIMILAR of A's
* eps >= 10 drop significantly: final test accuracy below A's by more than DROP
* the distances do not saturate: for eps = 0.1, d(T) > d(T/2) and the last quarter still
  grows (d(T) > d(3T/4))
* the eps = 0.1 distance stays in range of the expected initialisation distance: max_t d(t)
  below E d of two default initialisations (:func:`refchaos.lyapunov.expected_init_distance`)
* Eq. (15): d(t)^2 = alpha t^2 + beta t + eps^2 fits the eps = 0.1 curve (relative RMS
  residual of d^2 below FIT_RESIDUAL; :func:`refchaos.lyapunov.fit_distance`)

With ``--momentum MU`` (H22 App. C.3's momentum runs) every model is trained by SGD with
momentum MU and carries its own momentum buffer from ``opt.init`` (PyTorch's SGD), and one more
statement is tested: H22 Sec. 4.2, "the maximal divergence (empirically ~ 1 in Figure 3 (a), up
to 12 in further experiments in Appendix C.3)": the eps = 0.1 run's max_t d(t) is of order 12
(between MOMENTUM_ORDER[0] and MOMENTUM_ORDER[1]).

Quick mode: the embedded digits, MLP 64-16-10 ReLU, batch 8, lr 0.1, 4 epochs (seconds).
Full mode: USPS 16x16, H22's MLP 256-20-10 ReLU, batch 8, lr 1e-3, 40 epochs (36,480 steps).

    python validation/h22_c3_magnitude.py --quick
    python validation/h22_c3_magnitude.py --data-dir ../shared/data [--epochs E] [--momentum 0.9]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_claims.py, also when imported by path
from _claims import Claim, fmt, parser, write_report  # noqa: E402

from refchaos.backend import host_rng  # noqa: E402
from refchaos.experiments import RunConfig  # noqa: E402
from refchaos.experiments.setup import evaluate, prepare  # noqa: E402
from refchaos.lyapunov import expected_init_distance, fit_distance  # noqa: E402
from refchaos.plots import validation as figure_data  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0  # initialisation, batch order and the direction w
BATCH_SIZE = 8  # H22
EPSILONS = (0.1, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0)
QUICK = dict(dataset="digits", model="mlp:16", lr=0.1, epochs=4)
FULL = dict(dataset="usps", model="mlp:20", lr=1e-3, epochs=40)  # H22
SIMILAR = 0.02  # "similar performance": within 2 points of test accuracy
DROP = 0.05  # "significant drop": more than 5 points below
FIT_RESIDUAL = 0.2  # Eq. (15) fits: relative RMS residual of d^2 below 20 %
MOMENTUM_ORDER = (12 / 3, 12 * 3)  # "up to 12": of order 12, within a factor 3 (fixed before the run)
NAME = "h22_c3_magnitude"


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    p.add_argument("--momentum", type=float, default=0.0,
                   help="SGD momentum of every model (H22 App. C.3); each carries its own buffer")
    args = p.parse_args(argv)
    started = time.perf_counter()
    params = dict(QUICK if args.quick else FULL)
    if args.epochs is not None:
        params["epochs"] = args.epochs
    cfg = RunConfig(dataset=params["dataset"], data_dir=args.data_dir, model=params["model"],
                    activation="relu", init="pytorch", lr=params["lr"], batch_size=BATCH_SIZE,
                    epochs=params["epochs"], seed=SEED, momentum=args.momentum,
                    measure=("loss",))
    setup = prepare(cfg)
    init, step = setup.stateful_step()  # every model its own optimizer state from opt.init
    model = setup.model
    per_epoch, T = setup.order.steps_per_epoch, setup.steps
    w = host_rng(SEED).standard_normal(model.num_params)
    w /= np.linalg.norm(w)  # unit direction, H22's strategy (5)
    thetas = [setup.theta0] + [setup.theta0 + eps * w for eps in EPSILONS]  # A first
    states = [init(th) for th in thetas]
    dist = np.empty((len(EPSILONS), T + 1))
    dist[:, 0] = [np.linalg.norm(th - thetas[0]) for th in thetas[1:]]
    acc = np.empty((len(thetas), params["epochs"] + 1))
    acc[:, 0] = [evaluate(model, th, setup.x_test, setup.y_test)[1] for th in thetas]
    for t in range(T):
        thetas, states = map(list, zip(*(step(th, s, t) for th, s in zip(thetas, states))))
        dist[:, t + 1] = [np.linalg.norm(th - thetas[0]) for th in thetas[1:]]
        if (t + 1) % per_epoch == 0:
            acc[:, (t + 1) // per_epoch] = [evaluate(model, th, setup.x_test, setup.y_test)[1]
                                            for th in thetas]
    final = acc[:, -1]
    a_acc, b_acc = float(final[0]), final[1:]
    d = dist[EPSILONS.index(0.1)]
    e_d = expected_init_distance(model).mean  # E d, H22 App. A.8
    steps = np.arange(T + 1, dtype=np.float64)
    fit = fit_distance(steps, d, d0=EPSILONS[0])
    rel_resid = fit.residual / float(np.mean(d**2))
    small = [k for k, e in enumerate(EPSILONS) if e <= 7.5]
    large = [k for k, e in enumerate(EPSILONS) if e >= 10.0]
    accs = ", ".join(f"eps {e:g}: {fmt(b_acc[k], 3)}" for k, e in enumerate(EPSILONS))
    claims = [
        Claim("perturbations up to eps = 7.5 still reach a similar performance",
              "H22 Sec. 4.2: 'still reaching a similar performance with perturbations of "
              "magnitudes up to' 7.5 (App. C.3)",
              f"final test acc: A {fmt(a_acc, 3)}; " + accs,
              bool(all(abs(b_acc[k] - a_acc) <= SIMILAR for k in small)),
              f"|acc(eps) - acc(A)| <= {SIMILAR} for every eps <= 7.5"),
        Claim("only eps >= 10 drops significantly in performance",
              "H22 Sec. 4.2: 'only for >= 10 there seems to be a significant drop in performance'",
              f"final test acc: A {fmt(a_acc, 3)}; " + accs,
              bool(all(b_acc[k] < a_acc - DROP for k in large)),
              f"acc(eps) < acc(A) - {DROP} for every eps >= 10"),
        Claim("the distances do not saturate over the run",
              "H22 Sec. 4.2: 'the distances do not seem to saturate for the duration of our "
              "experiments'",
              f"eps 0.1: d(T/2) {fmt(d[T // 2])}, d(3T/4) {fmt(d[3 * T // 4])}, d(T) {fmt(d[T])}",
              bool(d[T] > d[T // 2] and d[T] > d[3 * T // 4]), "d(T) > d(T/2) and d(T) > d(3T/4)"),
        Claim("the divergence stays in range of the expected distance of two initialisations",
              "H22 Sec. 4.2: 'lies in range of the expected distance of standard initialized "
              "models in Pytorch'",
              f"eps 0.1: max_t d {fmt(np.max(d))}; E d of two initialisations {fmt(e_d)}",
              bool(np.max(d) < e_d), "max_t d(t) < E d"),
        Claim("Eq. (15) (linear divergence plus random walk) fits the distance",
              "H22 Sec. 4.2, Eq. (15)",
              f"eps 0.1: alpha {fmt(fit.alpha, 3)}, beta {fmt(fit.beta, 3)} per step; relative "
              f"RMS residual of d^2 {fmt(rel_resid, 3)}",
              bool(rel_resid < FIT_RESIDUAL), f"relative RMS residual < {FIT_RESIDUAL}"),
    ]
    if args.momentum:
        claims.append(Claim(
            "with momentum the maximal divergence reaches the order of 12",
            "H22 Sec. 4.2: 'the maximal divergence (empirically ~ 1 in Figure 3 (a), up to 12 "
            "in further experiments in Appendix C.3)'",
            f"momentum {args.momentum:g}, eps 0.1: max_t d {fmt(np.max(d))} at step "
            f"{int(np.argmax(d))}; d(T) {fmt(d[T])}; largest over all eps "
            f"{fmt(np.max(dist))} (eps {EPSILONS[int(np.argmax(np.max(dist, axis=1)))]:g})",
            bool(MOMENTUM_ORDER[0] <= np.max(d) <= MOMENTUM_ORDER[1]),
            f"{MOMENTUM_ORDER[0]:g} <= max_t d(t) <= {MOMENTUM_ORDER[1]:g} for eps 0.1"))
    figure_data.write(args.out, NAME, {"dist": dist, "acc": acc}, {"epsilons": list(EPSILONS)})
    size = (f"{cfg.dataset}, {cfg.model} relu, N = {model.num_params}, batch {BATCH_SIZE}, lr "
            f"{cfg.lr:g}, momentum {args.momentum:g}, {params['epochs']} epochs ({T} steps), random direction, eps "
            f"{list(EPSILONS)}, seed {SEED}")
    write_report(args.out, NAME, claims,
                 {**params, "momentum": args.momentum, "epsilons": list(EPSILONS),
                  "similar": SIMILAR, "drop": DROP, "momentum_order": list(MOMENTUM_ORDER),
                  "fit_residual": FIT_RESIDUAL, "seed": SEED},
                 size, extra={"test_accuracy": acc.tolist(),
                              "distance_per_epoch": dist[:, ::per_epoch].tolist(),
                              "expected_init_distance": e_d},
                 started=started, argv=argv)
    return 0



if __name__ == "__main__":
    sys.exit(main())
