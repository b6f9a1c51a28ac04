"""The Dense-first-layer specialisation: the input range of a first ``x W^T + b`` layer.

Let layer f be the first parameter layer, declared ``input_contracted`` (Dense: y = a W^T + b
with a = a_{f-1} (B, D) the per-sample input, which does not depend on theta). Then, for ANY
layers above f (smooth activations included) and any loss,

    dL/dW = sum_b delta_b a_b^T,   delta_b = dL/dy_b (H,)

and every derivative of it along any direction is again sum_b u_b a_b^T (a is constant): the W
rows of every column of H lie in R^H (x) span(a_1, ..., a_B). With Q_a (D, q) an orthonormal
basis of span(a_b) (QR of a^T, q = min(D, B)), a = a Q_a Q_a^T exactly, so

    L(W, b, rest) = L~(W Q_a, b, rest)                    for every W

where L~ is the same network with layer f replaced by Dense(q, H) acting on the reduced inputs
a~ = a Q_a (B, q) (:func:`reduce`). Hence, with P the linear map theta -> theta~ (W -> W Q_a,
identity on b and the rest; Q = P^T has orthonormal columns),

    H = Q T Q^T,   T = d^2 L~ / dtheta~^2   (N~ x N~, N~ = H q + H + |rest|)

The non-zero eigenpairs of H are (mu, Q U) for the non-zero eigenpairs (mu, U) of T
(:func:`lift` applies Q: V_W = U_W Q_a^T per row h), and T is the exact Hessian of a network
whose first layer has q instead of D inputs (for H22's 256-20-10 MLP at B = 8: N~ = 390 of
5,350). The reduced network goes through the same machinery (structured Hessian, free-layer
range), so nothing about its activations is assumed.

The same structure gives the Kronecker form of the Gauss-Newton block of a free first Dense
layer used by the structured Hessian (:func:`fill_gauss_newton_block`).

Symbols: a -> ``a`` (B, D); Q_a -> ``Qa`` (D, q); theta~ -> ``theta_r``; T's eigenpairs (mu, U).
"""

from __future__ import annotations

import array_api_compat
import numpy as np



def first_contracted_layer(model):
    """Index f of the first parameter layer if it declares ``input_contracted``, else None."""
    f = model.first_param_layer
    return f if getattr(model.layers[f], "input_contracted", False) else None


def reduced_size(model, batch_size):
    """q = min(D, B) of the input basis, or None where there is no reduction (no such layer, q = D)."""
    f = first_contracted_layer(model)
    if f is None:
        return None
    D = model.layers[f].in_features
    q = min(D, int(batch_size))
    return q if q < D else None


def reduced_model(model, q):
    """The network with layer f replaced by ``with_in_features(q)``, on (q,) inputs."""
    from ..nn.model import Model  # refchaos.nn imports refchaos.curvature: import at call time

    f = first_contracted_layer(model)
    layers = [model.layers[f].with_in_features(q)] + list(model.layers[f + 1:])
    return Model(layers, model.loss_fn, (q,))


class Reduction:
    """The reduced problem (model~, theta~, a~) of one batch and the map Q back to theta.

    Attributes
    ----------
    model, theta, x : the reduced network, its parameters theta~ (N~,) and inputs a~ (B, q)
    Qa : (D, q)     orthonormal basis of the span of the layer-f inputs
    H, D : int      the layer's output and input features
    """

    def __init__(self, model, theta, x, Qa, H, D):
        self.model, self.theta, self.x, self.Qa, self.H, self.D = model, theta, x, Qa, H, D

    def lift(self, U):
        """Q U (N, n) for U (N~, n): W rows U_W Q_a^T, the remaining rows unchanged."""
        xp = array_api_compat.array_namespace(U)
        H, D, q = self.H, self.D, self.Qa.shape[1]
        n = U.shape[1]
        UW = xp.reshape(U[:H * q, :], (H, q, n))
        VW = self.Qa[None, :, :] @ UW  # (H, D, n): row h of W is Q_a U_h
        return xp.concat([xp.reshape(VW, (H * D, n)), U[H * q:, :]], axis=0)


def reduce(model, theta, x):
    """The :class:`Reduction` of (model, theta, x), or None where q = min(D, B) is not < D."""
    q = reduced_size(model, x.shape[0])
    if q is None:
        return None
    xp, params, _ = model.prepare(theta, x, None)
    f = first_contracted_layer(model)
    a = x
    for layer, p in zip(model.layers[:f], params[:f]):  # parameter-free layers below f
        a, _ = layer.forward(p, a)
    Qa, _ = xp.linalg.qr(xp.matrix_transpose(a))  # (D, q): span of the inputs a_b
    layer = model.layers[f]
    H, D = layer.out_features, layer.in_features
    W = params[f][0]  # (H, D), the first block of theta
    theta_r = xp.concat([xp.reshape(W @ Qa, (-1,)), theta[H * D:]])  # W~ = W Q_a, rest as is
    return Reduction(reduced_model(model, Qa.shape[1]), theta_r, a @ Qa, Qa, H, D)


def fill_gauss_newton_block(H, a0, a1, x, Delta, bias, xp):
    """Write H[s, s] = G_s^T G_s of a free first Dense layer (span a0:a1) into H, Kronecker-wise.

    With G[(c, b), (h, d)] = Delta[c, b, h] x[b, d] (and Delta for the bias),
        H[W_hd, W_h'd'] = sum_b K_b[h, h'] x_bd x_bd',   K_b = sum_c Delta_cb Delta_cb^T (H, H)
        H[W_hd, b_h']   = sum_b K_b[h, h'] x_bd,         H[b, b] = sum_b K_b
    as GEMMs with inner dimension B instead of B C (C times fewer flops than G^T G).
    """
    B, D = x.shape
    Hh = Delta.shape[2]
    K = xp.sum(Delta[:, :, :, None] * Delta[:, :, None, :], axis=0)  # (B, H, H)
    xT = xp.matrix_transpose(x)  # (D, B)
    w = a0 + Hh * D  # end of the weight rows
    on_numpy = array_api_compat.is_numpy_namespace(xp)
    for h in range(Hh):
        rows = slice(a0 + h * D, a0 + (h + 1) * D)
        Kx = xp.reshape(K[:, h, :, None] * x[:, None, :], (B, Hh * D))  # (B, H D)
        if on_numpy:  # the same product written in place: no (D, H D) temporary and copy
            np.matmul(xT, Kx, out=H[rows, a0:w])
        else:
            H[rows, a0:w] = xT @ Kx  # (D, H D)
        if bias:
            H[rows, w:a1] = xT @ K[:, h, :]  # (D, H)
    if bias:
        Kb = xp.reshape(xp.permute_dims(K, (1, 2, 0)), (Hh * Hh, B)) @ x  # (H H, D): [h', h, d]
        H[w:a1, a0:w] = xp.reshape(Kb, (Hh, Hh * D))
        H[w:a1, w:a1] = xp.sum(K, axis=0)
