"""Maximum Lyapunov exponent by one tangent vector, renormalised every step.

One tangent vector w rides along the training: w <- J(t) w with J(t) the Jacobian of the
optimizer step on its whole state (``opt.tangent_step``: I - eta H for SGD, the 2N map
with momentum, I - eta P H for CGD, the 3N map of Adam), renormalised every step. The growth factors
r(t) = ||J(t) w(t)|| with ||w(t)|| = 1 give the running exponent

    lambda_1(t) = 1 / (t - t0) sum_{s = t0}^{t - 1} ln r(s)

which tends to the largest Lyapunov exponent (Eq. (4) of Herrmann et al. 2022: perturbations
grow as e^(lambda_1 t)). It is the k = 1 case of the QR spectrum; renormalising by the norm is
the 1 x 1 QR. Each step is one gradient plus one HVP in a shared pass
(:meth:`Model.grad_and_hvp`), close to the cost of an SGD step.

Theta-block exponent. For a stepper with state (momentum SGD, Adam, AdamW, RMSprop) w lives
on the whole state (theta and its buffers, n > N). A perturbation of the initial parameters
alone, dtheta(0) with the buffers unperturbed (they start at ``opt.init``), grows as the
theta block w_theta (the first N rows) of the vector started at w(0) = (dtheta(0), 0):

    lambda_theta = (1 / T) ln( ||dtheta(T)|| / ||dtheta(0)|| )
                 = (1 / T) [ sum_{s < T} ln r(s) + ln ||w_theta(T)|| - ln ||w_theta(0)|| ]

(the finite-time form of Eq. (4) of Herrmann et al. 2022 for a perturbation of theta(0); the
product of the growth factors restores the norm that renormalising removed, and w is a unit
vector at both ends). ``start="theta"`` draws such a start; the formula holds for any start
whose theta block is not zero. It is what perturbed copies of theta(0) measure
(:func:`refchaos.lyapunov.copies_exponent`), while lambda_1 is the growth of a perturbation
of the whole state. Without buffers (n = N) w_theta = w is a unit vector at both ends, the two
norm terms are 0 by construction and lambda_theta is lambda_1, bit for bit.

Symbols
-------
w -> ``w`` (n, 1), n = ``opt.tangent_dim(N)``; w_theta -> ``w[:N]``; ln r(s) -> ``log_growth``;
lambda_1(t) -> ``running``; t0 -> ``transient``; lambda_theta -> ``theta_exponent``;
||w_theta(0)|| -> ``theta_norm0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import array_api_compat
import numpy as np

from ..backend import asarray, host_rng, namespace_of, to_host
from .integrator import Integrator
from .tangent import _check_steps

STARTS = ("state", "theta")  # where the random start vector lives: the whole state, or theta only


@dataclass(frozen=True)
class MaxExponentRun:
    """Result of :func:`max_exponent`.

    ``log_growth`` (T,) ln r(t); ``running`` (T,) lambda_1 after step t + 1 (NaN inside the
    transient); ``exponent`` the last value; ``trajectory`` (m, N) theta at ``trajectory_steps``
    (theta(0) first); ``grad_norms`` (T,); ``w`` the final unit tangent vector (n,);
    ``theta_exponent`` lambda_theta over all T steps (module docstring; from step 0, whatever
    the transient), NaN when the start vector's theta block is zero.
    """

    theta: object
    state: object
    w: object
    log_growth: np.ndarray
    running: np.ndarray
    exponent: float
    trajectory_steps: np.ndarray
    trajectory: object
    grad_norms: np.ndarray
    theta_exponent: float


def _check_start(start):
    if start not in STARTS:
        raise ValueError(f"start must be one of {', '.join(map(repr, STARTS))}, got {start!r}")


def start_vector(n, num_params, seed, start="state"):
    """The random start tangent vector (n,), host float64, from ``host_rng(seed)``.

    ``start="state"``: n standard normal entries (a perturbation of the whole state);
    ``"theta"``: N standard normal entries in the theta rows, the buffer rows 0 (a
    perturbation of theta(0) alone). Not normalised. Without buffers (n = N) both are the same
    draw.
    """
    _check_start(start)
    N = int(num_params)
    if start == "state":
        return host_rng(seed).standard_normal(n)
    w0 = np.zeros(n, dtype=np.float64)
    w0[:N] = host_rng(seed).standard_normal(N)  # the buffers start unperturbed
    return w0


class MaxExponentIntegrator(Integrator):
    """Resumable maximum exponent by one tangent vector (module docstring).

    Parameters as :func:`max_exponent` (without ``batch``, ``steps`` and ``transient``, which
    :meth:`result` takes); advance with :meth:`advance`, checkpoint with :meth:`state_dict`.
    ``history=False`` keeps no per-step records (no ``log_growth``, trajectory or gradient
    norms; :meth:`result` is refused): only the running sum of ln r, read by
    :meth:`running_exponent` and :meth:`theta_exponent`, so the state stays O(n) over any
    number of steps.
    """

    def __init__(self, opt, model, theta, seed=0, w0=None, state=None, record_every=1,
                 history=True, start="state"):
        super().__init__(opt, model, theta, state, history)
        xp, n, N = namespace_of(theta), self.n, model.num_params
        _check_start(start)  # also when w0 is given
        if w0 is None:
            w0 = asarray(start_vector(n, N, seed, start), xp, theta.dtype)
        elif start != "state":
            raise ValueError(f"give either w0 or start={start!r} (the random start), not both")
        if w0.shape != (n,):
            raise ValueError(f"w0 must have shape ({n},), got {tuple(w0.shape)}")
        self.w = xp.reshape(w0 / xp.sqrt(xp.sum(w0 * w0)), (n, 1))
        self.theta_norm0 = self._theta_norm()  # ||w_theta(0)||, 0 for a zero theta block
        self.record_every = None if record_every is None or not history else int(record_every)
        self.log_sum = xp.zeros((), dtype=theta.dtype, device=array_api_compat.device(theta))  # sum ln r(s)
        self.last_log = None  # ln r of the last step
        self.logs = []  # ln r(s), 0-d arrays on theta's device (no host sync per step; history)
        self.trajectory_steps, self.trajectory = ([0], [theta]) if history else ([], [])

    def tangent_block(self):
        return self.w  # (n, 1)

    def _take(self, Jw):
        xp = namespace_of(self.theta)
        r = xp.sqrt(xp.sum(Jw * Jw))  # growth factor of this step, ||w|| = 1
        self.last_log = xp.log(r)
        self.log_sum = self.log_sum + self.last_log
        if self.history:
            self.logs.append(self.last_log)
        self.w = Jw / r  # renormalise
        done = self.t + 1
        if self.record_every is not None and done % self.record_every == 0:
            self.trajectory_steps.append(done)
            self.trajectory.append(self.theta)

    def running_exponent(self):
        """lambda_1 after the steps taken, 1/t sum_s ln r(s) from step 0, a host float."""
        if self.t == 0:
            raise ValueError("no step taken yet")
        return float(to_host(self.log_sum)) / self.t

    def _theta_norm(self):
        """||w_theta||, the norm of the theta rows of the current unit vector, a 0-d array."""
        xp = namespace_of(self.theta)
        w_theta = self.opt.check_block(self.w, self.model.num_params)  # (N, 1)
        return xp.sqrt(xp.sum(w_theta * w_theta))

    def theta_exponent(self):
        """lambda_theta after the steps taken (module docstring), a host float:

            (1 / t) [ sum_{s < t} ln r(s) + ln ||w_theta(t)|| - ln ||w_theta(0)|| ]

        the growth rate of the theta block of the vector, which for a start in theta
        (``start="theta"``) is that of a perturbation of theta(0) alone. Without buffers
        (n = N) it is :meth:`running_exponent` (the norm terms are 0 by construction).
        ValueError when no step was taken, when the start vector's theta block is zero (its
        growth is undefined) or for a checkpoint that did not record ln ||w_theta(0)||.
        """
        if self.t == 0:
            raise ValueError("no step taken yet")
        if self.n == self.model.num_params:  # w_theta = w, a unit vector at both ends
            return self.running_exponent()
        if self.theta_norm0 is None:
            raise ValueError("this integrator was restored from a checkpoint without "
                             "||w_theta(0)|| (theta_norm0); its theta-block exponent is unknown")
        norm0 = float(to_host(self.theta_norm0))
        if not norm0 > 0:
            raise ValueError("the start vector's theta block is zero: a perturbation of the "
                             "buffers alone has no theta-block exponent; start in theta "
                             "(start='theta') or give a w0 with nonzero theta rows")
        norm_t = float(to_host(self._theta_norm()))  # ||w_theta(t)||; 0: dtheta(t) vanished
        log_t = math.log(norm_t) if norm_t > 0 else -math.inf
        return (float(to_host(self.log_sum)) + log_t - math.log(norm0)) / self.t  # lambda_theta

    def _arrays(self):
        N = self.model.num_params
        traj = (np.stack([np.array(to_host(th), copy=True) for th in self.trajectory])
                if self.trajectory else np.zeros((0, N), dtype=np.float64))
        return {"w": np.array(to_host(self.w), copy=True), "log_growth": self.log_growth(),
                "log_sum": np.array(to_host(self.log_sum), copy=True),
                "theta_norm0": np.array(to_host(self.theta_norm0), copy=True),
                "record_every": np.asarray(-1 if self.record_every is None else self.record_every,
                                           dtype=np.int64),
                "trajectory_steps": np.asarray(self.trajectory_steps, dtype=np.int64),
                "trajectory": traj}

    def _load(self, arrays, xp, dtype):
        self.w = asarray(arrays["w"], xp, dtype)
        self.logs = [asarray(a, xp, dtype) for a in np.asarray(arrays["log_growth"])]
        self.log_sum = asarray(arrays["log_sum"], xp, dtype)
        # None: a checkpoint written before the theta-block exponent (theta_exponent refuses)
        self.theta_norm0 = (asarray(arrays["theta_norm0"], xp, dtype) if "theta_norm0" in arrays
                            else None)
        self.last_log = self.logs[-1] if self.logs else None
        every = int(arrays["record_every"])
        self.record_every = None if every < 0 else every
        self.trajectory_steps = [int(s) for s in np.asarray(arrays["trajectory_steps"])]
        self.trajectory = [asarray(th, xp, dtype) for th in np.asarray(arrays["trajectory"])]

    def log_growth(self):
        """ln r(s) of the steps taken, host float64 (t,)."""
        if not self.logs:
            return np.zeros(0, dtype=np.float64)
        xp = namespace_of(self.theta)
        return np.asarray(to_host(xp.stack(self.logs)), dtype=np.float64)

    def result(self, transient=0):
        """The :class:`MaxExponentRun` after the steps taken so far, averaging from ``transient``."""
        xp = namespace_of(self.theta)
        T = self.t
        if not self.history:
            raise ValueError("an integrator built with history=False keeps no per-step growth "
                             "factors; read running_exponent() instead")
        if not 0 <= int(transient) < T:
            raise ValueError(f"transient must lie in [0, steps) = [0, {T}), got {transient}")
        log_growth = self.log_growth()
        bad = np.flatnonzero(~np.isfinite(log_growth))
        if bad.size:
            raise FloatingPointError(
                f"the tangent vector collapsed or overflowed at step {bad[0]} "
                f"(ln r = {log_growth[bad[0]]}); the exponent is undefined there"
            )
        traj_steps, traj = list(self.trajectory_steps), list(self.trajectory)
        if traj_steps[-1] != T:
            traj_steps.append(T)
            traj.append(self.theta)
        running = np.full(T, math.nan)
        t0 = int(transient)
        running[t0:] = np.cumsum(log_growth[t0:]) / np.arange(1, T - t0 + 1)
        try:
            theta_exponent = self.theta_exponent()
        except ValueError:  # a start with a zero theta block (or an old checkpoint)
            theta_exponent = math.nan
        return MaxExponentRun(theta=self.theta, state=self.state, w=xp.reshape(self.w, (self.n,)),
                              log_growth=log_growth, running=running, exponent=float(running[-1]),
                              trajectory_steps=np.asarray(traj_steps),
                              trajectory=xp.stack(traj, axis=0),
                              grad_norms=np.asarray(self.grad_norms),
                              theta_exponent=theta_exponent)


def max_exponent(opt, model, theta, batch, steps, transient=0, seed=0, w0=None, state=None,
                 record_every=1, start="state"):
    """Train for ``steps`` steps and return the running maximum Lyapunov exponent.

    Parameters
    ----------
    opt : Stepper
        Any optimizer of :mod:`refchaos.optim` (its tangent map on the whole state).
    model : Model
    theta : array (N,)
        Start point; not modified.
    batch : callable
        ``batch(t) -> (x, y)``, the batch of step t.
    steps : int
        Number of steps T.
    transient : int
        Growth factors of steps t < transient are not averaged (default 0).
    seed : int
        Host seed of the random unit start vector (when ``w0`` is None).
    w0 : array (n,) or None
        Start tangent vector (normalised on entry); n = ``opt.tangent_dim(N)``.
    start : {"state", "theta"}
        Where the random start vector lives (:func:`start_vector`): the whole state (default;
        ``exponent`` is then the growth of a whole-state perturbation) or theta alone, the
        buffer rows 0 (``theta_exponent`` is then the growth of a perturbation of theta(0)).
        Only with ``w0`` None.
    state : optimizer state or None
        Optimizer state to continue from (default: ``opt.init(theta)``).
    record_every : int or None
        Keep theta every this many steps in ``trajectory`` (and the last); None: only
        theta(0) and theta(T).

    The resumable form is :class:`MaxExponentIntegrator`.
    """
    T = _check_steps(steps)
    if not 0 <= int(transient) < T:
        raise ValueError(f"transient must lie in [0, steps) = [0, {T}), got {transient}")
    integ = MaxExponentIntegrator(opt, model, theta, seed=seed, w0=w0, state=state,
                                  record_every=record_every, start=start)
    return integ.advance(batch, T).result(transient)
