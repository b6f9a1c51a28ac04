"""Elementwise activation layer y = f(x), with f from :mod:`refchaos.nn.activations`.

forward      y = f(x)
backward     dx = dy * f'(x)
R-forward    R{y} = f'(x) * R{x}
block        dX = dY * f'(x) for K cotangents dY (K, B, ...) at once
R-backward   R{dx} = R{dy} * f'(x) + dy * f''(x) * R{x}
The last term is absent for piecewise-linear f (f'' = 0 almost everywhere) and when
R{x} = 0 (the activation is the first layer).

The cache is :class:`ActivationCache` (x, y): an activation whose derivatives are written
through its output (``df_out``: tanh, sigmoid) takes f'(x) and f''(x) from the forward's y
instead of evaluating f again (the same numbers, bit for bit: f is the same call on the same x).
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import namespace_of
from .activations import get_activation
from .layer import Layer


class ActivationCache(NamedTuple):
    """What the forward keeps: the input x and the output y = f(x), both (B, ...)."""

    x: object
    y: object


class Elementwise(Layer):
    """A parameter-free activation layer."""

    kind = "activation"
    samplewise = True  # y_b depends on x_b alone

    def __init__(self, activation):
        self.act = get_activation(activation)

    @property
    def input_hessian_is_zero(self):
        """f'' = 0 almost everywhere exactly when the activation is piecewise linear."""
        return self.act.piecewise_linear

    def output_shape(self, in_shape):
        return tuple(in_shape)

    def forward(self, params, x):
        xp = namespace_of(x)
        y = self.act.f(x, xp)  # y = f(x)
        return y, ActivationCache(x, y)

    def df(self, cache, xp):
        """f'(x) (B, ...) at the cached input, from the cached output where f' is written so."""
        act = self.act
        return act.df(cache.x, xp) if act.df_out is None else act.df_out(cache.y, xp)

    def d2f(self, cache, xp):
        """f''(x) (B, ...) at the cached input (not for a piecewise-linear f)."""
        act = self.act
        return act.d2f(cache.x, xp) if act.d2f_out is None else act.d2f_out(cache.y, xp)

    def backward(self, params, cache, dy, need_dx=True):
        xp = namespace_of(dy)
        dx = dy * self.df(cache, xp) if need_dx else None  # dx = dy * f'(x)
        return dx, ()

    def backward_block(self, params, cache, dY, need_dx=True):
        """The backward for K cotangents dY (K, B, ...) at once (optional; no parameters)."""
        xp = namespace_of(dY)
        return (dY * self.df(cache, xp) if need_dx else None), ()

    def r_forward(self, params, cache, vparams, rx):
        if rx is None:
            return None
        xp = namespace_of(cache.x)
        return self.df(cache, xp) * rx  # R{y} = f'(x) * R{x}

    def r_backward(self, params, cache, dy, vparams, rx, rdy, need_dx=True):
        if not need_dx:
            return None, ()
        xp = namespace_of(cache.x)
        rdx = rdy * self.df(cache, xp)  # R{dx} = R{dy} * f'(x) + dy * f''(x) * R{x}
        if rx is not None and not self.act.piecewise_linear:
            rdx = rdx + dy * self.d2f(cache, xp) * rx  # second-order term of f
        return rdx, ()

    def __repr__(self):
        return f"Elementwise({self.act.name!r})"
