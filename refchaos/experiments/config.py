"""Configuration of one training run: parsed, checked before any work starts, serialisable.

A :class:`RunConfig` holds every choice a user makes on the command line (``refchaos run``) or
in a script. ``config.validate()`` names the first problem it finds (an unknown model string,
an lr <= 0, a batch larger than the dataset is checked once the data are loaded);
``RunConfig.from_dict(config.to_dict())`` rebuilds the run exactly, which is how a run
directory's ``config.json`` reruns or resumes it.

Model strings
-------------
``mlp:256-20-10``  dense layers 256 -> 20 -> 10 (the first size must equal the flattened
                   input size of the dataset, the last its number of classes)
``mlp:20``         hidden sizes only: input and output sizes are taken from the dataset
``cnn`` / ``cnn:4`` the CNN of Herrmann et al. 2022 with base channels c (default 4)
``cnn:avg`` / ``cnn:4:avg``  the same CNN with average pooling where H22 max-pool
                   (``cnn:max`` is H22's; the pool name may come before or after C)

Dataset defaults (``scaling="auto"``): digits, mnist, cifar10 in [0, 1]; usps and
fashion-mnist standardised by the training set (Herrmann et al.), fashion-mnist and mnist
resized to 16x16 only when the CNN asks for it.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import asdict, dataclass, field, fields

from ..lyapunov.subspaces import METHODS as SUBSPACE_METHODS
from ..nn import ACTIVATIONS, INIT_SCHEMES, LOSSES
from ..nn.builders import mlp
from ..optim import PRUNE_SETS, SELECTIONS, get_optimizer
from ..optim.stepper import OPTIMIZERS as STEPPER_CLASSES
from ..optim.adam import check_betas, check_eps
from ..optim.sgd import check_unit

DATASET_SCALING = {
    "digits": "unit", "mnist": "unit", "cifar10": "unit",
    "usps": "standardize", "fashion-mnist": "standardize",
}
OPTIMIZERS = ("sgd", "cgd", "adam", "adamw", "rmsprop")
ADAPTIVE = ("adam", "adamw", "rmsprop")  # preconditioned steppers (EQUATIONS.md)
# sweep and perturb: trajectories (model A, copies) that each carry their own optimizer state;
# CGD is left to `refchaos prune`, which compares it with SGD
COPIES_OPTIMIZERS = ("sgd", *ADAPTIVE)
# option -> the optimizers it applies to (PyTorch's hyper-parameters of each)
ADAPTIVE_OPTIONS = {"betas": ("adam", "adamw"), "eps": ADAPTIVE, "alpha": ("rmsprop",),
                    "amsgrad": ("adam", "adamw"), "centered": ("rmsprop",)}
BACKENDS = ("numpy", "cupy", "torch", "array_api_strict")
MEASURES = ("loss", "accuracy", "spectrum", "sharpness", "ftle", "maxexp", "subspaces")
DEFAULT_MEASURES = ("loss", "accuracy", "maxexp", "spectrum")


class ConfigError(ValueError):
    """An option that cannot work, named with its value and what would."""


@dataclass
class RunConfig:
    """Every option of one run (see ``refchaos run --help`` for the meaning of each)."""

    dataset: str = "digits"
    data_dir: str | None = None
    model: str = "mlp:32"
    activation: str = "relu"
    init: str = "pytorch"
    init_std: float = 1.0
    loss: str = "cross_entropy"
    optimizer: str = "sgd"
    prune: str = "chaotic"
    prune_k: int | None = None
    prune_select: str = "top"
    prune_start: int = 0
    lr: float = 0.1
    momentum: float = 0.0
    weight_decay: float | None = None  # None: the optimizer's PyTorch default (AdamW 0.01, others 0)
    betas: tuple = (0.9, 0.999)  # Adam/AdamW (beta1, beta2), PyTorch's defaults
    eps: float = 1e-8  # Adam/AdamW/RMSprop: added after the root
    alpha: float = 0.99  # RMSprop smoothing constant
    amsgrad: bool = False  # Adam/AdamW: divide by the root of the running max of v
    centered: bool = False  # RMSprop: divide by the root of the variance estimate
    batch_size: int = 32  # 0: full batch
    epochs: int = 5
    steps: int | None = None  # overrides epochs when given
    seed: int = 0
    backend: str = "numpy"
    measure: tuple = DEFAULT_MEASURES
    every: int = 20  # measure the expensive quantities every this many steps (default run ~1 min)
    ftle_k: int = 5  # top-k finite-time Lyapunov exponents when "ftle" is measured
    subspace_method: str = "svd"  # "subspaces": SVD of Y, or the top eigenpairs of Y^T Y ("gram")
    subset: int | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self):
        d = asdict(self)
        d["measure"] = list(self.measure)
        d["betas"] = list(self.betas)
        return d

    def __post_init__(self):
        if self.weight_decay is None and self.optimizer in STEPPER_CLASSES:
            self.weight_decay = default_weight_decay(self.optimizer)

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        d = dict(d)
        if "measure" in d:
            d["measure"] = tuple(d["measure"])
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)

    def validate(self):
        """Raise :class:`ConfigError` naming the first option that cannot work."""
        from ..data import DATASETS

        _choice("dataset", self.dataset, DATASETS)
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("init", self.init, INIT_SCHEMES)
        _choice("loss", self.loss, LOSSES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("prune", self.prune, PRUNE_SETS)
        _choice("prune-select", self.prune_select, SELECTIONS)
        _choice("backend", self.backend, BACKENDS)
        for m in self.measure:
            _choice("measure", m, MEASURES)
        parse_model_string(self.model)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr must be a finite number > 0, got {self.lr}")
        if not (0 <= self.momentum < 1):
            raise ConfigError(f"--momentum must lie in [0, 1), got {self.momentum}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        self._validate_optimizer_options()
        if self.batch_size < 0:
            raise ConfigError(f"--batch-size must be >= 0 (0 = full batch), got {self.batch_size}")
        if self.steps is None and self.epochs < 1:
            raise ConfigError(f"--epochs must be >= 1, got {self.epochs}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"--steps must be >= 1, got {self.steps}")
        if self.every < 1:
            raise ConfigError(f"--every must be >= 1, got {self.every}")
        if self.prune_k is not None and self.prune_k < 1:
            raise ConfigError(f"--prune-k must be >= 1, got {self.prune_k}")
        if self.prune_start < 0:
            raise ConfigError(f"--prune-start must be >= 0, got {self.prune_start}")
        if self.subset is not None and self.subset < 1:
            raise ConfigError(f"--subset must be >= 1, got {self.subset}")
        if self.seed < 0:
            raise ConfigError(f"--seed must be an integer >= 0, got {self.seed}")
        if not (math.isfinite(self.init_std) and self.init_std > 0):
            raise ConfigError(f"--init-std must be a finite number > 0, got {self.init_std}")
        if self.ftle_k < 1:
            raise ConfigError(f"--ftle-k must be >= 1, got {self.ftle_k}")
        if self.subspace_method not in SUBSPACE_METHODS:
            raise ConfigError(f"--subspace-method must be one of {', '.join(SUBSPACE_METHODS)}, "
                              f"got {self.subspace_method!r}")
        return self


    def _validate_optimizer_options(self):
        """Each optimizer option in range, and given only to an optimizer that has it."""
        default = RunConfig()
        for name, owners in ADAPTIVE_OPTIONS.items():
            if self.optimizer not in owners and getattr(self, name) != getattr(default, name):
                raise ConfigError(f"--{name} applies to --optimizer {' or '.join(owners)}, "
                                  f"not {self.optimizer}")
        if self.optimizer in ("adam", "adamw") and self.momentum != 0:
            raise ConfigError(f"--momentum does not apply to --optimizer {self.optimizer} "
                              "(its first moment is set by --betas)")
        try:
            check_betas(self.betas)
        except ValueError as err:
            raise ConfigError(f"--betas: {err}") from None
        try:
            check_eps(self.eps)
            check_unit(self.alpha, "alpha", closed=False)
        except ValueError as err:
            raise ConfigError(f"--{str(err).split()[0]} {str(err).partition(' ')[2]}") from None


def _choice(option, value, choices):
    if value not in choices:
        raise ConfigError(f"--{option} {value!r} is not one of: {', '.join(choices)}")


def parse_model_string(spec):
    """("mlp", sizes) or ("cnn", {"channels": C, "pool": P}) from a model string; raises
    ConfigError."""
    kind, _, arg = str(spec).partition(":")
    if kind == "mlp":
        try:
            sizes = [int(s) for s in arg.split("-")] if arg else []
        except ValueError:
            sizes = None
        if not sizes or min(sizes) < 1:
            raise ConfigError(
                f"--model {spec!r}: an MLP is written mlp:IN-H1-...-OUT or mlp:H1-...-H (hidden "
                "sizes only), with positive integer sizes, e.g. mlp:256-20-10"
            )
        return "mlp", sizes
    if kind == "cnn":
        from ..nn.cnn import POOLS

        parts = arg.split(":") if arg else []
        pools = [p for p in parts if p in POOLS]
        numbers = [p for p in parts if p not in POOLS]
        try:
            channels = int(numbers[0]) if numbers else 4
        except ValueError:
            channels = 0
        if channels < 1 or len(numbers) > 1 or len(pools) > 1:
            raise ConfigError(f"--model {spec!r}: write cnn, cnn:C with C >= 1 base channels, "
                              f"and optionally the pooling :{' or :'.join(POOLS)} (e.g. cnn:4:avg)")
        return "cnn", {"channels": channels, "pool": pools[0] if pools else "max"}
    raise ConfigError(f"--model {spec!r} is unknown; use mlp:256-20-10, mlp:20 or cnn[:C][:avg]")


def build_model(config, image_shape, num_classes):
    """The model of ``config`` for images (C, H, W) and ``num_classes`` classes."""
    kind, arg = parse_model_string(config.model)
    if kind == "cnn":
        from ..nn import cnn

        C, H, W = image_shape
        if C != 1 or H != W:
            raise ConfigError(f"--model cnn takes square 1-channel images, the data are {image_shape}")
        return cnn(**arg, activation=config.activation, loss=config.loss,
                   input_size=H, num_classes=num_classes)
    n_in = math.prod(image_shape)
    sizes = arg if len(arg) >= 2 and arg[0] == n_in and arg[-1] == num_classes else [n_in, *arg, num_classes]
    if len(arg) >= 2 and (arg[0] == n_in) != (arg[-1] == num_classes):
        raise ConfigError(
            f"--model {config.model!r}: the data have {n_in} input features and {num_classes} "
            f"classes; write mlp:{n_in}-...-{num_classes} or give hidden sizes only"
        )
    return mlp(sizes, activation=config.activation, loss=config.loss)


def model_input_layout(config):
    """(flatten, resize) the data need for this model: MLPs flatten, the CNN wants 16x16.

    ``config.extra["resize"] = 16`` resizes mnist / fashion-mnist to 16x16 for any model
    (Herrmann et al. 2022 train their MLP on FashionMNIST "subsampled to 16 x 16 pixels")."""
    kind, _ = parse_model_string(config.model)
    resize = config.extra.get("resize")
    if resize is not None and config.dataset not in ("mnist", "fashion-mnist"):
        raise ConfigError(f"extra resize={resize!r} applies to mnist and fashion-mnist only, "
                          f"not {config.dataset}")
    if resize is None and kind == "cnn" and config.dataset in ("mnist", "fashion-mnist"):
        resize = 16
    return (kind == "mlp"), (None if resize is None else int(resize))


def default_weight_decay(optimizer):
    """PyTorch's default weight decay of ``optimizer``, read off its stepper class (AdamW 1e-2,
    the others 0), so that a run without ``--weight-decay`` trains what PyTorch would."""
    return float(inspect.signature(STEPPER_CLASSES[optimizer]).parameters["weight_decay"].default)


def build_optimizer(config):
    """The configured stepper through the registry :func:`refchaos.optim.get_optimizer`: SGD,
    CGD (Theorem 2.2 of Herrmann et al. 2022), Adam, AdamW or RMSprop (PyTorch's definitions)."""
    name, common = config.optimizer, dict(lr=config.lr, weight_decay=config.weight_decay)
    if name == "sgd":
        return get_optimizer(name, momentum=config.momentum, **common)
    if name == "cgd":
        return get_optimizer(name, config.lr, prune=config.prune, k=config.prune_k, select=config.prune_select,
                             start=config.prune_start, momentum=config.momentum,
                             weight_decay=config.weight_decay, seed=config.seed)
    if name in ("adam", "adamw"):
        return get_optimizer(name, betas=tuple(config.betas), eps=config.eps,
                             amsgrad=config.amsgrad, **common)
    return get_optimizer(name, alpha=config.alpha, eps=config.eps, momentum=config.momentum,
                         centered=config.centered, **common)


def load_run_data(config, xp):
    """(x_train, y_train, x_test, y_test) on namespace ``xp`` as the model needs them."""
    from ..data import load

    flatten, resize = model_input_layout(config)
    kwargs = dict(data_dir=config.data_dir, backend=xp, resize=resize,
                  scaling=DATASET_SCALING[config.dataset], flatten=flatten, seed=config.seed)
    try:
        x_tr, y_tr = load(config.dataset, "train", subset=config.subset, **kwargs)
    except ValueError as err:
        if not str(err).startswith("subset size must be in 1.."):
            raise
        n = str(err).split("..")[1].split(",")[0]
        raise ConfigError(f"--subset {config.subset} is larger than the training set ({n} "
                          f"examples of {config.dataset})") from None
    x_te, y_te = load(config.dataset, "test", **kwargs)
    if config.batch_size > x_tr.shape[0]:
        raise ConfigError(
            f"--batch-size {config.batch_size} is larger than the training set "
            f"({x_tr.shape[0]} examples of {config.dataset})"
        )
    return x_tr, y_tr, x_te, y_te


def image_shape_of(config):
    """Per-sample image shape (C, H, W) of the configured dataset after resizing."""
    from ..data import load

    _, resize = model_input_layout(config)
    x, _ = load(config.dataset, "test", data_dir=config.data_dir, resize=resize, subset=1)
    return tuple(x.shape[1:])
