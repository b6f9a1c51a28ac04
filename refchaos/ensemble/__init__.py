"""Ensembles of trajectories: M members of one architecture advanced as one computation.

* :mod:`.rules`         how a layer runs over a member axis, chosen from its declarations
* :mod:`.passes`        batched forward, backward and R-operator passes (losses per member)
* :mod:`.trajectories`  SGD / momentum members with tangent vectors and divergence masking
"""

from .passes import EnsembleInputError, EnsemblePasses
from .trajectories import Ensemble

__all__ = ["Ensemble", "EnsembleInputError", "EnsemblePasses"]
