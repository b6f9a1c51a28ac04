"""One training run's ingredients, built and checked before any file is written.

``prepare(config)`` is shared by ``run``, ``sweep``, ``prune`` and ``perturb``: it validates
the options, loads the data on the chosen backend, builds the model, theta(0), the optimizer
and the seeded batch order. It raises :class:`~refchaos.experiments.config.ConfigError` (an
option that cannot work, named), ``BackendUnavailableError`` (e.g. ``cupy`` without a GPU)
or a ``DataError`` (dataset not found), and writes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend import asarray, get_namespace, namespace_of, to_float
from ..data import BatchOrder, get_dataset
from ..optim import OptState
from .config import ConfigError, RunConfig, build_model, build_optimizer, load_run_data


@dataclass
class Setup:
    """Namespace, data, model, theta(0), optimizer and batch order of one run."""

    config: RunConfig
    xp: object
    x_train: object
    y_train: object
    x_test: object
    y_test: object
    model: object
    theta0: object
    opt: object
    order: BatchOrder

    @property
    def total_steps(self):
        """Number of steps: ``config.steps`` or epochs x steps per epoch."""
        c = self.config
        return c.steps if c.steps is not None else c.epochs * self.order.steps_per_epoch

    steps = total_steps

    def batch(self, t):
        """(x, y) of step t, from the seeded batch order (resumable without replay).

        Full batch: every step's batch is the whole training set in its stored order, so the
        loaded arrays themselves are returned, prepared once (no per-step gather of n rows).
        """
        if self.order.full_batch:
            self.order.epoch_of(t)  # checks t like any other step
            return self.x_train, self.y_train
        idx = asarray(self.order.indices(t), self.xp)
        return self.xp.take(self.x_train, idx, axis=0), self.xp.take(self.y_train, idx, axis=0)

    def step_fn(self, opt=None):
        """theta -> theta after step t, a pure function of (theta, t) (no momentum state)."""
        opt = self.opt if opt is None else opt
        if opt.momentum != 0:
            raise ConfigError("a pure step function of theta needs momentum 0")

        def step(theta, t):
            x, y = self.batch(t)
            return opt.step(self.model, theta, OptState(step=t), x, y)[0]

        return step

    def stateful_step(self, opt=None):
        """(init, step) for trajectories that each carry their own optimizer state (any
        stepper): ``init = opt.init`` and ``step(theta, state, t) -> (theta, state)``, the
        optimizer's step on the batch z(t) (:func:`refchaos.lyapunov.copies_exponent`,
        :func:`refchaos.lyapunov.distance_curves` with ``init``)."""
        opt = self.opt if opt is None else opt

        def step(theta, state, t):
            x, y = self.batch(t)
            theta, state, _ = opt.step(self.model, theta, state, x, y)
            return theta, state

        return opt.init, step


def prepare(config):
    """Check ``config`` against the data and build the run; writes nothing."""
    config.validate()
    xp = get_namespace(config.backend)
    x_tr, y_tr, x_te, y_te = load_run_data(config, xp)
    model = build_model(config, tuple(x_tr.shape[1:]), get_dataset(config.dataset).num_classes)
    theta0 = model.init(seed=config.seed, scheme=config.init, std=config.init_std, backend=xp)
    order = BatchOrder(x_tr.shape[0], config.batch_size or None, seed=config.seed)
    return Setup(config, xp, x_tr, y_tr, x_te, y_te, model, theta0, build_optimizer(config), order)


def evaluate(model, theta, x, y):
    """(mean loss, accuracy) of theta on (x, y) as Python floats; NaN loss if not finite."""
    logits = model.forward(theta, x)  # (B, C)
    xp = namespace_of(logits, y)
    pred = xp.argmax(logits, axis=1)  # (B,)
    acc = to_float(xp.mean(xp.astype(pred == y, logits.dtype)))
    loss = to_float(model.loss(theta, x, y))
    return (loss if math.isfinite(loss) else math.nan), acc
