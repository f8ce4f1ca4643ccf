# syntax=docker/dockerfile:1
# A CPU worker: workflows on oneflow-cpu, model steps on oneflow-gpu with onnxruntime's CPU
# execution provider (shipped inside the npm package). From the repository root:
#   docker build -f infra/docker/worker.Dockerfile -t oneflow-worker .
# The model is baked in from models/${MODEL}; to mount one instead, point ONEFLOW_MODELS at the
# mounted directory (config.json + ONNX file), e.g. -v /srv/models/x:/models/x -e ONEFLOW_MODELS=/models/x.
FROM node:24.22-bookworm-slim AS deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip CI=true
RUN npm install --global pnpm@10.34.9
COPY . .
RUN pnpm install --frozen-lockfile

FROM node:24.22-bookworm-slim
ARG MODEL=oneflow-toy-v1
WORKDIR /app
ENV NODE_ENV=production \
    ONEFLOW_MODELS=/app/models/${MODEL} \
    ONEFLOW_DATA_DIR=/data \
    METRICS_PORT=9464 METRICS_HOST=0.0.0.0
COPY --from=deps --chown=1000:1000 /app /app
RUN mkdir -p /data && chown 1000:1000 /data
USER 1000:1000
EXPOSE 9464
CMD ["node", "--import", "tsx", "apps/worker/src/main.ts"]
