"""The numerical audit: one check per entry of the equation ledger (EQUATIONS.md).

    rows = run_audit("numpy")          # or "array_api_strict", "torch", "cupy"
    for row in rows: print(row.id, row.residual, row.tolerance, row.passed)

Each check takes an exact or analytic case, or an identity, of the equation its ledger entry
names, runs the refchaos function that implements it on the chosen backend (arrays are drawn
from the one host generator and moved with :func:`refchaos.backend.asarray`), and returns a
residual with a tolerance argued from float64 rounding. No autodiff library is used: derivatives
are checked against central finite differences, exact bilinear identities or closed forms.

Tolerances
----------
u = 2^-53 is the unit roundoff. A sum of n terms carries a relative error <= gamma_n =
n u / (1 - n u) of the sum of absolute terms (Higham, "Accuracy and Stability of Numerical
Algorithms", Sec. 3.1); ``SAFETY`` ulps per accumulated term allow for two independent roundings
and for cancellation (sum of |terms| above |sum|). A central difference (f(h) - f(-h)) / (2h) of
a smooth f errs by the truncation h^2 |f'''| / 6 plus the rounding delta / h of the two
evaluations (delta their absolute error); h ~ u^(1/3) balances the two. For a function that is
linear or quadratic along the line (a dense or convolution layer is bilinear in weights and
input) the central difference is exact in exact arithmetic, so h = 1 is used and only rounding
remains.

Every row says where it ran: the chosen backend, or host NumPy for the data preprocessing (which
runs on the host by design, before :func:`refchaos.data.load` moves arrays to a backend) and
for pure closed-form arithmetic. A check that raises is reported as FAILED with the error; no
check is skipped.

Symbols: u -> ``U``; gamma_n -> :func:`gamma`; h -> ``FD_STEP``; eta -> ``lr``.
"""

from .core import (CHECKS, U, AuditRow, Check, Outcome, check, fd_tolerance, gamma, rtol,
                   run_audit)

# The checks register themselves when their module is imported: the ledger order (EQUATIONS.md)
# is the order of these imports (deliberately not alphabetical) and of the checks within each.
from . import herrmann  # noqa: I001
from . import jimenez
from . import derivatives
from . import algorithms
from . import curvature_tools, steppers
from . import ensemble

CHECK_MODULES = (herrmann, jimenez, derivatives, algorithms, steppers, curvature_tools, ensemble)

__all__ = ["CHECKS", "U", "AuditRow", "Check", "Outcome", "check", "fd_tolerance", "gamma", "rtol",
           "run_audit"]
