# agent-pdp container image.
#
#   docker build -t agent-pdp:0.1.0 .
#   docker run --rm -p 8181:8181 -p 9191:9191 \
#     -e PDP_API_KEYS='issuer:<sha256 of the key>:decide' \
#     -v "$PWD/policies/data:/etc/agent-pdp/data:ro" --read-only --tmpfs /tmp agent-pdp:0.1.0
#
# Stages: opa (the official OPA binary) -> policies (Rego -> WASM bundle) and build (TypeScript,
# production node_modules) -> runtime (node, non-root, nothing writable but /tmp).
# No Go toolchain is needed: the policy build uses the binary of the official OPA image.

# Official OPA image at the version pinned in scripts/install-tools.sh (test/docker checks they agree).
# The -static variant is the multi-arch one (linux/amd64 and linux/arm64); its binary is /opa and
# compiles Rego to WASM (it only lacks the WASM *evaluator*, which the build does not use).
# Pinned by tag only: no published digest for 1.22.3 could be looked up when this was written.
# Add it (`docker buildx imagetools inspect openpolicyagent/opa:1.22.3-static`) as
# `...:1.22.3-static@sha256:<index digest>` once resolved against the registry.
FROM openpolicyagent/opa:1.22.3-static AS opa

# Node 20 on Debian 12, by tag and multi-arch index digest (the same base for build and runtime).
FROM node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0 AS base
WORKDIR /src

# ---- policies: the same command as `npm run policies:build`, with OPA_BIN instead of .tools/bin/opa
FROM base AS policies
COPY --from=opa /opa /usr/local/bin/opa
COPY scripts/build-policies.sh scripts/install-tools.sh scripts/
COPY policies/ policies/
RUN OPA_BIN=/usr/local/bin/opa bash scripts/build-policies.sh build/policies

# ---- build: TypeScript to dist/, then drop the dev dependencies
FROM base AS build
ENV NPM_CONFIG_AUDIT=false NPM_CONFIG_FUND=false NPM_CONFIG_UPDATE_NOTIFIER=false
COPY package.json package-lock.json ./
# No install scripts: none of the runtime dependencies needs one (the only package with a script
# is a dev-only native file watcher the build does not use).
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
# The CA outcome table: one data file, in the bundle for the Rego and imported by src/engine/ca-outcomes.ts.
COPY policies/agent/ca_outcomes/ policies/agent/ca_outcomes/
RUN npm run build:ts \
 && npm prune --omit=dev --ignore-scripts \
 && npm cache clean --force

# ---- runtime
FROM node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0 AS runtime
# npm, npx, corepack and yarn are never used at run time: removing them removes their CVEs.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && mkdir -p /etc/agent-pdp/data

WORKDIR /opt/agent-pdp
# Everything is owned by root and read-only to the service user: the process cannot alter its code.
COPY package.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/dist/src/ dist/src/
COPY --from=build /src/dist/policies/ dist/policies/
COPY --from=policies /src/build/policies/bundle.tar.gz build/policies/bundle.tar.gz
# Seeds the in-memory store when REDIS_URL is unset (a demo mode that logs a loud warning).
COPY examples/directory.json examples/directory.json

# Bind every interface: a container is reached through its network namespace. The service refuses
# to start on a non-loopback address unless PDP_API_KEYS is set (fail closed, one clear line).
# PDP_DATA_DIR is empty in the image (no tenant documents); mount the tenants' data there read-only.
ENV NODE_ENV=production \
    PDP_HOST=0.0.0.0 \
    PDP_PORT=8181 \
    PDP_ADMIN_PORT=9191 \
    PDP_BUNDLE=/opt/agent-pdp/build/policies/bundle.tar.gz \
    PDP_DATA_DIR=/etc/agent-pdp/data

# Numeric, so `runAsNonRoot` can verify it without an /etc/passwd entry; not 1000 (the image's
# `node` user, often a real user on hosts).
USER 10001:10001
EXPOSE 8181 9191

# For `docker run` / compose only: Kubernetes ignores HEALTHCHECK (the chart's probes call
# /healthz and /readyz), and OCI-format builds (podman, buildah) drop it. node, since there is no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PDP_ADMIN_PORT||9191)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# node is PID 1, with no shell, npm or tini in between. No init is needed: the service installs its
# own SIGTERM/SIGINT handlers (so the kernel's "PID 1 ignores default-action signals" rule does not
# apply): the cluster primary tells its workers to drain, waits for them (PDP_SHUTDOWN_DELAY_MS +
# PDP_SHUTDOWN_TIMEOUT_MS, 10 s by default) and exits 0. The only processes it creates are those
# workers, its own children, which node reaps itself; nothing else could leave zombies to collect.
ENTRYPOINT ["node"]
CMD ["dist/src/server.js"]
