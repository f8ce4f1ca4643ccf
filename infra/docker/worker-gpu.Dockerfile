# syntax=docker/dockerfile:1
# A GPU worker: onnxruntime-node with the CUDA execution provider, everything from package
# registries (npm, PyPI) by the same path as a developer machine: `infra/dev/setup gpu` puts the
# provider libraries of PyPI onnxruntime-gpu (onnxruntime-node's version) beside onnxruntime-node's
# runtime and the CUDA 13 / cuDNN 9 runtime libraries from NVIDIA's PyPI wheels into
# .tools/gpu/lib. No CUDA base image: the driver (libcuda.so.1, R580 or newer for CUDA 13) is the
# host's, mounted by the NVIDIA container runtime (--gpus all / nvidia.com/gpu in Kubernetes).
# From the repository root:
#   docker build -f infra/docker/worker-gpu.Dockerfile -t oneflow-worker-gpu .
FROM node:24.22-bookworm-slim AS node

# the build stage needs Python's pip (to fetch the wheels) and Node (to place the provider)
FROM python:3.12-slim-bookworm AS deps
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
WORKDIR /app
ENV CI=true ONNXRUNTIME_NODE_INSTALL=skip PIP_NO_CACHE_DIR=1
RUN npm install --global pnpm@10.34.9 && ln -s /usr/local/lib/node_modules/pnpm/bin/pnpm.cjs /usr/local/bin/pnpm
COPY . .
RUN pnpm install --frozen-lockfile && infra/dev/setup gpu

FROM node:24.22-bookworm-slim
ARG MODEL=oneflow-toy-v1
WORKDIR /app
# LD_LIBRARY_PATH is what infra/dev/gpu-run sets: the loader reads it when the process starts.
# NVIDIA_* tell the NVIDIA container runtime to mount the driver's compute libraries.
ENV NODE_ENV=production \
    ONEFLOW_MODELS=/app/models/${MODEL} \
    MODEL_EXECUTION_PROVIDER=cuda \
    LD_LIBRARY_PATH=/app/.tools/gpu/lib \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    ONEFLOW_DATA_DIR=/data \
    METRICS_PORT=9464 METRICS_HOST=0.0.0.0
COPY --from=deps --chown=1000:1000 /app /app
RUN mkdir -p /data && chown 1000:1000 /data
USER 1000:1000
EXPOSE 9464
CMD ["node", "--import", "tsx", "apps/worker/src/main.ts"]
