# syntax=docker/dockerfile:1
# The pipeline image: every process of docker-compose.yml runs from it (`pipeline sim|topics|ingest|worker`).
# Build: docker build -t exmail-pipeline:latest .    Run: docker run --rm exmail-pipeline:latest --help
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# the project and its dependencies as wheels (pyproject.toml pins the stream-processing stack)
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
RUN python -m pip wheel --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    EXMAIL_SCHEMA_DIR=/opt/exmail/schemas \
    EXMAIL_STATE_DIR=/var/lib/exmail/state
# one unprivileged user; /shared (simulator credentials) and the state dir belong to it, so the named volumes
# mounted there start out writable
RUN groupadd --system --gid 10001 exmail \
    && useradd --system --uid 10001 --gid exmail --home-dir /var/lib/exmail --create-home \
        --shell /usr/sbin/nologin exmail \
    && install -d -o exmail -g exmail /shared /var/lib/exmail/state /etc/exmail
COPY --from=build /wheels /tmp/wheels
RUN python -m pip install --no-index --find-links /tmp/wheels exmail-pipeline \
    && rm -rf /tmp/wheels \
    && pipeline --version
# JSON Schemas live at the repository root, outside the package: pipeline.schema_registry reads EXMAIL_SCHEMA_DIR
COPY schemas /opt/exmail/schemas
USER exmail
WORKDIR /var/lib/exmail
# ingest (callback, HR intake, /metrics, /healthz), simulator, worker (/metrics, /healthz)
EXPOSE 8080 8090 9102
CMD ["pipeline", "--help"]
