# syntax=docker/dockerfile:1
#
# HealthPay Gateway image. One image serves three roles (see docker-compose.yml):
# the gateway (default CMD) and the two sample backends (command overridden).
#
#   docker build -t healthpay-gateway .
#   docker run --init -p 8000:8000 -e JWT_SECRET=... healthpay-gateway
#
# Base image: Node 24 LTS on Debian 13 "trixie", slim variant.
# - The Node major is pinned: `node:lts-slim` moves to the next LTS on its own,
#   and users deploy on 24 (package.json `engines` only says >=20.19).
# - The Debian release is pinned too: plain `node:24-slim` follows whichever
#   Debian is current, so an OS upgrade could arrive under an unchanged tag.
# - For byte-for-byte reproducible production builds pin a digest:
#     docker build --build-arg NODE_IMAGE=node:24-trixie-slim@sha256:<digest> .
#   (or pass node:22-trixie-slim to run on the older LTS line).
ARG NODE_IMAGE=node:24-trixie-slim

# ---------------------------------------------------------------------------
# build: full install (TypeScript and friends), compile, then drop dev deps
# ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app

# Manifests first, so the slow `npm ci` layer is reused until dependencies change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# Then the sources (.dockerignore keeps node_modules, dist, .env files, test
# output and .git out of the context) and the compile to dist/.
COPY . .
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---------------------------------------------------------------------------
# runtime: only what `node dist/src/server.js` needs
# ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

# NODE_ENV=production: libraries take their production paths. No secret is set
# here: JWT_SECRET, ADMIN_TOKEN and the rest come from the environment at run time.
# ADMIN_HOST is left at the gateway's safe default (127.0.0.1); a container that
# must publish the admin port sets ADMIN_HOST=0.0.0.0 itself (docker-compose.yml does).
ENV NODE_ENV=production
# V8's heap bounds, so a worker stays near 200 MB RSS at 1000 connections (the
# README's Performance section): without them V8 lets garbage grow the heap to
# 250–430 MB under that load (Node 24 sizes its young generation from the host's
# memory, not the container's). A worker whose live data passes ~192 MB stops with
# "heap out of memory" (the cluster primary or the orchestrator restarts it): raise
# --max-old-space-size with the container's memory limit. Override the whole line
# with NODE_OPTIONS at run time. (bench/harness.ts runs the gateway with the same.)
ENV NODE_OPTIONS="--max-semi-space-size=16 --max-old-space-size=192"
WORKDIR /app

# Copied as root-owned, world-readable files: the unprivileged process can read
# its code but not rewrite it. The gateway writes nothing to disk (logs go to stdout).
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# the gateway serves openapi/openapi.yaml at run time (/openapi.yaml, /docs)
COPY --from=build /app/openapi ./openapi

# The official image's `node` user, by number: Kubernetes' runAsNonRoot can only
# verify a numeric UID.
USER 1000:1000

# 8000 public listener (API, /health, /ready, /docs, /ws); 8001 admin listener
# (/metrics, /admin/*), reachable from outside only when ADMIN_HOST=0.0.0.0.
EXPOSE 8000 8001

# Liveness via GET /health. The slim image has no curl or wget, so Node's own
# fetch does the request; exec form, so no shell is needed either. It follows
# PORT when that is overridden. (The sample backends reuse this image and
# replace this check in docker-compose.yml.)
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/health').then((res) => process.exit(res.ok ? 0 : 1), () => process.exit(1))"]

# The gateway drains in-flight requests on SIGTERM (SHUTDOWN_TIMEOUT_MS, default
# 10 s): give it more than that before the SIGKILL (`docker stop -t 30`,
# compose `stop_grace_period`). Node runs as PID 1 here, which is why compose
# adds `init: true` (and `docker run --init` above): a tiny init forwards the
# signal and reaps worker processes when GATEWAY_WORKERS > 1.
STOPSIGNAL SIGTERM

# Exec form: node itself receives SIGTERM (a shell in between would swallow it).
# --single-threaded-gc (V8 refuses it in NODE_OPTIONS, so it is here): garbage
# collection on the JavaScript thread alone. Each worker is meant to have one core
# (one CPU per container, or GATEWAY_WORKERS=auto; cluster workers inherit the
# flag): V8's helper threads would only take turns with the thread that answers
# requests, each turn a stall for every request in flight (README, Performance).
# A single worker on a host with cores to spare may drop it: `docker run ... node
# dist/src/server.js`. (bench/harness.ts runs the gateway with the same flags.)
CMD ["node", "--single-threaded-gc", "dist/src/server.js"]
