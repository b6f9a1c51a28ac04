"""H22 Fig. 1: SGD against CGD pruning the chaotic, negative or positive Hessian directions.

What H22 report (abstract and Fig. 1): "the negative eigenspectrum - and thus directions of
local chaos - cannot be removed from SGD without hurting training performance"; CGD pruning the
chaotic (Eq. (10)) or the negative directions trains worse than SGD. The positive-pruning
control (keep only lambda < 0), in H22's Fig. 1 caption: "Pruning of the full positive spectrum
(red) only has a small effect on training performance, while negative and chaotic pruning
strongly limits the network's ability to learn"; Sec. 4.1: "the ANNs trained in this way fare
much better than their counterparts with negative pruning". This script trains all four
variants from the same theta(0) on the same batches (:func:`refchaos.experiments.run_prune`)
and tests each statement on the final training-set loss:

* chaotic / negative hurt:  final train loss of the variant > final train loss of SGD (or the
  variant diverges)
* positive has a small effect:  train-loss drop (step 0 -> end) >= SMALL_EFFECT x SGD's drop,
  and final train loss below the negative-pruning variant's, and no divergence

A variant that diverges (the run records it and goes on with the others) is said so in its
row; if SGD diverges, no statement holds. ``--resume`` continues a stopped run in ``--out``
(finished variants are read, not rerun), and re-evaluates a finished one.

Quick mode: the embedded digits (8x8), MLP 64-8-10 ReLU (610 parameters), batch 8, lr 0.1,
100 steps (a few seconds). Full mode: H22's setup, USPS 16x16 standardised, MLP 256-20-10
ReLU (5,350 parameters, ``--model cnn`` for their CNN), batch 8, lr 1e-3, 40 epochs (36,480
steps: an exact Hessian decomposition per step per variant, hours on a CPU; ``--steps``
shortens it). ``--dataset fashion-mnist`` uses Fashion-MNIST resized to 16x16 (H22: "with images
subsampled to 16 x 16 pixels"; the MLP is then 256-20-10 as on USPS).

    python validation/h22_fig1_pruning.py --quick
    python validation/h22_fig1_pruning.py --data-dir ../shared/data [--steps 2000] [--model cnn] [--resume]
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
BATCH_SIZE = 8  # H22
QUICK = dict(dataset="digits", model="mlp:8", lr=0.1, steps=100, every=25)
FULL = dict(dataset="usps", model="mlp:20", lr=1e-3, epochs=40, every=912)  # H22: 912 steps/epoch
ACTIVATION = "relu"  # H22's MLP and CNN
SMALL_EFFECT = 0.5  # "only a small effect": at least this fraction of SGD's loss drop
NAME = "h22_fig1_pruning"


def config(args):
    p = dict(QUICK if args.quick else FULL)
    if not args.quick:
        p["dataset"] = args.dataset
        p["model"] = "cnn" if args.model == "cnn" else p["model"]
    if args.steps is not None:
        p["steps"] = args.steps
    if args.lr is not None:
        p["lr"] = args.lr
    return RunConfig(dataset=p["dataset"], data_dir=args.data_dir, model=p["model"],
                     activation=ACTIVATION, init="pytorch", lr=p["lr"], batch_size=BATCH_SIZE,
                     epochs=p.get("epochs", 1), steps=p.get("steps"), every=p["every"],
                     seed=SEED, measure=("loss", "accuracy"),
                     extra={"resize": 16} if p["dataset"] == "fashion-mnist" else {})  # H22: 16 x 16


def claims_from(table, divergences=None):
    """Claim rows from prune.csv (dict variant -> columns) and the run's ``divergences``
    (variant -> {"step", "message"}; a variant that diverged is said so: it hurts training,
    and it is not "only a small effect"; SGD diverging leaves nothing to compare with)."""
    divergences = divergences or {}

    def diverged(v):
        d = divergences.get(v)
        return f"; diverged at step {d['step']} ({d['message']})" if d else ""

    def loss_at(v, which):
        tl = table[v]["train_loss"]
        tl = tl[np.isfinite(tl)]
        return float(tl[0] if which == "first" else tl[-1]) if tl.size else float("nan")

    def last(v, col):
        a = table[v][col]
        a = a[np.isfinite(a)]
        return float(a[-1]) if a.size else float("nan")

    sgd_final, sgd_drop = loss_at("sgd", "last"), loss_at("sgd", "first") - loss_at("sgd", "last")
    rows = []
    for v in ("chaotic", "negative"):
        lv = loss_at(v, "last")
        rows.append(Claim(
            claim=f"pruning the {v} directions hurts training",
            paper="H22 Fig. 1 / abstract: CGD without negative (chaotic) directions trains worse",
            measured=(f"train loss {fmt(lv)} vs SGD {fmt(sgd_final)}; test acc "
                      f"{fmt(last(v, 'test_accuracy'), 3)} vs {fmt(last('sgd', 'test_accuracy'), 3)}; "
                      f"mean pruned {fmt(np.nanmean(table[v]['n_pruned']), 3)}"
                      f"{diverged(v)}{diverged('sgd')}"),
            holds=bool("sgd" not in divergences
                       and (v in divergences or (finite(lv, sgd_final) and lv > sgd_final))),
            criterion="final train loss of the variant > SGD's (or the variant diverges), SGD "
                      "not diverged"))
    drop = loss_at("positive", "first") - loss_at("positive", "last")
    pos_final, neg_final = loss_at("positive", "last"), loss_at("negative", "last")
    rows.append(Claim(
        claim="pruning the positive directions has only a small effect on training",
        paper=("H22 Fig. 1 caption: 'Pruning of the full positive spectrum (red) only has a small "
               "effect on training performance'"),
        measured=(f"loss drop {fmt(drop)} vs SGD {fmt(sgd_drop)}; final train loss {fmt(pos_final)}"
                  f" vs negative-pruning {fmt(neg_final)}; test acc "
                  f"{fmt(last('positive', 'test_accuracy'), 3)} (SGD "
                  f"{fmt(last('sgd', 'test_accuracy'), 3)}, negative "
                  f"{fmt(last('negative', 'test_accuracy'), 3)}); mean pruned "
                  f"{fmt(np.nanmean(table['positive']['n_pruned']), 3)}"
                  f"{diverged('positive')}{diverged('sgd')}"),
        holds=bool(not ({"positive", "sgd"} & set(divergences))
                   and finite(drop, sgd_drop, pos_final, neg_final) and sgd_drop > 0
                   and drop >= SMALL_EFFECT * sgd_drop and pos_final < neg_final),
        criterion=(f"no divergence, train-loss drop >= {SMALL_EFFECT} x SGD's drop and final "
                   "train loss < the negative-pruning variant's")))
    return rows


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    p.add_argument("--dataset", default="usps", choices=("usps", "fashion-mnist"),
                   help="full mode: USPS (default) or Fashion-MNIST 16x16")
    p.add_argument("--model", default="mlp", choices=("mlp", "cnn"), help="full mode: H22's MLP or CNN")
    p.add_argument("--steps", type=int, default=None, help="override the number of steps")
    p.add_argument("--lr", type=float, default=None, help="override the learning rate")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out: finished variants are read, not rerun (a "
                        "finished run is re-evaluated)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    cfg = config(args)
    out = Path(args.out)
    summary = run_prune(cfg, out / "prune", progress=print, resume=args.resume)
    table = read_table(out / "prune" / "prune.csv")
    claims = claims_from(table, summary.get("divergences"))
    size = (f"{cfg.dataset}, {cfg.model} {cfg.activation}, N = {summary['num_params']}, batch "
            f"{cfg.batch_size}, lr {cfg.lr:g}, {summary['steps']} steps, seed {SEED}")
    write_report(out, NAME, claims, {"config": cfg.to_dict(), "small_effect": SMALL_EFFECT},
                 size, extra={"final": summary["final"]}, started=started, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
