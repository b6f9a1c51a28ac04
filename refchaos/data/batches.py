"""The seeded minibatch order: reproducible exactly and resumable at any step without replay.

Symbols: z(t) -> the minibatch of step t (Eq. (7) of Herrmann et al. 2022), ``indices(t)``.

Like a PyTorch ``DataLoader(shuffle=True)``, every epoch visits all n examples once in a fresh
random order, cut into batches of ``batch_size``; the last, smaller batch is kept unless
``drop_last``. Unlike a DataLoader, the permutation of epoch e is a pure function of
(seed, e): ``numpy.random.default_rng([seed, e]).permutation(n)``. So step t's batch is known
without replaying steps 0..t-1, and a perturbed copy or a resumed run sees the same batches.
(USPS, n = 7291 at batch size 8: 912 steps per epoch, the last one with 3 examples.)

Full batch (``batch_size`` None or 0): one step per epoch holding all n examples in their stored
order, 0..n-1; there is nothing to shuffle in a full-batch gradient, and :meth:`batches` hands
out x and y themselves (the same arrays every step, never a per-step copy).
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import asarray, namespace_of


class BatchOrder:
    """Which examples form the minibatch of each step.

    Parameters
    ----------
    n : int
        Number of training examples.
    batch_size : int or None
        Examples per step; None or 0 means full batch.
    seed : int
        Non-negative seed of the shuffling.
    drop_last : bool
        Drop each epoch's last batch if it is smaller than ``batch_size``.
    """

    def __init__(self, n, batch_size, seed=0, drop_last=False):
        n = int(n)
        if n < 1:
            raise ValueError(f"need at least one example, got n={n}")
        if batch_size is not None and int(batch_size) < 0:
            raise ValueError(f"batch_size must be positive, or None/0 for full batch, "
                             f"got {batch_size}")
        if int(seed) < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self.n = n
        self.full_batch = not batch_size
        self.batch_size = n if self.full_batch else int(batch_size)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        if drop_last and self.batch_size > n:
            raise ValueError(f"drop_last with batch_size {batch_size} > n = {n} leaves no batch")
        self._cached = (None, None)  # (epoch, permutation) of the last epoch asked for

    @property
    def steps_per_epoch(self):
        """Batches per epoch: ceil(n / b), or floor(n / b) with ``drop_last``; 1 for full batch."""
        if self.full_batch:
            return 1
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def epoch_of(self, step):
        """The epoch (0-based) that step ``step`` (0-based) belongs to."""
        return self._check_step(step) // self.steps_per_epoch

    def permutation(self, epoch):
        """The order of all n examples in epoch ``epoch``: int64 (n,), from (seed, epoch) alone."""
        if self.full_batch:
            return np.arange(self.n, dtype=np.int64)
        if self._cached[0] != epoch:
            rng = np.random.default_rng([self.seed, int(epoch)])
            self._cached = (epoch, rng.permutation(self.n).astype(np.int64))
        return self._cached[1]

    def indices(self, step):
        """Host int64 indices of the examples in the minibatch of step ``step``."""
        step = self._check_step(step)
        epoch, k = divmod(step, self.steps_per_epoch)
        start = k * self.batch_size
        return self.permutation(epoch)[start:start + self.batch_size].copy()

    def batches(self, x, y, start=0, stop=None):
        """Yield ``(x_batch, y_batch)`` for steps ``start, start + 1, ...`` (before ``stop``).

        ``x`` and ``y`` stay on their backend; indices are drawn on the host and moved there.
        Without ``stop`` the iterator runs for ever (one epoch after another).
        """
        xp = namespace_of(x, y)
        if x.shape[0] != self.n or y.shape[0] != self.n:
            raise ValueError(f"this order is for n={self.n} examples, got x {tuple(x.shape)}, "
                             f"y {tuple(y.shape)}")
        step = self._check_step(start)
        while stop is None or step < stop:
            if self.full_batch:  # all n examples in stored order: x and y themselves, no gather
                yield x, y
            else:
                idx = asarray(self.indices(step), xp)
                yield xp.take(x, idx, axis=0), xp.take(y, idx, axis=0)
            step += 1

    def _check_step(self, step):
        if isinstance(step, bool) or int(step) != step or step < 0:
            raise ValueError(f"step must be a non-negative integer, got {step!r}")
        return int(step)

    def __repr__(self):
        size = "full" if self.full_batch else self.batch_size
        return (f"BatchOrder(n={self.n}, batch_size={size}, seed={self.seed}, "
                f"drop_last={self.drop_last}, steps_per_epoch={self.steps_per_epoch})")
