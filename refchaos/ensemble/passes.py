"""Forward, backward and R-operator passes of M members of one model at once.

The passes of :mod:`refchaos.curvature.backprop` and :mod:`refchaos.curvature.rop`, with a
member axis: stacked parameters Theta (M, N), logits Z (M, B, C), gradients G (M, N) and
Hessian-vector products H_m v_km as (K, M, N). Per layer the work is done by the rule of
:mod:`.rules` its declarations select. The loss acts per member (its own mean over the batch),
so no reduction ever mixes members: member m's numbers depend on member m's inputs alone.

    a_0 = x,  a_l = layer_l(params_l, a_{l-1})                    (forward, per member)
    (dy_{l-1}, g_l) = layer_l.backward(params_l, a_{l-1}, dy_l)    (backward)
    R{a_l}, R{dy_{l-1}}, R{g_l}: the R-operator of both (Pearlmutter 1994), H v = R{g}

The input x is shared, (B, ...) with integer labels y (B,) (full-batch GD, or members on one
batch order), or per member, (M, B, ...) with y (M, B). Parameter-free layers on the shared
input compute the same for every member and run once.

Symbols: M members, K directions per member, N parameters; Theta -> ``Theta`` (M, N);
g_m -> ``G[m]``; v_km -> ``VT[k, m]`` (K, M, N); H_m v_km -> ``HV[k, m]``.
"""

from __future__ import annotations

from ..backend import is_floating, namespace_of
from .rules import rule_for


class EnsembleInputError(ValueError):
    """Theta, x, y or the directions do not fit the ensemble (shape, dtype, backend)."""


class EnsemblePasses:
    """The batched passes of ``model`` (a :class:`refchaos.nn.Model`) over a member axis."""

    def __init__(self, model, sample_block=None):
        self.model = model
        self.rules = [rule_for(layer, s) for layer, s in zip(model.layers, model.in_shapes)]
        if sample_block is not None and int(sample_block) < 1:
            raise ValueError(f"sample_block must be a positive number of samples, got {sample_block}")
        self.sample_block = None if sample_block is None else int(sample_block)

    def _blocks(self, B):
        """Sample ranges [a, b) processed at once: the whole batch, or blocks of sample_block.

        The loss is a mean over all B samples, so a block of B_c samples contributes its own
        mean times B_c / B: L = sum_c (B_c / B) L_c, g = sum_c (B_c / B) g_c, H v likewise
        (exact in exact arithmetic; in floating point the sums are regrouped, a rounding-level
        difference). Blocks bound the memory of the passes (M B_c per activation) and keep it in
        cache; one block is the plain pass, bit for bit.
        """
        step = self.sample_block
        if step is None or B <= step:
            return [(0, B)]
        return [(a, min(a + step, B)) for a in range(0, B, step)]

    # ----- stacked parameter layout ---------------------------------------------------------
    def unflatten(self, Theta, xp):
        """Per-layer tuples of stacked arrays (M, *shape) from Theta (M, N)."""
        layout, M = self.model.layout, Theta.shape[0]
        return [tuple(xp.reshape(Theta[:, a:b], (M, *shape)) for (a, b), shape in zip(sp, sh))
                for sp, sh in zip(layout.slices, layout.shapes)]

    def unflatten_directions(self, VT, xp):
        """Per-layer tuples of (K, M, *shape) arrays from directions VT (K, M, N)."""
        layout, (K, M) = self.model.layout, VT.shape[:2]
        return [tuple(xp.reshape(VT[:, :, a:b], (K, M, *shape)) for (a, b), shape in zip(sp, sh))
                for sp, sh in zip(layout.slices, layout.shapes)]

    # ----- input checks -----------------------------------------------------------------------
    def prepare(self, Theta, x, y):
        """Check (Theta, x, y); return (xp, params, shared, targets (B, C) or (M, B, C))."""
        model = self.model
        xp = namespace_of(Theta, x, y)
        if not is_floating(xp, Theta) or Theta.ndim != 2 or Theta.shape[1] != model.num_params:
            raise EnsembleInputError(f"Theta must be a floating (M, {model.num_params}) array, "
                                     f"got shape {tuple(Theta.shape)} and dtype {Theta.dtype}")
        M, d = Theta.shape[0], len(model.input_shape)
        if M < 1:
            raise EnsembleInputError("the ensemble has no members (M = 0)")
        if x.dtype != Theta.dtype:
            raise EnsembleInputError(f"x has dtype {x.dtype} but Theta has {Theta.dtype}")
        shared = x.ndim == 1 + d
        per_sample = tuple(x.shape[1:] if shared else x.shape[2:])
        if per_sample != model.input_shape or (not shared and x.shape[0] != M):
            raise EnsembleInputError(
                f"x must be shared, (B, {', '.join(map(str, model.input_shape))}), or per member, "
                f"({M}, B, ...); got {tuple(x.shape)}")
        B = x.shape[0] if shared else x.shape[1]
        if B < 1:
            raise EnsembleInputError("x holds an empty batch (B = 0)")
        if tuple(y.shape[:1 if shared else 2]) != ((B,) if shared else (M, B)):
            raise EnsembleInputError(f"y must have shape {(B,) if shared else (M, B)} to match x, "
                                     f"got {tuple(y.shape)}")
        C, loss = model.num_outputs, model.loss_fn
        if shared:  # (B, C), the same for every member (broadcast by the loss)
            targets = loss.targets(y, B, C, Theta.dtype, xp)
        else:  # (M, B, C)
            targets = xp.stack([loss.targets(y[m, ...], B, C, Theta.dtype, xp) for m in range(M)])
        return xp, self.unflatten(Theta, xp), shared, targets

    def check_directions(self, VT, Theta, xp):
        """Directions (K, M, N) matching Theta's backend, dtype and member count."""
        M, N = Theta.shape
        if namespace_of(VT, Theta) is not xp or VT.dtype != Theta.dtype:
            raise EnsembleInputError(f"directions must match Theta's backend and dtype {Theta.dtype}")
        if VT.ndim != 3 or tuple(VT.shape[1:]) != (M, N):
            raise EnsembleInputError(f"directions must have shape (K, {M}, {N}), got {tuple(VT.shape)}")
        return VT

    # ----- the passes ---------------------------------------------------------------------------
    def forward_pass(self, params, x, shared):
        """Logits Z (M, B, C) and the per-layer caches (None for a shared parameter-free layer)."""
        caches, a = [], x
        for rule, p in zip(self.rules, params):
            if shared and not p:  # the same for every member: once
                a, _ = rule.layer.forward((), a)
                caches.append(None)
                continue
            a, cache = rule.forward(p, a, shared)
            caches.append(cache)
            shared = False
        return a, caches

    def backward_pass(self, params, caches, dZ):
        """Per-layer stacked gradients (M, *shape) from dL_m/dz_m (M, B, C)."""
        first = self.model.first_param_layer
        grads, dy = [()] * len(self.rules), dZ
        for i in range(len(self.rules) - 1, first - 1, -1):
            dy, grads[i] = self.rules[i].backward(params[i], caches[i], dy, need_dx=i > first)
        return grads

    def r_forward_pass(self, params, caches, vparams):
        """R{Z} (K, M, B, C) and the R{a_{l-1}} seen by each layer (None where zero)."""
        rxs, rx = [], None  # R{x} = 0
        for rule, p, cache, vp in zip(self.rules, params, caches, vparams):
            rxs.append(rx)
            if cache is not None:  # a shared parameter-free layer has R{a} = 0
                rx = rule.r_forward(p, cache, vp if p else None, rx)
        return rx, rxs

    def r_backward_pass(self, params, caches, dZ, rdZ, vparams, rxs):
        """Per-layer gradients (M, ...) and their R{g_l} (K, M, ...)."""
        first = self.model.first_param_layer
        L = len(self.rules)
        grads, rgrads = [()] * L, [()] * L
        dy, rdy = dZ, rdZ
        for i in range(L - 1, first - 1, -1):
            rule, need_dx = self.rules[i], i > first
            vp = vparams[i] if params[i] else None
            dx, grads[i] = rule.backward(params[i], caches[i], dy, need_dx)
            rdx, rgrads[i] = rule.r_backward(params[i], caches[i], dy, vp, rxs[i], rdy, need_dx)
            dy, rdy = dx, rdx
        return grads, rgrads

    # ----- losses per member ----------------------------------------------------------------------
    def _loss(self, Z, targets, xp):
        """Per-member mean losses (M,) and dL_m/dz_m (M, B, C), the loss of each member alone
        (the losses reduce over each member's (B, C) only, :mod:`refchaos.nn.losses`)."""
        fn = self.model.loss_fn
        return fn.value(Z, targets, xp), fn.grad(Z, targets, xp)

    def loss_and_grad(self, Theta, x, y):
        """Losses (M,) and gradients G (M, N) of every member's mean loss on its batch."""
        return self._blocked(Theta, x, y, None)[:2]

    def grad_and_hvp(self, Theta, x, y, VT):
        """Losses (M,), gradients G (M, N) and H_m v_km (K, M, N) for directions VT (K, M, N)."""
        return self._blocked(Theta, x, y, VT)

    def _blocked(self, Theta, x, y, VT):
        xp, params, shared, targets = self.prepare(Theta, x, y)
        vparams = None
        if VT is not None:
            vparams = self.unflatten_directions(self.check_directions(VT, Theta, xp), xp)
        B = x.shape[0] if shared else x.shape[1]
        blocks = self._blocks(B)
        total = None
        for a, b in blocks:
            xb = x if len(blocks) == 1 else (x[a:b, ...] if shared else x[:, a:b, ...])
            tb = (targets if len(blocks) == 1 else
                  targets[a:b, ...] if shared else targets[:, a:b, ...])
            part = self._block(params, xb, shared, tb, vparams, xp)
            if len(blocks) > 1:
                w = (b - a) / B  # the block's share of the mean
                part = [w * p for p in part]
            total = part if total is None else [s + p for s, p in zip(total, part)]
        M = Theta.shape[0]
        losses, grads = total[0], self.flatten_parts(total[1:1 + self._n_grad_parts()], (M,), xp)
        if VT is None:
            return losses, grads, None
        K = VT.shape[0]
        return losses, grads, self.flatten_parts(total[1 + self._n_grad_parts():], (K, M), xp)

    def _n_grad_parts(self):
        return sum(len(s) for s in self.model.layout.shapes)

    @staticmethod
    def flatten_parts(parts, lead, xp):
        """(*lead, N) from the parameter arrays of every layer, in layout order."""
        return xp.concat([xp.reshape(a, (*lead, -1)) for a in parts], axis=len(lead))

    def _block(self, params, x, shared, targets, vparams, xp):
        """[losses, *gradient arrays, *R{gradient} arrays] of one block of samples (means)."""
        Z, caches = self.forward_pass(params, x, shared)
        values, dZ = self._loss(Z, targets, xp)
        if vparams is None:
            grads = self.backward_pass(params, caches, dZ)
            return [values, *(a for layer in grads for a in layer)]
        rZ, rxs = self.r_forward_pass(params, caches, vparams)
        fn = self.model.loss_fn
        rdZ = fn.hvp(Z, targets, rZ, xp)  # (d^2 L_m / dz^2) R{z_m}  (K, M, B, C)
        grads, rgrads = self.r_backward_pass(params, caches, dZ, rdZ, vparams, rxs)
        return [values, *(a for layer in grads for a in layer),
                *(a for layer in rgrads for a in layer)]

    def forward(self, Theta, x):
        """Logits Z (M, B, C) of every member on its input."""
        xp = namespace_of(Theta, x)
        shared = x.ndim == 1 + len(self.model.input_shape)
        return self.forward_pass(self.unflatten(Theta, xp), x, shared)[0]
