"""Seconds per conditional-independence test: every method, ours and DoWhy's, side by side.

For each `n` in `--ns` and dimension `d` of `Y_m` in `--dims`, one null dataset (regime `s`
shifting all of `Y_m`, `Y_b = tanh(Y_m₁) + 0.3·Y_m₂ + noise`) is tested by every method in
`--methods`, every library on `--threads` threads (torch, and NumPy's BLAS and OpenMP through
threadpoolctl, so DoWhy's kernel matrices get the same cores as our tests; DoWhy on one job), each
cell `--repeats` times (the median is reported). A DoWhy cell whose time, extrapolated from the two
previous `n` of the same method and `d` (power law, with DoWhy's kernel test capped at the 2,000
rows it reads), would exceed `--budget` seconds is skipped
and marked so. The table gives seconds per test and the speed-up over DoWhy's default `kernel`
call on the same data (which reads at most 2,000 rows whatever `n` is). With a GPU, the own
methods also run with `device="cuda"`.

    python benchmarks/ci_tests.py [--ns 1000 10000 100000 1000000] [--dims 1 16 64] [--budget 60]
                                  [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import dowhy.gcm.config
import numpy as np
import torch
from _common import print_table, write_results
from threadpoolctl import threadpool_limits

from analysis import ci_test

OWN = ["pcm", "gcm", "rff_kernel"]
DOWHY = ["dowhy_kernel", "dowhy_approx_kernel", "dowhy_regression", "dowhy_gcm"]


def dataset(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A null dataset: `Y_b ⊥ s | Y_m` holds."""
    rng = np.random.default_rng(seed)
    s = (rng.random(n) < 0.5).astype(float)
    y_m = rng.normal(size=(n, d)) + 0.8 * s[:, None] / math.sqrt(d)
    y_b = np.tanh(y_m[:, 0]) + (0.3 * y_m[:, 1] if d > 1 else 0.0) + 0.5 * rng.normal(size=n)
    return y_b, s, y_m


ROWS_READ = {"dowhy_kernel": 2000}
"""DoWhy's kernel test subsamples to 2,000 rows, so its time stops growing there."""


def predicted(history: list[tuple[int, float]], n: int, cap: int | None = None) -> float | None:
    """Seconds at `n` extrapolated from the last two (n, seconds) points (linear from one point).

    `cap` is the number of rows a method reads at most; sizes are clipped to it first.
    """
    if not history:
        return None
    if cap is not None:
        history = [(min(m, cap), t) for m, t in history]
        n = min(n, cap)
        if n == history[-1][0]:
            return history[-1][1]
    if len(history) == 1:
        (n1, t1) = history[0]
        return t1 * n / n1
    (n1, t1), (n2, t2) = history[-2:]
    k = min(max(math.log(max(t2, 1e-3) / max(t1, 1e-3)) / math.log(n2 / n1), 0.0), 2.0)
    return t2 * (n / n2) ** k


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ns", type=int, nargs="+", default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--methods", nargs="+", default=OWN + DOWHY)
    parser.add_argument("--budget", type=float, default=60.0, help="skip DoWhy cells predicted to take longer")
    parser.add_argument("--threads", type=int, default=1, help="threads for torch and for NumPy's BLAS/OpenMP")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per cell (median reported)")
    parser.add_argument("--out", default="ci_tests")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dowhy.gcm.config.default_n_jobs = 1
    with threadpool_limits(limits=args.threads):
        cells = run(args)
    base = {(c["n"], c["d"]): c["seconds"] for c in cells if c["method"] == "dowhy_kernel" and c["seconds"]}
    rows = []
    for c in cells:
        ref = base.get((c["n"], c["d"]))
        c["speedup_vs_dowhy_kernel"] = ref / c["seconds"] if ref and c["seconds"] else None
        rows.append((
            c["method"] + ("" if c["device"] == "cpu" else f" ({c['device']})"), c["n"], c["d"],
            "skipped" if c["seconds"] is None else f"{c['seconds']:.3f}",
            "" if c["speedup_vs_dowhy_kernel"] is None else f"{c['speedup_vs_dowhy_kernel']:.1f}×",
        ))  # fmt: skip
    print_table(
        f"seconds per CI test ({args.threads} thread{'s' if args.threads > 1 else ''}, median of {args.repeats}) "
        f"and speed-up over DoWhy's kernel test",
        ["method", "n", "d", "s", "vs dowhy_kernel"],
        rows,
    )
    write_results(
        args.out,
        {
            "threads": args.threads,
            "repeats": args.repeats,
            "cells": cells,
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
    )
    return 0


def run(args) -> list[dict]:
    """Time every (d, n, method, device) cell; DoWhy cells predicted over `--budget` are skipped."""
    variants = [(m, "cpu") for m in args.methods]
    if torch.cuda.is_available():
        variants += [(m, "cuda") for m in args.methods if m in OWN]
        ci_test(*dataset(1000, 4), method="gcm", device="cuda")  # CUDA context warm-up
    cells: list[dict] = []
    history: dict[tuple[str, str, int], list[tuple[int, float]]] = {}
    for d in args.dims:
        for n in args.ns:
            y_b, s, y_m = dataset(n, d)
            for method, device in variants:
                key = (method, device, d)
                guess = predicted(history.get(key, []), n, ROWS_READ.get(method))
                if method in DOWHY and guess is not None and guess > args.budget:
                    cells.append({"method": method, "device": device, "n": n, "d": d, "seconds": None,
                                  "skipped": f"predicted {guess:.0f} s > {args.budget:.0f} s"})  # fmt: skip
                    print(f"skip {method} n={n} d={d}: predicted {guess:.0f} s", flush=True)
                    continue
                kwargs = {} if method in DOWHY else {"device": device}
                times = []
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for _ in range(args.repeats):
                        t0 = time.perf_counter()
                        r = ci_test(y_b, s, y_m, method=method, seed=0, **kwargs)
                        if device == "cuda":
                            torch.cuda.synchronize()
                        times.append(time.perf_counter() - t0)
                sec = float(np.median(times))
                history.setdefault(key, []).append((n, sec))
                cells.append({"method": method, "device": device, "n": n, "d": d, "seconds": sec, "runs_s": times,
                              "p_value": r.p_value})  # fmt: skip
                print(f"{method:20s} {device:4s} n={n:>8d} d={d:>2d} {sec:8.3f} s  p={r.p_value:.3f}", flush=True)
    return cells


if __name__ == "__main__":
    sys.exit(main())
