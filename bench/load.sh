#!/bin/sh
# The load test: 200 concurrent clients for 30 s against larder and in-process
# fake npm and PyPI upstreams on 127.0.0.1. See bench/load/README.md.
# Extra arguments go to the program, e.g. bench/load.sh -duration 10s.
set -eu
cd "$(dirname "$0")/.."
exec go run ./bench/load -duration 30s "$@"
