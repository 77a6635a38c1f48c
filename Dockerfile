# syntax=docker/dockerfile:1
# session-audit in one image: the CLI, the Prefect flows, Prefect itself (server and process
# worker). Dependencies are exactly what uv.lock pins (`uv sync --frozen`, never re-resolved);
# the process runs as the unprivileged user `app` (uid 10001); /app/data is the volume that holds
# the DuckDB file, the exports and Prefect's local state.
#
#   docker build -t session-audit .
#   docker run --rm -v session-audit-data:/app/data --env-file .env session-audit \
#       session-audit ingest --start-id N
#
# BASE_IMAGE must provide python3 (3.11+) with the venv module.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG UV_VERSION=0.13.9
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# uv from the package index, pinned like scripts/bootstrap.py; a system user without a shell.
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}" \
    && ln -s /opt/uv/bin/uv /usr/local/bin/uv \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home \
        --shell /usr/sbin/nologin app

WORKDIR /app

# 1. Third-party dependencies only (a layer reused until uv.lock or pyproject.toml changes).
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# 2. The project itself, installed as a wheel (sql/ and flows/ inside it); flows/ and
#    prefect.yaml also stay in /app, where `prefect deploy` and the worker look for them.
COPY src ./src
COPY flows ./flows
COPY sql ./sql
COPY prefect.yaml ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable \
    && mkdir -p /app/data /app/prefect-home \
    && chown app:app /app/data /app/prefect-home

# PREFECT_UI_STATIC_DIRECTORY: the server copies its UI bundle before serving it; the package
# directory is not writable by `app`, so without this the UI would not be served.
ENV SESSION_AUDIT_DB=/app/data/sessions.duckdb \
    SESSION_AUDIT_EXPORT_DIR=/app/data/exports \
    PREFECT_HOME=/app/prefect-home \
    PREFECT_UI_STATIC_DIRECTORY=/app/prefect-home/ui \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    DO_NOT_TRACK=1

USER app
VOLUME ["/app/data"]
CMD ["session-audit", "--help"]
