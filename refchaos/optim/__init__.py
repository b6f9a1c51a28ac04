"""Optimizers as pure steppers that own their state and tangent maps (:mod:`.stepper`).

SGD (Eq. (7), PyTorch conventions), CGD (Theorem 2.2, a projection composed around SGD),
Adam, AdamW and RMSprop (PyTorch's definitions):

    opt = get_optimizer("adam", lr=1e-3)          # or SGD(lr=0.1, momentum=0.9), ...
    state = opt.init(theta)
    theta, state, info = opt.step(model, theta, state, x, y)
    theta, state, JY, info = opt.tangent_step(model, theta, state, x, y, Y)
"""

from .adam import Adam, AdamState, AdamW
from .cgd import CGD, PRUNE_SETS, SELECTIONS, Pruning
from .eigensets import ZERO_TOL, classify, eigenvalue_counts
from .preconditioned import SingularTangentError
from .rmsprop import RMSprop, RMSpropState
from .sgd import SGD, OptState
from .stepper import OPTIMIZERS, PreconditionedMapError, Stepper, get_optimizer, register

__all__ = ["SGD", "CGD", "OptState", "Pruning", "PRUNE_SETS", "SELECTIONS", "ZERO_TOL",
           "classify", "eigenvalue_counts", "Stepper", "get_optimizer", "register", "OPTIMIZERS",
           "Adam", "AdamW", "AdamState", "RMSprop", "RMSpropState", "PreconditionedMapError",
           "SingularTangentError"]
