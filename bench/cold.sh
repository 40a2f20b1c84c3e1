#!/usr/bin/env bash
# Cold installs through larder against the same installs straight from the
# fake upstream (issue 21): `npm ci` of a 300-package lockfile and `pip
# install` of a project with 20 dependencies (from an index with PEP 658
# metadata files, and from one without), each with an empty larder and
# fresh client caches, with the upstream answering after 0, 20 and 80 ms.
# Interleaved rounds (BENCH_RUNS, default 15); each case is the median of its
# rounds divided by the median of the direct install at the same latency.
# Target: at most 1.1. "paired" is the median of each round's own ratio, a
# cross-check: on a shared machine one install can take 1.5 times another
# of the same kind, and fewer rounds let that decide the verdict.
# Only 127.0.0.1, unless LARDER_LIVE_NPM=1: then also a cold `npm ci` of
# about 450 real packages through an empty larder on the public npm
# registry against straight from it (BENCH_LIVE_RUNS rounds, default 5),
# reported with no target: the network decides more than larder does.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
runs=${BENCH_RUNS:-15}
mkdir -p bench/out
out=$(go test -run '^$' -bench '^BenchmarkCold(NpmCI|PipInstall|PipInstallNoMetadata)$' -benchtime "${runs}x" -timeout 60m ./e2e/ 2>&1) || { echo "$out"; exit 1; }
if [[ ${LARDER_LIVE_NPM:-} == 1 ]]; then
  live=$(LARDER_LIVE_NPM=1 go test -run '^$' -bench '^BenchmarkColdNpmCILive$' -benchtime "${BENCH_LIVE_RUNS:-5}x" -timeout 60m ./e2e/ 2>&1) || { echo "$live"; exit 1; }
  out+=$'\n'"$live"
fi
echo "$out" | grep -E '^cold ' >bench/out/cold.log || true
{
  echo "| cold install | latency | direct | larder / direct | target | result | paired | client CPU | larder CPU |"
  echo "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
  echo "$out" | grep -E '^BenchmarkCold' | awk '{
      delete v
      for (i = 2; i < NF; i++) v[$(i + 1)] = $i
      if ($1 ~ /Live/) {
        printf "| npm ci, %d packages of the public registry | the network | %.2f s | **%.2f** | reported | | %.2f | %.2f s | %.2f s |\n", v["packages"], v["direct-s@live"], v["larder/direct@live"], v["paired@live"], v["client-cpu-s@live"], v["larder-cpu-s@live"]
        next
      }
      name = ($1 ~ /NpmCI/) ? "npm ci, 300 packages" : "pip install, 20 dependencies"
      if ($1 ~ /NoMetadata/) name = name ", no PEP 658 files"
      split("0 20 80", lats, " ")
      for (j = 1; j <= 3; j++) {
        l = lats[j]
        r = v["larder/direct@" l "ms"]
        printf "| %s | %d ms | %.2f s | **%.2f** | ≤ 1.1 | %s | %.2f | %.2f s | %.2f s |\n", name, l, v["direct-s@" l "ms"], r, (r <= 1.1 ? "PASS" : "MISS"), v["paired@" l "ms"], v["client-cpu-s@" l "ms"], v["larder-cpu-s@" l "ms"]
      }
    }'
  echo
  live_note=""
  [[ ${LARDER_LIVE_NPM:-} == 1 ]] && live_note=" (${BENCH_LIVE_RUNS:-5} for the public registry)"
  echo "medians of $runs interleaved rounds$live_note; every round of larder starts from an empty data folder; paired: the median of each round's larder / direct."
  echo "client CPU: what the client spent on a direct install; larder CPU: what larder spent during an install through it."
} | tee bench/out/cold.md
