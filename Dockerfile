# driftd container image.
#
#   docker build -t driftd .
#   docker run -p 8470:8470 -v driftd-data:/var/lib/driftd driftd        # sidecar shape
#
# Two stages: the builder resolves the locked dependencies (uv.lock) into
# /opt/venv; the runtime stage copies only that venv onto the same slim base.
# No compiler, no uv, no pip cache reaches the final image. Everything the lock
# names ships as a wheel for CPython 3.11 on manylinux (x86_64 and aarch64).
#
# Needs BuildKit (the default builder of Docker 23+) for the cache mounts.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

RUN pip install uv==0.13.9

WORKDIR /build

# Dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra confluent --no-install-project

# Then the project itself, installed as a wheel (not editable) into the venv.
COPY README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra confluent --no-editable

# --------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="driftd" \
      org.opencontainers.image.description="Model-monitoring and drift-detection daemon" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed uid/gid, so volume ownership and Kubernetes securityContext
# (runAsUser: 10001, runAsNonRoot: true) line up across rebuilds.
RUN groupadd --system --gid 10001 driftd \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/driftd --shell /usr/sbin/nologin driftd \
 && mkdir -p /var/lib/driftd \
 && chown 10001:10001 /var/lib/driftd \
 && chmod 0750 /var/lib/driftd

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DRIFTD_API__HOST=0.0.0.0

# Embedded storage (chDB directory, SQLite control store) lives here in the
# sidecar shape. One chDB directory can be opened by one process only.
VOLUME ["/var/lib/driftd"]
WORKDIR /var/lib/driftd

# The driftd user, by number: Kubernetes' runAsNonRoot can only verify a numeric USER.
USER 10001:10001

EXPOSE 8470

# Ready = storage and Kafka reachable. slim has no curl: use the interpreter.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('DRIFTD_API__PORT', '8470'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["driftd"]
CMD ["run", "--role", "all"]
