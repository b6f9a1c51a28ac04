"""The exact dense Hessian H = d^2 L / dtheta^2 (N, N): the R-operator reference and a fast twin.

method="rop" (the reference)
    Column block j0:j1 of H is H E, with E the matching columns of the identity; each block is
    one batched R-operator pass (:func:`refchaos.curvature.rop.grad_and_hvp_rows`). The result
    is not symmetrised: its asymmetry is a measure of rounding and is tested.

method="structured" (fast, same numbers to rounding)
    The free-layer split of :mod:`refchaos.curvature.structure`:

        H[:, c] = H E_c                 R-operator HVPs along the |c| directions outside layer s
        H[s, s] = G_s^T G_s             factored Gauss-Newton block (S_ss = 0), one BLAS-3 product
        H[s, c] = H[c, s]^T             symmetry (H[c, :] = (H E_c)^T, the same HVPs as rows)

    For the 256-20-10 MLP this replaces 5,350 HVPs by 210 and one (5,140 x 80)^T (5,140 x 80)
    product. A layer qualifies as free by what the layers declare (``linear_in_params`` for it,
    ``input_hessian_is_zero`` for every layer above it, :mod:`refchaos.nn.layer`); with smooth
    activations only the small last layer does, and "layerwise" is as cheap.

method="layerwise" (fast for deep stacks whose late layers are small, e.g. H22's CNN)
    Directions of layer i go through the layers i..L only and give the blocks H_li, l >= i;
    symmetry gives the rest (:mod:`refchaos.curvature.layerwise`). Any activation.

method="auto": the cheapest by the estimated work (:func:`method_costs`, multiply-adds per
sample from the layer shapes): "structured" where a free layer exists and it is cheapest,
else "layerwise" (never more work than "rop").
"""

from __future__ import annotations

from .backprop import forward_pass
from .dense_first import fill_gauss_newton_block, first_contracted_layer
from .layerwise import hessian_layerwise, layer_work, layerwise_cost
from .rop import grad_and_hvp_rows
from .structure import complement_rows, factored_jacobian, free_cotangents, free_layer, free_span

HVP_BLOCK_BYTES = 2**28  # Memory for the tangent activations of one block (256 MiB).
HESSIAN_METHODS = ("auto", "rop", "structured", "layerwise")


def default_block_size(model, batch_size):
    """Directions per block so that the tangent activations stay near HVP_BLOCK_BYTES."""
    widest = max(max(1, _size(s)) for s in model.in_shapes + [model.output_shape])
    per_direction = 8 * batch_size * widest * (2 * len(model.layers) + 2)
    return int(max(1, min(model.num_params, HVP_BLOCK_BYTES // per_direction)))


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _block(block_size, model, x):
    K = int(block_size) if block_size is not None else default_block_size(model, x.shape[0])
    if K < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    return K


def hvp_rows(model, params, x, t, ET, xp, K):
    """(H E)^T (k, N) for identity rows ET (k, N), in blocks of K directions."""
    rows = []
    for j0 in range(0, ET.shape[0], K):
        _, HET = grad_and_hvp_rows(model, params, x, t, ET[j0:min(j0 + K, ET.shape[0]), :], xp)
        rows.append(HET)
    return xp.concat(rows, axis=0)


def hessian(model, theta, x, y, block_size=None, method="auto"):
    """Exact Hessian (N, N) of the mean loss over the batch (x, y), in theta's dtype.

    Parameters
    ----------
    block_size : int, optional
        HVP directions per pass; by default chosen from :data:`HVP_BLOCK_BYTES`.
    method : {"auto", "rop", "structured"}
        See the module docstring; all give H to rounding.
    """
    if method not in HESSIAN_METHODS:
        raise ValueError(f"unknown hessian method {method!r}; choose one of {', '.join(HESSIAN_METHODS)}")
    if method == "auto":
        costs = method_costs(model)
        method = min(costs, key=costs.get)
    if method == "rop":
        return hessian_rop(model, theta, x, y, block_size)
    if method == "layerwise":
        return hessian_layerwise(model, theta, x, y, _block(block_size, model, x))
    s = free_layer(model)
    if s is None:
        raise ValueError(f"no free layer in {model!r}: use method='rop' or 'layerwise'")
    return structured_blocks(model, theta, x, y, s, block_size).assemble()


def method_costs(model):
    """Estimated multiply-adds per sample of "structured" (if a free layer exists) and "layerwise".

    A full HVP direction costs sum_l w_l (:func:`refchaos.curvature.layerwise.layer_work`);
    "structured" pays one per direction outside the free layer plus the C cotangents of its
    factored Jacobian; "layerwise" pays sum_i n_i sum_{l >= i} w_l.
    """
    costs = {"layerwise": layerwise_cost(model)}
    s = free_layer(model)
    if s is not None:
        a, b = free_span(model, s)
        costs["structured"] = (model.num_params - (b - a) + model.num_outputs) * sum(layer_work(model))
    return costs


def hessian_rop(model, theta, x, y, block_size=None):
    """The reference: H from N identity-column HVPs, blocked (module docstring)."""
    xp, params, t = model.prepare(theta, x, y)
    N = model.num_params
    K = _block(block_size, model, x)
    rows = []
    for j0 in range(0, N, K):
        k = min(K, N - j0)
        ET = xp.eye(k, N, k=j0, dtype=theta.dtype)  # rows j0..j0+k-1 of the identity (k, N)
        _, HET = grad_and_hvp_rows(model, params, x, t, ET, xp)
        rows.append(HET)  # (k, N): rows j0..j0+k-1 of H^T
    return xp.matrix_transpose(xp.concat(rows, axis=0))


class StructuredBlocks:
    """The pieces of H under the free-layer split: enough for H and for its range.

    Attributes
    ----------
    span : (a, b)      theta_s = theta[a:b]
    G : (B C, n_s)     factored Jacobian block, H[s, s] = G^T G
    HcT : list         (H E_c)^T as row blocks (|c_left|, N) and (|c_right|, N): the columns of
                       H outside layer s, one array per contiguous piece of c (before a, after b)
    """

    def __init__(self, xp, N, span, G, pieces, dense_input=None):
        self.xp, self.N, self.span, self.G, self.pieces = xp, N, span, G, pieces
        self.dense_input = dense_input  # (x, Delta, bias) for a Dense first free layer, else None

    def H_ss(self):
        return self.xp.matrix_transpose(self.G) @ self.G  # (n_s, n_s), BLAS-3 (syrk on NumPy)

    def fill_H_ss(self, H):
        """Write H[s, s] into H: G^T G, or its Kronecker twin for a free first Dense layer
        (:func:`refchaos.curvature.dense_first.fill_gauss_newton_block`)."""
        a, b = self.span
        if self.dense_input is None:
            H[a:b, a:b] = self.H_ss()
            return
        x, Delta, bias = self.dense_input
        fill_gauss_newton_block(H, a, b, x, Delta, bias, self.xp)

    def H_sc(self):
        """H[s, c] (n_s, |c|), columns in theta order."""
        a, b = self.span
        xp = self.xp
        if not self.pieces:  # every parameter is in the free layer
            return xp.zeros((b - a, 0), dtype=self.G.dtype)
        return xp.concat([xp.matrix_transpose(P[:, a:b]) for P in self.pieces], axis=1)

    def H_cc(self):
        """H[c, c] (|c|, |c|) in theta order."""
        a, b = self.span
        xp = self.xp
        if not self.pieces:
            return xp.zeros((0, 0), dtype=self.G.dtype)
        rows = [xp.concat([P[:, :a], P[:, b:]], axis=1) for P in self.pieces]
        return xp.matrix_transpose(xp.concat(rows, axis=0))

    def assemble(self):
        """H (N, N) by row blocks: [E_left^T H ; H[s, :] ; E_right^T H], filled in place."""
        xp = self.xp
        a, b = self.span
        left = self.pieces[0] if a > 0 else None
        right = self.pieces[-1] if b < self.N else None
        H = xp.empty((self.N, self.N), dtype=self.G.dtype)
        if left is not None:
            H[:a, :] = left  # rows of H outside s, from the HVPs
            H[a:b, :a] = xp.matrix_transpose(left[:, a:b])  # H[s, :a] = H[:a, s]^T
        self.fill_H_ss(H)
        if right is not None:
            H[b:, :] = right
            H[a:b, b:] = xp.matrix_transpose(right[:, a:b])  # H[s, b:] = H[b:, s]^T
        return H


def structured_blocks(model, theta, x, y, s, block_size=None):
    """The :class:`StructuredBlocks` of H at theta on (x, y) for free layer s."""
    xp, params, t = model.prepare(theta, x, y)
    K = _block(block_size, model, x)
    z, caches = forward_pass(model, params, x)
    Delta = free_cotangents(model, params, caches, z, s, xp)  # (C, B, ...) at layer s's output
    G = factored_jacobian(model, params, caches, Delta, s, xp)  # (C B, n_s)
    pieces = [hvp_rows(model, params, x, t, ET, xp, K) for ET in complement_rows(model, s, theta.dtype, xp)]
    dense_input = None
    if s == first_contracted_layer(model):
        dense_input = (caches[s], Delta, model.layers[s].bias)
    return StructuredBlocks(xp, model.num_params, free_span(model, s), G, pieces, dense_input)
