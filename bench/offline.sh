#!/usr/bin/env bash
# What an unwell upstream costs an install through larder, in interleaved
# rounds, each case as a ratio of the upstream-up time measured in the same run:
#
# 1. BenchmarkWarmNpmCI: a warm `npm ci` of a generated lockfile (300 packages)
#    with the upstream up, refusing, blackholed, and with larder --offline.
#    Target: each at most 1.2.
# 2. BenchmarkStaleInstalls (issue 12): installs that read every document past
#    its TTL, with no lockfile and fresh client caches: `npm install` and
#    `pnpm install` of 45 packages, `pip install` of a project with 7
#    dependencies; with the upstream up, up through an HTTPS proxy, refusing,
#    black-holed through the proxy (it never answers CONNECT), black-holed
#    directly (accepts, never answers) and slow (every answer 3 s late).
#    Target: at most 1.2 × upstream up plus one connect time-out (5 s) for the
#    whole install, i.e. a ratio of 1.2 + 5 s / (upstream-up time).
#
# BENCH_RUNS sets the rounds of both (5; about 11 minutes on 2 cores). Tables
# go to stdout and bench/out/offline.md; the go test output, with the time of
# every install and what larder made it wait for, to bench/out/offline.log.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
runs=${BENCH_RUNS:-5}
mkdir -p bench/out
out=$(go test -run '^$' -bench '^(BenchmarkWarmNpmCI|BenchmarkStaleInstalls)$' -benchtime "${runs}x" -timeout 60m ./e2e/ 2>&1) || { echo "$out"; exit 1; }
echo "$out" >bench/out/offline.log # with the time of every install
ci=$(echo "$out" | grep -E '^BenchmarkWarmNpmCI')
stale=$(echo "$out" | grep -E '^BenchmarkStaleInstalls')
echo "$ci" >&2
echo "$stale" >&2
{
  echo "$ci" | awk -v runs="$runs" '{
    for (i = 2; i < NF; i++) v[$(i + 1)] = $i
    printf "| warm npm ci, 300 packages | ratio to upstream up | target | result |\n| --- | ---: | ---: | --- |\n"
    printf "| upstream up | 1.00 (%.2f s) | | baseline |\n", v["up-s"]
    n = split("refused blackholed offline", cases, " ")
    for (i = 1; i <= n; i++) {
      r = v[cases[i] "/up"]
      printf "| %s | **%.2f** | ≤ 1.2 | %s |\n", cases[i], r, (r <= 1.2 ? "PASS" : "MISS")
    }
    printf "\nmedians of %d interleaved rounds; each install with a fresh npm cache and node_modules.\n\n", runs
  }'
  echo "$stale" | awk -v runs="$runs" -v connect=5 '{
    for (i = 2; i < NF; i++) v[$(i + 1)] = $i
    printf "| install past the TTL | upstream | ratio to upstream up | target | result |\n| --- | --- | ---: | ---: | --- |\n"
    nc = split("npm pnpm pip", clients, " ")
    title["npm"] = "npm install, 45 packages"
    title["pnpm"] = "pnpm install, 45 packages"
    title["pip"] = "pip install, 8 projects"
    nk = split("up-via-proxy refused blackholed-proxy blackholed slow", cases, " ")
    label["up-via-proxy"] = "up, through an HTTPS proxy"
    label["refused"] = "refusing connections"
    label["blackholed-proxy"] = "black-holed through the proxy"
    label["blackholed"] = "black-holed directly"
    label["slow"] = "slow (3 s an answer)"
    for (c = 1; c <= nc; c++) {
      base = v[clients[c] ":up-s"]
      target = 1.2 + connect / base
      printf "| %s | up | 1.00 (%.2f s) | | baseline |\n", title[clients[c]], base
      for (k = 1; k <= nk; k++) {
        r = v[clients[c] ":" cases[k] "/up"]
        printf "| | %s | **%.2f** | ≤ %.2f | %s |\n", label[cases[k]], r, target, (r <= target ? "PASS" : "MISS")
      }
    }
    printf "\nmedians of %d interleaved rounds; larder restarted before each install (the upstream believed up, every document stale); target 1.2 + %d s / upstream-up time.\n", runs, connect
  }'
} | tee bench/out/offline.md
