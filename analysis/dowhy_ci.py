"""DoWhy's four conditional-independence tests, called the way each is valid for a binary regime.

DoWhy's `gcm.independence_test` draws from NumPy's global generator; we seed it for the call and
restore it afterwards, so a seed fixes the p-value. Argument order matters for two methods (see
`ARGUMENT_ORDER`); what each method does to calibration on our scenarios is measured by
`benchmarks/ci_calibration.py` and summarised in the README.
"""

from __future__ import annotations

import numpy as np
from dowhy.gcm import independence_test

DOWHY_METHODS: dict[str, str] = {
    "dowhy_kernel": "kernel",
    "dowhy_approx_kernel": "approx_kernel",
    "dowhy_regression": "regression",
    "dowhy_gcm": "gcm",
}
"""Our name → DoWhy's `method=` name."""

ARGUMENT_ORDER: dict[str, str] = {
    "dowhy_kernel": "xy",
    "dowhy_approx_kernel": "xy",
    # `regression` predicts its second argument from Nyström features of (first, z) and compares
    # with features of z alone: with the regime as the target (order `(y_b, s)`) it never
    # rejects, so the binary regime goes first and the outcome is the target.
    "dowhy_regression": "xy",
    "dowhy_gcm": "xy",
}
"""`"xy"`: call DoWhy with `(x, y)`; `"yx"`: with `(y, x)` (for `x = Y_b`, `y = s`)."""


def dowhy_ci_test(x: np.ndarray, y: np.ndarray, z: np.ndarray | None, method: str, *, seed: int = 0, **kwargs) -> float:
    """p-value of DoWhy's test `method` (one of `DOWHY_METHODS`) of `x ⊥ y | z`."""
    a, b = (x, y) if ARGUMENT_ORDER[method] == "xy" else (y, x)
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        p = float(independence_test(a, b, conditioned_on=z, method=DOWHY_METHODS[method], **kwargs))
    finally:
        np.random.set_state(state)
    return min(max(p, 0.0), 1.0)
