"""DoWhy's four conditional-independence tests behind `ci_test`, as `dowhy_<name>`.

DoWhy's `gcm.independence_test` draws from NumPy's global generator; we seed it for the call and
restore it afterwards, so a seed fixes the p-value. Measured on our scenarios
(`benchmarks/ci_calibration.py`, n = 1,000, α = 0.05, the README's table):

- `dowhy_kernel` (KCI, reads at most 2,000 rows): calibrated on 1-d `Y_m` (0.03–0.07), 0.13 at 16-d;
  1–8 s a call.
- `dowhy_approx_kernel` (RCIT with permutations): calibrated on 1-d `Y_m`, but rejected 30 of 30
  nulls with a 16-dimensional `Y_m`.
- `dowhy_regression`: p ≈ 1 on everything, alternatives included, in either argument order (its
  F-test compares Nyström features of `(x, z)` and of `z` drawn separately, which are not nested).
- `dowhy_gcm`: calibrated, but its model selection takes 5–15 s at n = 1,000.
None of them takes cluster ids: on steps that share an episode every one over-rejects (0.53–0.67).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

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
    # `regression` predicts its second argument; with either order it never rejected on our
    # scenarios (see above), so it keeps DoWhy's order.
    "dowhy_regression": "xy",
    "dowhy_gcm": "xy",
}
"""`"xy"`: call DoWhy with `(x, y)`; `"yx"`: with `(y, x)` (for `x = Y_b`, `y = s`)."""


def dowhy_ci_test(x: np.ndarray, y: np.ndarray, z: np.ndarray | None, method: str, *, seed: int = 0, **kwargs) -> float:
    """p-value of DoWhy's test `method` (one of `DOWHY_METHODS`) of `x ⊥ y | z`."""
    # Imported on first use: DoWhy takes seconds to import, which every `mesaprobe` command would pay.
    from dowhy.gcm import independence_test

    a, b = (x, y) if ARGUMENT_ORDER[method] == "xy" else (y, x)
    with seeded_numpy_global(seed):
        p = float(independence_test(a, b, conditioned_on=z, method=DOWHY_METHODS[method], **kwargs))
    return min(max(p, 0.0), 1.0)


@contextmanager
def seeded_numpy_global(seed: int) -> Iterator[None]:
    """Seed NumPy's global generator for the block and give the caller's state back afterwards.

    DoWhy (its CI tests, bootstrap, `falsify_graph` permutations) and econml draw from the global
    generator; this makes their results a function of `seed` without disturbing the caller.
    """
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)
