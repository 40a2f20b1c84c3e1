#!/usr/bin/env bash
# Go modules (issue 16): `go mod download` of larder's own module graph with
# an empty module cache, warm through larder against nginx serving the same
# files from disk as a static GOPROXY tree (target: nginx's time over
# larder's at least 0.9), interleaved rounds (BENCH_RUNS, default 5),
# medians. With LARDER_LIVE_GO=1 also cold: an empty larder on the public
# proxy and checksum database against straight from the public proxy
# (reported). The tree is made from the machine's module cache, and the
# public proxy for what that lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
if ! command -v nginx >/dev/null; then
	[[ $(id -u) == 0 ]] || { echo "missing nginx: sudo apt-get install -y nginx" >&2; exit 1; }
	apt-get install -y --no-install-recommends nginx >/dev/null ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends nginx >/dev/null; }
fi
runs=${BENCH_RUNS:-5}
mkdir -p bench/out
out=$(go test -run '^$' -bench '^BenchmarkGoModDownload$' -benchtime "${runs}x" -timeout 60m ./e2e/ 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -E '^go mod download' >bench/out/go.log || true
{
  echo "| go mod download, larder's module graph | baseline | ratio | target | result |"
  echo "| --- | ---: | ---: | ---: | --- |"
  echo "$out" | grep -E '^BenchmarkGoModDownload' | awk '{
      for (i = 2; i < NF; i++) v[$(i + 1)] = $i
      r = v["warm-speed/nginx"]
      printf "| warm, through larder (nginx time / larder time) | nginx %.2f s | **%.2f** | ≥ 0.9 | %s |\n", v["nginx-s"], r, (r >= 0.9 ? "PASS" : "MISS")
      if ("cold-larder/direct" in v)
        printf "| cold, empty larder on proxy.golang.org (larder time / direct time) | direct %.2f s | **%.2f** | reported | |\n", v["direct-s"], v["cold-larder/direct"]
    }'
  echo
  echo "medians of $runs interleaved rounds, each with an empty module cache; go checks every module against go.sum."
} | tee bench/out/go.md
