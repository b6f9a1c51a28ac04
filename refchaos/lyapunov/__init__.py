"""Lyapunov exponents of training: QR finite-time spectrum, perturbed copies, perturbation
analysis and the expected distance between initialisations.

* :mod:`.qr`             Benettin/Geist-H2 QR accumulator for tangent blocks
* :mod:`.spectrum`       k largest exponents of a map (Eqs. (1)-(3) of H22)
* :mod:`.copies`         network maximum exponent from perturbed copies (J25)
* :mod:`.perturbation`   H22 Sec. 4.2 directions, distance curves, Eq. (15) fit, Eq. (5) bounds
* :mod:`.init_distance`  expected distance between two initialisations (H22 App. A.8)
* :mod:`.local`          local exponents (Eq. (9)), Theorem 2.1 counts, gradient overlaps
* :mod:`.tangent`        tangent maps of any stepper's steps, tangent matrix and QR spectrum over training
* :mod:`.matrix`         finite-time Lyapunov matrix (Eq. (3)) and its eigenvectors
* :mod:`.subspaces`      finite-time chaotic / non-chaotic subspaces (H22 Sec. 4.2) and their overlap
* :mod:`.maxexp`         maximum exponent by one tangent vector
* :mod:`.singular`       largest singular values of Y(T) (Eq. (3)) without forming it, by the adjoint
* :mod:`.integrator`     resumable integrators (checkpoint and resume bitwise)
"""

from .copies import CopiesError, CopiesResult, copies_exponent, saturation_window, weight_mask
from .init_distance import (
    InitDistance,
    expected_init_distance,
    monte_carlo_init_distance,
    paper_reading_a8,
)
from .perturbation import (
    STRATEGIES,
    DistanceFit,
    distance_bounds,
    distance_curves,
    fit_distance,
    perturbation_directions,
)
from .local import LocalSpectrum, gradient_overlap, local_analysis, local_exponents
from .matrix import UnrepresentableError, lyapunov_matrix, neutral_exponent
from .subspaces import (FiniteTimeSubspaces, SubspaceOverlap, finite_time_subspaces,
                        random_similarity, subspace_overlap, subspace_similarity)
from .integrator import Integrator
from .maxexp import MaxExponentIntegrator, MaxExponentRun, max_exponent
from .qr import QRAccumulator
from .spectrum import SpectrumError, SpectrumHistory, spectrum
from .singular import AdjointError, TopSingular, top_singular_values
from .tangent import (
    SpectrumIntegrator,
    SpectrumRun,
    TangentMatrixIntegrator,
    TangentMatrixRun,
    lyapunov_spectrum,
    tangent_dim,
    tangent_matrix,
    tangent_step,
)

__all__ = [
    "QRAccumulator", "spectrum", "SpectrumError", "SpectrumHistory",
    "copies_exponent", "CopiesResult", "CopiesError", "weight_mask", "saturation_window",
    "perturbation_directions", "distance_curves", "fit_distance", "DistanceFit",
    "distance_bounds", "STRATEGIES",
    "expected_init_distance", "monte_carlo_init_distance", "paper_reading_a8", "InitDistance",
    "local_exponents", "gradient_overlap", "local_analysis", "LocalSpectrum",
    "lyapunov_matrix", "neutral_exponent", "UnrepresentableError",
    "max_exponent", "MaxExponentRun",
    "tangent_step", "tangent_matrix", "lyapunov_spectrum", "tangent_dim", "TangentMatrixRun",
    "SpectrumRun", "Integrator", "MaxExponentIntegrator", "SpectrumIntegrator",
    "TangentMatrixIntegrator", "FiniteTimeSubspaces", "finite_time_subspaces", "SubspaceOverlap",
    "subspace_overlap", "subspace_similarity", "random_similarity",
    "top_singular_values", "TopSingular", "AdjointError",
]
