"""Tangent maps of optimizer steps applied to blocks of tangent vectors, and the integrators
that carry them through training (tangent matrix, QR finite-time spectrum).

Herrmann et al. 2022, Eqs. (1), (2): Y(t) = d s(t) / d s(0) obeys Y(t+1) = J(t) Y(t), J(t)
the Jacobian of one step on the optimizer's whole state s = (theta, buffers). Every stepper
owns its J (:mod:`refchaos.optim.stepper`): ``opt.tangent_step`` takes the step and applies J
to a block in one gradient-and-block-HVP pass (:meth:`Model.grad_and_hvp`, R-operator; H Y
is never formed from H). The maps and their equations live with the optimizers:

* SGD with momentum, dampening, Nesterov, weight decay: :mod:`refchaos.optim.sgd` (Eq. (8);
  with momentum the state is (theta, v), 2N-dimensional, and Eq. (8) is the theta-block of
  the exact 2N linearisation from dv(0) = 0).
* Adam, AdamW (3N, 4N with AMSGrad): :mod:`refchaos.optim.adam`; RMSprop: :mod:`refchaos.optim.rmsprop`.
* CGD (Theorem 2.2), :mod:`refchaos.optim.cgd`: the update is theta - eta P g with P the kept
  projector of the step. With P held fixed the step linearises to
  Y(t+1) = (I - eta P(t) H(t)) Y(t) (plus the omega and mu terms of SGD), and
  P H = H P = V_K diag(lambda_K) V_K^T is what the released code integrates. Eq. (12) as
  printed reads (I - eta V V^T) Y(t), which drops H and is not the linearisation of any
  gradient step; we implement I - eta P H, the fixed-projector reading of Eq. (12). The full
  Jacobian of the CGD map also has the term -eta (dP/dtheta)[.] g, which the theorem and the
  released code neglect; tests/lyapunov/test_cgd_projector.py measures it.

The released code integrates Y <- Y - eta G, G <- mu G + H Y with G starting at H for momentum,
which pairs the Hessian of one step with the tangent of another; here the exact linearisation
is used (tested against JAX autodiff of the composed steps).

Finite-time spectrum: the block is integrated with the Benettin/Geist "H2" QR
re-orthonormalisation (:class:`refchaos.lyapunov.qr.QRAccumulator`). Both integrators are
resumable (:mod:`refchaos.lyapunov.integrator`).

Symbols
-------
Y^(t) -> ``Y`` (n, K), n = ``opt.tangent_dim(N)`` (rows: dtheta, then the buffers);
H Y -> computed inside ``opt.tangent_step``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import asarray, host_rng, namespace_of, to_host
from .integrator import Integrator
from .qr import QRAccumulator


def tangent_dim(opt, model):
    """Dimension n of the optimizer's whole state: N, 2N with SGD momentum, 3N for Adam, ..."""
    return opt.tangent_dim(model.num_params)


def tangent_step(opt, model, theta, state, x, y, Y):
    """One step of ``opt`` on (x, y) and its tangent map applied to Y (n, K).

    Returns (theta, state, Y_new, info): the optimizer step exactly as ``opt.step`` takes it,
    and J Y with J the Jacobian of that step on the whole state (``opt.tangent_step``; the
    projector of a CGD step held fixed). ``info`` holds ``step`` and ``grad_norm`` (and the
    CGD entries); not the loss, which would need another forward pass.
    """
    return opt.tangent_step(model, theta, state, x, y, Y)


@dataclass(frozen=True)
class TangentMatrixRun:
    """Result of :func:`tangent_matrix`: final theta and state, and Y(T) (n, n), or (n, N)
    with ``theta_only``."""

    theta: object
    state: object
    Y: object
    steps: int
    num_params: int

    @property
    def Y_theta(self):
        """d theta(T) / d theta(0) (N, N), the buffers started at ``opt.init``: H22's Y."""
        N = self.num_params
        return self.Y[:N, :N]


class TangentMatrixIntegrator(Integrator):
    """Resumable Y(t) = J(t-1) ... J(0) from Y(0) = I (n, n), no re-orthonormalisation.

    ``theta_only=True`` carries only the first N columns, Y(0) = [I_N; 0] (n, N): the
    response of the whole state to a perturbation of theta(0) with the buffers unperturbed,
    which is all that ``Y_theta`` needs (a perturbed model's buffers start at ``opt.init``,
    zero for every stepper here), at N / n of the cost.

    Layout: Y is held column by column (the transposed view of a row-major (K, n) array). The
    model reads a tangent block as its rows Y^T (K directions of N parameters,
    :meth:`Model.grad_and_hvp`); stored so, each layer's part of Y^T is a view, not a copy, and
    the SGD update Y - eta H Y runs on two arrays of the same layout and keeps it. The values
    are those of a row-major Y bit for bit (tests/lyapunov/test_tangent.py); for the timing see
    validation/bench/bench_tangent_matrix.py.
    """

    def __init__(self, opt, model, theta, state=None, theta_only=False):
        super().__init__(opt, model, theta, state)
        xp = namespace_of(theta)
        K = model.num_params if theta_only else self.n
        self.Y = xp.matrix_transpose(xp.eye(K, self.n, dtype=theta.dtype))  # Y(0) (n, K)

    def tangent_block(self):
        return self.Y  # (n, n)

    def _take(self, JY):
        self.Y = JY  # Eq. (2): Y(t+1) = J(t) Y(t)

    def _arrays(self):
        return {"Y": np.array(to_host(self.Y), copy=True)}

    def _load(self, arrays, xp, dtype):
        YT = np.ascontiguousarray(np.asarray(arrays["Y"]).T)  # the same values, column by column
        self.Y = xp.matrix_transpose(asarray(YT, xp, dtype))

    def result(self):
        """The :class:`TangentMatrixRun` after the steps taken so far."""
        return TangentMatrixRun(theta=self.theta, state=self.state, Y=self.Y, steps=self.t,
                                num_params=self.model.num_params)


def tangent_matrix(opt, model, theta, batch, steps, state=None, theta_only=False, threads=1):
    """Train ``steps`` steps from theta on batches ``batch(t) -> (x, y)`` and return Y(T).

    Y(T) = J(T-1) ... J(0) is the full tangent matrix (n, n) of the whole optimizer state from
    Y(0) = I, with no re-orthonormalisation: for small networks and short horizons only (Eq. (3)
    needs it; long horizons under- or overflow, use :func:`lyapunov_spectrum`). Any stepper.
    ``theta_only=True``: only the columns of theta(0), Y(T) (n, N) from Y(0) = [I_N; 0]
    (:class:`TangentMatrixIntegrator`); ``Y_theta`` is the same either way. ``threads``: how
    many column blocks of Y are taken at once (:func:`.integrator.tangent_step_by_blocks`; the
    result does not depend on it).
    """
    integ = TangentMatrixIntegrator(opt, model, theta, state, theta_only)
    return integ.advance(batch, _check_steps(steps), threads=threads).result()


@dataclass(frozen=True)
class SpectrumRun:
    """Result of :func:`lyapunov_spectrum`.

    ``exponents`` (k,) at the last QR; ``history_steps`` (m,) the step counts at which
    ``history`` (m, k) was recorded; ``grad_norms`` (T,) host float64.
    """

    theta: object
    state: object
    exponents: object
    history_steps: np.ndarray
    history: object
    accumulator: QRAccumulator
    grad_norms: np.ndarray


class SpectrumIntegrator(Integrator):
    """Resumable finite-time Lyapunov spectrum (Benettin/Geist H2 QR) along training.

    Parameters as :func:`lyapunov_spectrum` (without ``batch`` and ``steps``); advance it with
    :meth:`advance`, checkpoint with :meth:`state_dict`, read it with :meth:`result` (or
    :meth:`exponents`). ``history=False`` records nothing per step (no gradient norms, no
    history rows), so the state stays O(n k) over any number of steps.
    """

    def __init__(self, opt, model, theta, k=None, transient=0, qr_every=1, record_every=None,
                 seed=0, state=None, history=True):
        super().__init__(opt, model, theta, state, history)
        xp, n = namespace_of(theta), self.n
        k = n if k is None else int(k)
        if not 1 <= k <= n:
            raise ValueError(f"k must lie in [1, {n}], got {k}")
        if record_every is not None and (int(record_every) < 1 or int(record_every) % int(qr_every)):
            raise ValueError(f"record_every must be a positive multiple of qr_every={qr_every}, got {record_every}")
        if k == n:
            Q0 = xp.eye(n, dtype=theta.dtype)
        else:
            Q0 = asarray(host_rng(seed).standard_normal((n, k)), xp, theta.dtype)
        self.acc = QRAccumulator(Q0, transient=transient, qr_every=qr_every)
        self.record_every = None if record_every is None or not history else int(record_every)
        self.history_steps, self.records = [], []

    def tangent_block(self):
        return self.acc.Q  # (n, k)

    def _take(self, JQ):
        acc = self.acc
        acc.push(JQ)  # Eq. (2), re-orthonormalised when due
        done = self.t + 1
        if (self.record_every is not None and done % self.record_every == 0
                and acc.accumulated_steps > 0):
            self.history_steps.append(done)
            self.records.append(acc.exponents())

    def exponents(self):
        """The finite-time exponents (k,) over the accumulated steps, QR column order."""
        return self.acc.exponents()

    def _arrays(self):
        out = self.acc.state_dict()
        out["record_every"] = np.asarray(-1 if self.record_every is None else self.record_every,
                                         dtype=np.int64)
        out["history_steps"] = np.asarray(self.history_steps, dtype=np.int64)
        k = self.acc.Q.shape[1]
        out["history_exponents"] = (np.stack([np.array(to_host(h), copy=True) for h in self.records])
                                    if self.records else np.zeros((0, k), dtype=np.float64))
        return out

    def _load(self, arrays, xp, dtype):
        self.acc = QRAccumulator.from_state_dict(arrays, xp, dtype)
        every = int(arrays["record_every"])
        self.record_every = None if every < 0 else every
        self.history_steps = [int(s) for s in np.asarray(arrays["history_steps"])]
        self.records = [asarray(h, xp, dtype) for h in np.asarray(arrays["history_exponents"])]

    def result(self):
        """The :class:`SpectrumRun` after the steps taken so far (the last QR's exponents)."""
        acc = self.acc
        xp = namespace_of(self.theta)
        if acc.accumulated_steps == 0:
            raise ValueError(f"no step was accumulated: steps={self.t}, transient={acc.transient}, "
                             f"qr_every={acc.qr_every}")
        final = acc.exponents()
        hist_steps, hist = list(self.history_steps), list(self.records)
        last_qr = acc.step - acc.step % acc.qr_every  # the block is factored every qr_every steps
        if not hist_steps or hist_steps[-1] != last_qr:
            hist_steps.append(last_qr)
            hist.append(final)
        return SpectrumRun(theta=self.theta, state=self.state, exponents=final,
                           history_steps=np.asarray(hist_steps), history=xp.stack(hist, axis=0),
                           accumulator=acc, grad_norms=np.asarray(self.grad_norms))


def lyapunov_spectrum(opt, model, theta, batch, steps, k=None, transient=0, qr_every=1,
                      record_every=None, seed=0, state=None):
    """Train and integrate the finite-time Lyapunov spectrum (Benettin/Geist H2 QR).

    Parameters
    ----------
    opt : Stepper
        Any optimizer of :mod:`refchaos.optim` (its tangent map on the whole state).
    model : Model
    theta : array (N,)
        Start point; not modified.
    batch : callable
        ``batch(t) -> (x, y)``, the batch of step t (t = 0 .. steps - 1).
    steps : int
        Number of optimizer steps T.
    k : int or None
        Number of exponents (the k largest). None (default): all n, starting from Y(0) = I.
        For k < n the block starts from a random orthonormal (n, k) drawn from ``seed``.
    transient : int
        Steps integrated but not accumulated (default 0: the finite-time spectrum of H22
        counts from t = 0).
    qr_every : int
        Re-orthonormalise every this many steps (default 1; see QRAccumulator for the bound).
    record_every : int or None
        Record the exponents every this many steps (a multiple of ``qr_every``); None
        (default): only at the end.
    seed : int
        Host seed of the random start block (k < n).
    state : optimizer state or None
        Optimizer state to continue from (default: ``opt.init(theta)``).

    The resumable form is :class:`SpectrumIntegrator`.
    """
    T = _check_steps(steps)
    integ = SpectrumIntegrator(opt, model, theta, k=k, transient=transient, qr_every=qr_every,
                               record_every=record_every, seed=seed, state=state)
    return integ.advance(batch, T).result()


def _check_steps(steps):
    if isinstance(steps, bool) or int(steps) != steps or int(steps) < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    return int(steps)
