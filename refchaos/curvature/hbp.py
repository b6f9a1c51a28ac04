"""Exact per-sample Hessians of the loss in each layer's output, carried down in factored form.

Hessian backpropagation (the exact recursion behind the block-diagonal curvature of Dangel,
Harmeling, Hennig 2020, "Modular block-diagonal curvature approximations", kept without any
approximation; equation (*) below is derived here, by the chain rule). The loss is a mean of
per-sample terms and every layer acts on each sample alone, so the Hessian of L in a layer's
output a_l is block diagonal over the batch, with per-sample blocks H_{a_l,b}. The chain rule
through one layer a_l = f_l(a_{l-1}) gives, exactly,

    H_{a_{l-1},b} = J_b^T H_{a_l,b} J_b + sum_i (dL/da_{l,bi}) d^2 a_{l,bi} / da_{l-1,b}^2     (*)

with J_b = da_{l,b}/da_{l-1,b}. The second (residual) term vanishes for layers linear or
piecewise linear in their input (dense, conv2d, pooling, flatten, ReLU, identity); for an
elementwise activation y = f(x) it is diag(r_b), r_b = dL/dy_b * f''(x_b).

Factored form. Each H_{a_l,b} is kept as a signed sum of outer products,

    H_{a_l,b} = sum_k sigma_kb S_kb S_kb^T,     S (K, B, *shape_l),  sigma (K, B) in {-1, 0, 1}

At the logits S = M^T, the columns of the loss factor M_b M_b^T = H_{z,b}
(:func:`refchaos.curvature.structure.loss_factor`), sigma = 1. Through a layer, J_b^T acts on
every column (one batched backward of K cotangents); an activation with a residual appends
the D columns sqrt(|r_b|) e_d with signs sign(r_b)_d, so diag(r_b) = sum_d sign(r_bd) |r_bd| e_d e_d^T.
Nothing is dropped or approximated: (*) holds term by term, so every quantity read off the
factors (the Hessian's diagonal, its diagonal blocks per layer) is exact to rounding.
Without the residual columns the factors give the generalized Gauss-Newton matrix instead.

Symbols: S_kb -> ``S[k, b]``; sigma -> ``sign``; r_b -> ``r``; M_b -> ``M``.
"""

from __future__ import annotations

import math

from .backprop import forward_pass
from .structure import _backward_block, loss_factor

RESIDUAL_FREE = ("dense", "conv2d", "maxpool2d", "avgpool2d", "flatten")  # (*) has no residual
PARAMETER_KINDS = ("dense", "conv2d")  # outputs linear in their own parameters: d^2 a / dtheta^2 = 0


class CurvatureLayerError(ValueError):
    """A layer kind that the exact factored Hessian backpropagation has no rule for."""


def _check_kinds(model):
    for i, layer in enumerate(model.layers):
        has_params = bool(model.layout.shapes[i])
        if has_params and layer.kind not in PARAMETER_KINDS:
            raise CurvatureLayerError(
                f"layer {i} ({layer!r}, kind {layer.kind!r}) has parameters but is not one of {', '.join(PARAMETER_KINDS)}"
            )
        if layer.kind not in RESIDUAL_FREE and layer.kind != "activation":
            raise CurvatureLayerError(f"layer {i} ({layer!r}, kind {layer.kind!r}): no Hessian backpropagation rule")


def _residual_columns(layer, cache, dy, xp):
    """(S_r (D, B, *shape), sign (D, B)) with sum_d sign S_r S_r^T = diag(dy * f''(x)) per sample."""
    x = cache.x  # the activation's input (B, *shape)
    B = x.shape[0]
    shape = tuple(x.shape[1:])
    r = xp.reshape(dy * layer.d2f(cache, xp), (B, -1))  # (B, D): residual of (*)
    D = r.shape[1]
    eye = xp.eye(D, dtype=r.dtype)
    S = eye[:, None, :] * xp.sqrt(xp.abs(r))[None, :, :]  # (D, B, D): column d is sqrt|r_bd| e_d
    sign = xp.matrix_transpose(xp.sign(r))  # (D, B)
    return xp.reshape(S, (D, B) + shape), sign


def output_factors(model, params, caches, z, t, xp, residuals=True):
    """Per layer i: (S, sign) at layer i's output for every parameter layer, else None.

    ``residuals=True``: the exact Hessian factors of (*). ``residuals=False``: the
    Gauss-Newton factors (no second-derivative terms of the activations).
    """
    _check_kinds(model)
    M = loss_factor(model, z, xp)  # (B, C, C), M_b M_b^T = H_z,b
    S = xp.permute_dims(M, (2, 0, 1))  # (C, B, C): S[c, b, :] = M_b[:, c]
    sign = xp.ones(S.shape[:2], dtype=z.dtype)  # (C, B)
    dy = model.loss_fn.grad(z, t, xp) if residuals else None  # (B, C): dL/dz
    factors = [None] * len(model.layers)
    for i in range(len(model.layers) - 1, model.first_param_layer - 1, -1):
        layer, p, cache = model.layers[i], params[i], caches[i]
        if model.layout.shapes[i]:
            factors[i] = (S, sign)
        if i == model.first_param_layer:
            break
        S, _ = _backward_block(layer, p, cache, S, xp)  # J_b^T on every column
        if residuals:
            dx, _ = layer.backward(p, cache, dy)
            if layer.kind == "activation" and not layer.act.piecewise_linear:
                S_r, sign_r = _residual_columns(layer, cache, dy, xp)
                S, sign = xp.concat([S, S_r], axis=0), xp.concat([sign, sign_r], axis=0)
            dy = dx
    return factors


def prepared_factors(model, theta, x, y, residuals=True):
    """(xp, params, caches, factors) at theta on (x, y); see :func:`output_factors`."""
    xp, params, t = model.prepare(theta, x, y)
    z, caches = forward_pass(model, params, x)
    return xp, params, caches, output_factors(model, params, caches, z, t, xp, residuals)


CHUNK_BYTES = 2**28  # memory for the per-sample gradients of one chunk of factor columns (256 MiB)


def _dense_per_sample(layer, cache, S, xp):
    """Per-sample (W, b) gradients of a dense layer for cotangents S (k, B, H): (k B, n_l)."""
    k, B = S.shape[0], S.shape[1]
    return xp.concat([xp.reshape(g, (k * B, -1)) for g in layer.per_sample_grads(None, cache, S)], axis=1)


def _conv_per_sample(layer, cache, S, xp):
    """Per-sample (W, b) gradients of a conv layer for cotangents S (k, B, O, Ho, Wo): (k B, n_l).

    With the layer's unfolded patches cols (B, P, L) (:mod:`refchaos.nn.conv`), the gradient of
    one sample's cotangent dy_b (O, L) is dW_b = dy_b cols_b^T (O, P) and db_b = sum_l dy_b.
    """
    cols = cache[0]  # (B, P, L)
    k, B, O = S.shape[0], S.shape[1], S.shape[2]
    dY = xp.reshape(S, (k, B, O, cols.shape[2]))  # (k, B, O, L)
    dW = dY @ xp.matrix_transpose(cols)[None, ...]  # (k, B, O, P)
    parts = [xp.reshape(dW, (k * B, -1))]
    if layer.bias:
        parts.append(xp.reshape(xp.sum(dY, axis=3), (k * B, O)))
    return xp.concat(parts, axis=1)


PER_SAMPLE = {"dense": _dense_per_sample, "conv2d": _conv_per_sample}  # kinds of PARAMETER_KINDS


def gradient_chunks(model, params, caches, i, S, sign, xp):
    """Yield (G, w): per-sample gradients G (k B, n_l) of layer i for a chunk of k factor columns
    and their signs w (k B,), so that H[theta_l, theta_l] = sum over chunks of G^T diag(w) G.

    Row (k, b) of G is (d a_{l,b} / d theta_l)^T S_kb; the chunk size keeps G (and a conv
    layer's (k, B, O, P) product) near :data:`CHUNK_BYTES`.
    """
    K, B = S.shape[0], S.shape[1]
    layer = model.layers[i]
    n_l = sum(math.prod(s) for s in model.layout.shapes[i])
    k = max(1, min(K, CHUNK_BYTES // (8 * B * n_l)))
    for k0 in range(0, K, k):
        k1 = min(K, k0 + k)
        G = PER_SAMPLE[layer.kind](layer, caches[i], S[k0:k1, ...], xp)  # rows (k, b)
        yield G, xp.reshape(sign[k0:k1, ...], (-1,))
