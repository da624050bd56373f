# The targets README.md names. `make test` is the test command CI runs.
GO ?= go

.PHONY: all build test vet fmt-check bench
all: build

build:
	$(GO) build ./...

# Unit and integration tests; they start their own Redis, PostgreSQL and
# Prometheus (internal/testenv), installed by scripts/setup-debian.sh.
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 30m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
