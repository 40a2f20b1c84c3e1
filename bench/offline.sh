#!/usr/bin/env bash
# Warm `npm ci` of a large generated lockfile (300 packages) through larder
# with the upstream up, refusing, blackholed, and with larder --offline, in
# interleaved rounds. Prints each as a ratio of the upstream-up time measured
# in the same run. Target: each at most 1.2. BENCH_RUNS sets the rounds (5).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
runs=${BENCH_RUNS:-5}
mkdir -p bench/out
out=$(go test -run '^$' -bench '^BenchmarkWarmNpmCI$' -benchtime "${runs}x" -timeout 30m ./e2e/ 2>&1) || { echo "$out"; exit 1; }
line=$(echo "$out" | grep -E '^BenchmarkWarmNpmCI')
echo "$line" >&2
echo "$line" | awk -v runs="$runs" '{
    for (i = 2; i < NF; i++) v[$(i + 1)] = $i
    printf "| warm npm ci, 300 packages | ratio to upstream up | target | result |\n| --- | ---: | ---: | --- |\n"
    printf "| upstream up | 1.00 (%.2f s) | | baseline |\n", v["up-s"]
    n = split("refused blackholed offline", cases, " ")
    for (i = 1; i <= n; i++) {
      r = v[cases[i] "/up"]
      printf "| %s | **%.2f** | ≤ 1.2 | %s |\n", cases[i], r, (r <= 1.2 ? "PASS" : "MISS")
    }
    printf "\nmedians of %d interleaved rounds; each install with a fresh npm cache and node_modules.\n", runs
  }' | tee bench/out/offline.md
