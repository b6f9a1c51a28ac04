"""H22 Fig. 2: CGD pruning the chaotic directions only from an onset step, sigmoid MLP.

H22 start pruning after 2k, 5k or 10k SGD steps and report that chaos is mostly confined to
the initial phase of training, while removing it still hurts. Every onset here trains from
the same theta(0) on the same batches (:func:`refchaos.experiments.run_prune` with
``prune_start``); before the onset CGD takes plain SGD steps. Two statements are tested on
the final training-set loss, with gap(onset) = loss(CGD from onset) - loss(SGD):

* pruning hurts at every onset:         gap > 0 for every onset
* the later the onset, the less damage: gap strictly decreasing in the onset

Quick mode: digits, MLP 64-8-10 sigmoid (610 parameters; at batch 8 the Hessian has rank at
most 8 * 8 + 98 = 162, the first layer's rows lying in R^8 (x) span(x_1..x_8)), batch 8,
lr 0.5, 150 steps, onsets 0, 50, 100 (about 20 s). Full mode: USPS standardised, MLP 256-20-10
sigmoid, batch 8, lr 1e-3 (H22), 15,000 steps, onsets 2,000, 5,000, 10,000 (H22's; the exact
spectrum of each CGD step comes from the Dense-first reduction of
:mod:`refchaos.curvature.dense_first`, about 60 ms, so the whole figure is estimated at about
half an hour on the 2-core machine: validation/bench/README.md); ``--steps``/``--onsets``/``--lr``
shorten it.

    python validation/h22_fig2_onset.py --quick
    python validation/h22_fig2_onset.py --data-dir ../shared/data --steps 3000 --onsets 0,1000,2000
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_claims.py, also when imported by path
from _claims import Claim, finite, fmt, parser, write_report  # noqa: E402

from refchaos.experiments import RunConfig, run_prune  # noqa: E402
from refchaos.experiments.prune import read_table  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0
BATCH_SIZE = 8
ACTIVATION = "sigmoid"  # H22 Fig. 2
PRUNE = "chaotic"
QUICK = dict(dataset="digits", model="mlp:8", lr=0.5, steps=150, onsets=(0, 50, 100))
FULL = dict(dataset="usps", model="mlp:20", lr=1e-3, steps=15000, onsets=(2000, 5000, 10000))
NAME = "h22_fig2_onset"


def base_config(p, data_dir, onset):
    return RunConfig(dataset=p["dataset"], data_dir=data_dir, model=p["model"],
                     activation=ACTIVATION, init="pytorch", lr=p["lr"], batch_size=BATCH_SIZE,
                     steps=p["steps"], every=max(1, p["steps"] // 10), seed=SEED,
                     optimizer="cgd", prune=PRUNE, prune_start=onset,
                     measure=("loss", "accuracy"))


def final_loss(cols):
    tl = cols["train_loss"][np.isfinite(cols["train_loss"])]
    return float(tl[-1]) if tl.size else float("nan")


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--onsets", default=None, help="comma-separated onset steps")
    args = p.parse_args(argv)
    started = time.perf_counter()
    params = dict(QUICK if args.quick else FULL)
    if args.steps is not None:
        params["steps"] = args.steps
    if args.lr is not None:
        params["lr"] = args.lr
    if args.onsets is not None:
        params["onsets"] = tuple(int(s) for s in args.onsets.split(","))
    onsets = sorted(params["onsets"])
    out = Path(args.out)
    gaps, finals, sgd_loss, n = {}, {}, None, None
    for i, onset in enumerate(onsets):
        cfg = base_config(params, args.data_dir, onset)
        variants = ("sgd", PRUNE) if i == 0 else (PRUNE,)
        summary = run_prune(cfg, out / f"onset_{onset}", variants=variants, sgd_counts=False,
                            progress=print)
        table = read_table(out / f"onset_{onset}" / "prune.csv")
        if i == 0:
            sgd_loss, n = final_loss(table["sgd"]), summary["num_params"]
        finals[onset] = summary["final"][PRUNE]
        gaps[onset] = final_loss(table[PRUNE]) - sgd_loss
    g = [gaps[o] for o in onsets]
    measured = "; ".join(f"onset {o}: gap {fmt(gaps[o])} (test acc "
                         f"{fmt(finals[o]['test_accuracy'], 3)})" for o in onsets)
    claims = [
        Claim("pruning the chaotic directions from any onset hurts training",
              "H22 Fig. 2 (onsets 2k, 5k, 10k)", f"SGD train loss {fmt(sgd_loss)}; " + measured,
              bool(finite(*g) and all(v > 0 for v in g)),
              "final train loss of CGD > SGD's for every onset"),
        Claim("the later the onset, the smaller the damage (chaos mostly in the initial phase)",
              "H22 Fig. 2 / Sec. 4", measured,
              bool(finite(*g) and all(b < a for a, b in zip(g, g[1:]))),
              "gap strictly decreasing in the onset step"),
    ]
    size = (f"{params['dataset']}, {params['model']} {ACTIVATION}, N = {n}, batch {BATCH_SIZE}, "
            f"lr {params['lr']:g}, {params['steps']} steps, onsets {onsets}, seed {SEED}")
    write_report(out, NAME, claims, params, size,
                 extra={"gaps": {str(o): gaps[o] for o in onsets}, "sgd_final_train_loss": sgd_loss},
                 started=started, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
