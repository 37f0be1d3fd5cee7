"""Input checks shared by the statistical routines: shapes, finiteness, regimes."""

from __future__ import annotations

import numpy as np

from core.errors import DataError


def as_matrix(name: str, values, n: int | None = None) -> np.ndarray:
    """`values` as a finite float `(n, d)` matrix, or a `DataError` naming `name`."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be numeric; got values of type {type(values).__name__}.") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"{name} must be 1-d (n,) or 2-d (n, d); got shape {arr.shape}.")
    if n is not None and arr.shape[0] != n:
        raise DataError(f"{name} has {arr.shape[0]} rows but the other inputs have {n}; pass one row per unit.")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise DataError(
            f"{name} contains NaN or inf in {len(rows)} rows (first: {rows[:5].tolist()}); "
            f"drop or impute those rows before testing."
        )
    return arr


def as_regime(s, n: int | None = None, name: str = "s", *, categorical: bool = False) -> np.ndarray:
    """The regime indicator (column `name`) as an int `(n,)` array with training (0) and deployment present.

    Binary (0 training, 1 deployment) unless `categorical`, which admits the indices `0..k` of
    named regimes (0 training; not every index need be present, but 0 and one other must).
    """
    arr = as_matrix(name, s, n)
    if arr.shape[1] != 1:
        raise DataError(f"{name} must be one column (the regime indicator), got {arr.shape[1]} columns.")
    arr = arr[:, 0]
    values = np.unique(arr)
    if categorical:
        if not ((values >= 0) & (values == np.round(values))).all():
            raise DataError(
                f"{name} must hold regime indices 0, 1, ..., k (0 = training); got values {values[:5].tolist()}."
            )
    elif not np.isin(values, (0.0, 1.0)).all():
        raise DataError(f"{name} must be 0 (training) or 1 (deployment); got values {values[:5].tolist()}.")
    if len(values) < 2:
        raise DataError(
            f"{name} has only regime {int(values[0])}: the test needs episodes from both regimes. "
            f"Collect at shift 0 and shift 1 (or a shift strictly between)."
        )
    if values[0] != 0:
        raise DataError(
            f"{name} has no training episodes (regime 0), only regimes {[int(v) for v in values]}: each deployment "
            f"regime is tested against training. Collect at shift 0 as well."
        )
    return arr.astype(int)


def as_groups(groups, n: int) -> np.ndarray | None:
    """Cluster ids `(n,)` (episode ids for step rows), or None; a `DataError` on the wrong shape or NaN."""
    if groups is None:
        return None
    arr = np.asarray(groups)
    if arr.shape != (n,):
        raise DataError(f"groups must have shape ({n},) (one cluster id per row), got {arr.shape}.")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DataError("groups contains NaN or inf; give every row a cluster id (e.g. its episode).")
    if arr.dtype.kind == "O":
        raise DataError("groups must be numbers or strings, one cluster id per row.")
    return arr
