# syntax=docker/dockerfile:1
# A GPU worker: onnxruntime-node with the CUDA execution provider. From the repository root, on
# a build host that can reach the onnxruntime release downloads (the CUDA EP binaries are not in
# the npm package):
#   docker build -f infra/docker/worker-gpu.Dockerfile -t oneflow-worker-gpu .
# Run with the NVIDIA container toolkit (--gpus all / nvidia.com/gpu in Kubernetes).
FROM node:24.22-bookworm-slim AS node

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS deps
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
WORKDIR /app
ENV CI=true ONNXRUNTIME_NODE_INSTALL=skip
RUN npm install --global pnpm@10.34.9 && ln -s /usr/local/lib/node_modules/pnpm/bin/pnpm.cjs /usr/local/bin/pnpm
COPY . .
RUN pnpm install --frozen-lockfile
# onnxruntime-node's own installer fetches the CUDA 12 execution provider next to its CPU build.
WORKDIR /app/node_modules/.pnpm/onnxruntime-node@1.30.0/node_modules/onnxruntime-node
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node script/install

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG MODEL=oneflow-toy-v1
COPY --from=node /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
ENV NODE_ENV=production \
    ONEFLOW_MODELS=/app/models/${MODEL} \
    MODEL_EXECUTION_PROVIDER=cuda \
    ONEFLOW_DATA_DIR=/data \
    METRICS_PORT=9464 METRICS_HOST=0.0.0.0
COPY --from=deps --chown=1000:1000 /app /app
RUN mkdir -p /data && chown 1000:1000 /data
USER 1000:1000
EXPOSE 9464
CMD ["node", "--import", "tsx", "apps/worker/src/main.ts"]
