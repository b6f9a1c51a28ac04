"""H22 Fig. 3 / Sec. 4.2: distances between a model and copies perturbed at initialisation.

:func:`refchaos.experiments.run_perturb` trains model A with SGD while integrating its full
tangent matrix Y(T), takes the Lyapunov exponents and eigenvectors of Eq. (3), starts copies B
at theta_A(0) + eps v along H22's five strategies (top, bottom, chaotic, nonchaotic, random;
eps = 0.1) on the same batches, and records d(t) = ||theta_A(t) - theta_B(t)||_2 with the
Eq. (15) fit d^2 = alpha t^2 + beta t + eps^2 and the Eq. (5) bounds eps e^{lambda_N t} <= d
<= eps e^{lambda_1 t}. Statements tested:

* distances follow sqrt(alpha t^2 + beta t) (linear divergence plus a random walk): for every
  strategy, the relative RMS residual of the fit, ||fit - d|| / ||d|| over the steps where the
  fit is real, is below FIT_RESIDUAL_MAX
* the distances still grow late in the run along every strategy (H22 Fig. 3 caption: "The
  observed divergence ... increases even after convergence of the training accuracy across all
  perturbation directions"): d(T) > d(T/2) and d(T) > d(3T/4) for every strategy
* the distances follow the order the strategies are built for (H22 Fig. 3 caption: "Darker lines
  represent perturbation directions which we expect to lead to higher model divergence"; Sec.
  4.2 names (1) the top vector "the maximally chaotic direction", (2) the bottom one "maximally
  non-chaotic", (3) and (4) random chaotic and non-chaotic directions, (5) a random one "for
  comparison", which has no expected place): d(T) top > chaotic > nonchaotic > bottom
* the upper bound of Eq. (5) holds (H22 Sec. 4.2: "Both bounds hold for our choice of eps =
  0.1"): d(T) < eps e^{lambda_1 T} for every strategy; max_t d(t) / (eps e^{lambda_1 t}) is
  reported beside it (over t < T the finite-time exponent can exceed lambda_1(T))

Quick mode: digits, MLP 64-8-10 ReLU (610 parameters), batch 8, lr 0.1, 300 steps, the 600
leading Lyapunov vectors (the last 10 singular values of Y(300) are below float64 resolution,
so the lower bound of Eq. (5) is not given), eps 0.1 (about 10 s). Full mode: USPS MLP
256-20-10 ReLU (5,350 parameters, Y is 229 MB), batch 8, lr 1e-3, 912 steps (one epoch;
H22 train to convergence), the 2,000 leading vectors.

    python validation/h22_fig3_perturbation.py --quick
    python validation/h22_fig3_perturbation.py --data-dir ../shared/data [--steps 2000 --k 1000]

H22 train model A "until convergence": at 40 epochs the tangent matrix alone takes hours, and
this analysis keeps no partial state. ``--tangent-from`` takes Y(T) from a completed, resumable
``refchaos run --measure subspaces`` of the same model A instead, e.g. the full run of
``h22_c2_subspaces.py`` (USPS MLP, 40 epochs):

    python validation/h22_fig3_perturbation.py --data-dir ../shared/data --steps 36480 --k K \
        --tangent-from runs/h22_c2_full/run
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_claims.py, also when imported by path
from _claims import Claim, finite, fmt, parser, write_report  # noqa: E402

from refchaos.experiments import RunConfig, run_perturb  # noqa: E402
from refchaos.experiments.perturb import read_table  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0
BATCH_SIZE = 8
ACTIVATION = "relu"
EPS = (0.1,)  # H22's perturbation size
QUICK = dict(dataset="digits", model="mlp:8", lr=0.1, steps=300, k=600)
FULL = dict(dataset="usps", model="mlp:20", lr=1e-3, steps=912, k=2000)
FIT_RESIDUAL_MAX = 0.2  # "follows Eq. (15)": fit within 20 % RMS of the measured distances
ORDER = ("top", "chaotic", "nonchaotic", "bottom")  # expected d(T), largest first; random unranked
NAME = "h22_fig3_perturbation"


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--k", type=int, default=None, help="leading Lyapunov vectors to use")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--tangent-from", default=None,
                   help="a completed `refchaos run --measure subspaces` directory of the same model A "
                        "(e.g. h22_c2_subspaces.py's run, 40 epochs = --steps 36480): its stored Y(T)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads over the column blocks of model A's tangent matrix "
                        "(results do not depend on it; set OPENBLAS_NUM_THREADS=1 beside it)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    params = dict(QUICK if args.quick else FULL)
    for key in ("steps", "k", "lr"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    cfg = RunConfig(dataset=params["dataset"], data_dir=args.data_dir, model=params["model"],
                    activation=ACTIVATION, init="pytorch", lr=params["lr"], batch_size=BATCH_SIZE,
                    steps=params["steps"], seed=SEED, measure=("loss",))
    out = Path(args.out)
    summary = run_perturb(cfg, out / "perturb", eps=EPS, k=params["k"], progress=print,
                          tangent_from=args.tangent_from, threads=args.threads)
    table = read_table(out / "perturb" / "perturb.csv")
    residuals, ratios, worst, late = {}, {}, {}, {}
    with np.errstate(invalid="ignore"):
        for (strategy, eps), cols in table.items():
            d, fit, upper = cols["distance"], cols["fit"], cols["upper_bound"]
            ok = np.isfinite(fit) & np.isfinite(d)
            residuals[strategy] = (float(np.linalg.norm(fit[ok] - d[ok]) / np.linalg.norm(d[ok]))
                                   if ok.any() else float("nan"))
            ratios[strategy] = float(d[-1] / upper[-1])
            worst[strategy] = float(np.nanmax(d[1:] / upper[1:]))
            T = d.size - 1
            late[strategy] = (float(d[T // 2]), float(d[(3 * T) // 4]), float(d[T]))
    res_text = ", ".join(f"{s} {fmt(r, 3)}" for s, r in residuals.items())
    ratio_text = ", ".join(f"{s} {fmt(r, 3)}" for s, r in ratios.items())
    worst_text = ", ".join(f"{s} {fmt(r, 3)}" for s, r in worst.items())
    late_text = ", ".join(f"{s} {fmt(a, 4)} -> {fmt(b, 4)} -> {fmt(c, 4)}"
                          for s, (a, b, c) in late.items())
    growing = [s for s, (a, b, c) in late.items() if c > a and c > b]
    final = {s: late[s][2] for s in ORDER}
    ranked = sorted(final, key=final.get, reverse=True)
    ordered = all(final[a] > final[b] for a, b in zip(ORDER, ORDER[1:]))
    order_text = " > ".join(f"{s} {fmt(final[s], 4)}" for s in ranked)
    claims = [
        Claim("distances grow as sqrt(alpha t^2 + beta t) (linear divergence plus random walk)",
              "H22 Fig. 3, Eq. (15)", f"relative RMS residual of the fit: {res_text}",
              bool(finite(*residuals.values()) and max(residuals.values()) < FIT_RESIDUAL_MAX),
              f"residual < {FIT_RESIDUAL_MAX} for every strategy"),
        Claim("the divergence still grows late in the run along every strategy",
              "H22 Fig. 3 caption: 'increases even after convergence of the training accuracy "
              "across all perturbation directions'",
              f"d(T/2) -> d(3T/4) -> d(T): {late_text}; growing: {', '.join(growing) or 'none'}",
              bool(finite(*(v for t in late.values() for v in t)) and len(growing) == len(late)),
              "d(T) > d(T/2) and d(T) > d(3T/4) for every strategy"),
        Claim("the distances are ordered as the strategies expect: "
              "top > chaotic > nonchaotic > bottom",
              "H22 Fig. 3 caption: 'Darker lines represent perturbation directions which we expect "
              "to lead to higher model divergence'",
              f"d(T), largest first: {order_text}; random {fmt(late['random'][2], 4)}",
              bool(finite(*final.values()) and ordered),
              "d(T) strictly decreasing along " + " > ".join(ORDER) + " (random unranked)"),
        Claim("the exponential upper bound of Eq. (5) holds",
              "H22 Sec. 4.2 'Theoretical bounds': 'Both bounds hold for our choice of' eps = 0.1",
              f"lambda_1 = {fmt(summary['lambda_1'])} per step; d(T) / (eps e^(lambda_1 T)): "
              f"{ratio_text}; max over t >= 1 of d(t) / (eps e^(lambda_1 t)): {worst_text}",
              bool(finite(*ratios.values()) and max(ratios.values()) < 1.0),
              "d(T) < eps e^(lambda_1 T) for every strategy"),
    ]
    size = (f"{cfg.dataset}, {cfg.model} {ACTIVATION}, N = {summary['num_params']}, batch "
            f"{BATCH_SIZE}, lr {cfg.lr:g}, {params['steps']} steps, k = {params['k']}, eps "
            f"{EPS[0]:g}, seed {SEED}")
    write_report(out, NAME, claims, {**params, "eps": list(EPS)}, size,
                 extra={"fit_residual": residuals, "ratio_to_upper_bound": ratios,
                        "late_distances": late, "order_final": ranked,
                        "max_ratio_to_upper_bound": worst,
                        "final_distance": summary["final_distance"]}, started=started, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
