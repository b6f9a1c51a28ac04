"""The sweep figure draws the theta-block tangent exponent beside the whole-state one where they
differ (a stepper with buffers), and only one tangent line where they are one vector or the
sweep predates the column."""

from __future__ import annotations

import numpy as np
import pytest

from refchaos.plots.sweep import _exponent_and_time


def _inputs(theta):
    lrs = [0.1, 1.0]
    per_lr = [{"lr": lr, "exponent_copies": 0.01 * lr, "exponent_tangent": 0.5 * lr,
               "training_time": 3.0} for lr in lrs]
    if theta is not None:
        for p, v in zip(per_lr, theta):
            p["exponent_tangent_theta"] = v
    table = {"lr": np.array(lrs), "exponent_copies": np.array([0.001, 0.01]),
             "training_time": np.array([3.0, 3.0]), "diverged": np.array([False, False])}
    summary = {"per_lr": per_lr, "target": 0.5, "onset_lr_copies": 0.1, "best_lr": 0.1}
    return table, summary


def _labels(fig):
    return [line.get_label() for line in fig.axes[0].get_lines()]


@pytest.mark.parametrize("theta, lines", [
    ([0.02, 0.2], ["tangent vector, whole state, mean", "tangent vector, theta block, mean"]),
    ([0.05, 0.5], ["tangent vector, mean"]),  # plain SGD: the same vector, equal columns
    (None, ["tangent vector, mean"]),  # a sweep written before the column
    ([None, None], ["tangent vector, mean"]),  # NaN in JSON
], ids=["stateful", "plain-sgd", "older-summary", "nan"])
def test_theta_block_line_where_it_differs(theta, lines):
    fig = _exponent_and_time(*_inputs(theta))
    got = [label for label in _labels(fig) if label.startswith("tangent")]
    assert got == lines
    if len(lines) == 2:
        y = fig.axes[0].get_lines()[_labels(fig).index(lines[1])].get_ydata()
        np.testing.assert_array_equal(y, theta)
