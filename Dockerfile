# firehose-redis: multi-stage, multi-arch (linux/amd64, linux/arm64):
#   docker buildx build --platform linux/amd64,linux/arm64 -t firehose-redis .
# Both stages are Debian 12 (bookworm), so the addon is built against and
# runs with the same hiredis (libhiredis0.14). Node 24 is a current LTS; the
# addon uses Node-API only, so one binary serves every Node >= 20.

FROM node:24-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 pkg-config libhiredis-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Build against the image's own Node headers instead of downloading them.
ENV npm_config_nodedir=/usr/local
# npm ci builds the addon (binding.gyp) as the package's install step.
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libhiredis0.14 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/build/Release/firehose_redis.node ./build/Release/firehose_redis.node
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
