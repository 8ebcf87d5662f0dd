# vfleet: `make run` starts a local fleet, `make test` runs every test.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

ROOT := $(abspath .)
BIN := $(ROOT)/bin
K8S_VERSION := $(shell sed -n 's|^[[:space:]]*k8s.io/kubernetes v\([^ ]*\).*|v\1|p' hack/tools/go.mod | head -1)
K8S_BIN := $(BIN)/k8s/$(K8S_VERSION)
CONTAINERD_VERSION := $(shell sed -n 's|^[[:space:]]*github.com/containerd/containerd/v2 \(v[^ ]*\).*|\1|p' hack/containerd/go.mod | head -1)
CONTAINERD_BIN := $(BIN)/containerd/$(CONTAINERD_VERSION)
COREDNS_VERSION := $(shell sed -n 's|^[[:space:]]*github.com/coredns/coredns \(v[^ ]*\).*|\1|p' hack/coredns/go.mod | head -1)
COREDNS_BIN := $(BIN)/coredns/$(COREDNS_VERSION)
IMAGES := $(BIN)/images
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/vfleet/vfleet/internal/version.Version=$(VERSION)

# Pinned tools, installed into bin/ with go install.
CONTROLLER_GEN_VERSION := v0.21.0
GOLANGCI_LINT_VERSION := v2.15.0

# envtest runs etcd and kube-apiserver from here, not from a download.
export KUBEBUILDER_ASSETS := $(K8S_BIN)
# The lab finds its binaries and images here, wherever tests run from.
export VFLEET_K8S_BIN_DIR := $(K8S_BIN)
export VFLEET_CONTAINERD_BIN_DIR := $(CONTAINERD_BIN)
export VFLEET_COREDNS_BIN_DIR := $(COREDNS_BIN)
export VFLEET_IMAGES_DIR := $(IMAGES)

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Run

.PHONY: run
# Real nodes need root; REAL_NODES=0 starts a lab of kwok nodes only.
REAL_NODES ?= 1

run: binaries build $(if $(filter 0,$(REAL_NODES)),,images) ## Build everything, start the lab (1 management cluster, 3 hosts, a real node on the first) and a demo vcluster.
	$(BIN)/vfleet lab up --demo demo --real-nodes $(REAL_NODES)

.PHONY: down
down: ## Stop the lab started by make run and delete its data.
	$(BIN)/vfleet lab down

##@ Build

.PHONY: build
build: ## Build bin/vfleet, static (pure Go throughout), so that the vfleet image needs nothing else.
	CGO_ENABLED=0 go build -ldflags '$(LDFLAGS)' -o $(BIN)/vfleet ./cmd/vfleet

.PHONY: binaries
binaries: ## Build the pinned Kubernetes binaries into bin/k8s/<version>, containerd and CoreDNS into bin/containerd, bin/coredns (about 10 minutes the first time).
	bash hack/tools/build.sh
	bash hack/containerd/build.sh
	bash hack/coredns/build.sh

# What a real node needs from the distribution: the OCI runtime, the CNI
# plugins, the packet filter kube-proxy programs (and the federation lab's
# cuts), ip for bridges and namespaces; and for the test images a static
# busybox and the tools the e2e specs run in their pods.
NODE_PACKAGES := runc containernetworking-plugins iptables iproute2 conntrack busybox-static \
	bash curl bind9-dnsutils bind9-host netcat-openbsd libpcre2-8-0 libssl3 zlib1g libcrypt1

.PHONY: node-packages
node-packages: ## Install what real lab nodes and the test images need from Debian (runc, CNI plugins, iptables, conntrack, busybox-static, curl, dig, nc) if missing.
	@missing=$$(for p in $(NODE_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "node-packages: installing" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# Debian's nginx for the e2e suite's nginx images, unpacked from its
# package rather than installed: installing it would start it on the machine.
NGINX := $(BIN)/debian/nginx/usr/sbin/nginx
$(NGINX):
	@tmp=$$(mktemp -d) && cd $$tmp && \
	  { apt-get download nginx 2>/dev/null || { apt-get update -qq && apt-get download nginx; }; } && \
	  mkdir -p $(BIN)/debian/nginx && dpkg-deb -x nginx_*.deb $(BIN)/debian/nginx; \
	  rc=$$?; rm -rf $$tmp; exit $$rc

.PHONY: images
images: binaries build node-packages $(NGINX) ## Build the images real lab nodes run (pause, busybox, agnhost, CoreDNS, kubectl, vfleet, and the e2e suite's) into bin/images, from local binaries.
	cd hack/tools && CGO_ENABLED=0 go build -trimpath -o $(BIN)/test-images/nnp k8s.io/kubernetes/test/images/nonewprivs
	go run ./hack/images -out $(IMAGES) -k8s-bin $(K8S_BIN) -coredns $(COREDNS_BIN)/coredns -vfleet $(BIN)/vfleet -nginx $(NGINX) \
	  -nnp $(BIN)/test-images/nnp -k8s-source $$(cd hack/tools && go list -m -f '{{.Dir}}' k8s.io/kubernetes)

##@ Test

UNIT_PKGS = $$(go list ./... | grep -v /test/e2e/)
# The federation suite runs three regions' clusters, hubs and hosts: it
# runs alone, after the others (two at a time), so that no suite's
# vclusters wait minutes for two cores to start them.
E2E_PKGS = $$(go list ./test/e2e/... | grep -v /test/e2e/federation)

.PHONY: conformance
conformance: binaries build images ## Run upstream conformance (sig-apps, -network, -node, -cli) on a lab host and on a vcluster there; hours, not part of make test (CONFORMANCE_ARGS=-focus=... narrows it).
	bash hack/conformance/build.sh
	go run ./hack/conformance -out $(BIN)/conformance $(CONFORMANCE_ARGS)

.PHONY: test
test: binaries build test-unit test-e2e ## Run every test: unit, envtest and e2e over the lab.

.PHONY: postgresql
postgresql: ## Install PostgreSQL (Debian's package) if it is missing: External stores in tests are real.
	@compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || { \
	  echo "postgresql: installing the Debian package"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

.PHONY: test-unit
test-unit: binaries controller-gen postgresql ## Run the unit and envtest tests (race detector on).
	go test -count=1 -race $(UNIT_PKGS)
	cd dashboards && go test -count=1 ./...

.PHONY: test-e2e
test-e2e: binaries postgresql images ## Run the ginkgo e2e suites over real labs (one with a real node).
	go test -count=1 -timeout 30m $(E2E_PKGS) -args -ginkgo.v
	go test -count=1 -timeout 30m ./test/e2e/federation/ -args -ginkgo.v

.PHONY: dashboards-check
dashboards-check: binaries postgresql images ## Evaluate every dashboard query against Debian's Prometheus scraping a lab (make test runs it too).
	@command -v prometheus >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }
	go test -count=1 -timeout 20m ./test/e2e/dashboards/ -args -ginkgo.v

FUZZTIME ?= 30s

.PHONY: fuzz
fuzz: ## Run each fuzz test for FUZZTIME (default 30s): pod translation, the control plane's arguments, host names, etcd backends, the gateway's read of a TLS hello.
	go test -run '^$$' -fuzz '^FuzzHostPod$$' -fuzztime $(FUZZTIME) ./syncer/resources/pods/
	go test -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME) ./controlplane/launch/
	go test -run '^$$' -fuzz '^FuzzVClusterNamespace$$' -fuzztime $(FUZZTIME) ./internal/names/
	go test -run '^$$' -fuzz '^FuzzHostName$$' -fuzztime $(FUZZTIME) ./internal/names/
	go test -run '^$$' -fuzz '^FuzzParseEtcdBackend$$' -fuzztime $(FUZZTIME) ./stores/
	go test -run '^$$' -fuzz '^FuzzReadHello$$' -fuzztime $(FUZZTIME) ./gateway/

.PHONY: bench-controlplane
bench-controlplane: binaries ## Measure vcluster create→Ready latency and idle memory against a bare apiserver over kine.
	go test -run '^$$' -bench BenchmarkControlPlane -benchtime 1x -timeout 30m ./test/bench/

.PHONY: bench-syncer
bench-syncer: binaries ## Time 1,000 pods Running through a vcluster against the same pods on the host, and give the ratio.
	go test -run '^$$' -bench BenchmarkSyncer -benchtime 1x -timeout 40m ./test/bench/

.PHONY: bench-failover
bench-failover: binaries postgresql ## Measure failover RTO (SIGKILL of a host to Ready elsewhere) over 5 runs and planned-migration downtime, on the lab's PostgreSQL and etcd stores.
	go test -run '^$$' -bench BenchmarkFailover -benchtime 1x -timeout 30m ./test/bench/

.PHONY: bench-gateway
bench-gateway: binaries ## Measure a gateway's memory per 1,000 routes, and how soon a route the hub publishes reaches it.
	go test -run '^$$' -bench BenchmarkGateway -benchtime 1x -timeout 15m ./test/bench/

.PHONY: bench-wake
bench-wake: binaries ## Measure how long the first request through the gateway takes to wake a vcluster asleep for inactivity (5 wakes, about 4 minutes).
	go test -run '^$$' -bench BenchmarkWake -benchtime 1x -timeout 20m ./test/bench/

.PHONY: bench-metrics
bench-metrics: binaries ## Measure the hub's metrics at 1,000 hosts and 10,000 vclusters: one scrape's time, allocations, series and bytes; then a real hub's CPU and memory with /metrics off and on (scraped every 15 s).
	go test -run '^$$' -bench BenchmarkMeasure -benchtime 20x ./hub/fleetmetrics/
	go test -run '^$$' -bench BenchmarkHubMetrics -benchtime 1x -timeout 60m ./test/bench/

.PHONY: bench-federation
bench-federation: binaries postgresql ## Measure ledger commits (p50/p99) in a group of three hubs over mutual TLS, and the RTO of 20 External vclusters when their whole region is killed.
	go test -run '^$$' -bench BenchmarkApply -benchtime 1x -timeout 10m ./federation/
	go test -run '^$$' -bench BenchmarkRegionLoss -benchtime 1x -timeout 30m ./test/bench/

.PHONY: soak
SOAK ?= 15m
SEED ?=
soak: binaries postgresql ## Run the federation's randomized fault schedule (hubs and hosts killed, paused, cut) for SOAK (default 15m) under a new seed, or SEED=N to replay one.
	VFLEET_CHAOS_DURATION=$(SOAK) VFLEET_CHAOS_SEED=$(SEED) go test -count=1 -timeout 120m ./test/e2e/federation/ -args -ginkgo.v -ginkgo.focus 'randomized schedule'

.PHONY: bench-lab
bench-lab: binaries build images ## Measure lab start time and memory per cluster, and a real node's Ready time, pod start and memory.
	go test -run '^$$' -bench 'BenchmarkLab|BenchmarkRealNode' -benchtime 3x -timeout 20m ./lab/

.PHONY: bench-placement
bench-placement: ## Measure placement decisions over placement/testdata/scenario.json on one core.
	go test -run '^$$' -bench BenchmarkPlacement -benchtime 20000x -cpu 1 -timeout 20m ./placement/

.PHONY: lint
lint: ## Run gofmt, go vet and golangci-lint.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	cd hack/tools && go vet ./...
	cd dashboards && go vet ./...
	@if GOBIN=$(BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); then \
		$(BIN)/golangci-lint run ./...; \
	else echo "golangci-lint $(GOLANGCI_LINT_VERSION) did not install; skipped"; fi

##@ Generate

.PHONY: generate
generate: controller-gen ## Generate deepcopy code, CRDs (config/crd) and the hub's RBAC (config/rbac).
	$(BIN)/controller-gen object paths=./apis/...
	$(BIN)/controller-gen crd paths=./apis/... output:crd:artifacts:config=config/crd
	$(BIN)/controller-gen rbac:roleName=vfleet-hub paths=./controllers/... paths=./hub/... output:rbac:artifacts:config=config/rbac
	$(BIN)/controller-gen rbac:roleName=vfleet-gateway paths=./gateway/... output:rbac:artifacts:config=config/rbac/gateway

.PHONY: controller-gen
controller-gen: ## Install controller-gen into bin/.
	@test -x $(BIN)/controller-gen && $(BIN)/controller-gen --version | grep -q $(CONTROLLER_GEN_VERSION) || \
		GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

.PHONY: clean
clean: ## Remove bin/ (the Kubernetes binaries too).
	rm -rf $(BIN)
