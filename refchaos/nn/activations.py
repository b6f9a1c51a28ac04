"""Elementwise activations with their first and second derivatives.

Each activation supplies ``f``, ``df`` and ``d2f`` as functions of the pre-activation ``x``
and the namespace ``xp``. The second derivative enters the Hessian through the R-operator of
the activation's backward pass (see :mod:`refchaos.nn.layers`). A piecewise-linear activation
(``relu``, ``identity``) has ``piecewise_linear=True`` and ``d2f=None``: its second derivative
is zero almost everywhere, and the layer skips that term explicitly instead of multiplying by
a silent array of zeros.

Conventions at kinks follow PyTorch: relu'(0) = 0.

``tanh`` and ``sigmoid`` also supply ``df_out`` and ``d2f_out``: the same f' and f'' written
through the output y = f(x) (the identities in the last two columns of the table, with
y = tanh x and y = s), so the backward reuses the forward's y instead of evaluating f again.

=========  ===========================  ========================  ===========================
name       f(x)                         f'(x)                     f''(x)
=========  ===========================  ========================  ===========================
relu       max(x, 0)                    [x > 0]                   0 (piecewise linear)
tanh       tanh x                       1 - tanh^2 x              -2 tanh x (1 - tanh^2 x)
sigmoid    s = 1 / (1 + e^-x)           s (1 - s)                 s (1 - s)(1 - 2 s)
softplus   ln(1 + e^x)                  s                         s (1 - s)
identity   x                            1                         0 (piecewise linear)
=========  ===========================  ========================  ===========================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class Activation:
    """An elementwise function with its derivatives, each ``(x, xp) -> array like x``."""

    name: str
    f: Callable
    df: Callable
    d2f: Optional[Callable]  # None exactly when piecewise_linear
    piecewise_linear: bool = False
    df_out: Optional[Callable] = None  # f'(x) as a function of y = f(x), ``(y, xp)``
    d2f_out: Optional[Callable] = None  # f''(x) as a function of y = f(x), ``(y, xp)``


def _sigmoid(x, xp):
    # 1 / (1 + e^-x) written through tanh: no overflow for large |x| in either direction.
    # Python scalars are "weak" in the array API: they take the dtype of x.
    return 0.5 * (xp.tanh(0.5 * x) + 1)


def _relu(x, xp):
    return xp.where(x > 0, x, xp.zeros_like(x))


def _relu_df(x, xp):
    return xp.astype(x > 0, x.dtype)  # relu'(0) = 0, as in PyTorch


def _tanh_df_out(y, xp):
    return 1 - y * y  # tanh' = 1 - tanh^2, y = tanh x


def _tanh_d2f_out(y, xp):
    return -2 * y * (1 - y * y)  # tanh'' = -2 tanh (1 - tanh^2)


def _sigmoid_df_out(s, xp):
    return s * (1 - s)  # s' = s (1 - s), s = sigmoid x


def _sigmoid_d2f_out(s, xp):
    return s * (1 - s) * (1 - 2 * s)  # s'' = s (1 - s)(1 - 2 s)


def _tanh_df(x, xp):
    return _tanh_df_out(xp.tanh(x), xp)


def _tanh_d2f(x, xp):
    return _tanh_d2f_out(xp.tanh(x), xp)


def _sigmoid_df(x, xp):
    return _sigmoid_df_out(_sigmoid(x, xp), xp)


def _sigmoid_d2f(x, xp):
    return _sigmoid_d2f_out(_sigmoid(x, xp), xp)


def _softplus(x, xp):
    # ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|): no overflow, no loss of small values.
    return _relu(x, xp) + xp.log1p(xp.exp(-xp.abs(x)))


ACTIVATIONS = {
    "relu": Activation("relu", _relu, _relu_df, None, piecewise_linear=True),
    "tanh": Activation("tanh", lambda x, xp: xp.tanh(x), _tanh_df, _tanh_d2f,
                       df_out=_tanh_df_out, d2f_out=_tanh_d2f_out),
    "sigmoid": Activation("sigmoid", _sigmoid, _sigmoid_df, _sigmoid_d2f,
                          df_out=_sigmoid_df_out, d2f_out=_sigmoid_d2f_out),
    "softplus": Activation("softplus", _softplus, _sigmoid, _sigmoid_df),
    "identity": Activation(
        "identity", lambda x, xp: x, lambda x, xp: xp.ones_like(x), None, piecewise_linear=True
    ),
}


def get_activation(name):
    """The :class:`Activation` called ``name``; raises ``ValueError`` naming the choices."""
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}"
        ) from None
