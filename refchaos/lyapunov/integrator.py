"""Resumable tangent integrators: training plus a tangent block, checkpointable at any step.

An integrator holds everything the next step needs: theta, the optimizer state (any stepper,
:mod:`refchaos.optim.stepper`), the tangent object (a vector, a QR block, the full matrix), the
step count t and the per-step records. ``advance(batch, steps)`` takes steps t, t + 1, ...
on ``batch(t)``; ``state_dict()`` is a dict of host NumPy arrays (exact copies: float64 stays
float64) and ``from_state_dict(opt, model, arrays, like)`` rebuilds the integrator without
recomputing anything, so stopping after any step and resuming gives bitwise the same result as
not stopping (the batch of step t is a function of t only).

The optimizer and model are code, not state: pass the same ones again when resuming.
"""

from __future__ import annotations

import numpy as np

from ..backend import asarray, get_namespace, namespace_of, to_host


class Integrator:
    """Base of :class:`~refchaos.lyapunov.maxexp.MaxExponentIntegrator`,
    :class:`~refchaos.lyapunov.tangent.SpectrumIntegrator` and
    :class:`~refchaos.lyapunov.tangent.TangentMatrixIntegrator`.

    Subclasses implement ``_advance_one(x, y)`` (one step of training and tangent),
    ``_arrays()`` (their state as host arrays) and ``_load(arrays, xp, dtype)``.
    """

    def __init__(self, opt, model, theta, state=None):
        namespace_of(theta)  # a supported backend
        self.opt, self.model = opt, model
        self.theta = theta
        self.state = opt.init(theta) if state is None else state
        self.t = 0  # steps taken
        self.grad_norms = []  # ||g|| of each step, host floats
        self.n = opt.tangent_dim(model.num_params)

    def advance(self, batch, steps):
        """Take ``steps`` more steps on ``batch(t) -> (x, y)``, t = self.t, self.t + 1, ..."""
        if isinstance(steps, bool) or int(steps) != steps or int(steps) < 0:
            raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
        for _ in range(int(steps)):
            x, y = batch(self.t)
            grad_norm = self._advance_one(x, y)
            self.grad_norms.append(grad_norm)
            self.t += 1
        return self

    def state_dict(self):
        """Everything needed to resume, as a dict of host NumPy arrays."""
        out = {"t": np.asarray(self.t, dtype=np.int64),
               "theta": np.array(to_host(self.theta), copy=True),
               "grad_norms": np.asarray(self.grad_norms, dtype=np.float64)}
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
        self.n = opt.tangent_dim(model.num_params)
        self._load(arrays, xp, dtype)
        return self

    def _advance_one(self, x, y):
        raise NotImplementedError

    def _arrays(self):
        raise NotImplementedError

    def _load(self, arrays, xp, dtype):
        raise NotImplementedError
