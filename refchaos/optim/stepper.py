"""The stepper protocol: an optimizer owns its state and the exact tangent map of its step.

A gradient optimizer is a map of the whole state s = (theta, b_1, ..., b_m), m buffers of
shape (N,) each, driven by the loss gradient g = grad L(theta; z(t)) of the step's batch:

    s(t+1) = F(s(t), g(theta(t)))

Its tangent map (Eqs. (1), (2) of Herrmann et al. 2022, Y(t+1) = J(t) Y(t)) acts on blocks of
K tangent columns of the whole state, Y (n, K) with n = (1 + m) N, rows stacked
[dtheta; db_1; ...; db_m]. With dg = H dtheta (the R-operator, H Y is never formed from H),

    J(t) Y = dF/ds Y + dF/dg H dtheta

Each optimizer writes ``update(theta, state, g)`` (the step, PyTorch's definitions) and
``tangent_update(theta, state, g, Y, dg)`` (the same step and its hand-written Jacobian-vector
product, the equation in its docstring). This base class supplies the rest once: ``step``
(loss, gradient, update), ``tangent_step`` (one gradient-and-block-HVP pass,
:meth:`Model.grad_and_hvp`, then ``tangent_update``), ``tangent_dim`` and the checkpoint
round trip ``state_to_dict`` / ``state_from_dict``.

A state is a frozen dataclass with an int field ``step`` (steps taken) and array fields (N,)
or None (a buffer PyTorch has not created yet; it reads as 0 in the tangent map, which gives
the same next state). The tangent rows of the buffers follow ``buffers`` (a tuple of field
names); a buffer that is None reads as zero in the state the tangent block describes.

A stepper that needs more than the gradient overrides ``step`` and ``tangent_step`` (CGD
projects the gradient and H dtheta with the step's spectrum and hands them to SGD's
``update`` / ``tangent_update``). A new optimizer is one file: its state dataclass, the class
with ``@register("name")``, and its import in :mod:`refchaos.optim`; :func:`get_optimizer`
then builds it by name.

Symbols
-------
s -> (``theta``, ``state``); g -> ``g`` (N,); H dtheta -> ``dg`` (N, K); Y -> ``Y`` (n, K);
n -> :meth:`Stepper.tangent_dim`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..backend import asarray, namespace_of, to_float, to_host

OPTIMIZERS = {}  # name -> Stepper subclass, filled by @register


class PreconditionedMapError(ValueError):
    """A measure defined for the map I - eta H (Eqs. (9), (10)) asked of a preconditioned stepper."""


def register(name):
    """Class decorator: make the stepper buildable as ``get_optimizer(name, ...)``."""

    def deco(cls):
        if name in OPTIMIZERS:
            raise ValueError(f"optimizer name {name!r} is already registered")
        cls.name = name
        OPTIMIZERS[name] = cls
        return cls

    return deco


def get_optimizer(name, *args, **kwargs):
    """The registered stepper ``name`` built with the given hyper-parameters."""
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(sorted(OPTIMIZERS))}")
    return OPTIMIZERS[key](*args, **kwargs)


class Stepper:
    """Base of every optimizer: ``step``, ``tangent_step`` and checkpoints from two methods.

    Subclasses set ``buffers`` (state field names in tangent-row order, after theta),
    ``preconditioned`` (True when the step is not theta - eta (g + ...) with a scalar eta,
    so the local exponents of Eq. (9) and the chaotic set of Eq. (10) do not apply) and
    ``symmetric_tangent`` (True when every step's tangent map J(t) is a symmetric matrix, so
    that Y(T)^T is the same steps in reverse order: :mod:`refchaos.lyapunov.singular`),
    ``retake_step`` (False when a step costs more than a gradient, so that a wide tangent block
    is not taken in column blocks, each retaking the step: :mod:`refchaos.lyapunov.integrator`), and
    implement ``init``, ``update`` and ``tangent_update``.
    """

    name = None
    buffers = ()
    preconditioned = False
    symmetric_tangent = False  # J(t) = J(t)^T on the whole state (its adjoint is itself)
    retake_step = True  # the step costs about one gradient: a wide tangent block may be taken
    #                     in column blocks, the step retaken per block (lyapunov.integrator)

    # ----- what each optimizer writes ----------------------------------------------------------
    def init(self, theta):
        raise NotImplementedError

    def update(self, theta, state, g):
        """(theta, state) after one step with loss gradient g (N,) at theta."""
        raise NotImplementedError

    def tangent_update(self, theta, state, g, Y, dg):
        """(theta, state, J Y) of one step: Y (n, K) tangent columns, dg = H dtheta (N, K)."""
        raise NotImplementedError

    # ----- what the protocol supplies ----------------------------------------------------------
    def tangent_dim(self, num_params):
        """n = (1 + len(buffers)) N, the dimension of the whole state."""
        return (1 + len(self.buffers)) * int(num_params)

    def step(self, model, theta, state, x, y):
        """One step on the batch (x, y): (theta, state, info).

        ``info`` holds ``step`` (index of this step), ``loss`` (before the step) and
        ``grad_norm`` ||g|| of the loss gradient.
        """
        loss, g = model.loss_and_grad(theta, x, y)
        theta_new, state_new = self.update(theta, state, g)
        return theta_new, state_new, {"step": state.step, "loss": to_float(loss), "grad_norm": norm(g)}

    def tangent_step(self, model, theta, state, x, y, Y):
        """One step on (x, y) and its tangent map applied to Y (n, K): (theta, state, J Y, info).

        The gradient and H dtheta come from one :meth:`Model.grad_and_hvp` pass. ``info`` holds
        ``step`` and ``grad_norm`` (not the loss, which would need another forward pass).
        """
        N = model.num_params
        dtheta = self.check_block(Y, N)
        g, dg = model.grad_and_hvp(theta, x, y, dtheta)  # g (N,), H dtheta (N, K)
        theta_new, state_new, JY = self.tangent_update(theta, state, g, Y, dg)
        return theta_new, state_new, JY, {"step": state.step, "grad_norm": norm(g)}

    def check_block(self, Y, num_params):
        """The dtheta rows (N, K) of a tangent block Y (n, K), or ValueError on a wrong shape."""
        n = self.tangent_dim(num_params)
        if Y.ndim != 2 or Y.shape[0] != n:
            raise ValueError(f"Y must have shape ({n}, K) for {self!r} and {num_params} parameters, "
                             f"got {tuple(Y.shape)}")
        return Y[:num_params, :]

    def blocks(self, Y, num_params):
        """Y (n, K) split into [dtheta, db_1, ..., db_m], each (N, K)."""
        N = int(num_params)
        return [Y[i * N:(i + 1) * N, :] for i in range(1 + len(self.buffers))]

    def require_plain_gradient(self, what):
        """PreconditionedMapError unless the step is a plain (scalar-lr) gradient step."""
        if self.preconditioned:
            raise PreconditionedMapError(
                f"{what} is defined for the map I - lr H of a gradient step (Eqs. (9), (10) of "
                f"Herrmann et al. 2022); {self!r} preconditions the gradient, so its one-step "
                "tangent map is not I - lr H and Hessian eigenvalues do not give its exponents "
                "(EQUATIONS.md, 'Preconditioned steppers'); use the tangent-map exponents "
                "(max_exponent, lyapunov_spectrum) instead"
            )

    # ----- checkpoints ---------------------------------------------------------------------------
    def state_to_dict(self, state, prefix="opt_"):
        """The state as a dict of host NumPy arrays (``prefix`` + field; None buffers left out)."""
        out = {}
        for f in dataclasses.fields(state):
            value = getattr(state, f.name)
            if value is None:
                continue
            if isinstance(value, (int, np.integer)):
                out[prefix + f.name] = np.asarray(int(value), dtype=np.int64)
            else:
                out[prefix + f.name] = np.array(to_host(value), copy=True)
        return out

    def state_from_dict(self, arrays, like, prefix="opt_"):
        """The state written by :meth:`state_to_dict`, arrays moved to ``like``'s namespace and dtype."""
        xp = namespace_of(like)
        proto = self.init(like)
        values = {}
        for f in dataclasses.fields(proto):
            key = prefix + f.name
            if key not in arrays:
                if f.name == "step":
                    raise ValueError(f"the checkpoint has no {key!r}")
                values[f.name] = None
                continue
            a = arrays[key]
            if f.name == "step":
                values[f.name] = int(a)
            else:
                if tuple(a.shape) != tuple(like.shape):
                    raise ValueError(f"checkpoint array {key!r} has shape {tuple(a.shape)}, "
                                     f"expected {tuple(like.shape)}")
                values[f.name] = asarray(a, xp, like.dtype)
        return type(proto)(**values)


def norm(a):
    """Euclidean norm of an array as a Python float."""
    xp = namespace_of(a)
    return to_float(xp.sqrt(xp.sum(a * a)))
