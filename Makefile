# s3-connection-operator — developer entry points.
# Tools (etcd, kube-apiserver, helm, kubectl, moto) are built once per machine
# into $(HOME)/.cache/s3-connection-operator/tools by hack/tools.sh.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Build output outside the checkout, shared by every clone on this machine.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/s3-connection-operator/target

# `make dev` / `make dev-up`: state in .dev, default ports (dev-up.sh).
DEV_DIR ?= $(CURDIR)/.dev
# `make test`: its own state dir and ports, so it can run beside `make dev`.
TEST_DEV_DIR ?= $(CURDIR)/.dev-test
TEST_ETCD_PORT ?= 22379
TEST_APISERVER_PORT ?= 26443
TEST_MOTO_PORT ?= 25000
TEST_MINIO_PORT ?= 29000
# Where the operator started by `make dev` serves /metrics, /healthz, /readyz.
DEV_METRICS_ADDR ?= 127.0.0.1:18080
DEV_HEALTH_ADDR ?= 127.0.0.1:18081

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  %-18s %s\n", $$1, $$2}'

##@ Tools and local environment

.PHONY: tools
tools: ## build/install etcd, kube-apiserver, helm, kubectl, moto, MinIO, kstatus, argocd-health (once per machine)
	hack/tools.sh all

.PHONY: dev-up
dev-up: ## start etcd + kube-apiserver + moto + MinIO in .dev (idempotent)
	S3C_DEV_DIR=$(DEV_DIR) hack/dev-up.sh

.PHONY: dev-down
dev-down: ## stop the environment in .dev and drop its state
	S3C_DEV_DIR=$(DEV_DIR) hack/dev-down.sh

.PHONY: dev-status
dev-status: ## show what runs in .dev
	S3C_DEV_DIR=$(DEV_DIR) hack/dev-up.sh status

.PHONY: dev-check
dev-check: ## smoke-test the running environment (tokens, web identity, S3 behaviours)
	source $(DEV_DIR)/env && moto-python hack/check_dev_env.py

##@ Node

# A real node named `localhost` (containerd + runc from Debian, kubelet,
# kube-controller-manager, kube-scheduler; hack/node-up.sh) added to the
# running environment in DEV_DIR (`make e2e` passes DEV_DIR=$(TEST_DEV_DIR)).
# Root only; one node per machine (fixed paths and ports): node-up refuses
# while another dir's node runs and names it. `make dev` never starts one;
# dev-down stops it. Afterwards: source $(DEV_DIR)/env $(DEV_DIR)/node.env.
.PHONY: node-up
node-up: pause-image ## add a node (kubelet, containerd, controllers) to the environment in .dev; root, one per machine
	S3C_DEV_DIR=$(DEV_DIR) S3C_PAUSE_ARCHIVE=$(PAUSE_ARCHIVE) S3C_PAUSE_IMAGE=$(PAUSE_IMAGE) hack/node-up.sh

.PHONY: node-down
node-down: ## stop the node of .dev; remove its pods, mounts, cgroups and paths
	S3C_DEV_DIR=$(DEV_DIR) hack/node-down.sh

.PHONY: node-status
node-status: ## show what of the node of .dev runs
	S3C_DEV_DIR=$(DEV_DIR) hack/node-up.sh status

##@ Run

.PHONY: run
run: ## run the operator against the current KUBECONFIG
	cargo run -- run

.PHONY: dev
dev: dev-up ## dev-up, seed moto + Secret, apply examples/, run the operator in the foreground
	S3C_DEV_DIR=$(DEV_DIR) hack/seed-dev.sh
	@source $(DEV_DIR)/env; \
	if ! kubectl get crd s3connections.s3connection.dev >/dev/null 2>&1; then \
	  echo "make dev: CRD s3connections.s3connection.dev is not installed (crds/s3connection.yaml missing?)" >&2; exit 1; \
	fi; \
	for f in examples/*.yaml; do \
	  [[ $$f != *minio* || -n $${S3C_MINIO_ENDPOINT:-} ]] || continue; \
	  echo "---"; sed -e "s|http://127.0.0.1:15000|$$AWS_ENDPOINT_URL|g" -e "s|https://127.0.0.1:19000|$${S3C_MINIO_ENDPOINT:-https://127.0.0.1:19000}|g" "$$f"; done | \
	  kubectl apply -f -
	@echo
	@echo "In another terminal:"
	@echo "  source $(DEV_DIR)/env"
	@echo "  kubectl get s3connections"
	@echo
	source $(DEV_DIR)/env && METRICS_ADDR=$(DEV_METRICS_ADDR) HEALTH_ADDR=$(DEV_HEALTH_ADDR) \
	  METRICS_SECURE=$${METRICS_SECURE:-false} LOG_FORMAT=$${LOG_FORMAT:-text} \
	  ALLOWED_ENDPOINTS=$$AWS_ENDPOINT_URL$${S3C_MINIO_ENDPOINT:+,$$S3C_MINIO_ENDPOINT} exec cargo run -- run

##@ Build and checks

CHART := deploy/helm/s3-connection-operator

.PHONY: build
build: ## build the operator (debug)
	cargo build

.PHONY: crds
crds: ## regenerate crds/ and the chart's copy from the API types
	cargo run -q -- crd > crds/s3connection.yaml
	@if [[ -d $(CHART)/crds ]]; then cp crds/s3connection.yaml $(CHART)/crds/s3connection.yaml; fi

.PHONY: chart-docs
chart-docs: ## regenerate the values table in the chart's README.md from values.yaml
	python3 hack/chart-docs.py

# shellcheck (Debian's; hack/tools.sh installs it as root) checks hack/*.sh
# and, through actionlint, the workflows' `run:` scripts.
.PHONY: lint
lint: ## cargo fmt --check, clippy and rustdoc -D warnings, helm lint, chart README, one version, shellcheck, actionlint
	cargo fmt --all -- --check
	python3 hack/check-versions.py
	python3 hack/chart-docs.py --check
	@hack/tools.sh helm && hack/tools.sh actionlint
	PATH="$$(hack/tools.sh path):$$PATH" helm lint $(CHART)
	@command -v shellcheck > /dev/null || { echo "make lint: no shellcheck on PATH (as root: hack/tools.sh node installs it)" >&2; exit 1; }
	shellcheck -x hack/*.sh .ci/run
	"$$(hack/tools.sh path)/actionlint"
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

##@ Image

# The operator's version, from Cargo.toml: the image tag and its
# org.opencontainers.image.version label.
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
IMAGE_REPO ?= ghcr.io/s3-connection-operator/s3-connection-operator
IMAGE_TAG ?= $(VERSION)
# The cargo profile of the image's binary: release for what is published;
# `make e2e` uses dev (seconds to rebuild, not minutes of fat LTO).
IMAGE_PROFILE ?= release
IMAGE_ARCHIVE ?= $(CURDIR)/dist/s3-connection-operator.oci.tar
PAUSE_IMAGE ?= localhost/s3c/pause:1
PAUSE_ARCHIVE ?= $(CURDIR)/dist/pause.oci.tar
# Timestamps inside the images (0: 1970-01-01): the same inputs give the same bytes.
export SOURCE_DATE_EPOCH ?= 0

.PHONY: image
image: ## build the operator's OCI image offline into dist/s3-connection-operator.oci.tar; prints its digest
	cargo build --profile $(IMAGE_PROFILE) --locked --bin s3-connection-operator
	@dir=$(if $(filter dev,$(IMAGE_PROFILE)),debug,$(IMAGE_PROFILE)); \
	rootfs=$(CURDIR)/dist/rootfs/operator; \
	hack/image-rootfs.sh --user "$(CARGO_TARGET_DIR)/$$dir/s3-connection-operator" \
	  /usr/local/bin/s3-connection-operator "$$rootfs"; \
	digest=$$(python3 hack/oci-image.py --dockerfile Dockerfile --rootfs "$$rootfs" \
	  --name "$(IMAGE_REPO):$(IMAGE_TAG)" --build-arg VERSION=$(VERSION) --out "$(IMAGE_ARCHIVE)"); \
	echo "$(IMAGE_REPO):$(IMAGE_TAG) $$digest ($(IMAGE_PROFILE) profile)"; \
	echo "archive: $(IMAGE_ARCHIVE)"

.PHONY: pause-image
pause-image: ## build the local node's sandbox (pause) image into dist/pause.oci.tar
	@rootfs=$(CURDIR)/dist/rootfs/pause; mkdir -p dist/pause; \
	gcc -static -Os -Wall -Werror -o dist/pause/pause hack/pause/pause.c; \
	hack/image-rootfs.sh dist/pause/pause /pause "$$rootfs"; \
	digest=$$(python3 hack/oci-image.py --dockerfile hack/pause/Dockerfile --rootfs "$$rootfs" \
	  --name "$(PAUSE_IMAGE)" --out "$(PAUSE_ARCHIVE)"); \
	echo "$(PAUSE_IMAGE) $$digest"; \
	echo "archive: $(PAUSE_ARCHIVE)"

##@ Plugin

# Where `make install-plugin` puts the binary and the kubectl plugin link.
BINDIR ?= $(HOME)/.local/bin

.PHONY: install-plugin
install-plugin: ## build the release binary, install it into BINDIR (~/.local/bin) with the link kubectl-s3c: `kubectl s3c` works
	cargo build --release --locked --bin s3-connection-operator
	install -D -m 0755 "$(CARGO_TARGET_DIR)/release/s3-connection-operator" "$(BINDIR)/s3-connection-operator"
	ln -sfn s3-connection-operator "$(BINDIR)/kubectl-s3c"
	@echo "installed $(BINDIR)/kubectl-s3c -> s3-connection-operator"
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "$(BINDIR) is not on your PATH: add it, then run kubectl s3c --help" ;; esac

.PHONY: plugin-archive
plugin-archive: ## the plugin's release archive and its Krew manifest (deploy/krew/s3c.yaml rendered) in dist/krew
	cargo build --release --locked --bin s3-connection-operator
	hack/plugin-archive.sh "$(CARGO_TARGET_DIR)/release/s3-connection-operator" v$(VERSION) dist/krew

##@ Test

.PHONY: test-unit
test-unit: ## unit tests
	cargo test --lib

# The environment of `make test` and `make e2e` (hack/test-env.sh starts it
# clean: what a killed run left in .dev-test is removed first).
TEST_ENV = S3C_DEV_DIR=$(TEST_DEV_DIR) ETCD_PORT=$(TEST_ETCD_PORT) \
  APISERVER_PORT=$(TEST_APISERVER_PORT) MOTO_PORT=$(TEST_MOTO_PORT) \
  MINIO_PORT=$(TEST_MINIO_PORT) \
  E2E_IMAGE_REPOSITORY=$(IMAGE_REPO) E2E_TAG=$(E2E_TAG) E2E_ARCHIVE=$(E2E_ARCHIVE) \
  E2E_NEXT_TAG=$(E2E_NEXT_TAG) E2E_NEXT_ARCHIVE=$(E2E_NEXT_ARCHIVE) \
  E2E_METRICS_PORT=$(E2E_METRICS_PORT) E2E_HEALTH_PORT=$(E2E_HEALTH_PORT)

# The pods suite's images: the operator built by `make image`'s recipe from
# the dev profile (the test build's dependencies, seconds to rebuild; the
# published image is the release profile), under two tags, for the upgrade.
E2E_TAG ?= e2e-1
E2E_NEXT_TAG ?= e2e-2
E2E_ARCHIVE ?= $(CURDIR)/dist/e2e/operator-$(E2E_TAG).oci.tar
E2E_NEXT_ARCHIVE ?= $(CURDIR)/dist/e2e/operator-$(E2E_NEXT_TAG).oci.tar
# Where the operator's pod serves /metrics (HTTPS), and /healthz, /readyz,
# on the node.
E2E_METRICS_PORT ?= 28080
E2E_HEALTH_PORT ?= 28081

.PHONY: test
test: test-unit ## unit tests, integration tests in .dev-test, then the pods suite on a node (root)
	@$(TEST_ENV) hack/test-env.sh integration pods

.PHONY: test-integration
test-integration: ## integration tests only, in .dev-test
	@$(TEST_ENV) hack/test-env.sh integration

.PHONY: e2e
e2e: ## the pods suite: the image on a real node in .dev-test, installed by Helm, failed over, upgraded (root)
	@$(TEST_ENV) hack/test-env.sh pods

.PHONY: e2e-images
e2e-images: pause-image
	@mkdir -p "$(dir $(E2E_ARCHIVE))"
	$(MAKE) image IMAGE_PROFILE=dev IMAGE_TAG=$(E2E_TAG) IMAGE_ARCHIVE=$(E2E_ARCHIVE)
	$(MAKE) image IMAGE_PROFILE=dev IMAGE_TAG=$(E2E_NEXT_TAG) IMAGE_ARCHIVE=$(E2E_NEXT_ARCHIVE)

##@ Benchmark (not part of `make test` or CI)

# `make bench`: its own state dir and ports (beside `make dev` and `make test`).
# All below 32768, where Linux's ephemeral ports begin: a run opens thousands
# of client connections, and one of them may hold any port in that range.
BENCH_DEV_DIR ?= $(CURDIR)/bench/.dev
BENCH_ETCD_PORT ?= 32379
BENCH_APISERVER_PORT ?= 32443
BENCH_MOTO_PORT ?= 32000
BENCH_MINIO_PORT ?= 32600
# Connections in the throughput part; validations at once (the operator's
# --concurrency, and the bare client's). Everything else is the operator's
# default.
N ?= 500
CONCURRENCY ?= 16
# Parts: all, or a comma-separated list of single, throughput, irsa, cost,
# memory, restart, handover.
BENCH ?= all
# Throughput rounds (operator, Kubernetes floor and bare client each,
# alternating whether the operator or the bare client goes first); the table
# gives each ratio and the medians. Three: single rounds here vary by 20%.
ROUNDS ?= 3
# 0: no Kubernetes floor (bench/floor.rs) in the throughput rounds.
FLOOR ?= 1
# Connections in the unreported warm-up round before them (0: none).
WARMUP ?= 100
# Applies in flight in the throughput part: 1, as `kubectl apply -f` sends a
# file's objects (CREATE_CONCURRENCY is for setup).
APPLY_CONCURRENCY ?= 1
# More knobs (see bench/README.md): IRSA_M (min(N,100)), IRSA_SA (10),
# SINGLE_RUNS (20), MEMORY_N (10000), MEMORY_NAMESPACES (5), MEMORY_SA (MEMORY_N/10), HANDOVER_RUNS (5),
# CREATE_CONCURRENCY (32), BENCH_TIMEOUT (s per wait), BENCH_KUBE_RELAY (1).

# Steps: dev-down (leftovers of a killed run), record the commit and
# `git status --short src`, `cargo build --release` and the driver (a
# [[bench]] target, bench/main.rs), copy both binaries to $(BENCH_DEV_DIR)/bin
# (the operator's first: `cargo bench` builds the package's binary too, with
# the bench profile, into the same target/release/ path),
# dev-up without MinIO, apply the CRD the operator binary prints, run the
# driver. On exit, failure or Ctrl-C: kill the operators it started (pids in
# bench-operator.pids, checked against their command line), dev-down.
.PHONY: bench
bench: ## benchmark the operator in bench/.dev: N=500 CONCURRENCY=16 BENCH=all|single,throughput,irsa,cost,memory,restart,handover
	@mkdir -p "$$(dirname "$(BENCH_DEV_DIR)")"; \
	rc=0; flock -n -E 75 -o "$(BENCH_DEV_DIR).lock" $(MAKE) bench-locked || rc=$$?; \
	if [[ $$rc -eq 75 ]]; then \
	  echo "make bench: another 'make bench' is running with $(BENCH_DEV_DIR) (it holds $(BENCH_DEV_DIR).lock): wait for it to end" >&2; \
	fi; \
	exit $$rc

# The run itself, one at a time (`make bench` holds the lock): two runs would
# share the state dir, the ports and the environment.
.PHONY: bench-locked
bench-locked:
	@export S3C_DEV_DIR=$(BENCH_DEV_DIR) ETCD_PORT=$(BENCH_ETCD_PORT) \
	  APISERVER_PORT=$(BENCH_APISERVER_PORT) MOTO_PORT=$(BENCH_MOTO_PORT) \
	  MINIO_PORT=$(BENCH_MINIO_PORT) S3C_DEV_MINIO=0; \
	unset ETCD_PEER_PORT; \
	bin=$$S3C_DEV_DIR/bin; \
	cleanup() { \
	  rc=$$?; \
	  trap - EXIT INT TERM; \
	  if [[ -f $$S3C_DEV_DIR/bench-operator.pids ]]; then \
	    while read -r pid; do \
	      if [[ -r /proc/$$pid/cmdline ]] && tr '\0' ' ' < /proc/$$pid/cmdline | grep -qF "$$bin/s3-connection-operator run"; then \
	        echo "[bench] killing leftover operator $$pid" >&2; kill -KILL "$$pid" 2>/dev/null || true; \
	      fi; \
	    done < $$S3C_DEV_DIR/bench-operator.pids; \
	  fi; \
	  if [[ $$rc -ne 0 && -d $$S3C_DEV_DIR/logs ]]; then \
	    for f in $$S3C_DEV_DIR/logs/*.log; do [[ -f $$f ]] || continue; echo "----- tail of $$f"; tail -n 15 "$$f"; done; \
	  fi; \
	  hack/dev-down.sh || true; \
	  exit $$rc; \
	}; \
	trap cleanup EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	hack/dev-down.sh; \
	mkdir -p "$$bin"; \
	{ echo "commit=$$(git log -1 --format=%h)"; git status --short src | sed 's/^/src_before_build=/'; \
	  echo "src_diff_sha256=$$({ git diff HEAD -- src; git ls-files --others --exclude-standard src | xargs -r cat; } | sha256sum | cut -c1-16)"; \
	} > "$$bin/build-info"; \
	cargo build --release; \
	cp -f "$(CARGO_TARGET_DIR)/release/s3-connection-operator" "$$bin/s3-connection-operator"; \
	cargo bench --bench operator --no-run --message-format=json-render-diagnostics > "$$bin/bench-build.json"; \
	{ echo "commit_after_build=$$(git log -1 --format=%h)"; git status --short src | sed 's/^/src_after_build=/'; } >> "$$bin/build-info"; \
	exe=$$(grep '"kind":\["bench"\]' "$$bin/bench-build.json" | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d'"' -f4); \
	[[ -x $$exe ]] || { echo "make bench: no bench executable in cargo's output" >&2; exit 1; }; \
	cp -f "$$exe" "$$bin/s3c-bench"; \
	hack/dev-up.sh; \
	source $$S3C_DEV_DIR/env; \
	"$$bin/s3-connection-operator" crd > "$$bin/crd.yaml"; \
	kubectl apply --server-side --force-conflicts -f "$$bin/crd.yaml" > /dev/null; \
	kubectl wait --for=condition=Established --timeout=60s -f "$$bin/crd.yaml" > /dev/null; \
	BENCH_N='$(N)' BENCH_CONCURRENCY='$(CONCURRENCY)' \
	  BENCH_PARTS='$(BENCH)' BENCH_ROUNDS='$(ROUNDS)' BENCH_IRSA_M='$(IRSA_M)' BENCH_IRSA_SERVICE_ACCOUNTS='$(IRSA_SA)' \
	  BENCH_SINGLE_RUNS='$(SINGLE_RUNS)' BENCH_MEMORY_N='$(MEMORY_N)' BENCH_MEMORY_NAMESPACES='$(MEMORY_NAMESPACES)' BENCH_MEMORY_SERVICE_ACCOUNTS='$(MEMORY_SA)' BENCH_HANDOVER_RUNS='$(HANDOVER_RUNS)' \
	  BENCH_CREATE_CONCURRENCY='$(CREATE_CONCURRENCY)' BENCH_TIMEOUT='$(BENCH_TIMEOUT)' BENCH_KUBE_RELAY='$(BENCH_KUBE_RELAY)' BENCH_FLOOR='$(FLOOR)' BENCH_WARMUP='$(WARMUP)' BENCH_APPLY_CONCURRENCY='$(APPLY_CONCURRENCY)' \
	  BENCH_OPERATOR_BIN="$$bin/s3-connection-operator" BENCH_BUILD_INFO="$$bin/build-info" \
	  BENCH_RESULTS=$(CURDIR)/bench/results.jsonl \
	  "$$bin/s3c-bench" --bench
