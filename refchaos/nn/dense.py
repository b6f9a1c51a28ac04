"""Dense (fully connected) layer, PyTorch's ``nn.Linear``: y = x W^T + b.

Symbols: B batch, D input features, H output features, K tangent directions.
W (H, D) -> ``W``, b (H,) -> ``b``; a tangent direction (V_W, V_b) -> ``VW`` (K, H, D),
``Vb`` (K, H).

forward      y = x W^T + b
backward     dx = dy W,            dW = dy^T x,               db = sum_b dy
R-forward    R{y} = R{x} W^T + x V_W^T + V_b
block        K cotangents dY (K, B, H) at once: dX = dY W, dW = dY^T x, db = sum_b dY
per-sample   dW_kb = dY_kb x_b^T (K, B, H, D), db_kb = dY_kb (the summands of dW, db)
R-backward   R{dx} = R{dy} W + dy V_W
             R{dW} = R{dy}^T x + dy^T R{x}
             R{db} = sum_b R{dy}
The R-backward is the derivative of the backward line along (V_W, R{x}, R{dy}); dy V_W and
dy^T R{x} are the cross-terms that make up the non-Gauss-Newton part of the Hessian.
``vparams=None`` means V_W = V_b = 0 (a direction outside this layer): the V terms are skipped.

Layout for the BLAS: every sum over the batch a^T b (dW = dy^T x and its R-terms) is computed
as (b^T a)^T by :func:`batch_contract`. Both are the same exact sums; for a large batch B the
form b^T a (output D x H) runs at the GEMM rate in OpenBLAS, while a^T b (output H x D, the
B-long inner dimension behind a transposed left operand) ran 1.2x slower on one thread and up
to 10x slower on two (64 x 60,000 @ 60,000 x 784, ``validation/bench/bench_fullbatch.py``).
A block of K directions on a small shared batch (B <= D) instead runs as one (K H, B) @ (B, D)
GEMM whose output is already theta's row-major order (:func:`stacked_contract`).
"""

from __future__ import annotations

from ..backend import namespace_of
from .layer import Layer, LayerShapeError


def batch_contract(a, b, xp):
    """a^T b summed over the batch axis, (..., H, D), in the form the BLAS runs fastest.

    a (..., B, H) and b (..., B, D) broadcast over their leading axes. In general the result is
    (b^T a)^T, a transposed view of the (..., D, H) product (:func:`transposed_contract`, module
    docstring). For K directions a (K, B, H) against one shared b (B, D) with B <= D (a block
    of HVPs on a minibatch: the tangent matrix, the Hessian by blocks) the K products are one
    GEMM instead (:func:`stacked_contract`).
    """
    if a.ndim == 3 and b.ndim == 2 and a.shape[1] <= b.shape[1]:
        return stacked_contract(a, b, xp)
    return transposed_contract(a, b, xp)


def transposed_contract(a, b, xp):
    """a^T b as (b^T a)^T: the (..., H, D) transposed view of the (..., D, H) product."""
    return xp.matrix_transpose(xp.matrix_transpose(b) @ a)


def stacked_contract(a, b, xp):
    """[a_1^T b, ..., a_K^T b] for a (K, B, H) and a shared b (B, D), as one GEMM:

        [a_1^T; ...; a_K^T] b = (K H, B) @ (B, D) -> (K, H, D), row-major

    The output is already in theta's order (each W_k row by row: ``layout.flatten_block``
    reshapes it without a copy) and the left operand, a copied to (K H, B), is no larger than
    the output when B <= D. The entries are the same sums over the batch as the K products of
    :func:`transposed_contract`, equal within rounding (bit for bit with OpenBLAS at the sizes
    of ``validation/bench/bench_tangent_matrix.py``, which times the two).
    """
    K, B, H = a.shape
    aT = xp.reshape(xp.permute_dims(a, (0, 2, 1)), (K * H, B))  # a copy, row-major
    return xp.reshape(aT @ b, (K, H, b.shape[1]))


class Dense(Layer):
    """y = x W^T + b with W (out_features, in_features), b (out_features,)."""

    kind = "dense"
    linear_in_params = True  # y = x W^T + b is affine in (W, b)
    input_hessian_is_zero = True  # and linear in x
    input_contracted = True  # W meets x only through x W^T

    def __init__(self, in_features, out_features, bias=True):
        if int(in_features) < 1 or int(out_features) < 1:
            raise ValueError(
                f"Dense needs positive sizes, got in={in_features}, out={out_features}"
            )
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.bias = bool(bias)

    def with_in_features(self, q):
        """Dense(q, H) with the same output and bias: the layer on q reduced input features."""
        return Dense(q, self.out_features, bias=self.bias)

    def output_shape(self, in_shape):
        if tuple(in_shape) != (self.in_features,):
            raise LayerShapeError(
                f"Dense({self.in_features}, {self.out_features}) takes inputs of shape "
                f"(B, {self.in_features}), got per-sample shape {tuple(in_shape)}"
            )
        return (self.out_features,)

    def param_shapes(self, in_shape):
        H, D = self.out_features, self.in_features
        return ((H, D), (H,)) if self.bias else ((H, D),)

    def fans(self, in_shape):
        return self.in_features, self.out_features

    def forward(self, params, x):
        xp = namespace_of(x)
        W = params[0]
        y = x @ xp.matrix_transpose(W)  # (B, H)
        if self.bias:
            y = y + params[1]
        return y, x

    def backward(self, params, cache, dy, need_dx=True):
        xp = namespace_of(dy)
        x, W = cache, params[0]
        dx = dy @ W if need_dx else None  # (B, D)
        dW = batch_contract(dy, x, xp)  # dW = dy^T x  (H, D)
        dparams = (dW, xp.sum(dy, axis=0)) if self.bias else (dW,)
        return dx, dparams

    def backward_block(self, params, cache, dY, need_dx=True):
        """The backward for K cotangents dY (K, B, H) at once (optional; the Gauss-Newton factor)."""
        xp = namespace_of(dY)
        x, W = cache, params[0]
        dX = dY @ W if need_dx else None  # (K, B, D)
        dW = batch_contract(dY, x, xp)  # dW = dY^T x  (K, H, D)
        return dX, ((dW, xp.sum(dY, axis=1)) if self.bias else (dW,))

    def per_sample_grads(self, params, cache, dY):
        """Per-sample parameter gradients (K, B, H, D) and (K, B, H) for cotangents dY (K, B, H)."""
        x = cache
        dW = dY[:, :, :, None] * x[None, :, None, :]  # (K, B, H, D)
        return (dW, dY) if self.bias else (dW,)

    def r_forward(self, params, cache, vparams, rx):
        xp = namespace_of(cache)
        x, W = cache, params[0]
        if vparams is None:  # no direction in this layer's parameters
            return None if rx is None else rx @ xp.matrix_transpose(W)  # (K, B, H)
        ry = x @ xp.matrix_transpose(vparams[0])  # (K, B, H)
        if rx is not None:
            ry = ry + rx @ xp.matrix_transpose(W)
        if self.bias:
            ry = ry + vparams[1][:, None, :]
        return ry

    def r_backward(self, params, cache, dy, vparams, rx, rdy, need_dx=True):
        xp = namespace_of(cache)
        x, W = cache, params[0]
        rdx = None
        if need_dx:
            rdx = rdy @ W if vparams is None else rdy @ W + dy @ vparams[0]  # (K, B, D)
        rdW = batch_contract(rdy, x, xp)  # R{dW} = R{dy}^T x + dy^T R{x}  (K, H, D)
        if rx is not None:
            rdW = rdW + batch_contract(dy, rx, xp)
        rdparams = (rdW, xp.sum(rdy, axis=1)) if self.bias else (rdW,)
        return rdx, rdparams

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features}, bias={self.bias})"
