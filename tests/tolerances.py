"""Per-dtype tolerances for comparing kernels with their float64 NumPy references."""

import numpy as np

# Tolerances for comparing a kernel with its float64 NumPy reference.
# float32 has a unit roundoff of 6e-8; the kernels accumulate sums of up to a
# few hundred products and solve systems whose condition number is bounded by
# the regularisation (kappa <~ 1e3 on the test problems), so relative errors
# of ~1e-4 are expected and 2e-3 leaves a safety margin without hiding bugs
# (a wrong index or a missing term gives errors of order 1).
TOLERANCES = {
    np.float64: {"rtol": 1e-8, "atol": 1e-10},
    np.float32: {"rtol": 2e-3, "atol": 2e-4},
}
