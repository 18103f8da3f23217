# syntax=docker/dockerfile:1
#
# One image for every Vigie service; the command picks the service:
#   docker run vigie python -m services.ingest      (8081)
#   docker run vigie python -m services.router      (8082)
#   docker run vigie python -m services.classifier  (8083)
#   docker run vigie python -m services.notifier    (8084)
#   docker run vigie vigie db upgrade               (migrations, one-shot)
#
# Build: docker build -t vigie:dev \
#          --build-arg VERSION=$(git describe --tags --always) \
#          --build-arg REVISION=$(git rev-parse HEAD) \
#          --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) .

# Both stages must use the very same interpreter: the virtualenv built in the builder
# links to /usr/local/bin/python3.11 and is copied as is into the runtime stage.
# Pin by digest in release pipelines (python:3.11-slim@sha256:...).
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
# builder: resolve nothing, install exactly what uv.lock says into /opt/venv
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

# UV_PROJECT_ENVIRONMENT: uv sync installs into this venv instead of ./.venv.
# UV_PYTHON / UV_PYTHON_DOWNLOADS: use the image's interpreter, never fetch another one.
# UV_COMPILE_BYTECODE: ship .pyc files, since the runtime never writes them
#   (PYTHONDONTWRITEBYTECODE=1 and, on Kubernetes, a read-only root filesystem).
# UV_LINK_MODE=copy: the cache is a separate mount, hard links would fail.
ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

# The source lives at /app in both stages: the project is installed editable, so the venv
# points at /app, and code that finds its files (migrations, config/) relative to its own
# module or to the working directory sees the same layout as in a checkout.
WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when the lock file changes.
# README.md* / LICENSE* are globbed so that the build works whether or not pyproject.toml
# references them (hatchling reads them when it builds the project).
COPY pyproject.toml uv.lock README.md* LICENSE* ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself (installs the `vigie` console script into /opt/venv/bin).
# The Alembic migrations ship inside the package (shared/storage/migrations), driven from
# code by `vigie db upgrade`: there is no alembic.ini to copy. config/ holds the default
# policy (config/policy.yaml, the router's default VIGIE_POLICY_FILE relative to /app).
COPY shared/ ./shared/
COPY services/ ./services/
COPY vigie/ ./vigie/
COPY config/ ./config/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev \
 && python -m compileall -q -j 0 shared services vigie

# ---------------------------------------------------------------------------------------------
# runtime: interpreter + venv + source, no compiler, no uv, no pip cache
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="vigie" \
      org.opencontainers.image.description="Vigie: event-driven moderation of social comments (ingest, classifier, router, notifier)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="python:3.11-slim"

# tini as PID 1: forwards SIGTERM to Python (a PID 1 process without its own handler would
# ignore it and wait for SIGKILL) and reaps zombies. It is a runtime tool, not a build tool.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

# Fixed uid/gid 10001: Kubernetes manifests use runAsUser 10001 and runAsNonRoot checks a
# numeric USER. No home directory, no login shell.
RUN groupadd --system --gid 10001 vigie \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin vigie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:${PATH}" \
    VIGIE_HTTP_HOST=0.0.0.0

# Files stay owned by root: the service user can read the code and the policy, not change them.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
WORKDIR /app

USER 10001:10001

EXPOSE 8081 8082 8083 8084

ENTRYPOINT ["/usr/bin/tini", "--"]
# Default only; docker-compose.yml and deploy/k8s always say which service to run
# (Kubernetes sets `args`, not `command`, so tini stays PID 1).
CMD ["python", "-m", "services.ingest"]
