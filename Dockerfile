# syntax=docker/dockerfile:1
# s3-connection-operator container image.
#
#   docker build -t s3-connection-operator:0.1.0 --build-arg VERSION=0.1.0 .
#   podman build -t s3-connection-operator:0.1.0 --build-arg VERSION=0.1.0 .
#
# `make image` builds the same image without Docker or a registry: the same
# script lays out the same files (hack/image-rootfs.sh), and the runtime
# stage's instructions below become its configuration (hack/oci-image.py).
# Only the build stage differs (there, the cargo build on the machine).
#
# The Helm chart in deploy/helm/s3-connection-operator runs this image as
# UID/GID 65532 with a read-only root filesystem.

# ---------------------------------------------------------------------------
# Build stage
# ---------------------------------------------------------------------------
FROM docker.io/library/rust:1.95-bookworm AS build

# aws-lc-sys (the rustls crypto provider) compiles AWS-LC with the C compiler
# (gcc is in this image) and ships pre-generated bindings for x86_64 and
# aarch64 Linux, so neither cmake nor clang is needed there. Building for a
# target without pre-generated bindings would need them:
#   RUN apt-get update && apt-get install -y --no-install-recommends cmake clang \
#       && rm -rf /var/lib/apt/lists/*
# tikv-jemalloc-sys (the binary's allocator) builds jemalloc with its
# configure script and make, both in this image.

WORKDIR /src

# 1. Dependencies only, cached until Cargo.toml or Cargo.lock change: build
#    the dependency graph against empty stand-ins for the crate's own sources.
#    testkit/ (the tests' harness, a workspace member) only needs its manifest
#    and an empty library for cargo to load the workspace.
COPY Cargo.toml Cargo.lock ./
# Build settings (jemalloc's, see .cargo/config.toml).
COPY .cargo ./.cargo
COPY testkit/Cargo.toml ./testkit/
RUN mkdir -p src/bin/s3-connection-operator testkit/src \
 && echo 'fn main() {}' > src/bin/s3-connection-operator/main.rs \
 && : > src/lib.rs \
 && : > testkit/src/lib.rs \
 && cargo build --release --locked --bin s3-connection-operator \
 && rm -rf src \
      target/release/s3-connection-operator \
      target/release/deps/s3_connection_operator-* \
      target/release/deps/libs3_connection_operator-* \
      target/release/.fingerprint/s3-connection-operator-*

# 2. The real sources. touch: COPY may keep mtimes older than the stand-ins'
#    build, and cargo must not mistake the crate for up to date.
COPY src ./src
RUN find src -name '*.rs' -exec touch {} + \
 && cargo build --release --locked --bin s3-connection-operator

# 3. The runtime stage's files, laid out by the script `make image` uses:
#    the binary, the libraries it links (libc, libm, libgcc_s and the ELF
#    loader), the CA bundle, passwd/group entries for 65532.
COPY hack/image-rootfs.sh ./hack/
RUN hack/image-rootfs.sh --user target/release/s3-connection-operator \
      /usr/local/bin/s3-connection-operator /rootfs

# ---------------------------------------------------------------------------
# Runtime stage: exactly the files of /rootfs, no shell, no package manager.
# `make image` builds the same image without Docker: it runs the same
# script and reads this stage's instructions (hack/oci-image.py), so keep
# to ARG, LABEL, ENV, USER, WORKDIR, EXPOSE, ENTRYPOINT, CMD and this COPY.
# ---------------------------------------------------------------------------
FROM scratch

ARG VERSION=0.1.0

LABEL org.opencontainers.image.title="s3-connection-operator" \
      org.opencontainers.image.description="Kubernetes operator that proves S3 connections work and reports it in status" \
      org.opencontainers.image.source="https://github.com/s3-connection-operator/s3-connection-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

COPY --from=build /rootfs /

USER 65532:65532

# /metrics (--metrics-addr, default 0.0.0.0:8080, HTTPS) and /healthz,
# /readyz (--health-addr, default 0.0.0.0:8081, plain HTTP).
EXPOSE 8080 8081

ENTRYPOINT ["/usr/local/bin/s3-connection-operator"]
CMD ["run"]
