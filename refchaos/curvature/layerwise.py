"""The exact Hessian from R-operator passes truncated to the layers each direction reaches.

Write theta = (theta_1, ..., theta_L) by layer and H_ji = d^2 L / dtheta_j dtheta_i. For a
direction v supported on layer i alone (v = e_k, k in layer i):

    R{a_l} = 0                    for l < i   (the layers below i do not see theta_i)
    R{a_i} = layer_i.r_forward(params_i, a_{i-1}, v_i, R{a_{i-1}} = 0)
    R{a_l} = layer_l.r_forward(params_l, a_{l-1}, V = 0, R{a_{l-1}})          l > i
    R{dL/dz} = H_z R{z}
    (R{dy_{l-1}}, R{g_l}) = layer_l.r_backward(..., V = 0 unless l = i, ...)  l = L .. i

and R{g_l} = H_li e_k. Stopping the backward at layer i gives the blocks H_li for l >= i, the
lower block triangle; H_il = H_li^T fills the rest (Eq.: H symmetric). Compared with a full
HVP per direction (:func:`refchaos.curvature.hessian.hessian_rop`), a direction of layer i
pays only for the layers i..L, and no zero V term is multiplied anywhere. For H22's CNN the
directions of the late, small layers (the 584 parameters of the fourth convolution act on 2 x 2
images) cost a fraction of those of the first.

Each column block of layer i is exact R-operator arithmetic; the diagonal blocks H_ii are not
symmetrised (their asymmetry measures rounding, as in the reference), the off-diagonal ones
are symmetric by construction.

Symbols: i the layer of the directions, (a, b) its span in theta; k directions per pass;
``dys[l]`` the first-order cotangent dL/da_l at layer l's output; ``rxs[l]`` = R{a_{l-1}}.
"""

from __future__ import annotations

from .backprop import forward_pass


def output_cotangents(model, params, caches, dz):
    """dy_l = dL/da_l (B, ...) at every layer's output, l >= first_param_layer (None below)."""
    L = len(model.layers)
    dys = [None] * L
    dy = dz
    for i in range(L - 1, model.first_param_layer - 1, -1):
        dys[i] = dy
        if i > model.first_param_layer:
            dy, _ = model.layers[i].backward(params[i], caches[i], dy, need_dx=True)
    return dys


def _directions(model, i, j0, k, dtype, xp):
    """vparams of layer i for the k identity directions j0 .. j0 + k - 1 inside it."""
    spans, shapes = model.layout.slices[i], model.layout.shapes[i]
    a, b = spans[0][0], spans[-1][1]
    ET = xp.eye(k, b - a, k=j0 - a, dtype=dtype)  # (k, n_i): those rows of the identity
    return tuple(xp.reshape(ET[:, s0 - a:s1 - a], (k, *shape)) for (s0, s1), shape in zip(spans, shapes))


def layer_columns(model, params, caches, z, t, dys, i, vp, xp):
    """R{g_l} (k, n_l) for l = L-1 .. i of the k directions vp of layer i: H_li's columns."""
    L = len(model.layers)
    rxs = [None] * L
    rx = model.layers[i].r_forward(params[i], caches[i], vp, None)  # R{a_{i-1}} = 0
    for l in range(i + 1, L):
        rxs[l] = rx
        rx = model.layers[l].r_forward(params[l], caches[l], None, rx)
    rdy = model.loss_fn.hvp(z, t, rx, xp)  # R{dL/dz} = H_z R{z}
    out = {}
    for l in range(L - 1, i - 1, -1):
        layer = model.layers[l]
        rdy, rg = layer.r_backward(params[l], caches[l], dys[l], vp if l == i else None, rxs[l],
                                   rdy, need_dx=l > i)
        if rg:
            out[l] = xp.concat([xp.reshape(g, (g.shape[0], -1)) for g in rg], axis=1)  # (k, n_l)
    return out


def hessian_layerwise(model, theta, x, y, block_size):
    """H (N, N) from truncated R-operator passes, ``block_size`` directions per pass (module)."""
    xp, params, t = model.prepare(theta, x, y)
    N = model.num_params
    z, caches = forward_pass(model, params, x)
    dys = output_cotangents(model, params, caches, model.loss_fn.grad(z, t, xp))
    H = xp.empty((N, N), dtype=theta.dtype)
    spans = [(s[0][0], s[-1][1]) if s else None for s in model.layout.slices]
    for i, span in enumerate(spans):
        if span is None:
            continue
        a, b = span
        for j0 in range(a, b, block_size):
            k = min(block_size, b - j0)
            vp = _directions(model, i, j0, k, theta.dtype, xp)
            for l, rows in layer_columns(model, params, caches, z, t, dys, i, vp, xp).items():
                c0, c1 = spans[l]
                H[c0:c1, j0:j0 + k] = xp.matrix_transpose(rows)  # columns j0.. of H, rows of layer l
                if l != i:
                    H[j0:j0 + k, c0:c1] = rows  # H_il = H_li^T
    return H


def layerwise_cost(model):
    """Estimated work (multiply-adds per sample) of :func:`hessian_layerwise`: sum_i n_i sum_{l>=i} w_l."""
    w = layer_work(model)
    total = 0
    for i, shapes in enumerate(model.layout.shapes):
        n_i = sum(_prod(s) for s in shapes)
        total += n_i * sum(w[i:])
    return total


def layer_work(model):
    """Per-layer work of one direction and one sample: activations in and out, plus the weight
    product (parameters times output positions, the weight's first axis being the output channel)."""
    work = []
    for i, layer in enumerate(model.layers):
        out = model.in_shapes[i + 1] if i + 1 < len(model.layers) else model.output_shape
        w = _prod(model.in_shapes[i]) + _prod(out)
        shapes = model.layout.shapes[i]
        if shapes:
            positions = max(1, _prod(out) // max(1, shapes[0][0]))
            w += sum(_prod(s) for s in shapes) * positions
        work.append(w)
    return work


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n
