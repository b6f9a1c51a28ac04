"""2-D convolution, PyTorch's ``nn.Conv2d`` (cross-correlation, zero padding, no dilation/groups).

Symbols: B batch, C input channels, O output channels, (H, W) input size, (kh, kw) kernel,
(sh, sw) stride, (ph, pw) padding, (Ho, Wo) output size with Ho = (H + 2 ph - kh) // sh + 1,
L = Ho Wo output positions, P = C kh kw entries of one unfolded patch, K tangent directions.
W (O, C, kh, kw) -> ``W``, b (O,) -> ``b``; a tangent direction (V_W, V_b) -> ``VW``
(K, O, C, kh, kw), ``Vb`` (K, O).

The convolution is a matrix product on unfolded patches (im2col, :mod:`refchaos._kernels.conv`):

    cols = U(x)         cols[b, (c, i, j), (oh, ow)] = x[b, c, sh oh + i - ph, sw ow + j - pw]
    y = W cols + b      y[b, o, l] = sum_p W[o, p] cols[b, p, l] + b[o]           (B, O, L)

U is linear, and its adjoint U^T (col2im) scatters patch gradients back onto the image. The
layer is linear in x and (separately) in W, so every derivative below is exact bookkeeping.

forward      y = W U(x) + b
backward     dx = U^T(W^T dy),     dW = sum_{b,l} dy U(x)^T,     db = sum_{b,l} dy
R-forward    R{y} = W U(R{x}) + V_W U(x) + V_b
R-backward   R{dx} = U^T(W^T R{dy} + V_W^T dy)
             R{dW} = sum_{b,l} (R{dy} U(x)^T + dy U(R{x})^T)
             R{db} = sum_{b,l} R{dy}
The R-backward is the derivative of the backward line along (V_W, R{x}, R{dy}); V_W^T dy and
dy U(R{x})^T are the cross-terms (the non-Gauss-Newton part of the Hessian).
``vparams=None`` means V_W = V_b = 0 (a direction outside this layer): the V terms are skipped.

The unfolding runs through Numba for NumPy arrays and through the array-API reference
otherwise (:mod:`refchaos._kernels`); both give the same bits.
"""

from __future__ import annotations

import numbers

from .._kernels import col2im, im2col, output_size
from ..backend import namespace_of
from .layer import Layer, LayerShapeError


def pair(value, name):
    """(a, b) from an int or a pair of ints, PyTorch's convention for sizes."""
    if isinstance(value, numbers.Integral):
        return (int(value), int(value))
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, numbers.Integral) for v in value)):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return (int(value[0]), int(value[1]))


class Conv2d(Layer):
    """y = W * x + b on (B, C, H, W) inputs, W (out, in, kh, kw), b (out,)."""

    kind = "conv2d"
    linear_in_params = True  # y = W U(x) + b is affine in (W, b)
    input_hessian_is_zero = True  # and linear in x

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.padding = pair(padding, "padding")
        self.bias = bool(bias)
        if min(self.in_channels, self.out_channels, *self.kernel_size, *self.stride) < 1:
            raise ValueError(f"{self!r}: channels, kernel and stride must be positive")
        if min(self.padding) < 0:
            raise ValueError(f"{self!r}: padding must be >= 0")

    def output_shape(self, in_shape):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if len(in_shape) != 3 or in_shape[0] != self.in_channels:
            raise LayerShapeError(
                f"{self!r} takes inputs of shape (B, {self.in_channels}, H, W), "
                f"got per-sample shape {tuple(in_shape)}"
            )
        _, H, W = in_shape
        if H + 2 * ph < kh or W + 2 * pw < kw:
            raise LayerShapeError(
                f"{self!r}: the padded image ({H + 2 * ph}, {W + 2 * pw}) of per-sample shape "
                f"{tuple(in_shape)} is smaller than the kernel ({kh}, {kw})"
            )
        return (self.out_channels, output_size(H, kh, sh, ph), output_size(W, kw, sw, pw))

    def param_shapes(self, in_shape):
        W_shape = (self.out_channels, self.in_channels, *self.kernel_size)
        return (W_shape, (self.out_channels,)) if self.bias else (W_shape,)

    def fans(self, in_shape):
        area = self.kernel_size[0] * self.kernel_size[1]
        return self.in_channels * area, self.out_channels * area  # as torch.nn.init counts

    # ----- helpers: U (im2col) and U^T (col2im) on a flat batch axis -----------------------------
    def _unfold(self, x):
        """cols (N, P, L) from x (N, C, H, W)."""
        xp = namespace_of(x)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        cols = im2col(x, kh, kw, sh, sw, ph, pw)  # (N, C, kh, kw, Ho, Wo)
        N, C, _, _, Ho, Wo = cols.shape
        return xp.reshape(cols, (N, C * kh * kw, Ho * Wo))

    def _fold(self, dcols, in_hw, out_hw):
        """dx (N, C, H, W) from patch gradients dcols (N, P, L): the adjoint of _unfold."""
        xp = namespace_of(dcols)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        N = dcols.shape[0]
        dcols = xp.reshape(dcols, (N, self.in_channels, kh, kw, *out_hw))
        return col2im(dcols, *in_hw, sh, sw, ph, pw)

    # ----- the protocol ----------------------------------------------------------------------------
    def forward(self, params, x):
        xp = namespace_of(x)
        if x.ndim != 4:
            raise LayerShapeError(f"{self!r} takes (B, C, H, W) inputs, got shape {tuple(x.shape)}")
        O, Ho, Wo = self.output_shape(tuple(x.shape[1:]))
        B = x.shape[0]
        W2 = xp.reshape(params[0], (O, -1))  # (O, P), patch order (c, i, j)
        cols = self._unfold(x)  # (B, P, L)
        y = W2 @ cols  # (B, O, L)
        if self.bias:
            y = y + params[1][:, None]
        return xp.reshape(y, (B, O, Ho, Wo)), (cols, tuple(x.shape[2:]))

    def backward(self, params, cache, dy, need_dx=True):
        xp = namespace_of(dy)
        cols, in_hw = cache
        B, O, Ho, Wo = dy.shape
        W2 = xp.reshape(params[0], (O, -1))  # (O, P)
        dy2 = xp.reshape(dy, (B, O, Ho * Wo))  # (B, O, L)
        dW = xp.tensordot(dy2, cols, axes=([0, 2], [0, 2]))  # (O, P): sum over b, l
        dparams = (xp.reshape(dW, params[0].shape),)
        if self.bias:
            dparams += (xp.sum(dy2, axis=(0, 2)),)  # (O,)
        dx = self._fold(xp.matrix_transpose(W2) @ dy2, in_hw, (Ho, Wo)) if need_dx else None
        return dx, dparams

    def r_forward(self, params, cache, vparams, rx):
        xp = namespace_of(cache[0])
        cols, _ = cache
        B, P, L = cols.shape
        if vparams is None and rx is None:
            return None
        O = self.out_channels
        K = vparams[0].shape[0] if vparams is not None else rx.shape[0]
        ry = None
        if vparams is not None:
            VW2 = xp.reshape(vparams[0], (K, O, P))  # (K, O, P)
            ry = VW2[:, None, :, :] @ cols[None, :, :, :]  # (K, B, O, L): V_W U(x)
        if rx is not None:
            rcols = self._unfold(xp.reshape(rx, (K * B, *rx.shape[2:])))  # (K B, P, L)
            W2 = xp.reshape(params[0], (O, P))
            wu = xp.reshape(W2 @ rcols, (K, B, O, L))  # W U(R{x})
            ry = wu if ry is None else ry + wu
        if self.bias and vparams is not None:
            ry = ry + vparams[1][:, None, :, None]  # V_b
        Ho, Wo = self.output_shape((self.in_channels, *cache[1]))[1:]
        return xp.reshape(ry, (K, B, O, Ho, Wo))

    def r_backward(self, params, cache, dy, vparams, rx, rdy, need_dx=True):
        xp = namespace_of(cache[0])
        cols, in_hw = cache
        B, P, L = cols.shape
        O, K = self.out_channels, rdy.shape[0]
        Ho, Wo = dy.shape[2:]
        dy2 = xp.reshape(dy, (B, O, L))  # (B, O, L)
        rdy2 = xp.reshape(rdy, (K, B, O, L))  # (K, B, O, L)
        rdW = xp.tensordot(rdy2, cols, axes=([1, 3], [0, 2]))  # (K, O, P): R{dy} U(x)^T
        if rx is not None:
            rcols = xp.reshape(self._unfold(xp.reshape(rx, (K * B, *rx.shape[2:]))), (K, B, P, L))
            cross = xp.tensordot(dy2, rcols, axes=([0, 2], [1, 3]))  # (O, K, P): dy U(R{x})^T
            rdW = rdW + xp.permute_dims(cross, (1, 0, 2))
        rdparams = (xp.reshape(rdW, (K, *params[0].shape)),)
        if self.bias:
            rdparams += (xp.sum(rdy2, axis=(1, 3)),)  # (K, O)
        rdx = None
        if need_dx:
            W2T = xp.matrix_transpose(xp.reshape(params[0], (O, P)))  # (P, O)
            rdcols = W2T @ rdy2  # (K, B, P, L)
            if vparams is not None:
                VW2T = xp.matrix_transpose(xp.reshape(vparams[0], (K, O, P)))  # (K, P, O)
                rdcols = rdcols + VW2T[:, None, :, :] @ dy2[None, :, :, :]
            rdx = self._fold(xp.reshape(rdcols, (K * B, P, L)), in_hw, (Ho, Wo))
            rdx = xp.reshape(rdx, (K, B, self.in_channels, *in_hw))
        return rdx, rdparams

    def __repr__(self):
        return (
            f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias})"
        )
