# syntax=docker/dockerfile:1
# The pinned CUDA runtime xstilts stages run in (docker executor, `make image`, `docker run` in CI).
# BASE is pinned by digest; tests and offline machines pass a locally built base with --build-arg BASE=...
ARG BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04@sha256:59e0e4376a0f16d10b03d3a14344b80a866a1674cb4948cb318291387ac05010
FROM ${BASE}

ARG DEBIAN_FRONTEND=noninteractive
# Extra pip options, e.g. "--find-links /wheels" for an offline build or a CPU-only torch index.
ARG PIP_OPTIONS=""
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-pip git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 xstilts
WORKDIR /opt/xstilts
COPY pyproject.toml README.md ./
COPY harness harness
COPY tasks tasks
COPY baselines baselines
COPY experiments experiments
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir ${PIP_OPTIONS} . \
    && chown -R xstilts /opt/xstilts

# The HF cache and the runs directory live on volumes so weights, datasets and results outlive the container.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/cache/hf
RUN mkdir -p /cache /runs && chown xstilts /cache /runs
VOLUME ["/cache", "/runs"]
USER xstilts
WORKDIR /runs
ENTRYPOINT ["xstilts"]
CMD ["--help"]
