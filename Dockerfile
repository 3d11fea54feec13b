# syntax=docker/dockerfile:1
#
# One image for every jiesu process: the five services (intake, routing, sla, notify, rating),
# the gateway and the one-shot migration step. The process is chosen by the command:
#
#   docker run jiesu:0.1.0 intake                                   # a service (or gateway)
#   docker run --entrypoint python jiesu:0.1.0 -m services.common.migrate   # migrations
#
# The base image is pinned by its exact tag (Python 3.11.13, Debian 12 "bookworm", slim). It is
# NOT pinned by digest here: no digest could be checked from this machine. Before building a
# release, resolve the digest (`docker buildx imagetools inspect python:3.11.13-slim-bookworm`)
# and append it to both FROM lines as `python:3.11.13-slim-bookworm@sha256:<digest>`.
# See docs/DEPLOY.md.

# ---------------------------------------------------------------------------------- builder
# Installs the pinned runtime dependencies from pyproject.toml into a virtualenv. Only
# pyproject.toml is copied first, so the (slow) dependency layer is rebuilt only when it changes.
FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /build
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
 && pip install --requirement requirements.txt \
 && python -m compileall -q /opt/venv/lib

# ---------------------------------------------------------------------------------- runtime
# No compiler, no build tools: the virtualenv from the builder, the source and the config.
FROM python:3.11.13-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="jiesu" \
      org.opencontainers.image.description="接诉即办: intake, routing, sla, notify, rating, gateway" \
      org.opencontainers.image.version="0.1.0"

# Settings that differ in a container from `make run` (see README.md's settings table):
# listen on every interface, JSON logs, attachments on a volume. Everything else, and the
# secrets (JIESU_JWT_SECRET, JIESU_DATABASE_URL, JIESU_AMQP_URI), comes from the environment
# given by docker-compose.yml or the Kubernetes ConfigMap and Secrets.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    JIESU_GATEWAY_HOST=0.0.0.0 \
    JIESU_METRICS_HOST=0.0.0.0 \
    JIESU_LOG_JSON=true \
    JIESU_DATA_DIR=/var/lib/jiesu/data \
    JIESU_ATTACHMENTS_DIR=/var/lib/jiesu/attachments

RUN groupadd --system --gid 10001 jiesu \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin jiesu \
 && mkdir -p /var/lib/jiesu/data /var/lib/jiesu/attachments \
 && chown -R 10001:10001 /var/lib/jiesu

COPY --from=builder /opt/venv /opt/venv

# The source stays a tree under /app (not an installed wheel): the settings resolve
# config/*.yaml and each service's migrations/ relative to it.
WORKDIR /app
COPY pyproject.toml ./
COPY config ./config
COPY gateway ./gateway
COPY services ./services
RUN python -m compileall -q services gateway

# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001

# The gateway's API, then each process's /metrics, /healthz and /readyz
# (JIESU_METRICS_PORT, base 9100: intake 9101, routing 9102, sla 9103, notify 9104,
# rating 9105, gateway 9106).
EXPOSE 8000 9101 9102 9103 9104 9105 9106

# Liveness of whichever process runs here: /healthz on its metrics port. A container runs one
# process, so the first of the six metrics ports that answers is this process's own.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request\nbase = int(os.environ.get('JIESU_METRICS_PORT') or 9100)\ndef alive(port):\n    try:\n        with urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2) as r:\n            return r.status == 200\n    except OSError:\n        return False\nsys.exit(0 if any(alive(base + i) for i in range(1, 7)) else 1)\n"]

ENTRYPOINT ["python", "-m", "services.common.runner"]
CMD ["gateway"]
