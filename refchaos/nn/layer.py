"""The layer protocol: a stateless forward/backward pair and its R-operator twin.

A layer holds configuration only (sizes, kernel, stride). Its parameters are passed in as a
tuple of arrays, views into the flat parameter vector theta, in PyTorch's order (weight, then
bias). Every method is a pure function of its arguments.

Symbols: x the layer input, y its output, dy = dL/dy, dx = dL/dx, params = (W, b, ...).
R{.} is the directional derivative along a parameter direction v (Pearlmutter 1994,
"Fast exact multiplication by the Hessian"): R{f(theta)} = d/dr f(theta + r v) at r = 0.
Tangent quantities carry a leading axis of K directions handled at once:
vparams[i] has shape (K, *params[i].shape); rx, ry, rdx, rdy have shape (K, B, ...).

    forward(params, x)                     -> (y, cache)
    backward(params, cache, dy)            -> (dx, dparams)
    r_forward(params, cache, vparams, rx)  -> ry                     R{y}
    r_backward(params, cache, dy, vparams, rx, rdy) -> (rdx, rdparams)   R{dx}, R{dparams}

``rx is None`` means R{x} = 0 (the network input does not depend on theta); ``vparams is None``
means the directions do not move this layer's parameters (V = 0), and ``r_forward`` returns
``None`` when both are zero. With
``need_dx=False`` (the first layer) ``backward`` and ``r_backward`` return ``None`` for dx and
rdx and skip that work. Outputs come in input order, as in the signature.

Declared properties (class attributes) that the structured fast paths of
:mod:`refchaos.curvature` read, in the manner of BackPACK's ``hessian_is_zero`` predicates; a new
layer joins those paths by declaring them truthfully, and the defaults are the safe choice:

    linear_in_params        y is affine in the layer's own parameters: d^2 y / dparams^2 = 0
    input_hessian_is_zero   y is linear or piecewise linear in x: d^2 y / dx^2 = 0 almost
                            everywhere, so the layer adds no second-order term to the Hessian
                            of the layers below it
    input_contracted        y = x W^T + b with x the flat per-sample input: the first weight's
                            last axis meets x only through this product (Dense), so every
                            derivative of dL/dW is sum_b u_b x_b^T (the input-range reduction
                            of :mod:`refchaos.curvature.dense_first`); such a layer also has
                            ``with_in_features(q)``, the same layer on q input features
    samplewise              each sample's output depends on that sample's input alone (no
                            mixing along the batch axis), so :mod:`refchaos.ensemble` may fold
                            a member axis into the batch axis of a parameter-free layer

Shapes passed to :meth:`Layer.output_shape` and :meth:`Layer.param_shapes` are per-sample
(without the batch axis).
"""

from __future__ import annotations


class LayerShapeError(ValueError):
    """A layer was given an input whose shape it cannot take."""


class Layer:
    """Base class documenting the protocol; parameter-free layers inherit the defaults."""

    kind = "layer"
    linear_in_params = False  # no claim: the curvature fast paths treat the layer as generic
    input_hessian_is_zero = False
    input_contracted = False
    samplewise = False  # no claim: the ensemble path calls the layer once per member

    def output_shape(self, in_shape):
        """Per-sample output shape for per-sample input shape ``in_shape``."""
        raise NotImplementedError

    def param_shapes(self, in_shape):
        """Shapes of the parameter arrays, in PyTorch's order; ``()`` for none."""
        return ()

    def fans(self, in_shape):
        """(fan_in, fan_out) as PyTorch's initialisers count them; ``None`` without weights."""
        return None

    def forward(self, params, x):
        raise NotImplementedError

    def backward(self, params, cache, dy, need_dx=True):
        raise NotImplementedError

    def r_forward(self, params, cache, vparams, rx):
        raise NotImplementedError

    def r_backward(self, params, cache, dy, vparams, rx, rdy, need_dx=True):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"
