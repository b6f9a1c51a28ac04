"""J25's open questions, as new experiments: does the minimum of training time still sit where
the maximum exponent turns positive under Adam, RMSprop, momentum, minibatches and another
initialisation scale?

These are not claims of J25. J25 (summary, '../shared/papers/000_69653f92f4ab5fcd.txt') study
full-batch GD and leave other optimizers, batch sizes, momentum and initialisation scales open;
each experiment below changes one of these on the J25 network of the REPORT's CPU-sized run
(MLP 784-64-10 tanh, weights N(0, 1), biases 0, float64, mean cross-entropy, 2,000 MNIST
training images, the 10,000-image test set) and asks the J25 question of it.

For every experiment and learning rate eta, one run gives

* ``training_time``    epochs until the test accuracy first reaches TARGET
  (:func:`refchaos.experiments.sweep.train_with_time`, the sweep's own definition);
* ``exponent_tangent`` the growth rate, per optimizer step, of a perturbation of theta(0)
  alone: one tangent vector w(0) = (dtheta(0), 0, ..., 0) on the optimizer's whole state
  (theta and its buffers: the velocity of momentum SGD, Adam's m and v, RMSprop's square
  average), carried by the exact tangent map of the step (``opt.tangent_step``) and
  renormalised every step. The exponent is that of the theta block,

      lambda = (1 / T) ln( ||dtheta(T)|| / ||dtheta(0)|| )
             = (1 / T) [ sum_s ln r(s) + ln ||w(T)_theta|| ],    ||w(0)_theta|| = 1,

  the finite-time form of Eq. (4) of Herrmann et al. 2022 for a perturbation of the initial
  parameters (the buffers start at 0 in every run, so they are not perturbed): the library's
  ``max_exponent(..., start="theta").theta_exponent`` (:mod:`refchaos.lyapunov.maxexp`,
  ledger entry H22-4-theta), the sweep's ``exponent_tangent_theta``. For plain GD it is the
  sweep's ``exponent_tangent``. J25's perturbed copies are not run here, so that the same
  estimator serves every experiment (they carry each model's optimizer state; ``refchaos
  sweep --optimizer`` runs them beside ``exponent_tangent_theta``).

Statement tested for each experiment (criteria fixed in this file before the full run):

* the minimum of training time sits at the onset of chaos: 0 <= index(best lr) - index(onset
  lr) <= 1 on the experiment's grid, the onset being the smallest lr from which lambda x T >= 1
  (at least one e-fold of growth of dtheta over the run, the noise-aware rule of
  validation/j25_lr_sweep.py) at that and every larger lr, and the best lr the one of minimal
  training time. It fails where no lr reaches TARGET or no lr is chaotic.

Experiments (full mode; lr grids subsets of J25's, justified in the REPORT):

    adam      Adam (PyTorch defaults), full batch          lrs 1e-3 ... 0.3
    rmsprop   RMSprop (PyTorch defaults), full batch       lrs 1e-3 ... 0.3
    momentum  heavy-ball momentum 0.9, full batch          lrs 0.25 ... 4 (the effective step
              eta / (1 - mu) is GD's 2.5 ... 10, then 20 and 40)
    batch     minibatch SGD, batch 200 (10 steps/epoch)    lrs 0.5 ... 10
    init      full-batch GD, weights N(0, 0.5^2)           lrs 0.5 ... 10
    gd        full-batch GD, the reference                  lrs 2.5 ... 10 (4 of J25's 16)

Each experiment is written as a sweep directory (``<out>/<experiment>/``: points/*.json,
sweep.csv, summary.json of kind ``sweep``), so ``refchaos plot <out>/<experiment>`` redraws its
figures; a rerun skips the points already there.

Quick mode: the embedded digits (8x8), MLP 64-16-10 tanh, 30 epochs, 3 lrs per experiment,
batch 256 for ``batch`` (seconds). Full mode: as above, 60 epochs (61 evaluations with epoch
0; J25 and the REPORT's sweep train 200, cut to fit the shared 2-core CPU), target 0.8 (the
REPORT's J25 target; the fastest lr of the REPORT's sweep reached it after 29 epochs).

    python validation/j25_open_questions.py --quick
    python validation/j25_open_questions.py --data-dir ../shared/data [--experiments adam,rmsprop --epochs 100]
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_claims.py, also when imported by path
from _claims import Claim, fmt, overridden, parser, write_report  # noqa: E402

from refchaos import io  # noqa: E402
from refchaos.experiments import RunConfig, SweepConfig  # noqa: E402
from refchaos.experiments.resultdir import ResultDirectory  # noqa: E402
from refchaos.experiments.setup import prepare  # noqa: E402
from refchaos.experiments.sweep import (CSV_COLUMNS, point_path, read_table, summarise,  # noqa: E402
                                        table_row, train_with_time)
from refchaos.lyapunov import max_exponent  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0
ACTIVATION = "tanh"
INIT, INIT_STD = "normal", 1.0  # J25: weights N(0, 1), biases 0
EFOLDS = 1.0  # onset: lambda x T at least this many e-folds
TARGET = 0.8  # the REPORT's J25 target (no lr reaches 0.9 on 2,000 images)
GD_LRS = (2.5, 5.0, 7.5, 10.0)  # 4 of J25's 16, around the onset (lr 5) of the REPORT's sweep
ADAPTIVE_LRS = (1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3)  # PyTorch's defaults 1e-3 / 1e-2 and up
MOMENTUM = 0.9
# same effective step eta / (1 - mu) as GD_LRS, and two larger: the first four gave less than one
# e-fold over the run, so the grid was extended upwards to reach the chaotic regime
MOMENTUM_LRS = tuple(round(lr * (1.0 - MOMENTUM), 12) for lr in GD_LRS) + (2.0, 4.0)
BATCH = 200
# the four GD lrs, and two smaller: every lr from 2.5 on was chaotic at batch 200, so the grid
# was extended downwards to find the onset
BATCH_LRS = (0.5, 1.0) + GD_LRS
INIT_STD_SMALL = 0.5
# the four GD lrs, and two smaller: lr 2.5 already grew by an e-fold, so the grid was extended
# downwards to find the onset
INIT_LRS = (0.5, 1.0) + GD_LRS
EXPERIMENTS = {  # name -> (RunConfig fields changed from the base, lr grid, what changes)
    "adam": ({"optimizer": "adam"}, ADAPTIVE_LRS, "Adam, PyTorch defaults"),
    "rmsprop": ({"optimizer": "rmsprop"}, ADAPTIVE_LRS, "RMSprop, PyTorch defaults"),
    "momentum": ({"momentum": MOMENTUM}, MOMENTUM_LRS, f"heavy-ball momentum {MOMENTUM:g}"),
    "batch": ({"batch_size": BATCH}, BATCH_LRS, "minibatch SGD, batch {batch}"),
    "init": ({"init_std": INIT_STD_SMALL}, INIT_LRS, f"full-batch GD, weights N(0, {INIT_STD_SMALL:g}^2)"),
    "gd": ({}, GD_LRS, "full-batch GD (reference)"),
}
QUICK = dict(dataset="digits", hidden="mlp:16", epochs=30, subset=None, target=0.8,
             lrs={"gd": (0.5, 5.0, 20.0), "adam": (1e-3, 0.03, 0.3),
                  "rmsprop": (1e-3, 0.03, 0.3), "momentum": (0.05, 0.5, 2.0),
                  "batch": (0.5, 5.0, 20.0), "init": (0.5, 5.0, 20.0)},
             batch=256)
FULL = dict(dataset="mnist", hidden="mlp:64", epochs=60, subset=2000, target=TARGET,
            lrs={k: v[1] for k, v in EXPERIMENTS.items()}, batch=BATCH)
NAME = "j25_open_questions"


# ----- one point ------------------------------------------------------------------------------
def run_point(base, lr, seed, target):
    """One learning rate of one experiment, as a dict in the sweep's point format."""
    setup = prepare(replace(base, lr=float(lr), seed=int(seed)))
    start = time.perf_counter()
    notes = []
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        train = train_with_time(setup, target)
        try:  # the theta block of a vector started in theta (H22-4-theta of EQUATIONS.md)
            tan = max_exponent(setup.opt, setup.model, setup.theta0, setup.batch, setup.steps,
                               seed=seed, start="theta", record_every=None)
            lam, running = tan.theta_exponent, tan.running
        except FloatingPointError as err:
            notes.append(f"tangent vector: {err}")
            lam, running = math.nan, np.zeros(0)
    notes += sorted({str(w.message) for w in caught})
    acc, loss = train.pop("test_accuracy"), train.pop("train_loss")
    return {"lr": float(lr), "seed": int(seed), "exponent_copies": math.nan,
            "exponent_copies_std": math.nan, "window_start": -1, "window_stop": -1,
            "exponent_tangent": lam, "exponent_tangent_theta": lam, **train, "final_test_accuracy": acc[-1],
            "best_test_accuracy": float(np.nanmax(acc)), "final_train_loss": loss[-1],
            "steps": setup.steps, "num_params": setup.model.num_params,
            "steps_per_epoch": setup.order.steps_per_epoch,
            "exponent_of": "theta block of the tangent vector on the optimizer state, per step",
            "curves": {"test_accuracy": acc, "train_loss": loss, "log_ratio": [],
                       "tangent_running": np.asarray(running).tolist()},
            "notes": notes, "wall_s": time.perf_counter() - start}


def run_experiment(sweep, out, progress=print):
    """All lrs of one experiment into sweep directory ``out`` (finished points are kept)."""
    rd = ResultDirectory(out, "sweep")
    rd.claim(sweep.to_dict(), resume=None)
    try:
        (rd.path / "points").mkdir(exist_ok=True)
        for lr, seed in sweep.points():
            p = point_path(out, lr, seed)
            if p.exists():
                continue
            r = run_point(sweep.base, lr, seed, sweep.target)
            io.atomic_write_json(p, io.json_safe(r))
            progress(f"{Path(out).name}: lr {lr:g}: exponent {r['exponent_tangent']:.4g} per step, "
                     f"time {r['training_time']:g}, test acc {r['final_test_accuracy']:.3f} "
                     f"({r['wall_s']:.1f} s)")
        rows = []
        for lr, seed in sorted(sweep.points()):
            r = io.read_json(point_path(out, lr, seed))
            rows.append(table_row(r))
        io.atomic_write_csv(Path(out) / "sweep.csv", rows, header=CSV_COLUMNS)
        summary = summarise(read_table(Path(out) / "sweep.csv"), sweep)
        steps = io.read_json(point_path(out, *sweep.points()[0]))["steps"]
        onset = efold_onset([q["lr"] for q in summary["per_lr"]],
                            [q["exponent_tangent"] * steps for q in summary["per_lr"]])
        return rd.finish(dict(summary, status="completed", divergences=[], onset_lr_efold=onset,
                              exponent_unit="per optimizer step, theta block of the tangent "
                                            "vector (no perturbed copies)"))
    finally:
        rd.release()


# ----- the question ---------------------------------------------------------------------------
def efold_onset(lrs, growth):
    """Smallest lr from which growth = lambda x T >= EFOLDS at that and every larger lr."""
    onset = None
    for lr, g in reversed(list(zip(lrs, growth))):
        if not (math.isfinite(g) and g >= EFOLDS):
            break
        onset = lr
    return onset


def describe(name, batch):
    """What experiment ``name`` changes, in words (its batch size filled in)."""
    return EXPERIMENTS[name][2].format(batch=batch)


def answer(name, summary, steps, per_epoch, batch):
    per_lr = summary["per_lr"]
    lrs = [q["lr"] for q in per_lr]
    lam = [float("nan") if q["exponent_tangent"] is None else q["exponent_tangent"] for q in per_lr]
    times = [float("nan") if q["training_time"] is None else q["training_time"] for q in per_lr]
    growth = [v * steps for v in lam]
    onset = efold_onset(lrs, growth)
    reached = [i for i, t in enumerate(times) if math.isfinite(t)]
    best = min(reached, key=lambda i: times[i]) if reached else None
    diff = None if onset is None or best is None else best - lrs.index(onset)
    rows = "; ".join(f"lr {lr:g}: exp/epoch {fmt(v * per_epoch, 3)}, time "
                     f"{'never' if not math.isfinite(t) else fmt(t, 3)}"
                     for lr, v, t in zip(lrs, lam, times))
    measured = (f"e-fold onset lr {'none' if onset is None else f'{onset:g}'}, fastest lr "
                f"{'none' if best is None else f'{lrs[best]:g} ({times[best]:g} epochs)'}, best - onset "
                f"{'none' if diff is None else diff} grid steps; " + rows)
    claim = Claim(f"{name}: training time is minimal where the exponent turns positive",
                  f"new experiment (J25 open question: {describe(name, batch)})", measured,
                  bool(diff is not None and 0 <= diff <= 1),
                  "0 <= index(fastest lr) - index(onset lr) <= 1, onset: smallest lr from which "
                  f"lambda x T >= {EFOLDS:g} at every larger lr (theta-block tangent exponent)")
    return claim, {"onset_lr": onset, "best_lr": None if best is None else lrs[best],
                   "best_minus_onset": diff, "min_training_time": None if best is None else times[best],
                   "lrs": lrs, "exponent_per_step": lam, "exponent_per_epoch": [v * per_epoch for v in lam],
                   "training_time": times, "steps": steps, "steps_per_epoch": per_epoch}


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    p.add_argument("--experiments", default=None,
                   help=f"comma-separated subset of {', '.join(EXPERIMENTS)} (default: all)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--subset", type=int, default=None, help="training-set size (seeded subset)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    params = overridden(args, QUICK if args.quick else FULL, ("epochs", "subset"))
    names = list(EXPERIMENTS) if args.experiments is None else args.experiments.split(",")
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        p.error(f"--experiments: unknown {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}")
    base = RunConfig(dataset=params["dataset"], data_dir=args.data_dir, model=params["hidden"],
                     activation=ACTIVATION, init=INIT, init_std=INIT_STD, batch_size=0,
                     epochs=params["epochs"], subset=params["subset"], seed=SEED,
                     measure=("loss", "accuracy"))
    out = Path(args.out)
    claims, extra = [], {}
    for name in names:
        change = dict(EXPERIMENTS[name][0])
        if "batch_size" in change:
            change["batch_size"] = params["batch"]
        cfg = replace(base, **change)
        cfg.validate()
        sweep = SweepConfig(base=cfg, lrs=tuple(params["lrs"][name]), seeds=(SEED,), copies=1,
                            target=params["target"])
        t0 = time.perf_counter()
        summary = run_experiment(sweep, out / name)
        first = io.read_json(point_path(out / name, sweep.lrs[0], SEED))
        claim, ans = answer(name, summary, first["steps"], first["steps_per_epoch"],
                            params["batch"])
        claims.append(claim)
        extra[name] = dict(ans, wall_s=time.perf_counter() - t0, config=cfg.to_dict())
    size = (f"{params['dataset']}{'' if params['subset'] is None else ' subset ' + str(params['subset'])}, "
            f"{params['hidden']} {ACTIVATION}, N(0, {INIT_STD:g}) weights unless changed, "
            f"{params['epochs']} epochs, target {params['target']:g}, seed {SEED}, experiments "
            + ", ".join(f"{n} ({describe(n, params['batch'])}; lrs {list(params['lrs'][n])})" for n in names))
    write_report(out, NAME, claims,
                 {k: ({n: list(v) for n, v in val.items()} if isinstance(val, dict) else val)
                  for k, val in params.items()}, size, extra={"experiments": extra},
                 started=started, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
