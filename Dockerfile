# syntax=docker/dockerfile:1
# llmgate: a static binary (pure-Go SQLite: modernc.org/sqlite, so CGO is
# off) on distroless/static, which has CA certificates and tzdata and no
# shell, running as the unprivileged user 65532. See README "Deployment".
#
#   docker build -t llmgate --build-arg VERSION=$(git describe --always) .
#   docker run -p 8766:8766 -e LLMGATE_MASTER_KEY=... -e OPENAI_API_KEY=... -v llmgate-data:/data llmgate

ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/llmgate/llmgate/internal/cli.Version=${VERSION}" \
      -o /out/llmgate ./cmd/llmgate \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/llmgate /usr/local/bin/llmgate
COPY --from=build --chown=65532:65532 /out/data /data
# Zero-config mode listens on all interfaces inside the container; off
# loopback every client needs LLMGATE_MASTER_KEY or a virtual key, and
# /metrics and /health details need the master key.
ENV LLMGATE_DATA_DIR=/data \
    LLMGATE_LISTEN=0.0.0.0:8766
USER 65532:65532
EXPOSE 8766
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/llmgate"]
CMD ["serve"]
