"""The layer structure of the minibatch Hessian that the fast Hessian and the range spectrum use.

Split the Hessian of L(z(theta)) into its Gauss-Newton part and the rest:

    H = J^T H_z J + S,     S = sum_{b,c} (dL/dz_bc) d^2 z_bc / dtheta^2

with J (B C, N) the per-sample Jacobian of the logits and H_z the loss Hessian in z, block
diagonal with per-sample blocks H_z,b (C, C). Write H_z,b = M_b M_b^T (:func:`loss_factor`);
then J^T H_z J = G^T G with the factored Jacobian G = M^T J (B C, N), whose row (b, c) is the
gradient of the scalar M_b[:, c] . z_b (:func:`factored_jacobian`, one batched backward pass
with C cotangents per sample, no Hessian-vector products).

Free layer. Pick one parameter layer s (the *free layer*, parameters theta_s) such that S has no
(theta_s, theta_s) block: z is linear in theta_s (a dense or convolutional layer is linear in its
own weight and bias), and every layer above s is linear or piecewise linear in its input
(dense, conv, flatten, pooling, ReLU/identity), as the layers declare (``linear_in_params``,
``input_hessian_is_zero``, :mod:`refchaos.nn.layer`), so no second derivative of an activation joins
two directions of theta_s (the R-operator along a theta_s-only direction with R{dL/dz} = 0 is
zero on theta_s). Then, with c the complement of s,

    H[s, s] = G_s^T G_s                    (exactly; S_ss = 0)
    H[:, c] = H E_c                        (blocked R-operator HVPs, |c| directions)
    H[c, s] = H[s, c]^T                    (symmetry)

:func:`free_layer` picks the eligible layer with the most parameters (the first Dense layer
of an MLP: 5,140 of 5,350 parameters of the 256-20-10 MLP, so only 210 HVPs are needed), or
returns None when no layer qualifies (then callers fall back to the R-operator Hessian).

Range. With the same split, every column of H lies in span(E_c) (+) (range(G_s^T) + range(H[s, c]))
on the theta_s coordinates, so rank(H) <= |c| + rank(M) B + |c|: for the MLP with cross-entropy
(rank(M_b) = C - 1) this is B (C - 1) + 2 (C H + C), the bound of DESIGN.md.

Symbols: M_b -> ``M`` (B, C, C); G -> ``G`` (B C, n_s) restricted to theta_s; s -> ``span``
(a, b) = the offsets of theta_s in theta.
"""

from __future__ import annotations

import math

def loss_factor(model, z, xp):
    """M (B, C, C) with M_b M_b^T = H_z,b, the per-sample loss Hessian in z.

    The loss declares it (``hessian_sqrt``, :mod:`refchaos.nn.losses`): for cross-entropy
    M_b = (diag(sqrt p) - p sqrt(p)^T) / sqrt(B) of rank C - 1, for mse I / sqrt(B).
    """
    loss = model.loss_fn
    if not hasattr(loss, "hessian_sqrt"):
        raise ValueError(f"loss {loss.name!r} declares no Hessian square root (hessian_sqrt)")
    return loss.hessian_sqrt(z, xp)


def loss_factor_rank(model, C):
    """rank(M_b), as the loss declares it (``hessian_rank``): C - 1 for cross-entropy, C for mse."""
    return model.loss_fn.hessian_rank(C)


def _second_order_free(layer):
    """True if the layer declares that its output has no second derivative in its input."""
    return bool(getattr(layer, "input_hessian_is_zero", False))


def free_layer(model):
    """Index of the free layer s (module docstring), or None if no layer qualifies.

    Eligible: a layer that declares ``linear_in_params`` with every layer above it declaring
    ``input_hessian_is_zero`` (:mod:`refchaos.nn.layer`).
    """
    best, best_n = None, 0
    for i, layer in enumerate(model.layers):
        n = sum(math.prod(s) for s in model.layout.shapes[i])
        above_ok = all(_second_order_free(l) for l in model.layers[i + 1:])
        if n > best_n and getattr(layer, "linear_in_params", False) and above_ok:
            best, best_n = i, n
    return best


def free_span(model, s):
    """Offsets (a, b) of the free layer's parameters in theta."""
    spans = model.layout.slices[s]
    return spans[0][0], spans[-1][1]


def _backward_block(layer, p, cache, dY, xp, need_dx=True):
    """(dX, per-layer parameter cotangents) of K cotangents dY (K, B, ...) through one layer.

    Uses the layer's ``backward_block`` where it has one (Dense, Elementwise); otherwise the
    R-backward with zero parameter directions and R{x} = 0, which is the same linear map.
    """
    if hasattr(layer, "backward_block"):
        return layer.backward_block(p, cache, dY, need_dx=need_dx)
    K = dY.shape[0]
    zero = tuple(xp.zeros((K, *a.shape), dtype=dY.dtype) for a in p)
    dy = xp.zeros_like(dY[0, ...])  # first-order cotangent: it only meets the zero directions
    return layer.r_backward(p, cache, dy, zero, None, dY, need_dx=need_dx)


def free_cotangents(model, params, caches, z, s, xp):
    """Delta (C, B, ...): the cotangent columns M_b[:, c] of every sample, carried to layer s's output.

    One backward pass from the logits to layer s with a leading axis of size C.
    """
    M = loss_factor(model, z, xp)  # (B, C, C)
    dY = xp.permute_dims(M, (2, 0, 1))  # (C, B, C): dY[c, b, :] = M_b[:, c]
    for i in range(len(model.layers) - 1, s, -1):
        dY, _ = _backward_block(model.layers[i], params[i], caches[i], dY, xp)
    return dY


def factored_jacobian(model, params, caches, dY, s, xp):
    """G_s (C B, n_s): rows (c, b) = d (M_b[:, c] . z_b) / d theta_s, the free layer's block of G.

    From the cotangents dY = :func:`free_cotangents` (C, B, ...), the per-sample parameter
    gradients of layer s come from its ``per_sample_grads`` (Dense: outer products) or, for
    other layers, from one backward per (c, b) with the cotangent restricted to sample b.
    """
    C, B = dY.shape[0], dY.shape[1]
    layer = model.layers[s]
    if hasattr(layer, "per_sample_grads"):
        per = layer.per_sample_grads(params[s], caches[s], dY)  # each (C, B, *shape)
        return xp.concat([xp.reshape(g, (C * B, -1)) for g in per], axis=1)
    # Generic: (C B, B, ...) cotangents, row (c, b) nonzero only at sample b.
    onehot = xp.eye(B, dtype=dY.dtype)  # (B, B)
    shape = tuple(dY.shape[2:])
    rows = xp.reshape(onehot, (1, B, B) + (1,) * len(shape)) * dY[:, :, None, ...]
    rows = xp.reshape(rows, (C * B, B) + shape)  # (C B, B, ...)
    _, grads = _backward_block(layer, params[s], caches[s], rows, xp, need_dx=False)
    return xp.concat([xp.reshape(g, (C * B, -1)) for g in grads], axis=1)


def complement_rows(model, s, dtype, xp):
    """The identity rows E_c^T (|c|, N) of the parameters outside the free layer."""
    N = model.num_params
    a, b = free_span(model, s)
    parts = []
    if a > 0:
        parts.append(xp.eye(a, N, k=0, dtype=dtype))
    if b < N:
        parts.append(xp.eye(N - b, N, k=b, dtype=dtype))
    return parts
