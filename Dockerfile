# One image holds both binaries: the manager (controllers) and the authserver
# (the OAuth 2.0 server that runs as a sidecar in the same pod).
# Build: make docker-build IMG=ghcr.io/authops/authops:dev
# The build commands are the ones `make build` runs, and test/install runs
# this stage's COPY and RUN steps without Docker (TestDockerfileBuild).
FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so source changes do not invalidate the module cache layer.
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY authserver/ authserver/
COPY controllers/ controllers/
COPY cmd/ cmd/
COPY internal/ internal/
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# authops_build_info's version and revision (make docker-build passes the
# ones make build stamps).
ARG VERSION=dev
ARG REVISION=unknown
# Static, reproducible binaries: no cgo (the SQLite driver is pure Go).
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w -X github.com/authops/authops/internal/buildinfo.version=${VERSION} -X github.com/authops/authops/internal/buildinfo.revision=${REVISION}" -o /out/manager ./cmd/manager && \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w -X github.com/authops/authops/internal/buildinfo.version=${VERSION} -X github.com/authops/authops/internal/buildinfo.revision=${REVISION}" -o /out/authserver ./cmd/authserver

# distroless static, nonroot (uid 65532): no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/manager /manager
COPY --from=build /out/authserver /authserver
USER 65532:65532
ENTRYPOINT ["/manager"]
