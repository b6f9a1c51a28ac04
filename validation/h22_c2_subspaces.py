"""H22 Sec. 4.2 / App. C.2: the finite-time chaotic and non-chaotic subspaces stabilise.

H22 Sec. 4.2: "Although we also see a similar distribution of the Hessian eigenspectrum, we do
not observe a full convergence of the Hessian to zero (see Appendix B.2). However, the
subspaces of chaotic and non-chaotic eigenvectors do stabilise towards the end of the training
(see Appendix C.2), making a finite-time analysis with the above perturbation strategies
sound." The subspaces are V_chaotic(t) and V_non-chaotic(t) of the finite-time Lyapunov
matrix Lambda(t), Eq. (3) (eigenvectors with lambda > 0 and lambda < 0).

:func:`refchaos.experiments.run` (measure ``subspaces``) trains with SGD while integrating the
full tangent matrix Y(t) = d theta(t) / d theta(0), and every ``every`` steps compares the
subspaces of Y(t) with those of the previous measurement:
s = ||U_prev^T U_now||_F^2 / min(dims), the mean squared cosine of the principal angles
(1: the same subspace; chance level max(dims) / N; :mod:`refchaos.lyapunov.subspaces`).
Appendix C.2 itself is not in the text we have, so the criterion reads the sentence above:

* the subspaces have stabilised at the end: at the last two measurements both overlaps are
  >= STABLE_MIN, and >= STABLE_MIN of the way from the chance level to 1,
  (s - chance) / (1 - chance) >= STABLE_MIN
* they stabilise *towards* the end: the chaotic subspace moves less between the last two
  measurements than between the first two, s_last > s_first

A third row checks the route the subspaces were taken by: at the end, Y(T) from the run's
final checkpoint is split both by SVD and from the top eigenpairs of Y^T Y
(:func:`refchaos.lyapunov.finite_time_subspaces`, ``method``): the same counts, and subspaces
that agree within the Gram route's resolution.

Quick mode: digits, MLP 64-8-10 ReLU (610 parameters), batch 8, lr 0.1, 10 epochs (1,800
steps), a measurement every epoch (180 steps; about 20 s of CPU), by SVD. Full mode: H22's
Fig. 3 model, USPS MLP 256-20-10 ReLU (5,350 parameters, Y is 229 MB), batch 8, lr 1e-3, 40
epochs (36,480 steps), a measurement every epoch (912 steps), from Y^T Y: about 0.18 s per step
on two threads (N Hessian-vector products in column blocks, validation/bench/README.md) plus
about 25 s per measurement (more at step 0, where Y(1) = I - lr H leaves most directions
neutral and W holds most of the space) and one SVD of 2-3 min at the end, about 2-2.5 h;
``--resume`` continues a stopped run from its last checkpoint, bit for bit.

    python validation/h22_c2_subspaces.py --quick
    OPENBLAS_NUM_THREADS=1 python validation/h22_c2_subspaces.py --data-dir ../shared/data --out runs/h22_c2_full --threads 2 [--epochs 40] [--resume]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_claims.py, also when imported by path
from _claims import (Claim, add_training_options, finite, fmt, parser, train_sgd,  # noqa: E402
                     write_report)
from refchaos.experiments import RunDirectory  # noqa: E402
from refchaos.experiments.measures.subspaces import Subspaces  # noqa: E402
from refchaos.lyapunov import finite_time_subspaces, subspace_overlap  # noqa: E402
from refchaos.lyapunov.subspaces import METHODS  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0
BATCH_SIZE = 8
ACTIVATION = "relu"
QUICK = dict(dataset="digits", model="mlp:8", lr=0.1, epochs=10, steps=None, every=180,
             method="svd")
FULL = dict(dataset="usps", model="mlp:20", lr=1e-3, epochs=40, steps=None, every=912,
            method="gram")
STABLE_MIN = 0.9  # "stabilise": overlap >= 0.9, and >= 0.9 of the way from chance to 1
NAME = "h22_c2_subspaces"
KINDS = ("chaotic", "nonchaotic")


def excess(s, chance):
    """(s - chance) / (1 - chance): 0 at the chance level, 1 for the same subspace."""
    return (s - chance) / (1.0 - chance) if finite(s, chance) and chance < 1 else float("nan")


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    add_training_options(p)
    p.add_argument("--resume", action="store_true",
                   help="continue the run stored in --out (from its last checkpoint)")
    p.add_argument("--method", choices=METHODS, default=None,
                   help="how each measurement splits Y(t) (default: svd quick, gram full)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads over the tangent matrix's column blocks "
                        "(with OPENBLAS_NUM_THREADS=1)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    params = dict(QUICK if args.quick else FULL)
    if args.method is not None:
        params["method"] = args.method
    cfg, summary, m = train_sgd(args, params, ("loss", "accuracy", "subspaces"),
                                resume=args.resume, progress=not args.quick, threads=args.threads,
                                activation=ACTIVATION, init="pytorch", batch_size=BATCH_SIZE,
                                seed=SEED, subspace_method=params["method"])
    sel = np.isfinite(m["subspace_chaotic_overlap"])
    steps = m["step"][sel]
    s = {k: m[f"subspace_{k}_overlap"][sel] for k in KINDS}
    r = {k: m[f"subspace_{k}_random"][sel] for k in KINDS}
    dims = m["subspace_n_chaotic"][np.isfinite(m["subspace_n_chaotic"])]
    late = slice(-2, None) if steps.size >= 2 else slice(0, 0)
    late_s = {k: s[k][late] for k in KINDS}
    late_x = {k: np.array([excess(a, b) for a, b in zip(s[k][late], r[k][late])]) for k in KINDS}
    stable = bool(steps.size >= 2 and all(np.all(late_s[k] >= STABLE_MIN) and np.all(late_x[k] >= STABLE_MIN)
                                          for k in KINDS))

    def at(k, i):
        return (f"{fmt(s[k][i])} (chance {fmt(r[k][i])}, excess {fmt(excess(s[k][i], r[k][i]))})"
                if steps.size else "nan")

    first, last = (float(s["chaotic"][0]), float(s["chaotic"][-1])) if steps.size else (np.nan, np.nan)
    claims = [
        Claim("the subspaces of chaotic and non-chaotic eigenvectors stabilise at the end of training",
              "H22 Sec. 4.2 'Perturbation analysis' / App. C.2",
              (f"last two measurements (steps {', '.join(str(int(t)) for t in steps[late])}): "
               f"chaotic s = {', '.join(fmt(v, 6) for v in late_s['chaotic'])}, non-chaotic s = "
               f"{', '.join(fmt(v, 6) for v in late_s['nonchaotic'])}; at the end chaotic {at('chaotic', -1)}, "
               f"non-chaotic {at('nonchaotic', -1)}; dim V_chaotic {int(dims[-1]) if dims.size else -1} "
               f"of N = {summary['num_params']}"),
              stable, f"both overlaps >= {STABLE_MIN} and (s - chance) / (1 - chance) >= {STABLE_MIN} "
                      "at the last two measurements"),
        Claim("the subspaces stabilise towards the end: they move less late than early",
              "H22 Sec. 4.2 'Perturbation analysis' / App. C.2",
              (f"chaotic s between the first two measurements {at('chaotic', 0)}, between the last "
               f"two {at('chaotic', -1)}"),
              bool(finite(first, last) and last > first), "s_last > s_first (chaotic subspace)"),
        routes_agree(Path(args.out) / "run", summary),
    ]
    size = (f"{cfg.dataset}, {cfg.model} {ACTIVATION}, N = {summary['num_params']}, batch "
            f"{BATCH_SIZE}, lr {cfg.lr:g}, {summary['steps_completed']} steps, a measurement every "
            f"{cfg.every} steps (split by {params['method']}), seed {SEED}")
    curve = [{"step": int(t), **{f"{k}_overlap": float(s[k][i]) for k in KINDS},
              **{f"{k}_random": float(r[k][i]) for k in KINDS}} for i, t in enumerate(steps)]
    write_report(Path(args.out), NAME, claims, params, size,
                 extra={"status": summary["status"], "final": summary["final"],
                        "subspaces": summary.get("subspaces"), "overlaps": curve},
                 started=started, argv=argv)
    return 0


def routes_agree(run_dir, summary):
    """The Claim that Y(T) of the final checkpoint splits alike by SVD and from Y^T Y: the same
    counts, and 1 - s of both subspaces within (delta_gram / gap)^2, gap the distance in
    sigma^2 from the subspace's singular values to the next (Wedin), plus 1e-12 for rounding."""
    meta, arrays = RunDirectory(run_dir).read_checkpoint()
    N, T = int(summary["num_params"]), int(meta["step"])
    Y = np.asarray(arrays[Subspaces.Y_ARRAY])[:N, :]
    t0 = time.perf_counter()
    svd = finite_time_subspaces(Y, T)
    t1 = time.perf_counter()
    gram = finite_time_subspaces(Y, T, method="gram")
    t2 = time.perf_counter()
    ov = subspace_overlap(svd, gram)
    m = svd.n_chaotic + svd.n_neutral
    bounds = [(gram.delta / (svd.sigma[k - 1] ** 2 - svd.sigma[k] ** 2)) ** 2 + 1e-12
              if 0 < k < N else 1e-12 for k in (svd.n_chaotic, m)]
    same = (svd.n_chaotic, svd.n_neutral) == (gram.n_chaotic, gram.n_neutral)
    close = all(1 - s <= b for s, b in zip((ov.chaotic, ov.nonchaotic), bounds))
    print(f"Y(T) split by SVD in {t1 - t0:.1f} s, from Y^T Y in {t2 - t1:.1f} s")
    return Claim(
        "the subspaces from Y^T Y are those of the SVD of Y (the route of the measurements)",
        "refchaos check (lyapunov.subspaces, 'From the Gram matrix')",
        (f"Y(T) after {T} steps: SVD chaotic {svd.n_chaotic}, neutral {svd.n_neutral} "
         f"(delta {svd.delta:.1e}); Gram chaotic {gram.n_chaotic}, neutral "
         f"{gram.n_neutral} (delta {gram.delta:.1e}); between them chaotic "
         f"1 - s = {1 - ov.chaotic:.1e} (bound {bounds[0]:.1e}), non-chaotic 1 - s = "
         f"{1 - ov.nonchaotic:.1e} (bound {bounds[1]:.1e})"),
        bool(same and close), "equal counts; 1 - s <= (delta_gram / gap)^2 + 1e-12 for both")


if __name__ == "__main__":
    sys.exit(main())
