# syntax=docker/dockerfile:1
#
# Every Vigie service from one file: a shared `runtime` stage (interpreter, locked
# dependencies, the code, a non-root user) and one small target per service on top of it, which
# only adds the service's command, port and health check. The layers below the targets are
# shared, so five images cost the disk and the registry space of one.
#
#   target       command                         port  health check
#   ingest       python -m services.ingest       8081  GET /readyz
#   router       python -m services.router       8082  GET /readyz
#   classifier   python -m services.classifier   8083  GET /readyz
#   notifier     python -m services.notifier     8084  GET /readyz
#   migrate      vigie db upgrade (one-shot)     -     -
#
# Build one target (docker-compose.yml builds each service's own):
#   docker build --target router -t vigie-router:dev \
#          --build-arg VERSION=$(git describe --tags --always) \
#          --build-arg REVISION=$(git rev-parse HEAD) \
#          --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
# Reproducible: dependencies come from uv.lock only (`uv sync --frozen`), uv is pinned, and the
# base image can be pinned by digest with --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:...

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

ENTRYPOINT ["/usr/bin/tini", "--"]
# The targets below set the service; Kubernetes passes `args`, not `command`, so that tini
# stays PID 1 whatever it runs.
CMD ["vigie", "--help"]

# ---------------------------------------------------------------------------------------------
# One target per service. The health check is readiness (/readyz answers 503 until Kafka and
# the database are connected), which is what `depends_on: service_healthy` waits for; urlopen
# raises on any non-2xx status, so the exit code is the verdict. No curl in the image.
# ---------------------------------------------------------------------------------------------
FROM runtime AS ingest
LABEL org.opencontainers.image.title="vigie-ingest"
ENV VIGIE_HTTP_PORT=8081
EXPOSE 8081
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ['VIGIE_HTTP_PORT'], timeout=3)"]
CMD ["python", "-m", "services.ingest"]

FROM runtime AS router
LABEL org.opencontainers.image.title="vigie-router"
ENV VIGIE_HTTP_PORT=8082
EXPOSE 8082
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ['VIGIE_HTTP_PORT'], timeout=3)"]
CMD ["python", "-m", "services.router"]

FROM runtime AS classifier
LABEL org.opencontainers.image.title="vigie-classifier"
ENV VIGIE_HTTP_PORT=8083
EXPOSE 8083
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ['VIGIE_HTTP_PORT'], timeout=3)"]
CMD ["python", "-m", "services.classifier"]

FROM runtime AS notifier
LABEL org.opencontainers.image.title="vigie-notifier"
ENV VIGIE_HTTP_PORT=8084
EXPOSE 8084
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ['VIGIE_HTTP_PORT'], timeout=3)"]
CMD ["python", "-m", "services.notifier"]

# One-shot: applies the Alembic migrations, then exits. It serves nothing to check.
FROM runtime AS migrate
LABEL org.opencontainers.image.title="vigie-migrate"
HEALTHCHECK NONE
CMD ["vigie", "db", "upgrade"]

# A build without --target stops here: the shared runtime, no service chosen
# (`docker run vigie vigie --help`).
FROM runtime AS vigie
