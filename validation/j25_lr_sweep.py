"""J25: learning-rate sweep of full-batch GD; the exponent's sign against the training time.

:func:`refchaos.experiments.run_sweep` trains, for every learning rate and initialisation, the
J25 network (MLP tanh, weights N(0, 1), biases 0, float64, mean cross-entropy, full-batch GD:
one step per epoch) and measures the network maximum Lyapunov exponent from perturbed copies
(eps = 1e-8, U(-eps, eps) on the weights, L1 distance, slope over the early exponential phase),
a tangent-vector cross-check, and the training time (epochs until the test accuracy first
reaches TARGET). The sweep's summary locates the onset of chaos (smallest lr from which the
seed-mean exponent stays > 0) and the lr of minimal training time. Statements tested:

* training is fastest near the onset of chaos: the best lr is the onset lr or the next one on
  the grid (0 <= best_minus_onset <= 1)
* the same with a noise-aware onset: the smallest lr from which lambda x epochs >= 1 (at least
  one e-fold of growth over the whole run; smaller positive slopes are zero within the copies'
  resolution) at that and every larger lr
* too large a learning rate makes training fail: the largest lr of the grid never reaches
  TARGET (or diverges) while some smaller lr does

Quick mode: the embedded digits (8x8, pixels in [0, 1]), MLP 64-64-10, lrs 0.1, 1, 2.5, 20,
one initialisation, 2 copies, 60 epochs (about half a minute). Full mode: J25's MNIST 784-64-10,
their 16 learning rates 0.0005 ... 20, 3 initialisations x 5 copies, 200 epochs, all 60,000
training images (``--subset`` to use fewer; ``--workers`` processes). The table says what ran.

    python validation/j25_lr_sweep.py --quick
    python validation/j25_lr_sweep.py --data-dir ../shared/data [--subset 5000 --lrs 0.1,1,5,20 --seeds 1 --copies 2]
    python validation/j25_lr_sweep.py --finished --out <dir> [--target 0.8]

A sweep of all 60,000 images takes hours; it is resumable (the same command continues it,
skipping finished chunks). ``--finished`` runs nothing: it reads the sweep stored in ``--out``
and writes ``j25_lr_sweep_finished.{csv,md,json}`` there, the same statements tested on the
initialisations finished at every learning rate so far (their points listed in
``finished_points.csv``), so an unfinished run still gives a complete-grid result on fewer
initialisations. With ``--target`` it reads the stored sweep at another target accuracy: every
point's training time is taken again from its stored test-accuracy curve (the rule of the run,
first epoch >= target), and the files are named ``..._target<T>`` beside those of the run's own
target; nothing is retrained.

J25's robustness claims ("robust across ... architectures, activation functions, and
regularization schemes") are the same sweep of another network: ``--model mlp:64-64`` (a deeper
MLP), ``--activation sigmoid``, ``--weight-decay 1e-3`` (L2 in the GD step), ``--model cnn``.
``--init pytorch`` (or xavier, he) replaces J25's N(0, 1) weights: a departure from J25's
recipe, for networks that do not train from N(0, 1); the table's setup line names it.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_claims.py, also when imported by path
from _claims import Claim, fmt, parser, write_report  # noqa: E402

import numpy as np  # noqa: E402

from refchaos import io  # noqa: E402
from refchaos.experiments import RunConfig, SweepConfig, run_sweep  # noqa: E402
from refchaos.experiments.sweep import (CSV_COLUMNS, J25_LRS, point_path, read_table,  # noqa: E402
                                        stored_sweep, summarise, table_row, theta_is_state,
                                        time_to_target)
from refchaos.nn.init import INIT_SCHEMES  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0  # first initialisation; seeds are SEED, SEED + 1, ...
ACTIVATION = "tanh"
INIT, INIT_STD = "normal", 1.0  # J25: weights N(0, 1), biases 0
EPS = 1e-8  # J25's perturbation of the copies
EFOLDS = 1.0  # noise-aware onset: exponent x epochs at least this many e-folds
TARGET = 0.9  # test accuracy that ends "training time"
QUICK = dict(dataset="digits", hidden="mlp:64", lrs=(0.1, 1.0, 2.5, 20.0), seeds=1, copies=2,
             epochs=60, subset=None)
FULL = dict(dataset="mnist", hidden="mlp:64", lrs=J25_LRS, seeds=3, copies=5, epochs=200,
            subset=None)
NAME = "j25_lr_sweep"


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    p.add_argument("--lrs", default=None, help="comma-separated learning rates")
    p.add_argument("--seeds", type=int, default=None, help="number of initialisations")
    p.add_argument("--first-seed", type=int, default=SEED,
                   help=f"seed of the first initialisation (default {SEED}); the seeds are "
                        "FIRST, FIRST + 1, ...: another initialisation in a new --out")
    p.add_argument("--copies", type=int, default=None, help="perturbed copies per initialisation")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--subset", type=int, default=None, help="training-set size (seeded subset)")
    p.add_argument("--workers", type=int, default=1, help="local processes")
    p.add_argument("--model", default=None, help="model string (default J25's mlp:64)")
    p.add_argument("--activation", default=ACTIVATION, help=f"activation (default {ACTIVATION})")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay of the GD step")
    p.add_argument("--init", default=INIT, choices=INIT_SCHEMES,
                   help=f"weight initialisation (default J25's {INIT!r}: N(0, --init-std), biases 0)")
    p.add_argument("--init-std", type=float, default=INIT_STD,
                   help=f"standard deviation of the 'normal' initialisation (default {INIT_STD:g})")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="points per ensemble chunk (default: from the memory available); the "
                        "unit an interrupted sweep reruns on resume")
    p.add_argument("--target", type=float, default=None,
                   help=f"test accuracy that ends the training time (default {TARGET}; with "
                        "--finished, the stored sweep's own target)")
    p.add_argument("--finished", action="store_true",
                   help="run nothing: test the statements on the initialisations finished at "
                        "every lr of the sweep stored in --out")
    args = p.parse_args(argv)
    started = time.perf_counter()
    if args.finished:
        return report_finished(Path(args.out), args, started, argv)
    if args.target is None:
        args.target = TARGET
    params = dict(QUICK if args.quick else FULL, target=args.target)
    if args.lrs is not None:
        params["lrs"] = tuple(float(v) for v in args.lrs.split(","))
    for key in ("seeds", "copies", "epochs", "subset"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if args.model is not None:
        params["hidden"] = args.model
    params.update(activation=args.activation, weight_decay=args.weight_decay, init=args.init,
                  init_std=args.init_std, first_seed=args.first_seed)
    base = RunConfig(dataset=params["dataset"], data_dir=args.data_dir, model=params["hidden"],
                     activation=args.activation, init=args.init, init_std=args.init_std, batch_size=0,
                     weight_decay=args.weight_decay,
                     epochs=params["epochs"], subset=params["subset"], seed=args.first_seed,
                     measure=("loss", "accuracy"))
    sweep = SweepConfig(base=base, lrs=tuple(params["lrs"]),
                        seeds=tuple(range(args.first_seed, args.first_seed + params["seeds"])),
                        copies=params["copies"], eps=EPS, target=args.target)
    out = Path(args.out)
    s = run_sweep(sweep, out / "sweep", workers=args.workers, chunk_size=args.chunk_size,
                  progress=print, bar=True)
    claims = statements(s, params["epochs"], args.target)
    write_report(out, NAME, claims, {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
                 describe(params, args.activation, args.weight_decay, args.target),
                 extra={"sweep_summary": {k: v for k, v in s.items() if k != "config"}},
                 started=started, argv=argv)
    return 0


def statements(s, epochs, target):
    """The three statements of the module docstring, tested on the sweep summary ``s``."""
    per_lr = s["per_lr"]
    lrs = [q["lr"] for q in per_lr]
    reached = [q["lr"] for q in per_lr if not _nan(q["training_time"])]
    largest = per_lr[-1]
    table = "; ".join(f"lr {q['lr']:g}: exp {fmt(q['exponent_copies'], 3)}, time "
                      f"{fmt(q['training_time'], 3)}" for q in per_lr)
    bmo = s["best_minus_onset"]
    efold = [q["lr"] for q in per_lr if not _nan(q["exponent_copies"])
             and q["exponent_copies"] * epochs >= EFOLDS]
    onset_e = None
    for q in reversed(per_lr):  # last crossing, as the sweep's own onset rule
        if q["lr"] not in efold:
            break
        onset_e = q["lr"]
    bmo_e = (None if onset_e is None or s["best_lr"] is None
             else lrs.index(s["best_lr"]) - lrs.index(onset_e))
    largest_failed = largest["reached"] < largest["seeds"] or largest["diverged"] > 0
    claims = [
        Claim("training time is minimal where the exponent has just turned positive",
              "J25 Fig. 2 (MNIST: minimum at the onset of chaos)",
              f"onset lr {fmt(s['onset_lr_copies'])}, best lr {fmt(s['best_lr'])} "
              f"(time {fmt(s['min_training_time'])}), best_minus_onset {fmt(bmo)}; " + table,
              bool(bmo is not None and 0 <= bmo <= 1),
              "0 <= best_minus_onset <= 1 grid steps"),
        Claim("as above, onset = first lr with at least one e-fold over the run",
              "J25 Fig. 2", f"onset lr {fmt(onset_e)}, best lr {fmt(s['best_lr'])}, "
              f"best_minus_onset {fmt(bmo_e)}",
              bool(bmo_e is not None and 0 <= bmo_e <= 1),
              f"0 <= best - onset <= 1 grid steps, onset: exponent x epochs >= {EFOLDS:g}"),
        Claim("too large a learning rate makes training fail",
              "J25 Fig. 2 (largest lrs do not learn)",
              f"largest lr {largest['lr']:g}: reached target {largest['reached']}/{largest['seeds']}, "
              f"diverged {largest['diverged']}; lrs reaching {target:g}: {reached}",
              bool(largest_failed and any(lr < largest["lr"] for lr in reached)),
              f"the largest lr misses test accuracy {target:g} (or diverges) while a smaller "
              "lr reaches it"),
    ]
    return claims


def describe(params, activation, weight_decay, target):
    """One line saying what ran."""
    return (f"{params['dataset']}{'' if params['subset'] is None else ' subset ' + str(params['subset'])}, "
            f"{params['hidden']} {activation}, {init_words(params)}, full-batch GD"
            f"{'' if not weight_decay else f' with weight decay {weight_decay:g}'}, "
            f"{params['epochs']} epochs, lrs {list(params['lrs'])}, {params['seeds']} initialisation(s)"
            f"{seed_words(params)} x {params['copies']} copies, target {target:g}")


def seed_words(params):
    """'' for the default seeds SEED, SEED + 1, ...; else the seeds that ran."""
    first, n = params.get("first_seed", SEED), params["seeds"]
    return "" if first == SEED else f" (seed {first})" if n == 1 else f" (seeds {first}-{first + n - 1})"


def init_words(params):
    """The initialisation in words: J25's N(0, std) weights, or another scheme of
    :mod:`refchaos.nn.init` (a labelled departure from J25)."""
    init, std = params.get("init", INIT), params.get("init_std", INIT_STD)
    return f"N(0, {std:g}) weights" if init == "normal" else f"{init} initialisation"


def finished_points(sweep_dir, sweep):
    """Point dicts of the (lr, seed) grid points finished in ``sweep_dir``, and the seeds
    finished at every lr of the grid."""
    points = {(lr, seed): io.read_json(point_path(sweep_dir, lr, seed))
              for lr, seed in sweep.points() if point_path(sweep_dir, lr, seed).exists()}
    complete = [seed for seed in sweep.seeds if all((lr, seed) in points for lr in sweep.lrs)]
    return points, complete


def report_finished(out, args, started, argv):
    """``--finished``: the statements on the initialisations finished at every lr of the sweep
    in ``out``/sweep; writes j25_lr_sweep_finished.* and finished_points.csv into ``out``.
    With a ``--target`` other than the sweep's, every training time is read again from the
    stored test-accuracy curves and the files carry the suffix ``_target<T>``."""
    stored = stored_sweep(out / "sweep")
    target = stored.target if args.target is None else args.target
    if not 0 < target <= 1:
        print(f"--target is a test accuracy in (0, 1], got {target}", file=sys.stderr)
        return 2
    sweep = replace(stored, target=target)
    suffix = "" if target == stored.target else f"_target{target:g}"
    points, complete = finished_points(out / "sweep", sweep)
    print(f"{len(points)} of {len(sweep.points())} points finished; initialisations finished at "
          f"every lr: {complete or 'none'}")
    if suffix:
        print(f"training times read again at target {target:g} from the stored curves "
              f"(the sweep ran with target {stored.target:g})")
        points = {key: dict(r, training_time=time_to_target(r["curves"]["test_accuracy"], target))
                  for key, r in points.items()}
    rows = [points[(lr, seed)] for lr, seed in sorted(points)]
    stateless = theta_is_state(sweep)
    io.atomic_write_csv(out / f"finished_points{suffix}.csv",
                        [table_row(r, stateless) + [r.get("wall_s")] for r in rows],
                        header=CSV_COLUMNS + ("wall_s",))
    if not complete:
        print("no initialisation is finished at every lr yet: nothing to test")
        return 1
    done = [points[(lr, seed)] for lr in sweep.lrs for seed in complete]
    base = sweep.base
    params = dict(dataset=base.dataset, hidden=base.model, lrs=list(sweep.lrs), seeds=len(complete),
                  copies=sweep.copies, epochs=base.epochs, subset=base.subset, target=target,
                  target_of_the_run=stored.target, init=base.init, init_std=base.init_std,
                  seeds_finished=complete, points_finished=len(points),
                  points_in_grid=len(sweep.points()))
    table = read_table(out / f"finished_points{suffix}.csv")  # the sweep's own reading of its rows
    keep = np.isin(table["seed"], complete)
    s = summarise({c: v[keep] for c, v in table.items()}, sweep)
    claims = statements(s, base.epochs, target)
    wall = [r["wall_s"] for r in rows if r.get("wall_s") is not None]
    setup = (describe(params, base.activation, base.weight_decay, target)
             + ("" if not suffix else f" (read from the stored curves; the sweep ran with "
                f"target {stored.target:g})")
             + f"; seeds {complete} of {list(sweep.seeds)} finished at every lr "
             f"({len(points)} of {len(sweep.points())} points, {sum(wall) / 3600:.2f} h of point "
             "wall time)")
    write_report(out, NAME + "_finished" + suffix, claims, params, setup,
                 extra={"sweep_summary": {k: v for k, v in s.items() if k != "config"}},
                 started=started, argv=argv, script=NAME)
    io.atomic_write_text(out / f"{NAME}_finished{suffix}_per_lr.md",
                         per_lr_markdown(s, done, complete))
    return 0


def per_lr_markdown(s, done, seeds):
    """Per-lr table of the finished initialisations: seed-mean exponents (per epoch), the
    final test accuracy of each seed, and the training time (epochs to the target)."""
    acc = {}
    for r in done:
        acc.setdefault(r["lr"], []).append(r["final_test_accuracy"])
    lines = [f"| lr | copies exponent | tangent exponent | training time (epochs to "
             f"{s['target']:g}) | seeds reaching it | final test accuracy, seeds {seeds} |",
             "|---|---|---|---|---|---|"]
    for q in s["per_lr"]:
        accs = ", ".join(fmt(a, 3) for a in acc[q["lr"]])
        lines.append(f"| {q['lr']:g} | {fmt(q['exponent_copies'], 3)} | "
                     f"{fmt(q['exponent_tangent'], 3)} | {fmt(q['training_time'], 3)} | "
                     f"{q['reached']} of {q['seeds']} | {accs} |")
    return "\n".join(lines) + "\n"


def _nan(v):
    return v is None or math.isnan(v)


if __name__ == "__main__":
    sys.exit(main())
