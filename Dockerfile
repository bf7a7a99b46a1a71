# The pinned image xstilts stages run in (docker executor, `docker run` in CI). Build it with `make image`:
# it fills the labels below and assembles .xstilts/image-context (the host's CA bundle, prefetched wheels).
# A plain `docker build .` works too (no labels, wheels and certificates from PyPI's own chain).
#
# Build arguments:
#   BASE     the base image: the CUDA runtime pinned by digest; offline machines pass a locally built one
#   LOCK     which lock file of requirements/ to install: cuda (faiss-gpu, CUDA torch) or cpu
#   PYTHON   the interpreter installed from the base's apt sources (the locks are resolved for 3.11)
#   PIP_OPTIONS  extra pip options for the lock install, e.g. "--no-index" when every wheel is prefetched
# Only the plain (legacy) builder's features are used: no BuildKit syntax, mounts or secrets.
ARG BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04@sha256:59e0e4376a0f16d10b03d3a14344b80a866a1674cb4948cb318291387ac05010

# Stage `deps`: the venv with the lock's packages. Whatever the build context brings to help it (a CA bundle
# for a network that re-signs TLS, wheels) stays in the build stages: the image copies only /opt/venv.
FROM ${BASE} AS deps
ARG DEBIAN_FRONTEND=noninteractive
ARG PYTHON=python3.11
RUN apt-get update \
    && apt-get install -y --no-install-recommends ${PYTHON} ${PYTHON}-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# requirements/*.lock, and (from `make image`) certs/ca-bundle.crt and wheels/: the [x] patterns let a
# missing .xstilts/image-context pass, as in a plain `docker build .`.
COPY requirement[s] .xstilts/image-contex[t] /ctx/
ARG LOCK=cuda
ARG PIP_OPTIONS=""
RUN set -eu; \
    cert=""; if [ -s /ctx/certs/ca-bundle.crt ]; then cert="--cert /ctx/certs/ca-bundle.crt"; fi; \
    links=""; if [ -d /ctx/wheels ]; then links="--find-links /ctx/wheels"; fi; \
    ${PYTHON} -m venv /opt/venv; \
    /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps $cert $links ${PIP_OPTIONS} \
        -r /ctx/${LOCK}.lock

# Stage `project`: the xstilts wheel, built with the lock's setuptools (no index needed).
FROM deps AS project
WORKDIR /src
COPY pyproject.toml README.md ./
COPY harness harness
COPY tasks tasks
COPY baselines baselines
RUN /opt/venv/bin/pip wheel --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation -w /dist .

# The image: the base, its python, the venv (a layer that changes only with the lock), the xstilts wheel
# installed into it, the experiment files and a non-root user.
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
ARG PYTHON=python3.11
RUN apt-get update \
    && apt-get install -y --no-install-recommends ${PYTHON} ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 xstilts && mkdir -p /cache /runs && chown xstilts /cache /runs
COPY --from=deps /opt/venv /opt/venv
COPY --from=project /dist /opt/xstilts/dist
# Installed, then asked for its plugins: the entry points must resolve inside the image.
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps --no-index /opt/xstilts/dist/*.whl \
    && /opt/venv/bin/xstilts tasks > /dev/null
COPY experiments /opt/xstilts/experiments
# The HF cache and the runs directory live on volumes so weights, datasets and results outlive the container.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/cache/hf
VOLUME ["/cache", "/runs"]

# What the image is, for `docker inspect` (OCI labels) and for the stages it runs (XSTILTS_IMAGE_*, recorded
# by harness.environment in every stage.json). Declared last, so a new commit rebuilds only these layers.
ARG BASE
ARG LOCK=cuda
ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
ARG BASE_NAME=${BASE}
ARG BASE_DIGEST=""
LABEL org.opencontainers.image.title="xstilts" \
      org.opencontainers.image.description="xstilts: intermediate-task training and zero-shot cross-lingual transfer" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${BASE_NAME}" \
      org.opencontainers.image.base.digest="${BASE_DIGEST}" \
      org.xstilts.lock="${LOCK}"
ENV XSTILTS_IMAGE_VERSION="${VERSION}" \
    XSTILTS_IMAGE_REVISION="${REVISION}" \
    XSTILTS_IMAGE_CREATED="${CREATED}" \
    XSTILTS_IMAGE_SOURCE="${SOURCE}" \
    XSTILTS_IMAGE_BASE_NAME="${BASE_NAME}" \
    XSTILTS_IMAGE_BASE_DIGEST="${BASE_DIGEST}" \
    XSTILTS_IMAGE_LOCK="${LOCK}"
USER xstilts
WORKDIR /runs
ENTRYPOINT ["xstilts"]
CMD ["--help"]
