# sync-runner container image.
#
#   docker build -t sync-runner:0.1.0 .
#   docker run --rm sync-runner:0.1.0 validate
#   docker run --rm -e DATABASE_URL=postgresql+psycopg://... sync-runner:0.1.0 \
#       run-job 7c1f2a9e-0d4b-4a57-9a3e-1f0c2b9d8e77
#
# Specs and mappings are baked in at /etc/sync-runner/specs and /etc/sync-runner/mappings
# (SYNC_RUNNER_SPECS / SYNC_RUNNER_MAPPINGS point there). Mount your own over them, e.g. the
# ConfigMaps of k8s/base. See docs/deploy.md. The wheel bundles the same specs too (the
# fallback when no folder is set), so the build stage needs them.
#
# The base image is a build argument so that a machine without registry access can build on a
# locally made Python image (scripts/container-smoke.sh does that). In production pin it by
# digest: --build-arg PYTHON_IMAGE=python:3.12-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# ---- build: a wheel of the project and of every dependency, installed into /opt/venv --------
FROM ${PYTHON_IMAGE} AS build
# constraints.txt pins every package (and the build backend, through PIP_CONSTRAINT): two
# builds of one commit install the same versions.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CONSTRAINT=/src/constraints.txt \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY runner/ runner/
COPY schemas/ schemas/
COPY specs/ specs/
COPY mappings/ mappings/
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip wheel --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-index --find-links /wheels /wheels/sync_runner-*.whl

# ---- runtime: the slim base, the venv and the specs; nothing else ---------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://example.invalid/sync-runner
LABEL org.opencontainers.image.title="sync-runner" \
      org.opencontainers.image.description="Declarative sync runner for e-commerce data (CronJob entry point: run)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    SYNC_RUNNER_SPECS=/etc/sync-runner/specs \
    SYNC_RUNNER_MAPPINGS=/etc/sync-runner/mappings
RUN useradd --uid 10001 --user-group --no-log-init --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin sync-runner
COPY --from=build /opt/venv /opt/venv
COPY specs/ /etc/sync-runner/specs/
COPY mappings/ /etc/sync-runner/mappings/
USER 10001:10001
WORKDIR /tmp
# exec form: `docker run IMAGE run-job <job id>` replaces CMD only, and SIGTERM reaches the runner
ENTRYPOINT ["sync-runner"]
CMD ["run"]
