"""The generalized Gauss-Newton matrix G = J^T H_z J, dense and as a matrix-vector product.

With z = f(theta; x) the logits (B, C), J = dz/dtheta (B C, N) and H_z = d^2 L / dz^2 the loss
Hessian in the logits (block diagonal over the batch, per-sample blocks H_z,b = M_b M_b^T):

    G = J^T H_z J = sum_b J_b^T H_z,b J_b                                        (Eq. G1)
    G v = J^T (H_z (J v))                                                         (Eq. G2)

G is the Hessian without the terms of the network's own curvature,
H = G + sum_{b,c} (dL/dz_bc) d^2 z_bc / dtheta^2 (Schraudolph 2002); it is positive
semi-definite, of rank at most B (C - 1) for cross-entropy and B C for mse.

Fisher. For the softmax cross-entropy the model's predictive distribution p_b = softmax(z_b)
gives the (true) Fisher information of the mean loss

    F = (1/B) sum_b E_{c ~ p_b} [grad ln p_b[c] grad ln p_b[c]^T]
      = (1/B) sum_b J_b^T (diag(p_b) - p_b p_b^T) J_b = G                          (Eq. G3)

since grad_z ln p_b[c] = e_c - p_b and E_c[(e_c - p)(e_c - p)^T] = diag(p) - p p^T. So
:func:`ggn` is the Fisher for cross-entropy (and for mse the Fisher of a unit-variance
Gaussian likelihood, J^T J / B). It is not the "empirical Fisher" built from the observed
labels' gradients.

Dense G is assembled from the factored Jacobian (one backward pass of C cotangents per
sample, :mod:`refchaos.curvature.hbp` without residuals): G = Gf^T Gf, Gf (C B, N). G v is the
R-forward J v, the loss Hessian in z, and one batched backward J^T.

Symbols: J v -> ``rz`` (K, B, C); H_z rz -> ``u``; Gf -> ``Gf``.
"""

from __future__ import annotations

from ..backend import namespace_of
from .backprop import forward_pass
from .hbp import PER_SAMPLE, prepared_factors
from .rop import r_forward_pass
from .structure import _backward_block


def ggn_factor(model, theta, x, y):
    """Gf (C B, N) with Gf^T Gf = G (Eq. G1): rows (c, b) = J_b^T M_b[:, c]."""
    xp, params, caches, factors = prepared_factors(model, theta, x, y, residuals=False)
    blocks = [PER_SAMPLE[model.layers[i].kind](model.layers[i], caches[i], f[0], xp)  # (C B, n_l)
              for i, f in enumerate(factors) if f is not None]
    return xp.concat(blocks, axis=1)


def ggn(model, theta, x, y):
    """The generalized Gauss-Newton matrix G (N, N) of the mean loss (Eq. G1); the Fisher
    for cross-entropy (Eq. G3). Symmetric positive semi-definite, exact, theta's dtype."""
    Gf = ggn_factor(model, theta, x, y)
    return namespace_of(Gf).matrix_transpose(Gf) @ Gf  # (N, N)


def ggn_vp(model, theta, x, y, v):
    """G v (Eq. G2): (N,) for v (N,), (N, K) for v (N, K); no matrix formed."""
    xp, params, t = model.prepare(theta, x, y)
    VT = model.check_directions(v, theta, xp)
    z, caches = forward_pass(model, params, x)
    rz, _ = r_forward_pass(model, params, caches, model.layout.unflatten_block(VT, xp))  # J v (K, B, C)
    dY = model.loss_fn.hvp(z, t, rz, xp)  # H_z J v (K, B, C)
    grads = [()] * len(model.layers)
    for i in range(len(model.layers) - 1, model.first_param_layer - 1, -1):
        dY, grads[i] = _backward_block(model.layers[i], params[i], caches[i], dY, xp,
                                       need_dx=i > model.first_param_layer)
    GVT = model.layout.flatten_block(grads, xp)  # (K, N)
    return GVT[0, :] if v.ndim == 1 else xp.matrix_transpose(GVT)
