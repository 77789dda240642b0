# syntax=docker/dockerfile:1
# firehose-redis: multi-stage, multi-arch (linux/amd64, linux/arm64):
#   npm run prebuilds      # optional: the image then uses these addons
#   docker buildx build --platform linux/amd64,linux/arm64 -t firehose-redis .
# Node 26 (Active LTS) on Debian 13 (trixie). The addon links hiredis (with
# TLS) statically and the system's OpenSSL 3 (libssl3t64) dynamically, so
# rediss:// works; it uses Node-API only.
#
# Base images are pinned by tag. To pin them by digest (recommended for
# reproducible builds), resolve the tag's multi-arch index digest and write
# it after the tag in both FROM lines, e.g. node:26-trixie-slim@sha256:<digest>:
#   docker buildx imagetools inspect node:26-trixie-slim   # "Digest:" line
# and repeat that to take in Node and Debian security updates.

FROM node:26-trixie-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Build against the image's own Node headers instead of downloading them.
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY . .
# The addon for this platform: its prebuild when the context has one (from
# `npm run prebuilds`), else compiled here, hiredis fetched from Debian's
# archive and checksum-verified. Only this platform's prebuild is kept.
RUN arch=$(node -p process.arch) \
 && { test -f prebuilds/linux-$arch/node.napi.glibc.node || npm run prebuilds -- $arch; } \
 && find prebuilds -mindepth 1 -maxdepth 1 ! -name linux-$arch -exec rm -rf {} + \
 && npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:26-trixie-slim
# libssl3t64: the addon's OpenSSL 3; ca-certificates: the CAs rediss://
# trusts when REDIS_TLS_CA_FILE is not set.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3t64 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/prebuilds ./prebuilds
COPY samples ./samples
ENV NODE_ENV=production HTTP_PORT=8080 LOG_FORMAT=json
USER node
EXPOSE 8080
# 200 only while the relay is connected (or reconnecting within the stall
# timeout), Redis accepts writes and data keeps arriving.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM flushes the queue and saves the cursor (SHUTDOWN_TIMEOUT_MS, 10 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["run"]
