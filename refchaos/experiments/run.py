"""One training run with its chaos measurements, written to a resumable run directory.

    summary = run(RunConfig(model="mlp:32", lr=0.1), "runs/a")
    summary = run(None, "runs/a", resume=True)        # continue after Ctrl-C, bitwise equal

Step t (0-based) takes theta(t) to theta(t + 1) on the minibatch z(t) of
:class:`~refchaos.data.BatchOrder` (a pure function of (seed, t), so nothing random is carried
between steps). Row t of ``metrics.csv`` holds ``step``, ``epoch`` and the columns of each
measure, all at theta(t) on z(t); the expensive ones every ``config.every`` steps and at the
last step. The run is a loop over measure objects, one module each in
:mod:`refchaos.experiments.measures`:

=============  ====================================================================================
measure        columns (and per-step arrays in ``chunks/``)
=============  ====================================================================================
loss           ``loss``, ``grad_norm`` (every step, always; ``n_pruned`` for CGD)
accuracy       ``batch_acc`` (z(t)), ``train_acc`` (whole training set), ``test_acc``
spectrum       Hessian eigenvalues of z(t), local exponents ln|1 - lr lambda| (Eq. (9)), counts
               ``n_negative/positive/zero/chaotic`` (Eq. (10)), ``lam_min``, ``lam_max``,
               gradient overlaps ``overlap_*``; with Adam, AdamW or RMSprop only the
               eigenvalues, ``lam_min`` and ``lam_max`` (the one-step map is not I - lr H)
sharpness      ``sharpness`` (top eigenvalue of the minibatch Hessian), and for SGD and CGD
               ``two_over_lr`` (GD's edge of stability 2/lr, Cohen et al. 2021; left out for
               the preconditioned steppers, which have no such edge)
ftle           ``ftle_1 .. ftle_k``: finite-time exponents by Benettin/Geist-H2 QR of a k-column
               tangent block from step 0 (:class:`refchaos.lyapunov.SpectrumIntegrator`)
maxexp         ``maxexp`` (every step): running maximum exponent of one tangent vector
               renormalised every step (:class:`refchaos.lyapunov.MaxExponentIntegrator`)
=============  ====================================================================================

The tangent columns of the integrators (maxexp's vector, ftle's block) ride along the
optimizer step in one :func:`refchaos.lyapunov.integrator.advance_together`, so the gradient
and the HVPs share one pass; the integrators' state is in the checkpoint. With momentum or
weight decay the tangent map is the stepper's own (:mod:`refchaos.optim.stepper`); for the
preconditioned steppers the tangent columns span the whole state (theta, m, v, ...) and ftle
and maxexp are the exponents of that map (EQUATIONS.md, "Adaptive steppers").

Divergence is an outcome, not an error: the shared rule of :mod:`.divergence` (non-finite,
loss above a threshold, ||theta|| above a threshold) stops the run with status ``diverged``
and the step, reason and message in summary.json. Ctrl-C is deferred to the end of the
current step, which is then checkpointed (status ``interrupted``); ``resume=True`` continues
from the last checkpoint and reproduces an uninterrupted run bit for bit.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time

import numpy as np

from ..backend import asarray, backend_name, to_float, to_host
from ..lyapunov.integrator import advance_together
from .measures import Step, build_measures, metric_columns
from .measures.accuracy import accuracy as _accuracy
from .measures.sharpness import LANCZOS_STREAM, top_eigenvalue  # noqa: F401 (public here too)
from .progress import Progress
from .recorder import Recorder, RecordError
from .resultdir import now as _now
from .rundir import RunDirectory, RunDirectoryError
from .setup import prepare

DEFAULT_CHECKPOINT_EVERY = 100  # Steps between checkpoints (and syncs of the records).


class _State:
    """The committed state after ``step`` steps: all a checkpoint holds (O(state), no history)."""

    def __init__(self, setup):
        self.step = 0
        self.theta = setup.theta0
        self.opt = setup.opt
        self.opt_state = setup.opt.init(self.theta)
        # one trajectory: the integrators of the measures hold these same theta and state
        self.measures = build_measures(setup, self.theta, self.opt_state)
        self.integrators = [m.integrator for m in self.measures if m.integrator is not None]
        self.last = {}  # the last value of every metric column recorded so far
        self.wall_time = 0.0
        self.threads = 1  # threads over column blocks of the tangent step (run's ``threads``)
        self.resumed_at = []

    # ----- checkpoint ----------------------------------------------------------------------------
    def pack(self, columns, config, records):
        """(meta, arrays) of a checkpoint; ``records`` is :meth:`Recorder.sync`'s state."""
        arrays = dict(theta=to_host(self.theta))
        arrays.update(self.opt.state_to_dict(self.opt_state))  # any stepper's buffers, exact
        for m in self.measures:
            arrays.update(m.state_dict())
        meta = dict(step=self.step, columns=list(columns),
                    config=config.to_dict(), wall_time_s=self.wall_time,
                    resumed_at=list(self.resumed_at), records=records, last=self.last,
                    measures={m.name: m.meta() for m in self.measures})
        return meta, arrays

    def unpack(self, meta, arrays, setup):
        xp, dtype = setup.xp, self.theta.dtype
        if arrays["theta"].shape != (setup.model.num_params,):
            raise RunDirectoryError(f"the checkpoint's theta has shape {arrays['theta'].shape}, "
                                    f"the model {setup.model.num_params} parameters")
        self.step = int(meta["step"])
        self.theta = asarray(arrays["theta"], xp, dtype)
        try:
            self.opt_state = self.opt.state_from_dict(arrays, self.theta)
            for m in self.measures:
                m.load(meta["measures"].get(m.name, {}), arrays, self.theta, self.opt_state)
        except (KeyError, ValueError) as err:
            raise RunDirectoryError(f"the checkpoint's state does not fit {self.opt!r} and the "
                                    f"measures {[m.name for m in self.measures]}: {err}") from None
        self.integrators = [m.integrator for m in self.measures if m.integrator is not None]
        self.last = {k: (math.nan if v is None else v) for k, v in meta["last"].items()}
        self.wall_time = float(meta["wall_time_s"])
        self.resumed_at = list(meta["resumed_at"])


def _step(setup, st, t):
    """Take step t from the committed state ``st`` and let every measure observe it.

    Returns (step, divergence): the :class:`~.measures.Step` (its row and records) and the
    :class:`~.divergence.Divergence` that stops the run, or None. The integrators advance with
    the step; ``st`` itself is advanced by :func:`_commit`.
    """
    model, opt = setup.model, setup.opt
    x, y = setup.batch(t)  # z(t): a pure function of (seed, t)
    if st.integrators:  # one pass: gradient and H times every tangent column (Eqs. (1), (2))
        loss = to_float(model.loss(st.theta, x, y))
        theta, opt_state, info = advance_together(st.integrators, x, y, threads=st.threads)
        info = dict(info, loss=loss)
    else:
        theta, opt_state, info = opt.step(model, st.theta, st.opt_state, x, y)
    step = Step(t=t, x=x, y=y, theta=st.theta, theta_next=theta, state_next=opt_state,
                info=info, measured=t % setup.config.every == 0 or t == setup.total_steps - 1,
                row={"step": t, "epoch": setup.order.epoch_of(t)})
    for m in st.measures:  # loss first: it applies the divergence rule
        divergence = m.observe(step)
        if divergence is not None:
            return step, divergence
    return step, None


def _commit(st, step, divergence, rec):
    """Record the step (append-only) and, unless it diverged, make it the committed state."""
    rec.append(step.row)
    st.last.update(step.row)
    if divergence is not None:
        return
    for name, values in step.records:
        rec.record(name, step.t, values)
    st.theta, st.opt_state = step.theta_next, step.state_next
    st.step += 1


# ----- the run --------------------------------------------------------------------------------
class _DeferredInterrupt:
    """SIGINT sets ``requested`` (acted on between steps); a second SIGINT raises at once."""

    def __enter__(self):
        self.requested = False
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._old is not None or threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._old if self._old is not None
                          else signal.default_int_handler)
        return False


def config_document(setup):
    """The contents of config.json: the configuration, the model, data sizes and versions."""
    from importlib import metadata

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    lib = {"numpy": "numpy", "cupy": "cupy", "torch": "torch",
           "array_api_strict": "array-api-strict"}.get(backend_name(setup.xp))
    return {
        "config": setup.config.to_dict(),
        "model": setup.model.spec(),
        "num_params": setup.model.num_params,
        "data": {"n_train": int(setup.x_train.shape[0]), "n_test": int(setup.x_test.shape[0]),
                 "input_shape": list(setup.model.input_shape),
                 "num_classes": setup.model.num_outputs,
                 "steps_per_epoch": setup.order.steps_per_epoch,
                 "total_steps": setup.total_steps},
        "versions": {"refchaos": version("refchaos"), "python": sys.version.split()[0],
                     "numpy": np.__version__, "array-api-compat": version("array-api-compat"),
                     "backend": {"name": backend_name(setup.xp), "version": version(lib) if lib else None}},
        "created": _now(),
    }


def run(config, out_dir, resume=False, progress=True, checkpoint_every=DEFAULT_CHECKPOINT_EVERY,
        on_step=None, setup=None, threads=1):
    """Train one model, measure it, and write the run directory ``out_dir``.

    Parameters
    ----------
    config : RunConfig or None
        The run; with ``resume=True`` it may be None (the stored one is used) and must otherwise
        equal the stored configuration.
    out_dir : str or Path
        The run directory (claimed, :meth:`ResultDirectory.claim`; a directory holding another
        command's or configuration's results is refused, one holding this run needs ``resume``).
    resume : bool
        Continue from the last complete checkpoint in ``out_dir``; the result equals an
        uninterrupted run bit for bit. A completed or diverged run is not resumed.
    progress : bool
        Show a progress line on stderr (every step, :class:`~.progress.Progress`).
    checkpoint_every : int
        Sync the records and write a checkpoint every this many steps.
    on_step : callable or None
        ``on_step(step, row)`` after each committed step (row: the metrics of that step). An
        exception it raises stops the run; KeyboardInterrupt is handled as Ctrl-C.
    setup : Setup or None
        The result of :func:`prepare` for ``config`` if the caller already built it.
    threads : int
        Threads over the column blocks of a wide tangent block (the full tangent matrix of
        ``subspaces``; :func:`refchaos.lyapunov.integrator.tangent_step_by_blocks`). The
        results do not depend on it, so it is not part of the configuration.

    Returns
    -------
    dict
        The summary written to summary.json (``status``: completed, diverged or interrupted).
    """
    rd = RunDirectory(out_dir)
    if int(checkpoint_every) < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    if resume:
        stored = rd.read_config()
        if config is not None:
            rd.check_config(config)
        config = stored
        status = rd.read_summary().get("status")
        if status in ("completed", "diverged"):
            raise RunDirectoryError(f"the run in {rd.path} has {status}; there is nothing to resume")
    elif config is None:
        raise ValueError("a new run needs a RunConfig")
    setup = prepare(config) if setup is None else setup
    if isinstance(threads, bool) or int(threads) != threads or int(threads) < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    st = _State(setup)  # builds the measures: one that cannot work raises before the claim
    st.threads = int(threads)
    columns = metric_columns(config)
    rd.claim(config.to_dict(), resume=resume, document=config_document(setup))
    rec = Recorder(rd.path, columns)
    try:
        return _run_claimed(rd, rec, setup, st, columns, resume, progress, int(checkpoint_every),
                            on_step)
    except (OSError, RecordError) as err:
        raise RunDirectoryError(
            f"writing the run in {rd.path} failed ({getattr(err, 'strerror', None) or err}); "
            f"continue from its last checkpoint with `refchaos run --resume --out {rd.path}`"
        ) from None
    finally:
        rec.close()
        rd.release()


def _run_claimed(rd, rec, setup, st, columns, resume, progress, checkpoint_every, on_step):
    if resume:
        meta, arrays = rd.read_checkpoint()
        if meta.get("config") != setup.config.to_dict():
            raise RunDirectoryError(f"{rd.checkpoint_path} belongs to another configuration "
                                    f"than {rd.config_path}")
        if meta["columns"] != columns:
            raise RunDirectoryError(f"{rd.checkpoint_path} has other metric columns than this "
                                    "refchaos writes")
        st.unpack(meta, arrays, setup)
        rec.resume(meta["records"])
        st.resumed_at.append(st.step)
    else:
        rec.start()
        _save(rd, st, rec, setup, columns)
    started = _now()
    clock = time.perf_counter()
    wall_before = st.wall_time
    status, divergence = "running", None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is checked
        with _DeferredInterrupt() as interrupt, \
                Progress(setup.total_steps, st.step, enabled=progress) as bar:
            try:
                while st.step < setup.total_steps:
                    t = st.step
                    step, diverged = _step(setup, st, t)
                    _commit(st, step, diverged, rec)
                    bar.advance(1, _progress_text(step.row))
                    if diverged is not None:
                        status, divergence = "diverged", diverged.to_dict()
                        break
                    if on_step is not None:
                        on_step(t, step.row)
                    if interrupt.requested:
                        raise KeyboardInterrupt
                    if st.step % checkpoint_every == 0 and st.step < setup.total_steps:
                        st.wall_time = wall_before + time.perf_counter() - clock
                        _save(rd, st, rec, setup, columns)
                else:
                    status = "completed"
            except KeyboardInterrupt:
                status = "interrupted"
    st.wall_time = wall_before + time.perf_counter() - clock
    summary = _summary(setup, st, status, divergence, started)
    _save(rd, st, rec, setup, columns, checkpoint=status != "diverged")
    return rd.finish(summary)


def _progress_text(row):
    text = f"loss {row['loss']:.4g}"
    if "maxexp" in row:
        text += f"  lambda_1 {row['maxexp']:+.4f}"
    return text


def _save(rd, st, rec, setup, columns, checkpoint=True):
    """Sync the records, then the checkpoint that counts them, then a 'running' summary."""
    records = rec.sync()
    if checkpoint:
        rd.write_checkpoint(*st.pack(columns, setup.config, records))
    rd.write_summary(_summary(setup, st, "running", None, None))


def _summary(setup, st, status, divergence, started):
    """summary.json: status, final metrics at theta(T) and the last measured value of each column."""
    model = setup.model
    final = {}
    if status in ("completed", "interrupted") and st.step > 0:
        final = {"train_loss": to_float(model.loss(st.theta, setup.x_train, setup.y_train)),
                 "train_acc": _accuracy(model, st.theta, setup.x_train, setup.y_train),
                 "test_acc": _accuracy(model, st.theta, setup.x_test, setup.y_test)}
    summary = {
        "kind": "run", "status": status, "steps_completed": st.step,
        "steps_total": setup.total_steps, "epochs_completed": st.step / setup.order.steps_per_epoch,
        "num_params": model.num_params, "final": final, "last_measured": dict(st.last),
        "maxexp": None, "ftle": None,
        "divergence": divergence, "wall_time_s": st.wall_time,
        "started": started, "finished": None if status == "running" else _now(),
        "resumed_at": list(st.resumed_at), "lr": setup.config.lr,
    }
    for m in st.measures:
        summary.update(m.summary())
    return summary
