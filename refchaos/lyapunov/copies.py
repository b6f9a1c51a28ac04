"""Network maximum Lyapunov exponent from perturbed copies (Jimenez-Gonzalez et al. 2025).

A reference parameter vector theta(t) and M copies theta_m(t), started at
theta_m(0) = theta(0) + delta_m with delta_m ~ U(-eps, eps) on the masked (by default in J25:
weight) coordinates and 0 elsewhere, are trained side by side with the *same* step function,
so every copy sees the identical batch sequence. A stateful optimizer (momentum, Adam's
moments) is carried per trajectory: with ``init`` given, each trajectory starts at its own
state ``init(theta_m(0))`` (``opt.init``: the buffers PyTorch would create for a fresh model)
and the step maps (theta, state) to (theta, state); the distance is over the parameters. With the distance over all parameters

    d_m(t) = || theta_m(t) - theta(t) ||_1          (L1, J25's choice; L2 on request)

the mean log ratio

    L(t) = (1/M) sum_m ln( d_m(t) / d_m(0) )

grows like lambda t in the early, exponential phase and saturates once the copies have
decorrelated (the distance reaches the size of the attractor). The network maximum Lyapunov
exponent is the least-squares slope of L(t) over that phase, per step (per epoch in J25's
full-batch GD, where one step is one epoch).

Window rule (``window=None``): let L_end be the median of L over the last ``plateau_fraction``
of the usable steps (the saturation plateau, or the end level of a run that never saturates).
The window is [0, t_stop], t_stop the first step with |L(t) - L_end| <= ``margin``
(default ln 10: stop a decade before the plateau, where saturation starts to bend the curve).
If L never moves more than ``margin`` from L(0) to L_end there is no saturation to avoid and
the window is the whole usable run. The window has at least ``min_window`` steps. It starts at
step 0 (J25); an initial alignment transient can be skipped with a window given by hand.
"Usable" means before the first step at which any copy's distance is 0 or not finite.

Symbols: theta(t) -> ``theta``, theta_m -> ``copies``, eps -> ``eps``, M -> ``num_copies``,
d_m(t) -> ``distances[m, t]``, L(t) -> ``log_ratio``, lambda -> ``slope``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import array_api_compat
import numpy as np

from ..backend import host_rng, is_floating, namespace_of, to_host

DEFAULT_EPS = 1e-8  # J25's perturbation size (float64 only: it is below float32 resolution).
DEFAULT_COPIES = 10  # Our default M; J25 average "several copies" per initialisation.
SATURATION_MARGIN = math.log(10.0)  # Stop the window a decade (in d) below the plateau.
PLATEAU_FRACTION = 0.2  # Share of the usable run, at its end, whose median is the plateau.
MIN_WINDOW = 5  # Fewest steps a least-squares slope is taken over.
ABSORPTION_WARN = 0.01  # Warn if rounding changed the realised d(0) by more than 1 %.
NORMS = ("l1", "l2")


class CopiesError(ValueError):
    """The copies cannot give an exponent (perturbation lost to rounding, bad input)."""


@dataclass
class CopiesResult:
    """Perturbed-copies divergence and its exponent; all arrays are host NumPy float64.

    Attributes
    ----------
    distances : (M, T+1)
        d_m(t) over all parameters; NaN after copy m (or the reference) diverged.
    log_ratio : (T+1,)
        L(t), the mean over copies of ln(d_m(t)/d_m(0)); NaN where not usable.
    window : (int, int)
        First and last step (inclusive) of the fit.
    slope : float
        The exponent: least-squares slope of L over the window, per step.
    intercept : float
        Its intercept at t = 0.
    copy_slopes : (M,) or None
        The same fit of each copy's ln(d_m(t)/d_m(0)) (with ``per_copy=True``).
    diverged_at : (M,) int
        First step at which copy m's distance was not finite, -1 if never.
    reference_diverged_at : int
        First step at which the reference trajectory was not finite, -1 if never.
    usable : int
        Number of leading steps (from t = 0) where every copy's distance is positive and finite.
    """

    distances: np.ndarray
    log_ratio: np.ndarray
    window: tuple
    slope: float
    intercept: float
    copy_slopes: np.ndarray | None
    diverged_at: np.ndarray
    reference_diverged_at: int
    usable: int


def weight_mask(model):
    """Boolean (N,) host mask of a model's weights (True) versus biases (False).

    Uses ``model.layout.slices``: for each layer the first span is the weight, any further
    span the bias. This is J25's perturbation mask (weights only).
    """
    mask = np.zeros(model.num_params, dtype=bool)
    for spans in model.layout.slices:
        if spans:
            start, stop = spans[0]
            mask[start:stop] = True
    return mask


def perturbations(theta0, num_copies=DEFAULT_COPIES, eps=DEFAULT_EPS, mask=None, seed=0):
    """delta (M, N) host float64: U(-eps, eps) on the masked coordinates, 0 elsewhere."""
    N = theta0.shape[0]
    mask = np.ones(N, dtype=bool) if mask is None else np.asarray(to_host(mask), dtype=bool)
    if mask.shape != (N,):
        raise CopiesError(f"mask must be boolean of shape ({N},), got {mask.shape}")
    if not mask.any():
        raise CopiesError("mask selects no parameters to perturb")
    delta = np.zeros((num_copies, N))
    delta[:, mask] = host_rng(seed).uniform(-eps, eps, size=(num_copies, int(mask.sum())))
    return delta


def _distance(xp, a, b, norm):
    diff = a - b
    if norm == "l1":
        return xp.sum(xp.abs(diff))
    return xp.linalg.vector_norm(diff)


def check_start(theta0, delta, d0, eps, norm):
    """Raise if a perturbation vanished in rounding; warn if rounding changed it notably."""
    intended = np.sum(np.abs(delta), axis=1) if norm == "l1" else np.linalg.norm(delta, axis=1)
    lost = np.flatnonzero(d0 == 0)
    if lost.size:
        big = float(np.max(np.abs(to_host(theta0))))
        raise CopiesError(
            f"copies {lost.tolist()}: the perturbation of size eps={eps:g} vanished when added to "
            f"theta in {theta0.dtype} (|theta| up to {big:.3g}, spacing there "
            f"{np.spacing(big):.3g}); use a larger eps or float64")
    rel = np.abs(d0 / intended - 1.0)
    if np.any(rel > ABSORPTION_WARN):
        warnings.warn(
            f"rounding changed the realised initial distance by up to {rel.max():.1%} of the "
            f"intended one (eps={eps:g} is near the resolution of theta); d(0) is measured "
            "from the rounded copies", RuntimeWarning, stacklevel=3)


def fit_slope(t, y):
    """Least-squares line y ~ slope t + intercept; returns (slope, intercept)."""
    X = np.stack([t, np.ones_like(t)], axis=1)  # (n, 2)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return float(coef[0]), float(coef[1])


def saturation_window(log_ratio, *, margin=SATURATION_MARGIN, plateau_fraction=PLATEAU_FRACTION,
                      min_window=MIN_WINDOW):
    """The automatic fit window (0, t_stop) of a usable L(t) (module docstring rule)."""
    L = np.asarray(log_ratio, dtype=np.float64)
    n = L.shape[0]
    if n < min_window + 1:
        raise CopiesError(f"only {n} usable steps; need at least {min_window + 1} for a slope")
    tail = max(1, int(math.ceil(plateau_fraction * n)))
    L_end = float(np.median(L[n - tail:]))
    if abs(L_end - L[0]) <= margin:
        return 0, n - 1
    gap = np.abs(L - L_end)
    near = np.flatnonzero(gap <= max(margin, float(gap.min())))  # min: steps wider than margin
    return 0, int(min(max(near[0], min_window), n - 1))


def copies_exponent(step, theta0, steps, *, num_copies=DEFAULT_COPIES, eps=DEFAULT_EPS, mask=None,
                    norm="l1", window=None, margin=SATURATION_MARGIN,
                    plateau_fraction=PLATEAU_FRACTION, min_window=MIN_WINDOW, per_copy=True,
                    seed=0, init=None):
    """Maximum Lyapunov exponent from M perturbed copies (J25; see the module docstring).

    Parameters
    ----------
    step : callable, (theta (N,), t) -> theta (N,); with ``init``, (theta, state, t) -> (theta, state)
        One training step at step index t. It must be a pure function of its arguments: close
        over the model, optimizer settings and batch sequence so every copy sees the same
        batches.
    theta0 : array (N,), real floating (float64 for eps = 1e-8)
        Reference initial parameters; its namespace is used for the whole run.
    steps : int
        T, number of steps; distances are recorded at t = 0..T.
    num_copies : int
        M.
    eps : float
        Half-width of the uniform perturbation U(-eps, eps).
    mask : bool array (N,) or None
        Coordinates to perturb; None perturbs all. J25: ``weight_mask(model)``.
    norm : {"l1", "l2"}
        Distance over all parameters: L1 (J25) or Euclidean.
    window : (int, int) or None
        Fit window [start, stop] inclusive, in steps; None: automatic (module docstring).
    margin, plateau_fraction, min_window
        Parameters of the automatic window rule.
    per_copy : bool
        Also fit each copy's log ratio over the same window.
    seed : int or numpy.random.Generator
        Host RNG seed of the perturbations.
    init : callable or None
        ``init(theta) -> state`` of a stateful optimizer (``opt.init``); each trajectory, the
        reference and every copy, starts at ``init`` of its own theta(0) and carries its own
        state. None: ``step`` is a function of theta alone.

    Returns
    -------
    CopiesResult

    Raises
    ------
    CopiesError
        A perturbation vanished in rounding (d(0) = 0), too few usable steps for a fit, or a
        hand-given window outside the usable steps.
    """
    xp = namespace_of(theta0)
    if not is_floating(xp, theta0) or theta0.ndim != 1:
        raise ValueError(f"theta0 must be a real floating (N,) array, got {theta0.dtype}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    steps, M = int(steps), int(num_copies)
    if steps < 1 or M < 1 or not eps > 0:
        raise ValueError(f"need steps >= 1, num_copies >= 1, eps > 0; got {steps}, {M}, {eps}")
    device = array_api_compat.device(theta0)
    delta = perturbations(theta0, M, eps, mask, seed)  # (M, N) host
    theta = theta0
    copies = [theta0 + xp.asarray(delta[m], dtype=theta0.dtype, device=device) for m in range(M)]
    advance = StatefulStep(step, init)
    state, states = advance.init(theta), [advance.init(c) for c in copies]
    distances = np.full((M, steps + 1), np.nan)
    distances[:, 0] = [float(to_host(_distance(xp, c, theta, norm))) for c in copies]
    check_start(theta0, delta, distances[:, 0], eps, norm)
    alive = np.ones(M, dtype=bool)
    diverged_at = np.full(M, -1, dtype=np.int64)
    reference_diverged_at = -1
    for t in range(steps):
        theta, state = advance(theta, state, t)
        if not bool(xp.all(xp.isfinite(theta))):
            reference_diverged_at = t + 1
            warnings.warn(f"the reference trajectory is not finite at step {t + 1}; stopping",
                          RuntimeWarning, stacklevel=2)
            break
        for m in np.flatnonzero(alive):
            copies[m], states[m] = advance(copies[m], states[m], t)
            d = float(to_host(_distance(xp, copies[m], theta, norm)))
            distances[m, t + 1] = d if math.isfinite(d) else np.nan
            if not math.isfinite(d):  # this copy diverged: record and stop stepping it
                alive[m] = False
                diverged_at[m] = t + 1
    return fit_distances(distances, diverged_at, reference_diverged_at, window=window,
                         margin=margin, plateau_fraction=plateau_fraction,
                         min_window=min_window, per_copy=per_copy)


class StatefulStep:
    """``step`` as (theta, state, t) -> (theta, state) with ``init``; a step of theta alone
    (``init`` None) gets a state of None, so both kinds are driven the same way."""

    def __init__(self, step, init):
        self.step, self._init = step, init

    def init(self, theta):
        return None if self._init is None else self._init(theta)

    def __call__(self, theta, state, t):
        if self._init is None:
            return self.step(theta, t), None
        return self.step(theta, state, t)


def fit_distances(distances, diverged_at, reference_diverged_at=-1, *, window=None,
                  margin=SATURATION_MARGIN, plateau_fraction=PLATEAU_FRACTION,
                  min_window=MIN_WINDOW, per_copy=True):
    """The exponent of recorded distances d_m(t) (M, T+1) (NaN after a divergence): the fit of
    :func:`copies_exponent` (module docstring), for copies advanced elsewhere (an ensemble).

    ``diverged_at`` (M,) and ``reference_diverged_at`` are stored in the result as given.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        log_d = np.log(distances / distances[:, :1])  # (M, T+1); -inf where d = 0
    ok = np.all(np.isfinite(log_d), axis=0)
    usable = int(np.argmin(ok)) if not ok.all() else ok.shape[0]
    if usable < ok.shape[0] and np.any(distances[:, usable] == 0):
        warnings.warn(f"a copy's distance became exactly 0 at step {usable} (collapsed onto the "
                      "reference); the fit uses the steps before it", RuntimeWarning, stacklevel=3)
    log_ratio = np.full(ok.shape[0], np.nan)
    log_ratio[:usable] = np.mean(log_d[:, :usable], axis=0)
    if window is None:
        window = saturation_window(log_ratio[:usable], margin=margin,
                                   plateau_fraction=plateau_fraction, min_window=min_window)
    start, stop = (int(w) for w in window)
    if not 0 <= start < stop < usable:
        raise CopiesError(f"window {window} is not inside the usable steps [0, {usable - 1}]")
    t = np.arange(start, stop + 1, dtype=np.float64)
    slope, intercept = fit_slope(t, log_ratio[start:stop + 1])
    copy_slopes = None
    if per_copy:
        copy_slopes = np.array([fit_slope(t, row[start:stop + 1])[0] for row in log_d])
    return CopiesResult(distances=distances, log_ratio=log_ratio, window=(start, stop),
                        slope=slope, intercept=intercept, copy_slopes=copy_slopes,
                        diverged_at=diverged_at, reference_diverged_at=reference_diverged_at,
                        usable=usable)
