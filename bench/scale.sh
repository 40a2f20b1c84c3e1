#!/bin/sh
# How the cost grows: times larder verify, larder gc and the UI's package
# list on generated data sets (metadata in PostgreSQL, blobs in a local
# folder), one column per size. See bench/README.md ("How the cost grows").
# Extra arguments go to the program, e.g. bench/scale.sh -sizes 1000:10000,10000:100000
set -eu
cd "$(dirname "$0")/.."
mkdir -p bench/out
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/larder" ./cmd/larder
go build -o "$bin/scale" ./bench/scale
"$bin/scale" -larder "$bin/larder" -out bench/out/scale.md "$@"
