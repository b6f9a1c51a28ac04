"""Flatten, PyTorch's ``nn.Flatten()``: (B, C, H, W) -> (B, C H W), row-major.

Symbols: B batch, K tangent directions, D = C H W. A reshape is linear and has no parameters.

forward      y = reshape(x, (B, D))
backward     dx = reshape(dy, (B, C, H, W))
R-forward    R{y} = reshape(R{x}, (K, B, D))
R-backward   R{dx} = reshape(R{dy}, (K, B, C, H, W))
"""

from __future__ import annotations

import math

from ..backend import namespace_of
from .layer import Layer, LayerShapeError


class Flatten(Layer):
    """Merge every axis after the batch axis into one (``start_dim=1``)."""

    kind = "flatten"
    input_hessian_is_zero = True  # a reshape is linear
    samplewise = True  # reshapes each sample on its own

    def output_shape(self, in_shape):
        if len(in_shape) < 1:
            raise LayerShapeError(f"{self!r} needs at least one axis after the batch axis")
        return (math.prod(in_shape),)

    def forward(self, params, x):
        xp = namespace_of(x)
        if x.ndim < 2:
            raise LayerShapeError(f"{self!r} takes (B, ...) inputs, got shape {tuple(x.shape)}")
        B = x.shape[0]
        return xp.reshape(x, (B, math.prod(x.shape[1:]))), tuple(x.shape[1:])

    def backward(self, params, cache, dy, need_dx=True):
        if not need_dx:
            return None, ()
        xp = namespace_of(dy)
        return xp.reshape(dy, (dy.shape[0], *cache)), ()  # (B, C, H, W)

    def r_forward(self, params, cache, vparams, rx):
        if rx is None:
            return None
        xp = namespace_of(rx)
        K, B = rx.shape[:2]
        return xp.reshape(rx, (K, B, math.prod(cache)))  # (K, B, D)

    def r_backward(self, params, cache, dy, vparams, rx, rdy, need_dx=True):
        if not need_dx:
            return None, ()
        xp = namespace_of(rdy)
        K, B = rdy.shape[:2]
        return xp.reshape(rdy, (K, B, *cache)), ()  # (K, B, C, H, W)

    def __repr__(self):
        return "Flatten()"
