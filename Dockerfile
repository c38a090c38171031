# The control-plane image: the web process (the CMD below) and the worker
# (`python -m backend_jobs`) — k8s/base/web.yaml and worker.yaml run it.
# Build: docker build -t openinspect/control-plane:0.1.0 .
# tests/kube/test_control_plane_image.py checks this file (it cannot be built here).
#
# Read-only by design: the code, the Python environment and the prebuilt frontend belong
# to root; the running user (uid 10001) can write only /data (the data dir) and /srv/web
# (Reflex's working copy, below). The Kubernetes Pods also mount the root read-only.
FROM node:22.22.0-bookworm-slim AS node

FROM python:3.12.12-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends git unzip curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm

WORKDIR /app
COPY pyproject.toml package.json package-lock.json README.md ./
# The protocol is its own package (the sandbox image installs it alone); the control plane pins it.
COPY protocol/ protocol/
COPY openinspect_core/ openinspect_core/
COPY openinspect_app/ openinspect_app/
COPY backend_jobs/ backend_jobs/
COPY sandbox/ sandbox/
COPY rxconfig.py ./
COPY reflex.lock/ reflex.lock/
RUN pip install --no-cache-dir ./protocol . && npm install --no-fund --no-audit --omit=optional bun@1.4.5

# PYTHONPATH: the code is imported from /app whatever the working directory (the web runs in /srv/web).
# REFLEX_DIR: Reflex's own directory, made at build time; it must exist, it need not be writable.
ENV PATH=/app/node_modules/.bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    REFLEX_DIR=/opt/reflex \
    REFLEX_USE_SYSTEM_BUN=1 \
    REFLEX_TELEMETRY_ENABLED=false \
    REFLEX_CHECK_LATEST_VERSION=false \
    OPENINSPECT_DATA_DIR=/data
# Build the frontend into the image (as root, so it is root's too), so a Pod starts without installing anything.
# Reflex writes some files 0600 (.web/.memo-manifest.json, its locks): readable by all, or the web's copy fails.
RUN mkdir -p /opt/reflex && reflex export --frontend-only --no-zip && chmod -R a+rX /app/.web /opt/reflex \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent openinspect \
 && mkdir -p /data /srv/web && chown openinspect:openinspect /data /srv/web
USER 10001
EXPOSE 3000 8765 8766
# The web process. `reflex run --env prod` compiles the pages and rebuilds the frontend at
# every start, writing .web/, reflex.lock/ and .states/ into its working directory; so it runs
# in /srv/web, on a fresh copy of the image's prebuilt frontend made at each start (nothing a
# previous run wrote there survives a restart), with the code read from /app.
CMD ["/bin/sh", "-ec", "cd /srv/web && rm -rf .web .states reflex.lock rxconfig.py && cp -R /app/.web /app/reflex.lock /app/rxconfig.py . && exec reflex run --env prod"]
