"""Measure ``accuracy``: the share of correctly classified examples at theta(t), every
``config.every`` steps: ``batch_acc`` on z(t), ``train_acc`` on the whole training set,
``test_acc`` on the test set. Figure ``training``.
"""

from __future__ import annotations

from ...backend import namespace_of, to_float
from . import Measure


def accuracy(model, theta, x, y):
    """mean(argmax_c f(theta; x)_c == y), a Python float."""
    xp = namespace_of(theta)
    pred = xp.argmax(model.forward(theta, x), axis=1)  # (B,)
    return to_float(xp.mean(xp.astype(pred == y, theta.dtype)))


class Accuracy(Measure):
    name = "accuracy"
    figures = ("training",)

    @classmethod
    def columns(cls, config):
        return ["batch_acc", "train_acc", "test_acc"]

    def observe(self, step):
        if not step.measured:
            return None
        s, row = self.setup, step.row
        row["batch_acc"] = accuracy(s.model, step.theta, step.x, step.y)
        row["train_acc"] = accuracy(s.model, step.theta, s.x_train, s.y_train)
        row["test_acc"] = accuracy(s.model, step.theta, s.x_test, s.y_test)
        return None
