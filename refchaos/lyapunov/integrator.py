"""Resumable tangent integrators: training plus a tangent block, checkpointable at any step.

An integrator holds everything the next step needs: theta, the optimizer state (any stepper,
:mod:`refchaos.optim.stepper`), the tangent object (a vector, a QR block, the full matrix), the
step count t and the per-step records. ``advance(batch, steps)`` takes steps t, t + 1, ...
on ``batch(t)``; ``state_dict()`` is a dict of host NumPy arrays (exact copies: float64 stays
float64) and ``from_state_dict(opt, model, arrays, like)`` rebuilds the integrator without
recomputing anything, so stopping after any step and resuming gives bitwise the same result as
not stopping (the batch of step t is a function of t only).

Several integrators on one trajectory (a training run carrying a maximum-exponent vector and
a QR block) share each step: :func:`advance_together` lets their tangent columns ride along
one ``opt.tangent_step`` (one gradient-and-block-HVP pass) and hands each its columns of J Y.
With ``history=False`` an integrator keeps no per-step records (its checkpoint is O(state),
not O(steps)).

Column blocks
-------------
The columns of J(t) Y are J(t) applied to each column of Y (Eq. (2) of Herrmann et al. 2022),
and the step itself does not depend on Y. So a wide block (the full tangent matrix: N columns)
may be taken ``width`` columns at a time, each block with its own ``opt.tangent_step`` on the
same (theta, state, x, y): the step is taken again per block (one more gradient each, checked
to give the same theta) and every block's intermediates (the R-forward activations, H Y, the
update) stay in a CPU core's cache instead of streaming a 229 MB Y through memory five times.
The values are those of the one-block step column for column (tests/lyapunov/test_blocks.py;
timing: validation/bench/bench_tangent_matrix.py). :func:`block_width` decides: blocks of at
most :data:`BLOCK_BYTES` on NumPy, for steppers that declare the step cheap to take again
(``Stepper.retake_step``; not CGD, whose step solves a Hessian eigenproblem); one block on a
GPU, where a wide block is one kernel. ``threads`` > 1 takes the blocks on that many threads
(NumPy releases the GIL inside BLAS and ufunc loops; set ``OPENBLAS_NUM_THREADS=1`` beside it).

The optimizer and model are code, not state: pass the same ones again when resuming.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..backend import asarray, get_namespace, namespace_of, to_host


class Integrator:
    """Base of :class:`~refchaos.lyapunov.maxexp.MaxExponentIntegrator`,
    :class:`~refchaos.lyapunov.tangent.SpectrumIntegrator` and
    :class:`~refchaos.lyapunov.tangent.TangentMatrixIntegrator`.

    Subclasses implement ``tangent_block()`` (the (n, K) columns they carry), ``_take(JY)``
    (their arithmetic on J Y after the step), ``_arrays()`` (their state as host arrays) and
    ``_load(arrays, xp, dtype)``.
    """

    def __init__(self, opt, model, theta, state=None, history=True):
        namespace_of(theta)  # a supported backend
        self.opt, self.model = opt, model
        self.theta = theta
        self.state = opt.init(theta) if state is None else state
        self.t = 0  # steps taken
        self.history = bool(history)  # keep per-step records (grad_norms, ...)
        self.grad_norms = []  # ||g|| of each step, host floats (history only)
        self.n = opt.tangent_dim(model.num_params)

    def advance(self, batch, steps, threads=1):
        """Take ``steps`` more steps on ``batch(t) -> (x, y)``, t = self.t, self.t + 1, ...
        (``threads``: as :func:`advance_together`)."""
        if isinstance(steps, bool) or int(steps) != steps or int(steps) < 0:
            raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
        for _ in range(int(steps)):
            advance_together([self], *batch(self.t), threads=threads)
        return self

    def absorb(self, theta, state, JY, info):
        """Take the step (theta, state) -> new ``theta``, ``state`` computed outside, with
        ``JY`` (n, K) the step's tangent map applied to :meth:`tangent_block`."""
        if tuple(JY.shape) != tuple(self.tangent_block().shape):
            raise ValueError(f"J Y must have shape {tuple(self.tangent_block().shape)}, got "
                             f"{tuple(JY.shape)}")
        self.theta, self.state = theta, state
        self._take(JY)  # sees the new theta; self.t is still the index of this step
        if self.history:
            self.grad_norms.append(info["grad_norm"])
        self.t += 1

    def state_dict(self):
        """Everything needed to resume, as a dict of host NumPy arrays."""
        out = {"t": np.asarray(self.t, dtype=np.int64),
               "theta": np.array(to_host(self.theta), copy=True),
               "grad_norms": np.asarray(self.grad_norms, dtype=np.float64),
               "history": np.asarray(self.history, dtype=np.int64)}
        out.update(self.opt.state_to_dict(self.state))
        out.update(self._arrays())
        return out

    @classmethod
    def from_state_dict(cls, opt, model, arrays, like=None):
        """The integrator saved by :meth:`state_dict`, on ``like``'s namespace and dtype
        (default: NumPy, the saved dtype)."""
        xp = namespace_of(like) if like is not None else get_namespace("numpy")
        dtype = like.dtype if like is not None else arrays["theta"].dtype
        self = cls.__new__(cls)
        self.opt, self.model = opt, model
        theta = np.asarray(arrays["theta"])
        if theta.shape != (model.num_params,):
            raise ValueError(f"the saved theta has shape {theta.shape}, the model "
                             f"{model.num_params} parameters")
        self.theta = asarray(theta, xp, dtype)
        self.state = opt.state_from_dict(arrays, self.theta)
        self.t = int(arrays["t"])
        self.grad_norms = [float(a) for a in np.asarray(arrays["grad_norms"])]
        self.history = bool(int(arrays["history"])) if "history" in arrays else True
        self.n = opt.tangent_dim(model.num_params)
        self._load(arrays, xp, dtype)
        return self

    def tangent_block(self):
        raise NotImplementedError

    def _take(self, JY):
        raise NotImplementedError

    def _arrays(self):
        raise NotImplementedError

    def _load(self, arrays, xp, dtype):
        raise NotImplementedError


def advance_together(integrators, x, y, threads=1):
    """One step on (x, y) shared by integrators on one trajectory; returns (theta, state, info).

    Their tangent blocks are concatenated, Y = [Y_1, ..., Y_m] (n, K_1 + ... + K_m), and ride
    along one ``opt.tangent_step`` (Eqs. (1), (2) of Herrmann et al. 2022: the columns of
    J(t) Y are J(t) Y_i), in column blocks of :func:`block_width` (:func:`tangent_step_by_blocks`,
    on ``threads`` threads); each integrator then takes its own columns
    (:meth:`Integrator.absorb`). The integrators must hold the same theta, optimizer state,
    step count and optimizer.
    """
    if not integrators:
        raise ValueError("advance_together needs at least one integrator")
    first = integrators[0]
    for other in integrators[1:]:
        if (other.theta is not first.theta or other.state is not first.state
                or other.t != first.t or other.opt is not first.opt):
            raise ValueError("the integrators are not on one trajectory (theta, optimizer state, "
                             "step count and optimizer must be the same objects)")
    blocks = [integ.tangent_block() for integ in integrators]
    xp = namespace_of(first.theta)
    Y = blocks[0] if len(blocks) == 1 else xp.concat(blocks, axis=1)  # (n, K)
    width = block_width(first.opt, Y)
    theta, state, JY, info = tangent_step_by_blocks(first.opt, first.model, first.theta,
                                                    first.state, x, y, Y, width, threads)
    col = 0
    for integ, block in zip(integrators, blocks):
        K = block.shape[1]
        integ.absorb(theta, state, JY[:, col:col + K], info)
        col += K
    return theta, state, info


BLOCK_BYTES = 8 * 1024**2  # largest column block of a host tangent step (fits a core's cache)


def block_width(opt, Y):
    """Columns per block of a tangent step on Y (n, K) (module docstring, 'Column blocks'):
    None (one block) unless Y is a NumPy array over :data:`BLOCK_BYTES` and ``opt`` may take
    its step again per block; else the most columns whose block fits in BLOCK_BYTES."""
    if not (isinstance(Y, np.ndarray) and opt.retake_step):
        return None
    n, K = Y.shape
    column_bytes = n * Y.dtype.itemsize
    return max(1, BLOCK_BYTES // column_bytes) if K * column_bytes > BLOCK_BYTES else None


def tangent_step_by_blocks(opt, model, theta, state, x, y, Y, width, threads=1):
    """``opt.tangent_step`` on Y (n, K) taken ``width`` columns at a time: (theta, state, J Y,
    info) as one ``opt.tangent_step`` on all of Y (module docstring, 'Column blocks').

    ``width`` None (or >= K): one block. J Y keeps Y's layout; each block's step is checked to
    reach the same theta (a stepper whose step is not a function of its inputs is refused).
    ``threads``: how many blocks are taken at once.
    """
    if int(threads) < 1 or (width is not None and int(width) < 1):
        raise ValueError(f"width and threads must be >= 1, got {width} and {threads}")
    K = int(Y.shape[1])
    if width is None or width >= K:
        return opt.tangent_step(model, theta, state, x, y, Y)
    xp = namespace_of(theta, Y)
    JY = xp.matrix_transpose(xp.empty((K, int(Y.shape[0])), dtype=Y.dtype))  # Y's column layout

    def block(a):  # columns a .. a + width - 1 of J Y
        theta_new, state_new, JYa, info = opt.tangent_step(model, theta, state, x, y,
                                                           Y[:, a:a + width])
        JY[:, a:a + width] = JYa
        return theta_new, state_new, info

    starts = range(0, K, int(width))
    if int(threads) == 1:
        steps = [block(a) for a in starts]
    else:
        with ThreadPoolExecutor(int(threads)) as pool:
            steps = list(pool.map(block, starts))
    theta_new, state_new, info = steps[0]
    for other, _, _ in steps[1:]:
        if not bool(xp.all(other == theta_new)):
            raise RuntimeError(f"{opt!r} took different steps from the same (theta, state, batch) "
                               "in two column blocks; its tangent map cannot be taken by blocks")
    return theta_new, state_new, JY, info
