"""Perturbation analysis of Herrmann et al. 2022, Sec. 4.2 and Fig. 3.

1. Train model A with SGD (H22; or with momentum, Adam, AdamW, RMSprop) for T steps,
   integrating the tangent matrix Y(T) = d theta(T) / d theta(0) with the optimizer's
   buffers started at ``opt.init`` (:func:`refchaos.lyapunov.tangent_matrix` with
   ``theta_only``, the whole-state tangent of the stepper, Eqs. (1), (2), (8)); its Lyapunov
   exponents and eigenvectors are those of Lambda(T) = 1/(2T) ln(Y^T Y), Eq. (3)
   (:func:`refchaos.lyapunov.lyapunov_matrix`, by SVD). Y is N x N: refused beyond
   ``max_matrix_bytes``; exponents whose singular values float64 cannot resolve are refused by
   ``lyapunov_matrix`` (use fewer steps, or ``k`` to use only the k leading ones).
2. Copies B start at theta_A(0) + dtheta with |dtheta| = eps along the five strategies of
   :func:`refchaos.lyapunov.perturbation_directions` (top, bottom, chaotic, nonchaotic, random)
   and train with the same seed and batches (the same step function) as A, again for T steps;
   each model carries its own optimizer state, B's starting at ``opt.init(theta_B(0))``.
3. d(t) = ||theta_A(t) - theta_B(t)||_2 over all parameters (:func:`distance_curves`), the
   fit d(t)^2 = alpha t^2 + beta t + eps^2 (Eq. (15), :func:`fit_distance`, the released
   code's least squares with d0 = eps) and the bounds e^{lambda_N t} eps <= d <= e^{lambda_1 t}
   eps (Eq. (5), :func:`distance_bounds`).

With ``k`` < N only the k leading eigenvectors are used: ``bottom`` is then the k-th (the
smallest resolved), ``nonchaotic`` draws from the resolved ones with lambda < 0, and the lower
bound of Eq. (5) (which needs lambda_N) is not given. ``random`` is uniform in R^N either way.
Exponents within the SVD's rounding of 0 (sigma_i = 1 within n eps sigma_max) are neutral and
in neither subspace, as in the subspaces measure.

Symbols: theta_A -> ``theta``; Y(T) -> ``Y``; lambda_i -> ``exponents``; v_i -> ``W[:, i]``;
eps -> ``eps``; alpha, beta -> ``alpha``, ``beta``.
"""

from __future__ import annotations

import time

import numpy as np

from .. import io
from ..backend import asarray, to_float, to_host
from ..lyapunov import (STRATEGIES, UnrepresentableError, distance_bounds, distance_curves,
                        fit_distance, lyapunov_matrix, neutral_exponent, perturbation_directions,
                        tangent_matrix)
from .config import COPIES_OPTIMIZERS, ConfigError, RunConfig
from .divergence import DEFAULT_POLICY
from .measures.subspaces import MAX_MATRIX_BYTES, Subspaces, matrix_too_large
from .progress import Progress, counting
from .resultdir import ResultDirectory, differences
from .rundir import RunDirectory, RunDirectoryError
from .setup import prepare

DEFAULT_EPS = (0.1,)  # H22's perturbation size in Fig. 3.
MIN_FIT_STEPS = 3  # fit_distance needs at least three points.
CSV_COLUMNS = ("strategy", "eps", "step", "distance", "fit", "lower_bound", "upper_bound")


class PerturbError(RuntimeError):
    """The Lyapunov eigenvectors of model A cannot be represented; the message says what to change."""


def default_config():
    """Model A on digits: MLP 64-8-10 ReLU, SGD lr 0.1, batch 8, 100 steps (N = 610)."""
    return RunConfig(dataset="digits", model="mlp:8", activation="relu", init="pytorch",
                     lr=0.1, batch_size=8, steps=100, measure=("loss",))


def check(config, eps, strategies, k=None):
    """Raise ConfigError naming the first option that cannot work."""
    config.validate()
    if config.optimizer not in COPIES_OPTIMIZERS:
        raise ConfigError(f"--optimizer {config.optimizer}: model A and the copies train with one "
                          f"of {', '.join(COPIES_OPTIMIZERS)} (SGD in H22)")
    if not eps or any(not (e > 0 and np.isfinite(e)) for e in eps):
        raise ConfigError(f"--eps: every perturbation size must be a finite number > 0, got {list(eps)}")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise ConfigError(f"--strategies {','.join(unknown) or '(none)'}: choose from {', '.join(STRATEGIES)}")
    if k is not None and k < 1:
        raise ConfigError(f"--k must be >= 1, got {k}")


# RunConfig fields that do not change model A's trajectory (what is measured, and where the
# data files were read from): ignored when a stored run's tangent matrix stands in for it.
UNRELATED_FIELDS = ("measure", "every", "ftle_k", "subspace_method", "data_dir", "steps", "epochs")
STORED_TANGENT = Subspaces.Y_ARRAY  # the checkpoint array of `refchaos run --measure subspaces`


def stored_tangent(run_dir, setup):
    """Y_theta(T) (N, N) of model A from a completed ``refchaos run --measure subspaces``
    directory whose training is that of ``setup`` (every field but :data:`UNRELATED_FIELDS`
    equal, and T steps): the run's final checkpoint holds the tangent matrix of its last step,
    integrated (and checkpointed, so resumable) by the same TangentMatrixIntegrator. A
    PerturbError names what does not fit."""
    rd = RunDirectory(run_dir)
    try:
        stored = rd.read_config()
        summary = rd.read_summary()
    except (RunDirectoryError, OSError) as err:
        raise PerturbError(f"--tangent-from {run_dir}: not a run directory ({err})") from None
    mine = {k: v for k, v in setup.config.to_dict().items() if k not in UNRELATED_FIELDS}
    theirs = {k: v for k, v in stored.to_dict().items() if k not in UNRELATED_FIELDS}
    diff = differences(theirs, mine)
    if diff:
        raise PerturbError(f"--tangent-from {run_dir}: the run trained another model A: "
                           + "; ".join(diff))
    T = setup.steps
    if summary.get("status") != "completed" or summary.get("steps_completed") != T:
        raise PerturbError(f"--tangent-from {run_dir}: the run is {summary.get('status')} after "
                           f"{summary.get('steps_completed')} steps; model A needs a completed "
                           f"run of {T} steps (resume it with `refchaos run --resume`)")
    meta, arrays = rd.read_checkpoint()
    if STORED_TANGENT not in arrays or int(meta["step"]) != T:
        raise PerturbError(f"--tangent-from {run_dir}: its checkpoint holds no tangent matrix "
                           f"of step {T} (run it with --measure subspaces)")
    N = setup.model.num_params
    return asarray(arrays[STORED_TANGENT][:N, :], setup.xp, setup.theta0.dtype)


def lyapunov_basis(setup, steps, k=None, max_matrix_bytes=MAX_MATRIX_BYTES, tick=None,
                   Y_theta=None, threads=1):
    """(exponents (k,), W (N, k)) of model A after ``steps`` optimizer steps, Eq. (3) of
    Y_theta = d theta(T) / d theta(0); ``tick()`` after every step. Model A's divergence
    (:mod:`.divergence`) is a PerturbError. ``Y_theta`` (N, N), given (:func:`stored_tangent`),
    stands in for the integration; ``threads`` as :func:`refchaos.lyapunov.tangent_matrix`."""
    N = setup.model.num_params
    if k is not None and k > N:
        raise ConfigError(f"--k {k} exceeds the number of parameters N = {N}")
    problem = None if Y_theta is not None else matrix_too_large(setup.opt, N, max_matrix_bytes)
    if problem:
        raise PerturbError(problem)
    if Y_theta is None:
        run = tangent_matrix(setup.opt, setup.model, setup.theta0, counting(setup.batch, tick),
                             steps, theta_only=True, threads=threads)
        x, y = setup.batch(steps - 1)
        diverged = DEFAULT_POLICY.check(steps - 1, to_float(setup.model.loss(run.theta, x, y)),
                                        run.theta)
        if diverged is not None:
            raise PerturbError(f"model A diverged within {steps} steps ({diverged.message}); "
                               "use a smaller --lr or fewer --steps")
        Y_theta = run.Y_theta
    elif tick is not None:
        for _ in range(steps):
            tick()
    try:
        return lyapunov_matrix(Y_theta, steps, k)
    except UnrepresentableError as err:
        raise PerturbError(f"Lyapunov eigenvectors of model A after {steps} steps: {err}. "
                           "Use fewer --steps, or --k to keep only the resolved leading ones") from None


def directions(exponents, W, eps, strategies, seed, steps):
    """dtheta (N,) per strategy with |dtheta| = eps from the k leading exponents and vectors of
    Lambda(T) after ``steps`` = T steps; exponents within rounding of 0 are neutral, in neither
    subspace (:func:`refchaos.lyapunov.neutral_exponent`; the module docstring for k < N)."""
    lam = np.asarray(to_host(exponents), dtype=np.float64)
    band = neutral_exponent(lam.max(), steps, W.shape[0], W.dtype)
    return perturbation_directions(exponents, W, eps=eps, strategies=strategies, neutral=band,
                                   seed=seed)


def run_perturb(config, out, eps=DEFAULT_EPS, strategies=STRATEGIES, k=None,
                max_matrix_bytes=MAX_MATRIX_BYTES, progress=None, figures=True, resume=False,
                bar=False, tangent_from=None, threads=1):
    """Run the perturbation analysis into directory ``out``; return the summary dict.

    Writes ``perturb.csv`` (:data:`CSV_COLUMNS`, one row per strategy, eps and step),
    ``fits.json`` (Eq. (15) per curve), ``exponents.npz``, ``figures/`` and ``summary.json``
    (kind "perturb"). The analysis keeps no partial state: ``resume=True`` reruns an
    unfinished one in its directory (deterministic, so the result is the same). ``bar`` shows
    a progress line advancing every step (model A, then A and every copy B).
    ``tangent_from``: a completed ``refchaos run --measure subspaces`` directory of model A's
    training, whose stored Y(T) is used instead of integrating it here (:func:`stored_tangent`;
    such a run checkpoints and resumes, which this analysis does not). ``threads``: threads
    over the column blocks of model A's tangent matrix (:func:`refchaos.lyapunov.tangent_matrix`);
    the result does not depend on it, so it is not part of the claimed configuration.
    """
    eps, strategies = tuple(float(e) for e in eps), tuple(strategies)
    check(config, eps, strategies, k)
    if isinstance(threads, bool) or int(threads) != threads or int(threads) < 1:
        raise ConfigError(f"--threads must be an integer >= 1, got {threads!r}")
    setup = prepare(config)
    Y_theta = None if tangent_from is None else stored_tangent(tangent_from, setup)
    rd = ResultDirectory(out, "perturb")
    claim = {"run": config.to_dict(), "eps": list(eps), "strategies": list(strategies), "k": k,
             "max_matrix_bytes": int(max_matrix_bytes)}
    if tangent_from is not None:
        claim["tangent_from"] = str(tangent_from)
    rd.claim(claim, resume=resume)
    try:
        rd.write_summary({"status": "running", "config": config.to_dict()})
        T = setup.steps
        n_curves = len(eps) * len(strategies)
        with Progress(T + T * (1 + n_curves), label="perturb", enabled=bar) as meter:
            say = (lambda line: meter.write(line, progress)) if progress else (lambda line: None)
            summary = _analyse(rd, config, setup, eps, strategies, k, max_matrix_bytes, say,
                               meter.tick, Y_theta, int(threads))
        return rd.finish(summary, figures)
    finally:
        rd.release()


def _analyse(rd, config, setup, eps, strategies, k, max_matrix_bytes, say, tick, Y_theta=None,
             threads=1):
    start = time.perf_counter()
    T = setup.steps
    say(f"model A: {T} {config.optimizer} steps with the {setup.model.num_params}^2 tangent matrix"
        + ("" if Y_theta is None else " (stored)"))
    exponents, W = lyapunov_basis(setup, T, k, max_matrix_bytes, tick, Y_theta, threads)
    lam = np.asarray(to_host(exponents), dtype=np.float64)
    say(f"model A: lambda_1 = {lam[0]:.4g}, lambda_min = {lam[-1]:.4g}, "
        f"{int(np.sum(lam > 0))} positive of {lam.size}")
    perts = {}
    for e in eps:
        for s, d in directions(exponents, W, e, strategies, config.seed, T).items():
            perts[(s, e)] = d
    say(f"copies B: {len(perts)} perturbed runs of {T} steps")
    init, step = setup.stateful_step()  # each model B starts at opt.init(theta_B(0))
    with np.errstate(all="ignore"):
        curves = distance_curves(counting(step, tick), setup.theta0, perts, T, init=init)
    t = np.arange(T + 1, dtype=np.float64)
    rows, fits = [], []
    for (s, e), d in curves.items():
        n = int(np.argmin(np.isfinite(d))) if not np.all(np.isfinite(d)) else d.size
        fit = fit_distance(t[:n], d[:n], d0=e) if n >= MIN_FIT_STEPS else None
        lower, upper = distance_bounds(lam, t, e)
        if k is not None and k < setup.model.num_params:
            lower = np.full_like(t, np.nan)  # Eq. (5) needs lambda_N, not resolved here
        model_d = fit(t) if fit is not None else np.full_like(t, np.nan)
        rows += [[s, e, int(i), d[i], model_d[i], lower[i], upper[i]] for i in range(T + 1)]
        fits.append({"strategy": s, "eps": e, "fit_steps": n,
                     **({"alpha": fit.alpha, "beta": fit.beta, "d0": fit.d0,
                         "residual": fit.residual} if fit else {})})
    io.atomic_write_csv(rd.path / "perturb.csv", rows, header=CSV_COLUMNS)
    io.atomic_write_json(rd.path / "fits.json", io.json_safe(fits))
    io.atomic_write_npz(rd.path / "exponents.npz", exponents=lam)
    return {"status": "completed", "config": config.to_dict(), "steps": T,
            "num_params": setup.model.num_params, "k": k, "eps": list(eps),
            "strategies": list(strategies), "lambda_1": float(lam[0]),
            "lambda_min_resolved": float(lam[-1]), "n_positive": int(np.sum(lam > 0)),
            "final_distance": {f"{s}@{e:g}": float(d[-1]) for (s, e), d in curves.items()},
            "diverged_copies": [f"{s}@{e:g}" for (s, e), d in curves.items()
                                if not np.all(np.isfinite(d))],
            "wall_s": time.perf_counter() - start}


def read_table(path):
    """perturb.csv as a dict (strategy, eps) -> {column: float array}."""
    records = io.read_csv_records(path)
    out = {}
    for r in records:
        cols = out.setdefault((r["strategy"], float(r["eps"])),
                              {c: [] for c in CSV_COLUMNS[2:]})
        for c in cols:
            cols[c].append(float(r[c]))
    return {key: {c: np.array(a) for c, a in cols.items()} for key, cols in out.items()}


__all__ = ["run_perturb", "directions", "lyapunov_basis", "check", "default_config",
           "PerturbError", "read_table"]
