"""The measures of a run (:mod:`refchaos.experiments.run`), one module each.

A measure declares what it adds to a run and nothing else:

* ``columns(config)``  its columns of metrics.csv (a classmethod: the file's header is known
  before anything is computed);
* ``integrator``       the resumable integrator of :mod:`refchaos.lyapunov.integrator` whose
  tangent columns ride along the optimizer step (None for measures without a tangent); the run
  advances all of them in one :func:`refchaos.lyapunov.integrator.advance_together`;
* ``observe(step)``    its values of the step (a :class:`Step`): cells of ``step.row`` and
  per-step arrays appended to ``step.records``; it returns a
  :class:`~refchaos.experiments.divergence.Divergence` to stop the run, else None;
* ``state_dict()`` / ``meta()`` / ``load(meta, arrays, theta, opt_state)``  its part of the
  checkpoint (host arrays, exact; JSON metadata) and the way back, bitwise;
* ``summary()``        its entries of summary.json;
* ``figures``          the names of the figures of :mod:`refchaos.plots.run` drawn from its data.

Measures are built in the order of :data:`MEASURE_CLASSES` (the column order of metrics.csv);
``loss`` is always measured. The mathematics lives in :mod:`refchaos.lyapunov` and
:mod:`refchaos.curvature`; a measure calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...optim.stepper import OPTIMIZERS as STEPPER_CLASSES


@dataclass
class Step:
    """What the measures of one step t see: theta(t) (before the step) on the batch z(t).

    ``info`` is the optimizer's (``loss`` at theta(t), ``grad_norm``, CGD's entries);
    ``theta_next`` and ``state_next`` are theta(t + 1) and the optimizer state after the step;
    ``measured`` says whether the expensive quantities are due
    (every ``config.every`` steps and at the last); ``lam`` is filled by the spectrum measure
    (host float64 eigenvalues of the step's Hessian) for the measures after it.
    """

    t: int
    x: object
    y: object
    theta: object
    theta_next: object
    state_next: object
    info: dict
    measured: bool
    row: dict
    records: list = field(default_factory=list)  # (name, values) for the run's Recorder
    lam: object = None


class Measure:
    """Base of a run's measures (module docstring); the defaults are "nothing".

    A measure with a ``summary_key`` keeps its last recorded value in ``last`` (in the
    checkpoint's metadata) and reports it under that key in summary.json.
    """

    name = None
    figures = ()
    integrator = None
    summary_key = None

    def __init__(self, setup, theta, opt_state):
        self.setup = setup
        self.last = None  # the last recorded value (summary_key)

    @classmethod
    def columns(cls, config):
        return []

    def observe(self, step):
        return None

    def state_dict(self):
        """Host arrays of the measure's state (exact copies), prefixed with its name."""
        if self.integrator is None:
            return {}
        prefix = f"{self.name}_"
        return {prefix + k: v for k, v in self.integrator.state_dict().items()
                if k != "theta" and not k.startswith("opt_")}  # the run stores theta and opt_*

    def meta(self):
        return {} if self.summary_key is None else {"last": self.last}

    def load(self, meta, arrays, theta, opt_state):
        """Restore the state written by :meth:`state_dict` / :meth:`meta`, on the run's
        theta and optimizer state (the same objects, so the integrators share one trajectory)."""
        self.last = meta.get("last")
        if self.integrator is None:
            return
        prefix = f"{self.name}_"
        own = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        shared = {k: v for k, v in arrays.items() if k == "theta" or k.startswith("opt_")}
        integ = type(self.integrator).from_state_dict(self.setup.opt, self.setup.model,
                                                      {**shared, **own}, like=theta)
        integ.theta, integ.state = theta, opt_state
        self.integrator = integ

    def summary(self):
        return {} if self.summary_key is None else {self.summary_key: self.last}


def preconditioned(config):
    """Whether the configured stepper preconditions the gradient (Adam, AdamW, RMSprop), so
    that its one-step map is not I - lr H (EQUATIONS.md, 'Preconditioned steppers')."""
    return bool(STEPPER_CLASSES[config.optimizer].preconditioned)


from .loss import Loss  # noqa: E402  (the classes use the base above)
from .accuracy import Accuracy  # noqa: E402
from .spectrum import Spectrum  # noqa: E402
from .sharpness import Sharpness  # noqa: E402
from .ftle import FTLE  # noqa: E402
from .maxexp import MaxExp  # noqa: E402
from .subspaces import Subspaces  # noqa: E402

MEASURE_CLASSES = {cls.name: cls for cls in (Loss, Accuracy, Spectrum, Sharpness, FTLE, MaxExp,
                                             Subspaces)}


def measure_classes(config):
    """The measure classes of ``config`` in column order (``loss`` always first)."""
    wanted = set(config.measure) | {"loss"}
    return [cls for name, cls in MEASURE_CLASSES.items() if name in wanted]


def metric_columns(config):
    """Column names of metrics.csv for this configuration: step, epoch, then each measure's."""
    cols = ["step", "epoch"]
    for cls in measure_classes(config):
        cols += cls.columns(config)
    return cols


def build_measures(setup, theta, opt_state):
    """The measures of ``setup.config`` at theta(0) and the optimizer state (one trajectory);
    a measure that cannot work for the configuration raises ConfigError here."""
    return [cls(setup, theta, opt_state) for cls in measure_classes(setup.config)]


def figure_names(measures):
    """The figures of :mod:`refchaos.plots.run` that the named measures have data for."""
    names = []
    for name in ("loss", *measures):
        cls = MEASURE_CLASSES.get(name)
        for fig in (cls.figures if cls is not None else ()):
            if fig not in names:
                names.append(fig)
    return names


__all__ = ["Measure", "Step", "MEASURE_CLASSES", "measure_classes", "metric_columns",
           "build_measures", "figure_names", "preconditioned"]
