# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all lint bench clean

# torch first, pinned, so pip takes the local CPU wheel instead of a multi-GB CUDA build;
# then the project and its dev extras (the torch range in pyproject.toml is already satisfied).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mesaprobe demo --out runs/demo

# Tests run on every core (pytest-xdist, at most 4 workers; each test module stays on one worker, so its
# fixtures are built once). `$(BIN)/python -m pytest` alone runs them one at a time.
XDIST := -n auto --maxprocesses 4 --dist loadscope

test: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST)

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "" $(XDIST)

lint: $(STAMP)
	$(BIN)/ruff check .

# Speed benchmarks (numbers and how to read them: benchmarks/README.md); adds the `bench` extra (minigrid).
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/env_throughput.py
	$(BIN)/python benchmarks/vector_envs.py
	$(BIN)/python benchmarks/hook_overhead.py
	$(BIN)/python benchmarks/collect_throughput.py
	$(BIN)/python benchmarks/activation_reward.py
	$(BIN)/python benchmarks/demo_walltime.py
	$(BIN)/python benchmarks/ci_tests.py
	$(BIN)/python benchmarks/ci_calibration.py

clean:
	rm -rf $(VENV) runs .pytest_cache
