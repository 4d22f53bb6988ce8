# The README's commands. Everything installs from the project's own files:
# `make run` and `make test` work on a clean clone with Python 3.10+ and Rust.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)

RUST_SOURCES := $(shell find rust specs -type f \( -name '*.rs' -o -name '*.toml' \)) Cargo.toml
PY_DEPS_STAMP := $(VENV)/.deps-stamp
BUILD_STAMP := $(VENV)/.build-stamp

.PHONY: run test bench fuzz lint build clean capi-header

run: $(BUILD_STAMP)
	$(PY) -m fabricsim demo

test: $(BUILD_STAMP)
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	# The bindings crate is a Python extension: it is tested through pytest.
	cargo test --workspace --exclude fabricsim-py --locked
	# The C ABI's library, for tests/test_capi.py (cffi) and its C example.
	cargo build --release --locked -p fabricsim-capi
	$(PY) -m ruff check python tests benches
	$(PY) -m ruff format --check python tests benches
	$(PY) -m mypy
	$(PY) -m mypy.stubtest fabricsim._core
	$(PY) -m pytest -q

bench: $(BUILD_STAMP)
	$(PY) benches/bench.py --write BENCHMARKS.md

# The whole suite, then the fuzzers at the thorough profile, on a checked
# build (release speed, debug assertions on: Cargo.toml's profile.checked);
# the next target that needs the release build rebuilds it.
fuzz: $(PY_DEPS_STAMP)
	rm -f $(BUILD_STAMP)
	$(VENV)/bin/maturin develop --profile checked
	$(PY) -m pytest -q
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q tests/test_properties.py tests/test_reference_model.py tests/test_router_properties.py
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q tests/test_memory_fabric.py -k random_loads
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q tests/test_collectives.py -k "any_collective_through_memory or nvls_verifies"
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q tests/test_cluster.py -k random_traffic
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q tests/test_run_contract.py -k property
	# the flow fidelity against the cycle engine, and the engine's verifier against the exact one
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q tests/test_flow.py -k "random_fabrics or collectives_finish"
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q tests/test_schedule_scale.py -k "agrees or chain_over_nodes"
	# a training step run whole against the reduced step, on random small plans
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q tests/test_training.py -k random_plans
	# fault windows on the reduced step's clock: never shorter, nested windows ordered
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q tests/test_fault_windows.py -k never_shortens
	# link spans leave any run alone and cover the links it used
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q tests/test_timeline.py -k any_traffic
	# the documentation's examples at their real sizes (minutes; tests/test_docs_examples.py)
	FABRICSIM_DOCS=all $(PY) -m pytest -q tests/test_docs_examples.py

build: $(BUILD_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(PY_DEPS_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "maturin>=1.5,<2" "numpy>=1.24" "pytest>=8" "hypothesis>=6.100" \
		"ruff>=0.6" "mypy>=1.10" "matplotlib>=3.7" "pandas>=2.0" "pandas-stubs>=2.0" "tqdm>=4.60" \
		"types-tqdm>=4.60" "distributed>=2024.1" "pyarrow>=14" "cffi>=1.16"
	touch $@

$(BUILD_STAMP): $(PY_DEPS_STAMP) $(RUST_SOURCES) pyproject.toml
	$(VENV)/bin/maturin develop --release
	touch $@

clean:
	rm -rf $(VENV) target

# Regenerates rust/capi/fabricsim.h from rust/capi/src/lib.rs (cbindgen; installed on first use).
capi-header:
	command -v cbindgen >/dev/null || cargo install cbindgen --locked
	cbindgen --config rust/capi/cbindgen.toml --crate fabricsim-capi --output rust/capi/fabricsim.h rust/capi

