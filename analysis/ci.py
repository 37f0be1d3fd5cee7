"""Conditional-independence tests behind one call: `ci_test(x, y, z, method=...)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from dowhy.gcm import independence_test

from analysis.validation import as_matrix
from envs.errors import unknown_name

CIMethod = Literal["kernel", "approx_kernel", "regression", "gcm"]
CI_METHODS: tuple[str, ...] = get_args(CIMethod)


@dataclass(frozen=True)
class CITestResult:
    """Outcome of a conditional-independence test of `x ⊥ y | z` (the null hypothesis)."""

    p_value: float
    method: str
    n: int
    conditional: bool

    def _repr_html_(self) -> str:
        return f"<b>CI test</b> ({self.method}, n={self.n}): p = {self.p_value:.4g}"


def ci_test(x, y, z=None, method: CIMethod = "kernel", *, seed: int = 0, **kwargs) -> CITestResult:
    """Test the null hypothesis `x ⊥ y | z` (or `x ⊥ y` without `z`); return its p-value.

    `x (n,)|(n, dx)`, `y (n,)|(n, dy)`, `z (n, dz)` or None. Methods are DoWhy's
    `gcm.independence_test` ones: `kernel` (KCI; Zhang et al. 2011; DoWhy reads at most 2,000
    rows), `approx_kernel` (random features; Strobl et al. 2019), `regression` (F-test on kernel
    features) and `gcm` (generalised covariance measure; Shah & Peters 2020). DoWhy draws from
    NumPy's global generator; we seed it with `seed` for the call and restore it afterwards, so a
    seed fixes the p-value. Extra `kwargs` go to the DoWhy method.
    """
    if method not in CI_METHODS:
        raise unknown_name("CI method", str(method), CI_METHODS)
    xm = as_matrix("x", x)
    n = xm.shape[0]
    ym = as_matrix("y", y, n)
    zm = None if z is None else as_matrix("z", z, n)
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        p = float(independence_test(xm, ym, conditioned_on=zm, method=method, **kwargs))
    finally:
        np.random.set_state(state)
    return CITestResult(p_value=min(max(p, 0.0), 1.0), method=method, n=n, conditional=zm is not None)
