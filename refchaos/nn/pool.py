"""2-D pooling, PyTorch's ``nn.MaxPool2d`` and ``nn.AvgPool2d`` (no padding, no dilation).

Symbols: B batch, C channels, (H, W) input size, (kh, kw) window, (sh, sw) stride (default:
the window, as in PyTorch), (Ho, Wo) output size with Ho = (H - kh) // sh + 1, K tangent
directions. Window (oh, ow) covers x[:, :, sh oh + i, sw ow + j] for offsets 0 <= i < kh,
0 <= j < kw. Neither layer has parameters. The window loops are
:mod:`refchaos._kernels.pool` (Numba for NumPy arrays, the array-API reference otherwise).

MaxPool2d
---------
a*(oh, ow) = the offset of the window maximum, FIRST maximal offset in row-major scan order
(a NaN counts as maximal), PyTorch's CPU rule ``val > maxval || isnan(val)``. Gather G picks
the entry at a*, its adjoint G^T scatters (adds) back to it.

forward      y = G_{a*}(x)
backward     dx = G_{a*}^T(dy)
R-forward    R{y} = G_{a*}(R{x})
R-backward   R{dx} = G_{a*}^T(R{dy})
The routing a* is fixed by the forward: max pooling is piecewise linear, and the derivatives
above are those of the linear piece selected by a* (at a tie, the piece PyTorch's gradient
uses). There is no second-order term of its own; the Hessian is that of this piecewise-linear
function.

AvgPool2d
---------
S sums each window, S^T spreads a value over its window; n = kh kw (PyTorch's divisor when
there is no padding).

forward      y = S(x) / n
backward     dx = S^T(dy / n)
R-forward    R{y} = S(R{x}) / n
R-backward   R{dx} = S^T(R{dy} / n)
Linear: no second-order term.
"""

from __future__ import annotations

from .._kernels import max_pool_argmax, window_gather, window_scatter, window_spread, window_sum
from ..backend import namespace_of
from .conv import pair
from .layer import Layer, LayerShapeError


class _Pool2d(Layer):
    """Window geometry shared by the two pools: kernel, stride (default the kernel)."""

    def __init__(self, kernel_size, stride=None):
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else pair(stride, "stride")
        if min(*self.kernel_size, *self.stride) < 1:
            raise ValueError(f"{self!r}: kernel and stride must be positive")

    def output_shape(self, in_shape):
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if len(in_shape) != 3:
            raise LayerShapeError(
                f"{self!r} takes inputs of shape (B, C, H, W), got per-sample shape {tuple(in_shape)}"
            )
        C, H, W = in_shape
        if H < kh or W < kw:
            raise LayerShapeError(
                f"{self!r}: the image of per-sample shape {tuple(in_shape)} is smaller than the "
                f"window ({kh}, {kw})"
            )
        return (C, (H - kh) // sh + 1, (W - kw) // sw + 1)

    def _check(self, x):
        if x.ndim != 4:
            raise LayerShapeError(f"{self!r} takes (B, C, H, W) inputs, got shape {tuple(x.shape)}")
        self.output_shape(tuple(x.shape[1:]))

    def __repr__(self):
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride})"


class MaxPool2d(_Pool2d):
    """Window maxima; ties and NaNs resolved as PyTorch's CPU kernel does."""

    kind = "maxpool2d"
    input_hessian_is_zero = True  # piecewise linear: the routing a* is fixed by the forward

    def forward(self, params, x):
        self._check(x)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        y, arg = max_pool_argmax(x, kh, kw, sh, sw)  # (B, C, Ho, Wo) each; arg int64 offsets
        return y, (arg, tuple(x.shape[2:]))

    def backward(self, params, cache, dy, need_dx=True):
        if not need_dx:
            return None, ()
        arg, (H, W) = cache
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return window_scatter(dy[None, ...], arg, kh, kw, sh, sw, H, W)[0, ...], ()  # (B, C, H, W)

    def r_forward(self, params, cache, vparams, rx):
        if rx is None:
            return None
        arg, _ = cache
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return window_gather(rx, arg, kh, kw, sh, sw)  # (K, B, C, Ho, Wo)

    def r_backward(self, params, cache, dy, vparams, rx, rdy, need_dx=True):
        if not need_dx:
            return None, ()
        arg, (H, W) = cache
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return window_scatter(rdy, arg, kh, kw, sh, sw, H, W), ()  # (K, B, C, H, W)


class AvgPool2d(_Pool2d):
    """Window means (divisor kh kw)."""

    kind = "avgpool2d"
    input_hessian_is_zero = True  # linear

    def _mean(self, x):
        """S(x) / n on a flat batch axis, x (N, C, H, W)."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return window_sum(x, kh, kw, sh, sw) / (kh * kw)  # (N, C, Ho, Wo)

    def _mean_adjoint(self, g, in_hw):
        """S^T(g / n) on a flat batch axis, g (N, C, Ho, Wo)."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return window_spread(g / (kh * kw), kh, kw, sh, sw, *in_hw)  # (N, C, H, W)

    def forward(self, params, x):
        self._check(x)
        return self._mean(x), tuple(x.shape[2:])

    def backward(self, params, cache, dy, need_dx=True):
        return (self._mean_adjoint(dy, cache) if need_dx else None), ()

    def r_forward(self, params, cache, vparams, rx):
        if rx is None:
            return None
        xp = namespace_of(rx)
        K, B = rx.shape[:2]
        ry = self._mean(xp.reshape(rx, (K * B, *rx.shape[2:])))
        return xp.reshape(ry, (K, B, *ry.shape[1:]))  # (K, B, C, Ho, Wo)

    def r_backward(self, params, cache, dy, vparams, rx, rdy, need_dx=True):
        if not need_dx:
            return None, ()
        xp = namespace_of(rdy)
        K, B = rdy.shape[:2]
        rdx = self._mean_adjoint(xp.reshape(rdy, (K * B, *rdy.shape[2:])), cache)
        return xp.reshape(rdx, (K, B, *rdx.shape[1:])), ()  # (K, B, C, H, W)
