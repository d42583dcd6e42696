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
	source $(DEV_DIR)/env && METRICS_ADDR=$(DEV_METRICS_ADDR) LOG_FORMAT=$${LOG_FORMAT:-text} \
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

.PHONY: lint
lint: ## cargo fmt --check, clippy -D warnings, helm lint
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	@if [[ -d $(CHART) ]]; then PATH="$$(hack/tools.sh path):$$PATH" helm lint $(CHART); fi

##@ Test

.PHONY: test-unit
test-unit: ## unit tests
	cargo test --lib

.PHONY: test
# The environment starts clean: what a killed run left in .dev-test (etcd
# data, MinIO's policies) is removed first.
test: test-unit ## unit tests, then integration tests against a private environment in .dev-test
	@export S3C_DEV_DIR=$(TEST_DEV_DIR) ETCD_PORT=$(TEST_ETCD_PORT) \
	  APISERVER_PORT=$(TEST_APISERVER_PORT) MOTO_PORT=$(TEST_MOTO_PORT) \
	  MINIO_PORT=$(TEST_MINIO_PORT); \
	unset ETCD_PEER_PORT; \
	cleanup() { \
	  rc=$$?; \
	  if [[ $$rc -ne 0 && -d $$S3C_DEV_DIR/logs ]]; then \
	    for f in $$S3C_DEV_DIR/logs/*.log; do echo "----- tail of $$f"; tail -n 25 "$$f"; done; \
	  fi; \
	  hack/dev-down.sh || true; \
	  exit $$rc; \
	}; \
	trap cleanup EXIT; \
	hack/dev-down.sh; \
	hack/dev-up.sh; \
	source $$S3C_DEV_DIR/env; \
	moto-python hack/check_dev_env.py; \
	moto-python hack/check_minio.py; \
	cargo test --no-fail-fast --test '*'
