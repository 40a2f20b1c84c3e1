# The two commands a newcomer needs: `make run` and `make test`.
GO ?= go

.PHONY: run build test fuzz bench deps

run: ## run the mirror with the embedded defaults (127.0.0.1:7070, ./larder-data)
	$(GO) run ./cmd/larder serve

build:
	$(GO) build -o bin/larder ./cmd/larder

test: deps ## every test: vet, unit (with -race, the committed fuzz seeds included) and end-to-end with real clients; deterministic
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

fuzz: ## open-ended fuzzing of every target, FUZZTIME each (default 10s), on a copy of the tree
	./scripts/fuzz.sh

deps:
	./scripts/install-test-deps.sh

bench: ## the speed benchmark against nginx (see bench/README.md)
	./bench/run.sh
