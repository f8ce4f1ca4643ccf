# syntax=docker/dockerfile:1
# The API (tRPC over HTTP). From the repository root:
#   docker build -f infra/docker/api.Dockerfile -t oneflow-api .
# Runs the TypeScript sources through tsx, as in development; the one build output is the
# playground's bundle (apps/web/dist), built here from the sources so the image serves it at `/`.
FROM node:24.22-bookworm-slim AS deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip CI=true
RUN npm install --global pnpm@10.34.9
COPY . .
RUN pnpm install --frozen-lockfile \
 && rm -rf apps/web/dist && pnpm --filter @oneflow/web build \
 && test -f apps/web/dist/index.html

FROM node:24.22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production API_HOST=0.0.0.0 API_PORT=3000
COPY --from=deps --chown=1000:1000 /app /app
USER 1000:1000
EXPOSE 3000
CMD ["node", "--import", "tsx", "apps/api/src/main.ts"]
