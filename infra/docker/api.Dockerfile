# syntax=docker/dockerfile:1
# The API (tRPC over HTTP). From the repository root:
#   docker build -f infra/docker/api.Dockerfile -t oneflow-api .
# Runs the TypeScript sources through tsx, as in development: there is no separate build output.
FROM node:24.22-bookworm-slim AS deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip CI=true
RUN npm install --global pnpm@10.34.9
COPY . .
RUN pnpm install --frozen-lockfile

FROM node:24.22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production API_HOST=0.0.0.0 API_PORT=3000
COPY --from=deps --chown=1000:1000 /app /app
USER 1000:1000
EXPOSE 3000
CMD ["node", "--import", "tsx", "apps/api/src/main.ts"]
