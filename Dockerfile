# Junction container image: every binary in one minimal, non-root image.
#
#   docker build -t junction:0.1.0 .
#
# Build stage: the same release build as deploy/dev/bench.sh
# (`cargo build --release --workspace --bins`), with --locked so the image
# is built from Cargo.lock exactly. Runtime stage: distroless "cc" (glibc,
# libgcc, CA certificates, tzdata; no shell, no package manager), running as
# the unprivileged user 65532 ("nonroot").
#
# The image holds junction-coordinator, junction-worker,
# junction-example-agents, junction (the CLI) and junction-loadtest in
# /usr/local/bin, and the example agents and workflows in
# /usr/share/junction/examples. It has no ENTRYPOINT: pick the binary with
# the command (the Helm chart and deploy/compose/compose.yaml do), e.g.
#
#   docker run --rm junction:0.1.0 junction-worker --help
#
# Pin the base images by digest in your own build pipeline
# (rust:1.95.0-bookworm@sha256:…); docs/deploy.md, "Container images".

ARG RUST_VERSION=1.95.0

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and target/ between builds (BuildKit);
# the binaries are copied out of target/ because a cache mount is not part
# of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins \
    && mkdir -p /out \
    && cp target/release/junction-coordinator \
          target/release/junction-worker \
          target/release/junction-example-agents \
          target/release/junction \
          target/release/junction-loadtest \
          /out/

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="junction" \
      org.opencontainers.image.description="Junction durable workflow engine: coordinator, worker, CLI, example agents" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/ /usr/local/bin/
COPY examples/agents /usr/share/junction/examples/agents
COPY examples/workflows /usr/share/junction/examples/workflows
# 65532 is distroless's "nonroot" user; numeric so that Kubernetes can
# check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
# The coordinator's HTTP port (API, probes, /metrics) and the worker's.
EXPOSE 8080 8081
CMD ["/usr/local/bin/junction-coordinator"]
