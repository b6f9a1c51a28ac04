"""How each layer runs over an ensemble axis, chosen from what the layer declares.

An ensemble holds M parameter sets of one architecture. Per layer, parameters are stacked
arrays (M, *shape); activations are (M, B, ...) per member, or (B, ...) while they are still
the shared network input (every member sees the same batch); R-quantities carry K directions
first, (K, M, B, ...), and parameter directions are (K, M, *shape).

A rule is chosen from the layer's declarations (:mod:`refchaos.nn.layer`), never from its kind:

* ``input_contracted`` (Dense: y = x W^T + b, parameters (W,) or (W, b)): :class:`StackedDense`,
  batched matrix products; a shared input meets all M weights in ONE GEMM,
  x [W_1; ...; W_M]^T (B, M H), and the first-layer weight gradient of all members is one GEMM
  [dY_1, ..., dY_M]^T x (M H, D).
* ``samplewise`` and no parameters (Elementwise, Flatten): :class:`Folded`, the layer's own
  methods on the member axis folded into the batch axis (M B, ...), which is exact since each
  sample's output depends on that sample alone (an activation's cache holds its output, so
  tanh and sigmoid take f', f'' from it: f is evaluated once per pass).
* anything else (Conv2d, pools): :class:`Looped`, the layer's own single-model methods called
  once per member. Every architecture works; the fast path follows from the declarations.

Each rule has the layer protocol's four methods with the shapes above (``shared`` tells whether
the input is the shared one; a parameter-free layer on the shared input is not given to a
rule: it computes the same for every member, and :mod:`.passes` runs it once). Symbols as :mod:`refchaos.nn.dense`: B batch, D input features,
H output features, K directions, M members; W (M, H, D) -> ``W``, b (M, H) -> ``b``,
V_W (K, M, H, D) -> ``VW``, V_b (K, M, H) -> ``Vb``.
"""

from __future__ import annotations

from ..backend import namespace_of


class StackedDense:
    """y_m = x_m W_m^T + b_m for every member m (Dense's equations, batched)."""

    def __init__(self, layer):
        self.layer = layer

    def forward(self, params, x, shared):
        xp = namespace_of(x)
        W = params[0]
        M, H, D = W.shape
        if shared:  # one GEMM: x [W_1; ...; W_M]^T
            B = x.shape[0]
            y = x @ xp.matrix_transpose(xp.reshape(W, (M * H, D)))  # (B, M H)
            y = _member_major(xp, xp.permute_dims(xp.reshape(y, (B, M, H)), (1, 0, 2)))
        else:
            y = x @ xp.matrix_transpose(W)  # (M, B, H)
        if len(params) > 1:
            y = y + params[1][:, None, :]
        return y, (x, shared)

    def backward(self, params, cache, dy, need_dx):
        xp = namespace_of(dy)
        (x, shared), W = cache, params[0]
        M, H, D = W.shape
        dx = dy @ W if need_dx else None  # dx = dy W  (M, B, D)
        if shared:  # one GEMM: dW = [dY_1, ..., dY_M]^T x
            B = dy.shape[1]
            dYcat = xp.reshape(xp.permute_dims(dy, (1, 0, 2)), (B, M * H))  # (B, M H)
            dW = xp.reshape(xp.matrix_transpose(dYcat) @ x, (M, H, D))
        else:
            dW = xp.matrix_transpose(dy) @ x  # dW = dy^T x  (M, H, D)
        dparams = (dW, xp.sum(dy, axis=1)) if len(params) > 1 else (dW,)
        return dx, dparams

    def r_forward(self, params, cache, vparams, rx):
        xp = namespace_of(params[0])
        (x, shared), W = cache, params[0]
        M, H, D = W.shape
        ry = None if rx is None else rx @ xp.matrix_transpose(W)  # R{x} W^T  (K, M, B, H)
        if vparams is None:
            return ry
        VW = vparams[0]
        K = VW.shape[0]
        if shared:  # one GEMM: x [V_W11; ...; V_WKM]^T
            B = x.shape[0]
            xv = x @ xp.matrix_transpose(xp.reshape(VW, (K * M * H, D)))  # (B, K M H)
            xv = _member_major(xp, xp.permute_dims(xp.reshape(xv, (B, K, M, H)), (1, 2, 0, 3)))
        else:
            xv = x @ xp.matrix_transpose(VW)  # x V_W^T  (K, M, B, H)
        ry = xv if ry is None else ry + xv
        if len(params) > 1:
            ry = ry + vparams[1][:, :, None, :]  # + V_b
        return ry

    def r_backward(self, params, cache, dy, vparams, rx, rdy, need_dx):
        xp = namespace_of(rdy)
        (x, shared), W = cache, params[0]
        M, H, D = W.shape
        K = rdy.shape[0]
        rdx = None
        if need_dx:
            rdx = rdy @ W  # R{dy} W  (K, M, B, D)
            if vparams is not None:
                rdx = rdx + dy @ vparams[0]  # + dy V_W
        if shared:  # one GEMM: R{dW} = [R{dY}_11, ..., R{dY}_KM]^T x
            B = rdy.shape[2]
            rdYcat = xp.reshape(xp.permute_dims(rdy, (2, 0, 1, 3)), (B, K * M * H))
            rdW = xp.reshape(xp.matrix_transpose(rdYcat) @ x, (K, M, H, D))
        else:
            rdW = xp.matrix_transpose(rdy) @ x  # R{dy}^T x  (K, M, H, D)
        if rx is not None:
            rdW = rdW + xp.matrix_transpose(dy) @ rx  # + dy^T R{x}
        rdparams = (rdW, xp.sum(rdy, axis=2)) if len(params) > 1 else (rdW,)
        return rdx, rdparams


class Folded:
    """A parameter-free samplewise layer on (M B, ...): the member axis folded into the batch."""

    def __init__(self, layer):
        self.layer = layer

    def forward(self, params, x, shared):
        xp = namespace_of(x)
        M, B = x.shape[:2]
        y, cache = self.layer.forward((), xp.reshape(x, (M * B, *x.shape[2:])))
        return xp.reshape(y, (M, B, *y.shape[1:])), (cache, (M, B))

    def backward(self, params, cache, dy, need_dx):
        if not need_dx:
            return None, ()
        xp = namespace_of(dy)
        inner, (M, B) = cache
        dx, _ = self.layer.backward((), inner, xp.reshape(dy, (M * B, *dy.shape[2:])))
        return xp.reshape(dx, (M, B, *dx.shape[1:])), ()

    def r_forward(self, params, cache, vparams, rx):
        if rx is None:
            return None
        xp = namespace_of(rx)
        inner, (M, B) = cache
        K = rx.shape[0]
        ry = self.layer.r_forward((), inner, None, xp.reshape(rx, (K, M * B, *rx.shape[3:])))
        return xp.reshape(ry, (K, M, B, *ry.shape[2:]))

    def r_backward(self, params, cache, dy, vparams, rx, rdy, need_dx):
        if not need_dx:
            return None, ()
        xp = namespace_of(rdy)
        inner, (M, B) = cache
        K = rdy.shape[0]
        fold = (lambda a, lead: None if a is None else
                xp.reshape(a, (*lead, M * B, *a.shape[len(lead) + 2:])))
        rdx, _ = self.layer.r_backward((), inner, fold(dy, ()), None, fold(rx, (K,)),
                                       fold(rdy, (K,)))
        return xp.reshape(rdx, (K, M, B, *rdx.shape[2:])), ()


class Looped:
    """Any layer: its single-model methods called once per member m."""

    def __init__(self, layer):
        self.layer = layer

    def forward(self, params, x, shared):
        xp = namespace_of(x)
        M = params[0].shape[0] if shared else x.shape[0]  # a shared input meets parameters
        outs = [self.layer.forward(_member(params, m), x if shared else x[m, ...])
                for m in range(M)]
        return xp.stack([y for y, _ in outs]), [c for _, c in outs]

    def backward(self, params, caches, dy, need_dx):
        xp = namespace_of(dy)
        outs = [self.layer.backward(_member(params, m), c, dy[m, ...], need_dx=need_dx)
                for m, c in enumerate(caches)]
        dx = xp.stack([d for d, _ in outs]) if need_dx else None
        return dx, tuple(xp.stack([g[i] for _, g in outs]) for i in range(len(params)))

    def r_forward(self, params, caches, vparams, rx):
        if rx is None and vparams is None:
            return None
        xp = namespace_of(*(() if rx is None else (rx,)), *params)
        rys = [self.layer.r_forward(_member(params, m), c, _direction(vparams, m),
                                    None if rx is None else rx[:, m, ...])
               for m, c in enumerate(caches)]
        return xp.stack(rys, axis=1)  # (K, M, B, ...)

    def r_backward(self, params, caches, dy, vparams, rx, rdy, need_dx):
        xp = namespace_of(rdy)
        outs = [self.layer.r_backward(_member(params, m), c, dy[m, ...], _direction(vparams, m),
                                      None if rx is None else rx[:, m, ...], rdy[:, m, ...],
                                      need_dx=need_dx)
                for m, c in enumerate(caches)]
        rdx = xp.stack([r for r, _ in outs], axis=1) if need_dx else None
        return rdx, tuple(xp.stack([g[i] for _, g in outs], axis=1) for i in range(len(params)))


def _member_major(xp, a):
    """``a`` stored in C order of its shape ((K,) M, B, H: each member's (B, H) block contiguous).

    The shared GEMM leaves the member axis inside each row; every later product and
    elementwise operation pairs it with member-major arrays, and at ensemble sizes (hundreds of
    MB) the mismatched strides cost a cache and TLB miss per element (measured 3x slower
    steps), against one copy here.
    """
    return xp.reshape(xp.reshape(a, (-1,)), a.shape)


def _member(params, m):
    return tuple(p[m, ...] for p in params)


def _direction(vparams, m):
    return None if vparams is None else tuple(v[:, m, ...] for v in vparams)


def rule_for(layer, in_shape):
    """The ensemble rule of ``layer`` (per-sample input shape ``in_shape``) from its declarations."""
    if getattr(layer, "input_contracted", False):
        return StackedDense(layer)
    if getattr(layer, "samplewise", False) and not layer.param_shapes(in_shape):
        return Folded(layer)
    return Looped(layer)
