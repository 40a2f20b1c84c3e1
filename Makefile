# The two commands a newcomer needs: `make run` and `make test`.
GO ?= go

.PHONY: run build test test-e2e-nethttp fuzz bench deps

run: ## run the mirror with the embedded defaults (127.0.0.1:7070, ./larder-data)
	$(GO) run ./cmd/larder serve

build:
	$(GO) build -o bin/larder ./cmd/larder

test: deps ## every test: vet, unit (with -race, the committed fuzz seeds included) and end-to-end with real clients; deterministic
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...
	$(MAKE) test-e2e-nethttp

# The end-to-end tests whose clients meet the HTTP layer (installs, access
# rules, slow clients, negotiation, probes), again under net/http: the rest
# exercise what both engines share (storage, registries) and run once, under
# the default engine. See README, "The HTTP front".
E2E_NETHTTP = TestNpmInstallsThroughLarderAndCIWorksWithTheUpstreamGone|TestPnpmAndYarnInstallScopedPackagesThroughLarder|TestPipInstallsThroughLarderAndAgainWithTheUpstreamGone|TestACachedTarballIsRefusedToAClientOutsideTheAllowList|TestASlowClientIsCutOffAndOthersAreServed|TestFiftyConcurrentRequestsForOneColdTarballMakeOneUpstreamFetch|TestPackumentsAreRewrittenNegotiatedAndRevalidated|TestSimplePagesFollowPEP691AndPEP658|TestMetricsAndProbesAnswer|TestClientHeadersNeverReachTheUpstream

test-e2e-nethttp: ## the HTTP-facing end-to-end tests under http_engine = "net/http" (about 2 minutes)
	LARDER_E2E_ENGINE=net/http $(GO) test -count=1 -timeout 10m -run '^($(E2E_NETHTTP))$$' ./e2e/

fuzz: ## open-ended fuzzing of every target, FUZZTIME each (default 10s), on a copy of the tree
	./scripts/fuzz.sh

deps:
	./scripts/install-test-deps.sh

bench: ## the speed benchmarks against nginx (see bench/README.md): serving, then a warm mvn build
	./bench/run.sh
	./bench/maven.sh
