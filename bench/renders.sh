#!/usr/bin/env bash
# Peak memory of renders driven by request headers: a large packument (about
# 50 MB in full, BENCH_VERSIONS versions) asked for by CLIENTS concurrent
# clients, each with its own Host header and no public_url, so that each one
# names another rendering. Run against this tree and, in the same run, against
# BASE (a commit; default: the one before the render bound), so that the two
# peaks are measured on the same machine at the same time. Only 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BASE=${BASE:-}
CLIENTS=${CLIENTS:-12}
VERSIONS=${BENCH_VERSIONS:-15000}
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[[ -n $BASE ]] && git worktree remove --force "$TMP/base" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
log() { echo "renders: $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$TMP/larder" ./cmd/larder
go build -o "$TMP/fakeupstream" ./bench/cmd/fakeupstream
if [[ -n $BASE ]]; then
	git worktree add -q --detach "$TMP/base" "$BASE"
	(cd "$TMP/base" && go build -o "$TMP/larder-base" ./cmd/larder)
fi

"$TMP/fakeupstream" -versions "$VERSIONS" >"$TMP/upstream.url" 2>"$TMP/upstream.log" &
PIDS+=($!)
for ((i = 0; i < 1200; i++)); do
	[[ -n $(sed -n 3p "$TMP/upstream.url") ]] && break
	sleep 0.1
done
UPSTREAM=$(sed -n 1p "$TMP/upstream.url")
[[ -n $UPSTREAM ]] || { cat "$TMP/upstream.log"; exit 1; }

# run BINARY LABEL: warm the packument, then CLIENTS concurrent requests each
# with its own Host; prints the label, the packument's size and the peak RSS.
run() {
	local bin=$1 label=$2 port data
	port=$(free_port)
	data=$TMP/data-$label
	cat >"$TMP/$label.toml" <<-EOF
		listen = "127.0.0.1:$port"
		data = "$data"
		[[registry]]
		name = "npm"
		kind = "npm"
		upstream = "$UPSTREAM"
		metadata_ttl = "1h"
	EOF
	"$bin" serve --config "$TMP/$label.toml" 2>"$TMP/$label.log" &
	local pid=$!
	PIDS+=("$pid")
	for ((i = 0; i < 300; i++)); do
		curl -sf --noproxy '*' -o /dev/null "http://127.0.0.1:$port/healthz" && break
		sleep 0.1
	done
	local size
	local size=0 code
	# The first fetch of a 50 MB document can outlast the upstream time-out
	# on a busy machine; the cache is warm once one has come through.
	for ((i = 0; i < 10; i++)); do
		code=$(curl -sS --noproxy '*' -m 300 -o "$TMP/warm.json" -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/npm/bench-big")
		size=${code#* }
		[[ ${code%% *} == 200 ]] && break
		log "$label: warming answered ${code%% *}; again"
		sleep 2
	done
	[[ ${code%% *} == 200 ]] || { tail -5 "$TMP/$label.log" >&2; exit 1; }
	local hwm0
	hwm0=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	for ((c = 0; c < CLIENTS; c++)); do
		curl -sS --noproxy '*' -m 300 -o /dev/null -H "Host: client-$c.example:$port" -w "" \
			"http://127.0.0.1:$port/npm/bench-big" &
	done
	wait_clients
	local hwm
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	kill "$pid"
	printf '| %s | %.1f MB | %d MB | %d MB |\n' "$label" "$(echo "$size / 1000000" | bc -l)" $((hwm0 / 1024)) $((hwm / 1024))
}

wait_clients() {
	local j
	for j in $(jobs -p); do
		case " ${PIDS[*]} " in *" $j "*) continue ;; esac
		wait "$j" || true
	done
}

echo "| build | packument | peak RSS after warming | peak RSS after $CLIENTS Hosts at once |"
echo "| --- | ---: | ---: | ---: |"
[[ -n $BASE ]] && run "$TMP/larder-base" "base-$(git rev-parse --short "$BASE")"
run "$TMP/larder" "this-tree"
