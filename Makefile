# The targets README.md names. `make test` is the test command CI runs.
GO ?= go

.PHONY: all build test vet fmt-check bench images docs
all: build

build:
	$(GO) build ./...

# The e2e harness's stand-ins with a go.mod of their own (so their
# Kubernetes and Prometheus dependencies stay out of the main module):
# `./...` does not reach them, so test and vet name them.
E2E_MODULES := test/e2e/metricsprovider test/e2e/kubesd

# Unit and integration tests; they start their own Redis, PostgreSQL and
# Prometheus (internal/testenv), installed by scripts/setup-debian.sh. The
# metrics provider's own tests (its queries, from the Prometheus Adapter
# rules file, against a real Prometheus) need no cluster; its end-to-end
# test runs in `make e2e`.
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 30m ./...
	cd test/e2e/metricsprovider && $(GO) test -race -count=1 -timeout 10m ./...

vet:
	$(GO) vet ./...
	@for m in $(E2E_MODULES); do echo "(cd $$m && $(GO) vet ./...)"; (cd $$m && $(GO) vet ./...) || exit 1; done

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# OCI images of voiceassist-server, voiceassist-worker, queue-exporter and
# vactl, built with go-containerregistry (no Docker daemon, no registry) into
# $(IMAGES_DIR)/<name>/ (an OCI image layout: `crane push` it) and
# <name>.tar (`docker load`). Reproducible: the created time is
# SOURCE_DATE_EPOCH or the HEAD commit's time. README.md, "Images".
IMAGE_TAG ?= $(shell git describe --tags --always --dirty 2>/dev/null)
IMAGE_REPO ?= voiceassist
IMAGES_DIR ?= _output/images
images:
	$(GO) run ./hack/images --out $(IMAGES_DIR) --repo $(IMAGE_REPO) $(if $(IMAGE_TAG),--tag $(IMAGE_TAG))

# Regenerates the services' flag tables in docs/running-locally.md from the
# flag definitions (a test fails while they are stale).
docs:
	$(GO) generate ./internal/servicedoc

# End-to-end tests against a real local cluster (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, a node agent running the pods,
# metrics-server, Prometheus and a metrics provider, in a network namespace;
# needs root). docs/local-cluster.md. E2E_FLAGS adds go test flags, e.g.
# E2E_FLAGS='-run TestApplyDev'. -p 1: one package (one cluster) at a time,
# so the scaling scenarios' CPU measurements do not share the 2 cores with
# another package's cluster. Then the metrics provider's own end-to-end
# test (a module of its own: test/e2e/metricsprovider), on a cluster of its
# own.
E2E_FLAGS ?=
.PHONY: e2e
e2e:
	bash hack/e2e/deps.sh
	bash hack/e2e/build.sh >/dev/null
	@rc=0; $(GO) test -tags e2e -count=1 -p 1 -timeout 60m -v $(E2E_FLAGS) ./test/e2e/... || rc=$$?; \
	(cd test/e2e/metricsprovider && $(GO) test -tags e2e -count=1 -timeout 10m -v $(E2E_FLAGS) .) || rc=$$?; \
	bash hack/e2e/cleanup.sh; exit $$rc
