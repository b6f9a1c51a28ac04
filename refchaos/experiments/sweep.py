"""Learning-rate sweep of Jimenez-Gonzalez et al. 2025 (J25): exponent and training time against lr.

For every learning rate eta and initialisation seed s, one training run of the base
configuration (J25: full-batch GD, MLP tanh, weights N(0, 1), biases 0, float64) gives

* ``exponent_copies``  the network maximum Lyapunov exponent from M perturbed copies
  (:func:`refchaos.lyapunov.copies_exponent`: U(-eps, eps) on the weights only, eps = 1e-8,
  L1 distance over all parameters, the identical batch sequence, slope of <ln d(t)/d(0)>
  over the early exponential phase);
* ``exponent_tangent`` the maximum exponent from one tangent vector renormalised every step
  (:func:`refchaos.lyapunov.max_exponent`), a cross-check of the first; with a stepper that
  carries buffers (momentum, Adam, AdamW, RMSprop) the vector lives on the whole state and
  starts there, so this is the growth of a whole-state perturbation (``refchaos run
  --measure maxexp``'s exponent);
* ``exponent_tangent_theta`` the growth of a perturbation of theta(0) alone, the quantity the
  copies measure: the theta block of a second tangent vector started in theta (buffer rows 0),
  (1/T) ln(||dtheta(T)|| / ||dtheta(0)||) (``max_exponent(..., start="theta").theta_exponent``,
  ledger entry H22-4-theta); it rides along the same steps as the first
  (:func:`refchaos.lyapunov.integrator.advance_together`). Without buffers (plain SGD) the two
  vectors are one and the column equals ``exponent_tangent``. Points written before this
  column existed read as NaN;
* ``training_time``    the number of epochs until the test accuracy first reaches
  ``target`` (NaN if it never does), evaluated after every epoch (epoch 0 = initialisation);
* ``diverged``         whether the parameters or the loss left float range (the run stops
  there; a recorded outcome, not an error).

Exponents are per optimizer step; under full-batch GD (J25) one step is one epoch.

The sweep is a grid of independent points, cut into chunks (:mod:`.chunks`: the unit of
work, sized from the memory available or by ``chunk_size``, recorded in ``chunks.json``). When
a chunk finishes, each of its points is written atomically as ``points/lr_<lr>_seed_<s>.json``;
a sweep started again in the same directory with the same configuration skips the finished
chunks (resume), and a different configuration there is an error. Chunks run serially, on
local processes (spawn-safe :func:`run_chunk`) or on an existing Dask cluster; the results do
not depend on which.

Symbols: eta -> ``lr``; s -> ``seed``; M -> ``copies``; eps -> ``eps``; lambda_max ->
``exponent_copies`` / ``exponent_tangent``; lambda_theta -> ``exponent_tangent_theta``.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import io
from ..lyapunov import CopiesError, MaxExponentIntegrator, copies_exponent, weight_mask
from ..lyapunov.integrator import advance_together
from .chunks import (CHUNKS_FILE, ChunkPlanError, ChunkProgress, auto_chunk_size,
                     available_memory, check_chunk_size, member_bytes, members_per_point,
                     run_in_process)
from .chunks import plan as chunk_plan
from .config import COPIES_OPTIMIZERS, ConfigError, RunConfig, build_optimizer
from .divergence import DEFAULT_POLICY
from .progress import REDRAW_S, Progress, counting
from .resultdir import ResultDirectory, ResultDirectoryError
from .setup import evaluate, prepare

J25_LRS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 12.5, 15.0,
           17.5, 20.0)  # The learning-rate scan of J25.
DEFAULT_COPIES = 5  # M copies per initialisation (J25: "several").
DEFAULT_EPS = 1e-8  # J25's perturbation size.
DEFAULT_TARGET = 0.9  # Test accuracy that ends "training time".
DASK_CONNECT_TIMEOUT = "10s"  # An unreachable scheduler is reported after this long.
CSV_COLUMNS = ("lr", "seed", "exponent_copies", "exponent_copies_std", "window_start",
               "window_stop", "exponent_tangent", "training_time", "final_test_accuracy",
               "best_test_accuracy", "final_train_loss", "diverged", "diverged_epoch", "steps",
               "num_params", "exponent_tangent_theta")
LATER_COLUMNS = ("exponent_tangent_theta",)  # absent from points written before them: NaN


class SweepError(RuntimeError):
    """The sweep cannot start or continue (a failed point, an unreachable cluster)."""


def default_base():
    """J25's setup on the embedded digits: full-batch GD, MLP tanh, N(0, 1) weights, 0 biases."""
    return RunConfig(dataset="digits", model="mlp:64", activation="tanh", init="normal",
                     init_std=1.0, batch_size=0, epochs=100, measure=("loss", "accuracy"))


@dataclass
class SweepConfig:
    """A learning-rate x seed grid over one base :class:`RunConfig` (lr and seed replaced)."""

    base: RunConfig = field(default_factory=default_base)
    lrs: tuple = J25_LRS
    seeds: tuple = (0, 1, 2)
    copies: int = DEFAULT_COPIES
    eps: float = DEFAULT_EPS
    target: float = DEFAULT_TARGET

    def to_dict(self):
        return {"base": self.base.to_dict(), "lrs": [float(v) for v in self.lrs],
                "seeds": [int(s) for s in self.seeds], "copies": int(self.copies),
                "eps": float(self.eps), "target": float(self.target)}

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        unknown = set(d) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ConfigError(f"unknown sweep configuration keys: {', '.join(sorted(unknown))}")
        d["base"] = RunConfig.from_dict(d["base"])
        d["lrs"] = tuple(float(v) for v in d["lrs"])
        d["seeds"] = tuple(int(s) for s in d["seeds"])
        return cls(**d)

    def points(self):
        """The grid as (lr, seed) pairs, lr-major in the given order."""
        return [(float(lr), int(s)) for lr in self.lrs for s in self.seeds]

    def validate(self):
        """Raise :class:`ConfigError` naming the first option that cannot work."""
        if not self.lrs:
            raise ConfigError("--lrs is empty; give at least one learning rate")
        for lr in self.lrs:
            if not (math.isfinite(lr) and lr > 0):
                raise ConfigError(f"--lrs: every learning rate must be a finite number > 0, got {lr}")
        if len(set(self.lrs)) != len(self.lrs):
            raise ConfigError(f"--lrs holds a value twice: {list(self.lrs)}")
        if not self.seeds:
            raise ConfigError("--seeds is empty; give a count >= 1 or a list of seeds")
        if min(self.seeds) < 0 or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds must be distinct integers >= 0, got {list(self.seeds)}")
        if self.copies < 1:
            raise ConfigError(f"--copies must be >= 1, got {self.copies}")
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise ConfigError(f"--eps must be a finite number > 0, got {self.eps}")
        if not 0 < self.target <= 1:
            raise ConfigError(f"--target is a test accuracy in (0, 1], got {self.target}")
        if self.base.steps is not None:
            raise ConfigError("the sweep counts training time in epochs: give --epochs, not steps")
        if self.base.optimizer not in COPIES_OPTIMIZERS:
            raise ConfigError(f"--optimizer {self.base.optimizer}: the sweep trains with one of "
                              f"{', '.join(COPIES_OPTIMIZERS)}")
        replace(self.base, lr=float(self.lrs[0]), seed=int(self.seeds[0])).validate()
        return self


# ----- one point of the grid ------------------------------------------------------------------
def train_with_time(setup, target, tick=None):
    """Train ``config.epochs`` epochs; test accuracy and train loss after each; divergence.

    Returns a dict with ``test_accuracy`` and ``train_loss`` (epochs + 1,) lists (epoch 0 is
    theta(0)), ``training_time`` (first epoch with test accuracy >= target, NaN if none),
    ``diverged``, ``diverged_epoch`` (-1 if not) and ``divergence`` (the step, reason and
    message of :mod:`.divergence`, or None). Training stops at divergence: the run has failed,
    and later epochs are recorded as NaN. ``tick()`` is called after every step.
    """
    model, opt = setup.model, setup.opt
    epochs, per_epoch = setup.config.epochs, setup.order.steps_per_epoch
    theta, state = setup.theta0, opt.init(setup.theta0)
    test_acc = [evaluate(model, theta, setup.x_test, setup.y_test)[1]]
    train_loss = [evaluate(model, theta, setup.x_train, setup.y_train)[0]]
    diverged_epoch, divergence = -1, None
    for epoch in range(1, epochs + 1):
        for k in range(per_epoch):
            t = (epoch - 1) * per_epoch + k
            x, y = setup.batch(t)
            theta, state, info = opt.step(model, theta, state, x, y)
            if tick is not None:
                tick()
            divergence = DEFAULT_POLICY.check(t, info["loss"], theta)
            if divergence is not None:
                diverged_epoch = epoch
                break
        if diverged_epoch > 0:
            break
        train_loss.append(evaluate(model, theta, setup.x_train, setup.y_train)[0])
        test_acc.append(evaluate(model, theta, setup.x_test, setup.y_test)[1])
    pad = epochs + 1 - len(test_acc)
    test_acc += [math.nan] * pad
    train_loss += [math.nan] * pad
    return {"test_accuracy": test_acc, "train_loss": train_loss,
            "training_time": time_to_target(test_acc, target),
            "diverged": diverged_epoch > 0, "diverged_epoch": diverged_epoch,
            "divergence": None if divergence is None else divergence.to_dict()}


def time_to_target(test_accuracy, target):
    """Training time: the first epoch whose test accuracy is >= ``target`` (epoch 0 is
    theta(0)); NaN if none is (a diverged run's padded NaN epochs never are)."""
    return next((float(e) for e, a in enumerate(test_accuracy) if a >= target), math.nan)


def copies_fields(cop):
    """The point's fields of a :class:`~refchaos.lyapunov.CopiesResult` (``log_ratio`` for the
    curves)."""
    return {"exponent_copies": cop.slope, "exponent_copies_std": float(np.std(cop.copy_slopes)),
            "window_start": cop.window[0], "window_stop": cop.window[1],
            "log_ratio": cop.log_ratio.tolist()}


def run_point(sweep_dict, lr, seed, tick=None):
    """One (lr, seed) point of a sweep as a JSON-ready dict (spawn-safe: a top-level function
    of plain arguments, importable in a fresh process or on a Dask worker).

    Parameters
    ----------
    sweep_dict : dict
        :meth:`SweepConfig.to_dict` of the sweep.
    lr : float
    seed : int
        Seed of the initialisation and of the batch order (and of the perturbations).
    tick : callable or None
        Called after every step of every trajectory (training, copies, tangent vector).
    """
    sweep = SweepConfig.from_dict(sweep_dict)
    setup = prepare(replace(sweep.base, lr=float(lr), seed=int(seed)))
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        train = train_with_time(setup, sweep.target, tick)
        notes = []
        try:  # J25: weights only, L1 over all parameters, identical batches
            init, step = setup.stateful_step()  # each copy starts at opt.init(theta_m(0))
            cop = copies_exponent(counting(step, tick), setup.theta0, setup.steps,
                                  num_copies=sweep.copies, eps=sweep.eps,
                                  mask=weight_mask(setup.model), norm="l1", seed=int(seed),
                                  init=init)
            copies = copies_fields(cop)
        except CopiesError as err:
            notes.append(f"perturbed copies: {err}")
            copies = {"exponent_copies": math.nan, "exponent_copies_std": math.nan,
                      "window_start": -1, "window_stop": -1, "log_ratio": []}
        tangent = tangent_exponents(setup, int(seed), counting(setup.batch, tick), notes)
    notes += sorted({str(w.message) for w in caught})
    curves = {"test_accuracy": train.pop("test_accuracy"), "train_loss": train.pop("train_loss"),
              "log_ratio": copies.pop("log_ratio"), "tangent_running": tangent.pop("tangent_running")}
    acc, loss = curves["test_accuracy"], curves["train_loss"]
    return {"lr": float(lr), "seed": int(seed), **copies, **tangent, **train,
            "final_test_accuracy": acc[-1], "best_test_accuracy": float(np.nanmax(acc)),
            "final_train_loss": loss[-1],  # NaN after divergence (the padded epochs)
            "steps": setup.steps, "num_params": setup.model.num_params,
            "steps_per_epoch": setup.order.steps_per_epoch, "curves": curves, "notes": notes,
            "wall_s": time.perf_counter() - start}


def tangent_exponents(setup, seed, batch, notes):
    """``exponent_tangent``, ``tangent_running`` and ``exponent_tangent_theta`` of one point.

    One vector from the whole-state start of :func:`refchaos.lyapunov.max_exponent` (seed
    ``seed``) and, for a stepper with buffers, a second from ``start="theta"`` riding along
    the same steps (one ``opt.tangent_step`` with both columns); without buffers the first is
    the second. A collapsed or overflowed vector gives NaN and a line in ``notes``.
    """
    opt, model, theta0 = setup.opt, setup.model, setup.theta0
    state = opt.init(theta0)
    whole = MaxExponentIntegrator(opt, model, theta0, seed=seed, state=state, record_every=None)
    riders = [whole]
    if whole.n > model.num_params:  # buffers: a perturbation of theta(0) alone is another vector
        riders.append(MaxExponentIntegrator(opt, model, theta0, seed=seed, state=state,
                                            record_every=None, history=False, start="theta"))
    for t in range(setup.steps):
        advance_together(riders, *batch(t))
    try:
        tan = whole.result()
        out = {"exponent_tangent": tan.exponent, "tangent_running": tan.running.tolist()}
    except FloatingPointError as err:
        notes.append(f"tangent vector: {err}")
        out = {"exponent_tangent": math.nan, "tangent_running": []}
    if len(riders) == 1:  # n = N: theta block = the whole vector (H22-4-theta)
        out["exponent_tangent_theta"] = out["exponent_tangent"]
        return out
    lam = riders[1].theta_exponent()
    if not math.isfinite(lam):
        notes.append(f"theta-block tangent vector: the exponent is not finite ({lam}); the "
                     "vector collapsed or overflowed")
        lam = math.nan
    out["exponent_tangent_theta"] = lam
    return out


def run_chunk(sweep_dict, points, tick=None):
    """The points of one chunk: one dict per (lr, seed) of ``points``, in their order, each with
    the keys and meaning of :func:`run_point`'s result; spawn-safe like it.

    A chunk runner (:mod:`.chunks`). A plain-SGD sweep runs the whole chunk as one batched
    ensemble (:func:`.ensemble_chunk.run_chunk`: every point's reference, copies and tangent
    vector share each step's GEMMs); any other stepper runs the points one after another.
    """
    from . import ensemble_chunk  # it imports this module

    if ensemble_chunk.supports(sweep_dict):
        return ensemble_chunk.run_chunk(sweep_dict, points, tick)
    return [run_point(sweep_dict, lr, seed, tick) for lr, seed in points]


def _unsafe(value):
    """The inverse of :func:`json_safe` for one number: None -> NaN."""
    return math.nan if value is None else value


def table_row(point, theta_is_state=False):
    """The sweep.csv row (:data:`CSV_COLUMNS`) of a point dict; a column of
    :data:`LATER_COLUMNS` that a point written before it lacks is NaN, except
    ``exponent_tangent_theta`` of a stepper without buffers (``theta_is_state``, see
    :func:`theta_is_state`): its tangent vector is theta alone, so the theta-block exponent is
    the point's ``exponent_tangent`` (H22-4-theta), as the sweep now writes it."""
    if theta_is_state and "exponent_tangent_theta" not in point:
        point = dict(point, exponent_tangent_theta=point["exponent_tangent"])
    return [_unsafe(point.get(c) if c in LATER_COLUMNS else point[c]) for c in CSV_COLUMNS]


def theta_is_state(sweep):
    """True when the sweep's stepper keeps no buffers: its state, and tangent vector, is theta."""
    return build_optimizer(sweep.base).tangent_dim(1) == 1


# ----- the sweep directory --------------------------------------------------------------------
def point_path(out, lr, seed):
    """points/lr_<repr(lr)>_seed_<seed>.json (repr round-trips the float exactly)."""
    return Path(out) / "points" / f"lr_{float(lr)!r}_seed_{int(seed)}.json"


def open_directory(out, sweep, resume=None):
    """Claim the sweep directory (held locked); return (ResultDirectory, finished points).

    ``resume=None`` reopens a directory of the same sweep automatically; ``True`` requires
    one; ``False`` requires a fresh (absent or empty) directory. A directory holding another
    command's results or another configuration is refused (:class:`ResultDirectoryError`).
    """
    rd = ResultDirectory(out, "sweep")
    rd.claim(sweep.to_dict(), resume=resume)
    try:
        (rd.path / "points").mkdir(exist_ok=True)
        done = {}
        for lr, seed in set(sweep.points()):
            p = point_path(out, lr, seed)
            if p.exists():
                done[(lr, seed)] = io.read_json(p)
    except BaseException:
        rd.release()
        raise
    return rd, done


def stored_sweep(out):
    """The :class:`SweepConfig` of the sweep directory ``out`` (ResultDirectoryError if none)."""
    rd = ResultDirectory(out, "sweep")
    kind, config = rd.stored()
    if kind != "sweep" or config is None:
        raise ResultDirectoryError(f"{out} holds no sweep" + (f" (it holds a {kind})" if kind
                                                             else ""))
    return SweepConfig.from_dict(config)


def connect_dask(address):
    """A dask.distributed Client on the scheduler at ``address``, or SweepError saying why not."""
    try:
        from dask.distributed import Client
    except ImportError as err:
        raise SweepError('--dask needs dask.distributed: pip install "refchaos[dask]"') from err
    try:
        return Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as err:
        raise SweepError(f"cannot reach a Dask scheduler at {address!r} within "
                         f"{DASK_CONNECT_TIMEOUT}: {err}") from None


def run_sweep(sweep, out, *, workers=1, dask=None, resume=None, progress=None, figures=True,
              bar=False, chunk_size=None):
    """Run (or resume) the sweep into directory ``out``; return the summary dict.

    Parameters
    ----------
    sweep : SweepConfig
    out : str or Path
    workers : int
        Local processes (spawn); 1 runs the chunks in this process.
    dask : str or dask.distributed.Client or None
        Scheduler address (or a client) of an existing Dask cluster; overrides ``workers``.
    resume : bool or None
        See :func:`open_directory`.
    progress : callable(str) or None
        Called with one line per finished point.
    figures : bool
        Draw the figures (:func:`refchaos.plots.sweep.redraw`).
    bar : bool
        Show a progress line with the ETA over the whole grid on stderr
        (:class:`~.progress.Progress`): it advances every step of every trajectory, locally
        and from ``workers`` processes (through a queue); on Dask every finished chunk.
    chunk_size : int or None
        Points per chunk, the unit of work (:mod:`.chunks`); None sizes chunks from the memory
        available. A resumed sweep keeps the chunks recorded in ``chunks.json``.

    Everything that can be checked is checked before any point runs: the options, the
    backend, the data and model (one :func:`prepare`), the directory and the cluster.
    KeyboardInterrupt propagates after the finished chunks are written: the sweep resumes.
    """
    sweep.validate()
    if int(workers) < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if chunk_size is not None:
        check_chunk_size(chunk_size)
    setup = prepare(replace(sweep.base, lr=float(sweep.lrs[0]), seed=int(sweep.seeds[0])))
    client = None
    if dask is not None:
        client = connect_dask(dask) if isinstance(dask, str) else dask
    runner = run_chunk  # the chunk runner: one ensemble for plain SGD, else point by point
    rd, done = open_directory(out, sweep, resume)
    try:
        size, how = _chunk_size(sweep, setup, workers, client, chunk_size)
        if (rd.path / CHUNKS_FILE).exists():
            how = f"recorded in {CHUNKS_FILE}"
        try:
            chunks = chunk_plan(rd.path, sweep.points(), size, chunk_size)
        except ChunkPlanError as err:
            raise SweepError(str(err)) from None
        todo = [c for c in chunks if not all(p in done for p in c)]
        if todo:
            rd.write_summary({"status": "running", "config": sweep.to_dict()})
        per_point = setup.steps * (sweep.copies + 3)  # training, tangent, reference + M copies
        total, sweep_dict = len(sweep.points()), sweep.to_dict()
        finished = total - sum(len(c) for c in todo)
        with Progress(total * per_point, finished * per_point, label="sweep",
                      enabled=bar) as meter:
            say = (lambda line: meter.write(line, progress)) if progress else (lambda line: None)
            say(f"sweep: {len(done)} of {total} points already done, "
                f"{total - len(done)} to run in {len(todo)} chunk(s) of up to "
                f"{max(len(c) for c in chunks)} points ({how})")
            steps = ChunkProgress(meter, per_point)

            def finish(key, results):
                for result in results:  # a chunk's points, each written atomically
                    point = (result["lr"], result["seed"])
                    if point in done:  # a rerun of a chunk cut off between its writes
                        continue
                    io.atomic_write_json(point_path(out, *point), io.json_safe(result))
                    done[point] = io.json_safe(result)
                    say(_progress_line(result, len(done), total))
                steps.chunk_done(key, len(todo[key]))

            try:
                if client is not None:
                    _run_dask(client, runner, sweep_dict, todo, finish)
                elif int(workers) > 1 and len(todo) > 1:
                    _run_processes(int(workers), runner, sweep_dict, todo, finish, steps)
                else:
                    for key, points in enumerate(todo):
                        tick = steps.tick_for(key)
                        finish(key, _chunk_result(lambda: runner(sweep_dict, points, tick), points))
            finally:
                if client is not None and isinstance(dask, str):
                    client.close()
        return finish_sweep(rd, figures=figures)
    finally:
        rd.release()


def _chunk_size(sweep, setup, workers, client, requested):
    """(points per chunk, how it was chosen) for a new chunk plan; see :mod:`.chunks`."""
    if requested is not None:
        return int(requested), "--chunk-size"
    available = available_memory()
    if client is not None:
        info = client.scheduler_info().get("workers", {})
        limits = [w.get("memory_limit") or 0 for w in info.values()]
        workers = max(len(limits), 1)
        if limits and min(limits) > 0:
            available = min(limits)
    members = members_per_point(sweep.copies)
    from . import ensemble_chunk

    per_member = (ensemble_chunk.member_bytes(sweep, setup) if ensemble_chunk.supports(sweep) else
                  member_bytes(setup.model, setup.order.batch_size, setup.theta0.dtype.itemsize))
    size = auto_chunk_size(len(sweep.points()), members, per_member, workers, available)
    where = "memory unknown" if available is None else f"{available / 2**30:.1f} GiB available"
    return size, f"{where}, {members} x {per_member / 2**20:.1f} MiB per point"


def _describe(points):
    return ", ".join(f"lr={lr!r} seed={seed}" for lr, seed in points)


def _chunk_result(get, points, where=""):
    """``get()``, the results of one chunk, or a SweepError naming the chunk's points."""
    try:
        return get()
    except Exception as err:
        raise SweepError(f"chunk ({_describe(points)}) failed{where}: {type(err).__name__}: "
                         f"{err}") from err


def _run_processes(workers, runner, sweep_dict, todo, finish, steps):
    """The chunks on ``workers`` spawned processes; their steps arrive through a queue."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding BLAS threads
    with ctx.Manager() as manager, ProcessPoolExecutor(max_workers=workers,
                                                       mp_context=ctx) as pool:
        queue = manager.Queue()

        def drain():
            while not queue.empty():
                steps.add(*queue.get())

        futures = {pool.submit(run_in_process, runner, sweep_dict, points, queue, key): key
                   for key, points in enumerate(todo)}
        pending = set(futures)
        try:
            while pending:
                ended, pending = wait(pending, timeout=REDRAW_S, return_when=FIRST_COMPLETED)
                drain()  # a worker flushes its steps before it returns: all of them are here
                for fut in ended:
                    finish(futures[fut], _chunk_result(fut.result, todo[futures[fut]]))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _run_dask(client, runner, sweep_dict, todo, finish):
    """The chunks as Dask tasks, one task per chunk; progress per finished chunk."""
    from dask.distributed import as_completed

    futures = [client.submit(runner, sweep_dict, points, pure=False) for points in todo]
    where = {fut.key: key for key, fut in enumerate(futures)}
    try:
        for fut in as_completed(futures):
            key = where[fut.key]
            finish(key, _chunk_result(fut.result, todo[key], " on the cluster"))
    except BaseException:
        client.cancel(futures)
        raise


def _progress_line(r, k, total):
    status = "diverged" if r["diverged"] else (
        f"time {r['training_time']:g}" if r["training_time"] is not None
        and not math.isnan(_unsafe(r["training_time"])) else "target not reached")
    return (f"[{k}/{total}] lr={r['lr']:g} seed={r['seed']}: exponent copies "
            f"{_fmt(r['exponent_copies'])}, tangent {_fmt(r['exponent_tangent'])}, {status}, "
            f"test acc {_fmt(r['final_test_accuracy'])} ({r['wall_s']:.1f} s)")


def _fmt(v):
    v = _unsafe(v)
    return "nan" if math.isnan(v) else f"{v:.4g}"


# ----- table and summary ----------------------------------------------------------------------
def finish_sweep(rd, figures=True):
    """Write sweep.csv from the point files (all must exist), then the figures and summary.json
    (:meth:`ResultDirectory.finish`); ``rd`` is the claimed sweep directory."""
    out = rd.path
    sweep = SweepConfig.from_dict(rd.read_config_doc()["config"])
    rows, divergences, stateless = [], [], theta_is_state(sweep)
    for lr, seed in sorted(sweep.points()):
        p = point_path(out, lr, seed)
        if not p.exists():
            raise SweepError(f"point lr={lr!r} seed={seed} has no result in {p.parent}")
        r = io.read_json(p)
        rows.append(table_row(r, stateless))
        if r.get("divergence"):
            divergences.append({"lr": lr, "seed": seed, **r["divergence"]})
    io.atomic_write_csv(out / "sweep.csv", rows, header=CSV_COLUMNS)
    summary = summarise(read_table(out / "sweep.csv"), sweep)
    return rd.finish(dict(summary, status="completed", divergences=divergences), figures)


def read_table(path):
    """sweep.csv as a dict column -> numpy array (float; ``diverged`` bool); a column of
    :data:`LATER_COLUMNS` missing from a table written before it is NaN."""
    records = io.read_csv_records(path)
    table = {c: np.array([_cell(r, c) for r in records]) for c in CSV_COLUMNS if c != "diverged"}
    table["diverged"] = np.array([r["diverged"] == "True" for r in records])
    return table


def _cell(record, column):
    """One float of a sweep.csv record; NaN for a later column the table was written without."""
    if column not in record and column in LATER_COLUMNS:
        return math.nan
    return float(record[column])


def summarise(table, sweep):
    """Per-lr means over seeds; where the exponent turns positive; where training time is minimal.

    The onset of chaos is the smallest lr (ascending) from which the seed-mean exponent is > 0
    at that and every larger lr (the last sign change, so a near-zero exponent fluctuating
    around 0 at small lr does not count), given with the grid interval (previous lr, onset
    lr] it lies in; lrs without a finite exponent are skipped. The training time of an lr is
    the seed mean if every seed reached the target, else missing; its minimum over lrs is
    ``best_lr``. ``best_minus_onset`` counts grid steps from the onset to the best lr (J25's
    claim: small and >= 0). The onsets of ``exponent_tangent`` and ``exponent_tangent_theta``
    are given the same way (a table without the theta column counts it NaN).
    """
    lrs = sorted(sweep.lrs)
    theta = table.get("exponent_tangent_theta", np.full(table["lr"].shape, math.nan))
    per_lr = []
    for lr in lrs:
        sel = table["lr"] == lr
        tt = table["training_time"][sel]
        per_lr.append({
            "lr": lr,
            "exponent_copies": _nanmean(table["exponent_copies"][sel]),
            "exponent_tangent": _nanmean(table["exponent_tangent"][sel]),
            "exponent_tangent_theta": _nanmean(theta[sel]),
            "training_time": float(np.mean(tt)) if np.all(np.isfinite(tt)) else math.nan,
            "reached": int(np.sum(np.isfinite(tt))),
            "diverged": int(np.sum(table["diverged"][sel])),
            "seeds": int(np.sum(sel)),
        })
    summary = {"kind": "sweep", "config": sweep.to_dict(), "per_lr": per_lr,
               "exponent_unit": "per optimizer step (per epoch under full-batch GD)",
               "target": sweep.target}
    for name in ("copies", "tangent", "tangent_theta"):
        onset = _onset([p[f"exponent_{name}"] for p in per_lr])
        summary[f"onset_lr_{name}"] = None if onset is None else lrs[onset]
        summary[f"onset_interval_{name}"] = (None if onset is None else
                                             [lrs[onset - 1] if onset > 0 else None, lrs[onset]])
    times = [p["training_time"] for p in per_lr]
    best = None if all(math.isnan(t) for t in times) else int(np.nanargmin(times))
    summary["best_lr"] = None if best is None else lrs[best]
    summary["min_training_time"] = None if best is None else times[best]
    onset = summary["onset_lr_copies"]
    summary["best_minus_onset"] = (None if best is None or onset is None
                                   else best - lrs.index(onset))
    summary["diverged_lrs"] = [p["lr"] for p in per_lr if p["diverged"]]
    return summary


def _onset(exponents):
    """Index of the last sign change to positive of the finite exponents; None if none."""
    finite = [i for i, e in enumerate(exponents) if math.isfinite(e)]
    onset = None
    for i in reversed(finite):
        if exponents[i] <= 0:
            break
        onset = i
    return onset


def _nanmean(a):
    a = a[np.isfinite(a)]
    return float(np.mean(a)) if a.size else math.nan
