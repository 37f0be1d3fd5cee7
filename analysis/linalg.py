"""Dense products and eigendecompositions of the nuisance and effect regressions, routed to the fastest CPU kernel.

On the CPU, NumPy's BLAS (OpenBLAS) computes a Gram matrix `xᵀx` with one symmetric rank-k update,
half the flops of the general product torch calls, and its double-precision GEMM ran 1.5–1.9× faster
than torch's MKL build on this project's AMD EPYC machine (`benchmarks/ci_tests.py` times the whole
test). Its LAPACK `syevd` decomposes the ridge's 272 × 272 Gram matrices in 8 ms against torch's
13 ms (one thread; 21 decompositions in a 10⁴-row test). NumPy's BLAS is held to torch's thread count, so `torch.set_num_threads(1)` (the CLI's
default) keeps the whole test on one core. CUDA tensors stay with torch.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _numpy_ok(*tensors: torch.Tensor) -> bool:
    dtypes = {t.dtype for t in tensors}
    return (
        len(dtypes) == 1
        and dtypes <= {torch.float32, torch.float64}
        and all(t.device.type == "cpu" and not t.requires_grad for t in tensors)
    )


def gram(x: torch.Tensor) -> torch.Tensor:
    """`xᵀx` for `x (n, p)`: `(p, p)`."""
    if not _numpy_ok(x):
        return x.T @ x
    a = x.numpy()  # a view: NumPy sees `a.T @ a` as one operand and calls syrk
    with _controller().limit(limits=torch.get_num_threads(), user_api="blas"):
        return torch.from_numpy(a.T @ a)


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`a @ b` for 2-d `a (m, k)` and `b (k, p)`: `(m, p)`."""
    if not _numpy_ok(a, b):
        return a @ b
    with _controller().limit(limits=torch.get_num_threads(), user_api="blas"):
        return torch.from_numpy(a.numpy() @ b.numpy())


def eigh(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and eigenvectors of the symmetric `a (p, p)`, as `torch.linalg.eigh`.

    Raises `torch.linalg.LinAlgError` when the decomposition does not converge, on either path.
    """
    if not _numpy_ok(a):
        return torch.linalg.eigh(a)
    with _controller().limit(limits=torch.get_num_threads(), user_api="blas"):
        try:
            evals, evecs = np.linalg.eigh(a.numpy())
        except np.linalg.LinAlgError as exc:
            raise torch.linalg.LinAlgError(str(exc)) from exc
    return torch.from_numpy(evals), torch.from_numpy(evecs)
