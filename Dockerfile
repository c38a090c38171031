# The control-plane image: the web process (`reflex run --env prod`) and the worker
# (`python -m backend_jobs`) — k8s/base/web.yaml and worker.yaml run it with different args.
# Build: docker build -t openinspect/control-plane:0.1.0 .
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

ENV PATH=/app/node_modules/.bin:$PATH \
    REFLEX_USE_SYSTEM_BUN=1 \
    REFLEX_TELEMETRY_ENABLED=false \
    REFLEX_CHECK_LATEST_VERSION=false \
    OPENINSPECT_DATA_DIR=/data
# Build the frontend into the image, so a Pod starts without installing anything.
RUN reflex export --frontend-only --no-zip && useradd --uid 10001 --user-group openinspect \
 && chown -R openinspect:openinspect /app && mkdir -p /data && chown openinspect:openinspect /data
USER 10001
EXPOSE 3000 8765
CMD ["reflex", "run", "--env", "prod"]
