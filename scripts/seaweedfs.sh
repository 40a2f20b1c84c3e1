#!/usr/bin/env bash
# Prints the path of a SeaweedFS `weed` binary at a pinned version, building it
# first when the cache lacks it. The build takes about 8 minutes and 2.6 GB of
# memory on 2 cores, so the binary lives outside the repository (under
# ~/.cache/larder, or LARDER_CACHE) and is built once per machine.
# `go install …/weed@V` is refused (SeaweedFS's go.mod has a replace
# directive), hence the build inside its own module folder.
set -euo pipefail

V=v0.0.0-20261109003541-7506e5f91cd6
CACHE=${LARDER_CACHE:-$HOME/.cache/larder}
BIN="$CACHE/weed-$V"

if [ ! -x "$BIN" ]; then
  mkdir -p "$CACHE"
  # Test packages run side by side and each may ask: one builds, the others
  # wait for it, rather than two 8-minute builds into one .tmp file.
  exec 9>"$BIN.lock"
  flock 9
fi
if [ ! -x "$BIN" ]; then
  dir=$(GOFLAGS= go mod download -json "github.com/seaweedfs/seaweedfs@$V" | jq -r .Dir)
  echo "building SeaweedFS $V into $BIN (about 8 minutes)" >&2
  (cd "$dir" && GOFLAGS=-mod=mod go build -o "$BIN.tmp" ./weed)
  mv "$BIN.tmp" "$BIN"
fi
echo "$BIN"
