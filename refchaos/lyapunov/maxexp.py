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

Symbols
-------
w -> ``w`` (n, 1), n = ``opt.tangent_dim(N)``; ln r(s) -> ``log_growth``;
lambda_1(t) -> ``running``; t0 -> ``transient``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import array_api_compat
import numpy as np

from ..backend import asarray, host_rng, namespace_of, to_host
from .integrator import Integrator
from .tangent import _check_steps


@dataclass(frozen=True)
class MaxExponentRun:
    """Result of :func:`max_exponent`.

    ``log_growth`` (T,) ln r(t); ``running`` (T,) lambda_1 after step t + 1 (NaN inside the
    transient); ``exponent`` the last value; ``trajectory`` (m, N) theta at ``trajectory_steps``
    (theta(0) first); ``grad_norms`` (T,); ``w`` the final unit tangent vector (n,).
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


class MaxExponentIntegrator(Integrator):
    """Resumable maximum exponent by one tangent vector (module docstring).

    Parameters as :func:`max_exponent` (without ``batch``, ``steps`` and ``transient``, which
    :meth:`result` takes); advance with :meth:`advance`, checkpoint with :meth:`state_dict`.
    ``history=False`` keeps no per-step records (no ``log_growth``, trajectory or gradient
    norms; :meth:`result` is refused): only the running sum of ln r, read by
    :meth:`running_exponent`, so the state stays O(n) over any number of steps.
    """

    def __init__(self, opt, model, theta, seed=0, w0=None, state=None, record_every=1,
                 history=True):
        super().__init__(opt, model, theta, state, history)
        xp, n = namespace_of(theta), self.n
        if w0 is None:
            w0 = asarray(host_rng(seed).standard_normal(n), xp, theta.dtype)
        if w0.shape != (n,):
            raise ValueError(f"w0 must have shape ({n},), got {tuple(w0.shape)}")
        self.w = xp.reshape(w0 / xp.sqrt(xp.sum(w0 * w0)), (n, 1))
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

    def _arrays(self):
        N = self.model.num_params
        traj = (np.stack([np.array(to_host(th), copy=True) for th in self.trajectory])
                if self.trajectory else np.zeros((0, N), dtype=np.float64))
        return {"w": np.array(to_host(self.w), copy=True), "log_growth": self.log_growth(),
                "log_sum": np.array(to_host(self.log_sum), copy=True),
                "record_every": np.asarray(-1 if self.record_every is None else self.record_every,
                                           dtype=np.int64),
                "trajectory_steps": np.asarray(self.trajectory_steps, dtype=np.int64),
                "trajectory": traj}

    def _load(self, arrays, xp, dtype):
        self.w = asarray(arrays["w"], xp, dtype)
        self.logs = [asarray(a, xp, dtype) for a in np.asarray(arrays["log_growth"])]
        self.log_sum = asarray(arrays["log_sum"], xp, dtype)
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
        return MaxExponentRun(theta=self.theta, state=self.state, w=xp.reshape(self.w, (self.n,)),
                              log_growth=log_growth, running=running, exponent=float(running[-1]),
                              trajectory_steps=np.asarray(traj_steps),
                              trajectory=xp.stack(traj, axis=0),
                              grad_norms=np.asarray(self.grad_norms))


def max_exponent(opt, model, theta, batch, steps, transient=0, seed=0, w0=None, state=None,
                 record_every=1):
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
                                  record_every=record_every)
    return integ.advance(batch, T).result(transient)
