"""Losses on the network output z (logits), with gradient and Hessian-vector product in z.

Symbols: B batch size, C classes (outputs), z logits (B, C), t targets (B, C),
p = softmax(z) (B, C), rz a block of K directions in z-space (K, B, C).

cross_entropy  L = -(1/B) sum_b ln p_b[y_b]          (mean over the batch, from logits)
               dL/dz = (p - t) / B,  t = onehot(y)
               R{dL/dz} = (p * rz - p * sum_c(p * rz)) / B      (diag(p) - p p^T) rz / B
mse            L = (1/(2B)) sum_b ||z_b - t_b||^2     (0.5 * batch mean of the squared error)
               dL/dz = (z - t) / B,  R{dL/dz} = rz / B

Targets are prepared once by :meth:`Loss.targets`: integer labels (B,) in [0, C) become
one-hot rows; ``mse`` also takes real targets (B, C).

``value``, ``grad`` and ``hvp`` also take leading axes in front of (B, C): z (..., B, C) with
t (..., B, C) or (B, C) is a stack of independent batches (the members of an ensemble), each
with its own mean over its B samples: ``value`` returns one loss per leading index. The
reductions are over the sample and class axes (-2, -1) and over the class axis, never across a
leading axis; on NumPy each stacked loss is bitwise the loss of its (B, C) slice.

Each loss declares what the structured curvature paths need (BackPACK's ``sqrt_hessian``):
``hessian_sqrt(z, xp)`` -> M (B, C, C) with M_b M_b^T = H_z,b, the per-sample loss Hessian in z,
and ``hessian_rank(C)`` = rank(M_b). Both losses are the exact functions
PyTorch computes with ``CrossEntropyLoss()`` and ``0.5 * C * MSELoss()`` respectively (PyTorch's
MSELoss also averages over the C outputs, hence the factor C).
"""

from __future__ import annotations

import math

from ..backend import is_floating, is_integer


SAMPLE_AXES = (-2, -1)  # the (B, C) axes a batch mean sums over; leading axes stay apart


class LossInputError(ValueError):
    """Targets that do not fit the loss (wrong shape, dtype or label range)."""


def _onehot(y, C, dtype, xp):
    classes = xp.arange(C, dtype=y.dtype)
    return xp.astype(y[:, None] == classes[None, :], dtype)  # (B, C)


def _check_labels(y, B, C, xp):
    if not is_integer(xp, y):
        raise LossInputError(f"labels must be an integer array, got dtype {y.dtype}")
    if y.ndim != 1 or y.shape[0] != B:
        raise LossInputError(f"labels must have shape ({B},) to match the batch, got {y.shape}")
    if B > 0:
        lo, hi = int(xp.min(y)), int(xp.max(y))
        if lo < 0 or hi >= C:
            raise LossInputError(f"labels must lie in [0, {C - 1}] for {C} classes, got [{lo}, {hi}]")


def _log_softmax(z, xp):
    m = xp.max(z, axis=-1, keepdims=True)  # shift for stability; exact in exact arithmetic
    s = z - m
    return s - xp.log(xp.sum(xp.exp(s), axis=-1, keepdims=True))


class CrossEntropy:
    """Mean cross-entropy from logits with integer labels."""

    name = "cross_entropy"

    def targets(self, y, B, C, dtype, xp):
        _check_labels(y, B, C, xp)
        return _onehot(y, C, dtype, xp)

    def value(self, z, t, xp):
        B = z.shape[-2]
        return -xp.sum(t * _log_softmax(z, xp), axis=SAMPLE_AXES) / B

    def grad(self, z, t, xp):
        B = z.shape[-2]
        p = xp.exp(_log_softmax(z, xp))  # (..., B, C)
        return (p - t) / B

    def hvp(self, z, t, rz, xp):
        B = z.shape[-2]
        p = xp.exp(_log_softmax(z, xp))  # (..., B, C)
        prz = p * rz  # (K, ..., B, C)
        return (prz - p * xp.sum(prz, axis=-1, keepdims=True)) / B

    def hess_factor(self, z, xp):
        """Per-sample Hessian in z, (B, C, C): (diag(p_b) - p_b p_b^T) / B."""
        B, C = z.shape
        p = xp.exp(_log_softmax(z, xp))
        eye = xp.eye(C, dtype=z.dtype)
        return (p[:, :, None] * eye[None, :, :] - p[:, :, None] * p[:, None, :]) / B

    def hessian_sqrt(self, z, xp):
        """M (B, C, C) with M_b M_b^T = H_z,b = (diag(p_b) - p_b p_b^T) / B.

        With s = sqrt(p),
            (diag(s) - p s^T)(diag(s) - s p^T) = diag(p) - 2 p p^T + p (s^T s) p^T = diag(p) - p p^T
        since s^T s = sum p = 1; so M_b = (diag(s) - p s^T) / sqrt(B), of rank C - 1
        (1^T M_b = s^T - s^T = 0: softmax is invariant to a common shift of the logits). The
        diagonal M_ii = s_i (1 - p_i) is evaluated with 1 - p_i = sum_{c != i} p_c, so that every
        entry of M_b M_b^T is a sum of terms no larger than the exact entry (no cancellation
        for p_i -> 1).
        """
        B, C = z.shape
        eye = xp.eye(C, dtype=z.dtype)
        m = xp.max(z, axis=-1, keepdims=True)
        e = xp.exp(z - m)  # (B, C)
        total = xp.sum(e, axis=-1, keepdims=True)
        p = e / total
        s = xp.sqrt(p)
        # 1 - p_i as sum_{c != i} p_c (positive terms): for a confident sample (p_i near 1)
        # the subtraction 1 - p_i would leave a relative error u / (1 - p_i) in M_ii.
        others = xp.where(eye[None, :, :] > 0, xp.zeros_like(e)[:, :, None], e[:, None, :])
        omp = xp.sum(others, axis=-1) / total  # (B, C)
        off = -p[:, :, None] * s[:, None, :]  # M_ij = -p_i s_j (i != j)
        diag = (s * omp)[:, :, None] * eye[None, :, :]  # M_ii = s_i (1 - p_i)
        return (1.0 / math.sqrt(B)) * xp.where(eye[None, :, :] > 0, diag, off)

    def hessian_rank(self, C):
        """rank(M_b) = C - 1: softmax is invariant to a common shift of the logits."""
        return C - 1


class MeanSquaredError:
    """0.5 * batch mean of the squared error, against one-hot labels or real targets."""

    name = "mse"

    def targets(self, y, B, C, dtype, xp):
        if is_integer(xp, y):
            _check_labels(y, B, C, xp)
            return _onehot(y, C, dtype, xp)
        if not is_floating(xp, y):
            raise LossInputError(f"mse targets must be integer labels or real, got dtype {y.dtype}")
        if y.shape != (B, C):
            raise LossInputError(f"real mse targets must have shape ({B}, {C}), got {y.shape}")
        if y.dtype != dtype:
            raise LossInputError(f"mse targets have dtype {y.dtype} but the model runs in {dtype}")
        return y

    def value(self, z, t, xp):
        B = z.shape[-2]
        r = z - t
        return 0.5 * xp.sum(r * r, axis=SAMPLE_AXES) / B

    def grad(self, z, t, xp):
        B = z.shape[-2]
        return (z - t) / B

    def hvp(self, z, t, rz, xp):
        B = z.shape[-2]
        return rz / B

    def hess_factor(self, z, xp):
        """Per-sample Hessian in z, (B, C, C): I / B."""
        B, C = z.shape
        eye = xp.eye(C, dtype=z.dtype)
        return xp.broadcast_to(eye[None, :, :] / B, (B, C, C))

    def hessian_sqrt(self, z, xp):
        """M (B, C, C) = I / sqrt(B): M_b M_b^T = I / B = H_z,b."""
        B, C = z.shape
        eye = xp.eye(C, dtype=z.dtype)
        return xp.broadcast_to((1.0 / math.sqrt(B)) * eye[None, :, :], (B, C, C))

    def hessian_rank(self, C):
        """rank(M_b) = C."""
        return C


LOSSES = {"cross_entropy": CrossEntropy(), "mse": MeanSquaredError()}


def get_loss(name):
    """The loss called ``name``; raises ``ValueError`` naming the choices."""
    if isinstance(name, (CrossEntropy, MeanSquaredError)):
        return name
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None
