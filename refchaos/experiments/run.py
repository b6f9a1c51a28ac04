"""One training run with its chaos measurements, written to a resumable run directory.

    summary = run(RunConfig(model="mlp:32", lr=0.1), "runs/a")
    summary = run(None, "runs/a", resume=True)        # continue after Ctrl-C, bitwise equal

Step t (0-based) takes theta(t) to theta(t + 1) on the minibatch z(t) of
:class:`~refchaos.data.BatchOrder` (a pure function of (seed, t), so nothing random is carried
between steps). Row t of ``metrics.csv`` holds the loss of that batch at theta(t), ||g||, and,
every ``config.every`` steps (and at the last step), the measured quantities, all at theta(t) on
z(t):

=============  ====================================================================================
measure        columns (and per-step arrays in ``chunks/``)
=============  ====================================================================================
loss           ``loss``, ``grad_norm`` (every step, always)
accuracy       ``batch_acc`` (z(t)), ``train_acc`` (whole training set), ``test_acc``
spectrum       Hessian eigenvalues of z(t) (:func:`refchaos.curvature.spectrum`), local exponents
               ln|1 - lr lambda| (Eq. (9)), counts ``n_negative/positive/zero/chaotic``
               (Eq. (10)), ``lam_min``, ``lam_max``, gradient overlaps ``overlap_*``;
               arrays ``spectrum_steps``, ``eigenvalues``, ``local_exponents`` (NaN-padded rows).
               With Adam, AdamW or RMSprop only the eigenvalues, ``lam_min`` and ``lam_max``:
               the one-step map is not I - lr H, so Eq. (9) and (10) do not apply
sharpness      ``sharpness`` (top eigenvalue of the minibatch Hessian: the spectrum's top when it
               is measured that step, else Lanczos by HVPs, :func:`top_eigenvalue`),
               ``two_over_lr`` (the edge of stability 2/lr of Cohen et al. 2021 for plain GD)
ftle           ``ftle_1 .. ftle_k``: finite-time exponents by Benettin/Geist-H2 QR of a k-column
               tangent block from step 0 (QR column order); arrays ``ftle_steps``, ``ftle``
maxexp         ``maxexp`` (every step): running maximum exponent 1/(t+1) sum_s ln||J(s) w(s)||
               of one tangent vector renormalised every step (:mod:`refchaos.lyapunov.maxexp`);
               array ``log_growth``
=============  ====================================================================================

The tangent columns (maxexp's vector and ftle's block) ride along the optimizer step in one
:func:`refchaos.lyapunov.tangent_step`, so the gradient and the HVPs share one pass. Local
exponents and counts are those of Theorem 2.1 (the plain SGD map I - lr H); with momentum or
weight decay the tangent map is the one of :mod:`refchaos.lyapunov.tangent` and only ftle and
maxexp account for it. For the preconditioned steppers (Adam, AdamW, RMSprop) the tangent
columns span the whole state (theta, m, v, ...) and ftle and maxexp are the exponents of that
map (EQUATIONS.md, "Adaptive steppers"). CGD runs compute the spectrum inside the step too; a measured step
decomposes the Hessian a second time (simple, and the measured step is 1 in ``every``).

Divergence is an outcome, not an error: the shared rule of :mod:`.divergence` (non-finite,
loss above a threshold, ||theta|| above a threshold) stops the run with status ``diverged``
and the step, reason and message in summary.json. Ctrl-C is deferred to the end of the
current step, which is then checkpointed (status ``interrupted``); ``resume=True`` continues
from the last checkpoint and reproduces an uninterrupted run bit for bit.
"""

from __future__ import annotations

import copy
import math
import signal
import sys
import threading
import time

import numpy as np

from ..backend import asarray, backend_name, namespace_of, to_float, to_host
from ..lyapunov import (MaxExponentIntegrator, QRAccumulator, local_analysis, tangent_dim,
                        tangent_step)
from ..lyapunov.spectrum import initial_block
from ..curvature import spectrum
from ..curvature.lanczos import lanczos_spectrum
from .config import ADAPTIVE, ConfigError
from .divergence import DEFAULT_POLICY, Divergence
from .progress import Progress
from .recorder import Recorder, RecordError
from .resultdir import now as _now
from .rundir import RunDirectory, RunDirectoryError
from .setup import prepare

DEFAULT_CHECKPOINT_EVERY = 100  # Steps between checkpoints (and syncs of the records).
LANCZOS_STREAM = 3  # host_rng([seed, LANCZOS_STREAM, t]): sharpness's Lanczos start vector


def metric_columns(config):
    """Column names of metrics.csv for this configuration (see the module docstring)."""
    cols = ["step", "epoch", "loss", "grad_norm"]
    if config.optimizer == "cgd":
        cols.append("n_pruned")
    m = set(config.measure)
    if "accuracy" in m:
        cols += ["batch_acc", "train_acc", "test_acc"]
    if "spectrum" in m and config.optimizer in ADAPTIVE:  # eigenvalues only (module docstring)
        cols += ["lam_min", "lam_max"]
    elif "spectrum" in m:
        cols += ["n_negative", "n_positive", "n_zero", "n_chaotic", "lam_min", "lam_max",
                 "overlap_negative", "overlap_positive", "overlap_zero", "overlap_chaotic"]
    if "sharpness" in m:
        cols += ["sharpness", "two_over_lr"]
    if "ftle" in m:
        cols += [f"ftle_{j + 1}" for j in range(config.ftle_k)]
    if "maxexp" in m:
        cols.append("maxexp")
    return cols


def top_eigenvalue(model, theta, x, y, seed):
    """Sharpness: the largest eigenvalue of the minibatch Hessian, by the spectral engine's
    Lanczos iteration from HVPs only (:func:`refchaos.curvature.lanczos.lanczos_spectrum`,
    converged to its residual tolerance; start vector from ``host_rng(seed)``)."""
    if model.num_params < 2:  # Lanczos needs k < N; a 1 x 1 Hessian is its own spectrum
        return to_float(spectrum(model, theta, x, y, method="dense")[0][-1])
    lam, _ = lanczos_spectrum(model, theta, x, y, k=1, which="LA", seed=seed)
    return to_float(lam[0])


class _State:
    """The committed state after ``step`` steps: all a checkpoint holds (O(state), no history)."""

    def __init__(self, setup, theta):
        c = setup.config
        self.step = 0
        self.theta = theta
        self.opt = setup.opt
        self.opt_state = setup.opt.init(theta)
        self.n = tangent_dim(setup.opt, setup.model)
        self.w = None  # maxexp tangent vector (n, 1)
        self.log_sum = 0.0  # sum of ln r(s) so far
        self.acc = None  # ftle QR accumulator
        self.k = min(c.ftle_k, self.n)
        # The start vectors of refchaos.lyapunov's own integrators from the run's seed, so that
        # maxexp equals max_exponent(..., seed=seed) and ftle lyapunov_spectrum(..., seed=seed)
        # (and a sweep point's tangent exponent, which is max_exponent's).
        if "maxexp" in c.measure:
            self.w = MaxExponentIntegrator(setup.opt, setup.model, theta, seed=c.seed,
                                           record_every=None).w  # (n, 1), unit norm
        if "ftle" in c.measure:
            self.acc = QRAccumulator(initial_block(self.n, self.k, theta, seed=c.seed))
        self.last = {}  # the last value of every metric column recorded so far
        self.ftle_last = None  # the last finite-time exponents
        self.wall_time = 0.0
        self.resumed_at = []

    # ----- checkpoint ----------------------------------------------------------------------------
    def pack(self, columns, config, records):
        """(meta, arrays) of a checkpoint; ``records`` is :meth:`Recorder.sync`'s state."""
        arrays = dict(theta=to_host(self.theta), log_sum=np.float64(self.log_sum))
        arrays.update(self.opt.state_to_dict(self.opt_state))  # any stepper's buffers, exact
        if self.w is not None:
            arrays["w"] = to_host(self.w)
        if self.acc is not None:
            arrays["ftle_Q"], arrays["ftle_log_r"] = to_host(self.acc.Q), to_host(self.acc.log_r)
        meta = dict(step=self.step, columns=list(columns),
                    config=config.to_dict(), wall_time_s=self.wall_time,
                    resumed_at=list(self.resumed_at), records=records, last=self.last,
                    ftle_last=self.ftle_last,
                    ftle_acc=None if self.acc is None else
                    dict(step=self.acc.step, accumulated_steps=self.acc.accumulated_steps))
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
        except ValueError as err:
            raise RunDirectoryError(f"the checkpoint's optimizer state does not fit {self.opt!r}: "
                                    f"{err}") from None
        self.log_sum = float(arrays["log_sum"])
        if self.w is not None:
            self.w = asarray(arrays["w"], xp, dtype)
        if self.acc is not None:  # restore without the constructor's QR, which would round
            self.acc.Q = asarray(arrays["ftle_Q"], xp, dtype)
            self.acc.log_r = asarray(arrays["ftle_log_r"], xp, dtype)
            self.acc.step = int(meta["ftle_acc"]["step"])
            self.acc.accumulated_steps = int(meta["ftle_acc"]["accumulated_steps"])
        self.last = {k: (math.nan if v is None else v) for k, v in meta["last"].items()}
        self.ftle_last = meta["ftle_last"]
        self.wall_time = float(meta["wall_time_s"])
        self.resumed_at = list(meta["resumed_at"])


# ----- one step -------------------------------------------------------------------------------
def _accuracy(model, theta, x, y):
    xp = namespace_of(theta)
    pred = xp.argmax(model.forward(theta, x), axis=1)
    return to_float(xp.mean(xp.astype(pred == y, theta.dtype)))


def _step(setup, st, t):
    """Step t from the committed state ``st``: a dict of new values; ``st`` is not modified."""
    c, model, opt, xp = setup.config, setup.model, setup.opt, setup.xp
    x, y = setup.batch(t)  # z(t): a pure function of (seed, t)
    row = {"step": t, "epoch": setup.order.epoch_of(t)}
    blocks = [b for b in (st.w, None if st.acc is None else st.acc.Q) if b is not None]
    if blocks:  # one pass: gradient and H times the tangent columns (Eq. (8))
        Y = blocks[0] if len(blocks) == 1 else xp.concat(blocks, axis=1)
        loss = to_float(model.loss(st.theta, x, y))
        theta, opt_state, JY, info = tangent_step(opt, model, st.theta, st.opt_state, x, y, Y)
    else:
        theta, opt_state, info = opt.step(model, st.theta, st.opt_state, x, y)
        loss, JY = info["loss"], None
    row["loss"], row["grad_norm"] = loss, info["grad_norm"]
    if c.optimizer == "cgd":
        row["n_pruned"] = info["n_pruned"]
    new = dict(row=row, theta=theta, opt_state=opt_state,
               divergence=DEFAULT_POLICY.check(t, loss, theta))
    if new["divergence"] is not None:
        return new
    measured = t % c.every == 0 or t == setup.total_steps - 1
    if measured:
        _measure(setup, st.theta, t, x, y, row, new)
    col = 0
    if st.w is not None:
        Jw = JY[:, :1]
        r = xp.sqrt(xp.sum(Jw * Jw))  # growth factor of this step, ||w|| = 1
        ln_r = to_float(xp.log(r))
        if not math.isfinite(ln_r):
            new["divergence"] = Divergence(t, "non-finite", "the tangent vector collapsed or "
                                                            f"overflowed (ln r = {ln_r})")
            return new
        new["w"], new["ln_r"] = Jw / r, ln_r
        new["log_sum"] = st.log_sum + ln_r
        row["maxexp"] = new["log_sum"] / (t + 1)  # running lambda_1 after step t
        col = 1
    if st.acc is not None:
        acc = copy.copy(st.acc)  # push() rebinds Q and log_r, so st.acc stays as it was
        acc.push(JY[:, col:])
        new["acc"] = acc
        if measured:
            e = np.asarray(to_host(acc.exponents()), dtype=np.float64)
            new["ftle"] = e
            row.update({f"ftle_{j + 1}": float(v) for j, v in enumerate(e)})
    return new


def _measure(setup, theta, t, x, y, row, new):
    """The every-``config.every`` measurements at theta(t) on the batch z(t), into ``row``."""
    c, model, lr = setup.config, setup.model, setup.opt.lr
    lam = None
    if "spectrum" in c.measure and setup.opt.preconditioned:  # eigenvalues only
        lam = np.asarray(to_host(spectrum(model, theta, x, y)[0]), dtype=np.float64)
        new["spectrum"] = (lam, None)
        if lam.size:
            row["lam_min"], row["lam_max"] = float(lam[0]), float(lam[-1])
    elif "spectrum" in c.measure:
        la = local_analysis(model, theta, x, y, lr)
        lam = np.asarray(to_host(la.lam), dtype=np.float64)
        new["spectrum"] = (lam, np.asarray(to_host(la.exponents), dtype=np.float64))
        row.update({f"n_{k}": v for k, v in la.counts.items()})
        row.update({f"overlap_{k}": v for k, v in la.overlap.items()})
        if lam.size:
            row["lam_min"], row["lam_max"] = float(lam[0]), float(lam[-1])
    if "sharpness" in c.measure:
        if lam is not None and lam.size:
            row["sharpness"] = float(lam[-1])
        else:
            row["sharpness"] = top_eigenvalue(model, theta, x, y, [c.seed, LANCZOS_STREAM, t])
        row["two_over_lr"] = 2.0 / lr
    if "accuracy" in c.measure:
        row["batch_acc"] = _accuracy(model, theta, x, y)
        row["train_acc"] = _accuracy(model, theta, setup.x_train, setup.y_train)
        row["test_acc"] = _accuracy(model, theta, setup.x_test, setup.y_test)


def _commit(st, new, rec):
    """Record step ``new`` (append-only) and make it the committed state."""
    t = new["row"]["step"]
    rec.append(new["row"])
    st.last.update(new["row"])
    if new["divergence"] is not None:
        return
    if "w" in new:
        rec.record("log_growth", t, new["ln_r"])
    if "spectrum" in new:
        rec.record("eigenvalues", t, new["spectrum"][0])
        if new["spectrum"][1] is not None:
            rec.record("local_exponents", t, new["spectrum"][1])
    if "ftle" in new:
        rec.record("ftle", t, new["ftle"])
        st.ftle_last = [float(v) for v in new["ftle"]]
    st.theta, st.opt_state = new["theta"], new["opt_state"]
    if "w" in new:
        st.w, st.log_sum = new["w"], new["log_sum"]
    if "acc" in new:
        st.acc = new["acc"]
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


def check_tangent_size(setup):
    """Refuse ``--ftle-k`` above the tangent dimension n (N, or 2N with momentum): the QR
    block has at most n columns, and metrics.csv would get columns that cannot be filled."""
    c = setup.config
    n = tangent_dim(setup.opt, setup.model)
    if "ftle" in c.measure and c.ftle_k > n:
        raise ConfigError(f"--ftle-k {c.ftle_k} exceeds the tangent dimension n = {n} of this "
                          f"model and optimizer; give --ftle-k {n} or fewer")


def run(config, out_dir, resume=False, progress=True, checkpoint_every=DEFAULT_CHECKPOINT_EVERY,
        on_step=None, setup=None):
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
    check_tangent_size(setup)
    columns = metric_columns(config)
    rd.claim(config.to_dict(), resume=resume, document=config_document(setup))
    rec = Recorder(rd.path, columns)
    try:
        return _run_claimed(rd, rec, setup, columns, resume, progress, int(checkpoint_every),
                            on_step)
    except (OSError, RecordError) as err:
        raise RunDirectoryError(
            f"writing the run in {rd.path} failed ({getattr(err, 'strerror', None) or err}); "
            f"continue from its last checkpoint with `refchaos run --resume --out {rd.path}`"
        ) from None
    finally:
        rec.close()
        rd.release()


def _run_claimed(rd, rec, setup, columns, resume, progress, checkpoint_every, on_step):
    st = _State(setup, setup.theta0)
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
                    new = _step(setup, st, t)
                    _commit(st, new, rec)
                    bar.advance(1, _progress_text(new["row"]))
                    if new["divergence"] is not None:
                        status, divergence = "diverged", new["divergence"].to_dict()
                        break
                    if on_step is not None:
                        on_step(t, new["row"])
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
    c, model = setup.config, setup.model
    final = {}
    if status in ("completed", "interrupted") and st.step > 0:
        final = {"train_loss": to_float(model.loss(st.theta, setup.x_train, setup.y_train)),
                 "train_acc": _accuracy(model, st.theta, setup.x_train, setup.y_train),
                 "test_acc": _accuracy(model, st.theta, setup.x_test, setup.y_test)}
    return {
        "kind": "run", "status": status, "steps_completed": st.step,
        "steps_total": setup.total_steps, "epochs_completed": st.step / setup.order.steps_per_epoch,
        "num_params": model.num_params, "final": final, "last_measured": dict(st.last),
        "maxexp": st.last.get("maxexp"), "ftle": st.ftle_last,
        "divergence": divergence, "wall_time_s": st.wall_time,
        "started": started, "finished": None if status == "running" else _now(),
        "resumed_at": list(st.resumed_at), "lr": c.lr, "two_over_lr": 2.0 / c.lr,
    }
