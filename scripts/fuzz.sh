#!/usr/bin/env bash
# Runs every fuzz target of the module for a bounded time each (FUZZTIME,
# default 10s). The seed corpora under testdata/fuzz/ run in every plain
# `go test` too; this explores beyond them.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "fuzz $pkg $target ($fuzztime)"
    # -fuzzminimizetime 0: minimising an interesting input can stall the
    # fuzzer on loaded machines; a crasher is still written to testdata.
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 0 "$pkg" >/tmp/larder-fuzz.log 2>&1 || {
      cat /tmp/larder-fuzz.log
      echo "fuzz target $target in $pkg failed"
      exit 1
    }
  done
done
