#!/usr/bin/env bash
# larder's speed benchmark: larder against nginx serving the same bytes, on
# warm data, over loopback, with wrk, and a bare Go server (the floor,
# bench/cmd/gofloor, on fasthttp as larder's front) beside them. Prints a
# Markdown table of larder/nginx ratios and larder's peak RSS and writes it to
# bench/out/results.md. npm tarballs and a large packument; PyPI project
# pages (2,000 files) and a 50 MB wheel; a 200 KB .crate, a 1 MB gem, a Maven
# jar and its .sha1. See bench/README.md.
#
#   ./bench/run.sh            # or: make bench
#
# Knobs (environment): BENCH_DURATION (seconds per measured run, 2),
# BENCH_ROUNDS (measured runs per server and case, 4), BENCH_THREADS (wrk
# threads, 2), BENCH_CONNS (connections for tarballs, 32), BENCH_CONNS_LARGE
# (connections for packuments and PyPI pages, 8), BENCH_CONNS_HUGE
# (connections for the 50 MB wheel, 4), BENCH_STRICT=1 (exit 1 on any MISS),
# BENCH_KEEP=1 (keep the temporary folder: logs, data, nginx root),
# BENCH_ONLY (an extended regular expression: only the cases whose names match),
# BENCH_FLOOR (the floor's HTTP stack: fasthttp, larder's front for plain
# HTTP, or net/http; fasthttp).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out

DURATION=${BENCH_DURATION:-2}
ROUNDS=${BENCH_ROUNDS:-4}
THREADS=${BENCH_THREADS:-2}
FLOOR_ENGINE=${BENCH_FLOOR:-fasthttp}
FLOOR="$FLOOR_ENGINE floor"
CONNS_TARBALL=${BENCH_CONNS:-32}
CONNS_PACKUMENT=${BENCH_CONNS_LARGE:-8}
CONNS_HUGE=${BENCH_CONNS_HUGE:-4}
WARMUP=1 # seconds of unmeasured load per server and case before the rounds
# Bodies from this size on are measured by bytes received rather than by
# requests completed (see run_wrk).
HUGE_BYTES=$((16 << 20))

TARGET_TARBALL=0.9   # files: npm tarballs, PyPI distribution files
TARGET_PACKUMENT=0.8 # documents: npm packuments, PyPI project pages
TARGET_RSS_MB=150

# What the fake upstream publishes (bench/cmd/fakeupstream).
BIG_PKG=bench-big
BIG_VERSIONS=3000
LARGE_TGZ=bench-large-tgz
SMALL_TGZ=bench-small-tgz
MANY_PROJECT=bench-many # 400 versions, 2,000 files
LARGE_WHL_PROJECT=bench-large-whl
LARGE_WHL=bench_large_whl-1.0.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
CRATE=bench-crate # 1.0.0, a .crate of about 200 KB
GEM=bench-gem
MAVEN_JAR=bench-jar
MAVEN_JAR_PATH=/maven/com/example/$MAVEN_JAR/1.0/$MAVEN_JAR-1.0.jar
GO_MODULE=example.com/bench

ACCEPT_FULL='application/json'
ACCEPT_ABBREV='application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*'
ACCEPT_PYPI_HTML='text/html'
# What pip (22.2 and later) sends; the JSON form wins.
ACCEPT_PYPI_JSON='application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01'

# One case a line: name|path|Accept|Accept-Encoding|connections. An empty
# header is not sent. Plain document cases come before their gzip ones.
CASES=(
	"tarball 1 MB|/npm/$LARGE_TGZ/-/$LARGE_TGZ-1.0.0.tgz|||$CONNS_TARBALL"
	"tarball 10 KB|/npm/$SMALL_TGZ/-/$SMALL_TGZ-1.0.0.tgz|||$CONNS_TARBALL"
	"gem 1 MB|/gems/gems/$GEM-1.0.0.gem|||$CONNS_TARBALL"
	"packument full|/npm/$BIG_PKG|$ACCEPT_FULL||$CONNS_PACKUMENT"
	"packument full, gzip|/npm/$BIG_PKG|$ACCEPT_FULL|gzip|$CONNS_PACKUMENT"
	"packument abbreviated|/npm/$BIG_PKG|$ACCEPT_ABBREV||$CONNS_PACKUMENT"
	"packument abbreviated, gzip|/npm/$BIG_PKG|$ACCEPT_ABBREV|gzip|$CONNS_PACKUMENT"
	"PyPI page HTML|/pypi/simple/$MANY_PROJECT/|$ACCEPT_PYPI_HTML||$CONNS_PACKUMENT"
	"PyPI page HTML, gzip|/pypi/simple/$MANY_PROJECT/|$ACCEPT_PYPI_HTML|gzip|$CONNS_PACKUMENT"
	"PyPI page JSON|/pypi/simple/$MANY_PROJECT/|$ACCEPT_PYPI_JSON||$CONNS_PACKUMENT"
	"PyPI page JSON, gzip|/pypi/simple/$MANY_PROJECT/|$ACCEPT_PYPI_JSON|gzip|$CONNS_PACKUMENT"
	"wheel 50 MB|/pypi/files/$LARGE_WHL_PROJECT/$LARGE_WHL|||$CONNS_HUGE"
	".crate 200 KB|/cargo/api/v1/crates/$CRATE/1.0.0/download|||$CONNS_TARBALL"
	"Maven jar 1 MB|$MAVEN_JAR_PATH|||$CONNS_TARBALL"
	"Maven jar .sha1|$MAVEN_JAR_PATH.sha1|||$CONNS_TARBALL"
	"Go module zip 1 MB|/go/$GO_MODULE/@v/v1.0.0.zip|||$CONNS_TARBALL"
)

TMP=""
PIDS=()
LARDER_PID=""
LARDER_URL=""
NGINX_URL=""
FLOOR_URL=""
UPSTREAM_URL=""
PYPI_INDEX_URL=""
PYPI_FILES_URL=""
CARGO_URL=""
GEMS_URL=""
MAVEN_URL=""
GO_PROXY_URL=""
GO_SUMDB_KEY=""
RSS_FILE=""
declare -A CTYPE       # case name -> larder's Content-Type
declare -A NGINX_CTYPE # case name -> nginx's Content-Type

log() { printf 'bench [%3d s]: %s\n' "$SECONDS" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n $TMP ]]; then
		if [[ ${BENCH_KEEP:-} == 1 ]]; then
			log "kept $TMP"
		else
			rm -rf "$TMP"
		fi
	fi
}

ensure_tools() {
	local t missing=()
	for t in go curl gzip cmp; do
		command -v "$t" >/dev/null || die "$t is needed"
	done
	command -v nginx >/dev/null || missing+=(nginx)
	command -v wrk >/dev/null || missing+=(wrk)
	((${#missing[@]} == 0)) && return
	[[ $(id -u) == 0 ]] || die "missing ${missing[*]}: run as root, or: sudo apt-get install -y nginx wrk"
	log "installing ${missing[*]} from Debian"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends nginx wrk >/dev/null ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends nginx wrk >/dev/null; } ||
		die "apt-get install nginx wrk failed"
}

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build() {
	log "building larder and the fake upstream"
	(cd "$ROOT" && go build -o "$TMP/larder" ./cmd/larder && go build -o "$TMP/fakeupstream" ./bench/cmd/fakeupstream &&
		go build -o "$TMP/gofloor" ./bench/cmd/gofloor)
}

start_upstream() {
	"$TMP/fakeupstream" -big "$BIG_PKG" -versions "$BIG_VERSIONS" -large "$LARGE_TGZ" -small "$SMALL_TGZ" \
		-pypi-many "$MANY_PROJECT" -pypi-large "$LARGE_WHL_PROJECT" -crate "$CRATE" -gem "$GEM" \
		-go-module "$GO_MODULE" -maven-jar "$MAVEN_JAR" >"$TMP/upstream.url" 2>"$TMP/upstream.log" &
	PIDS+=($!)
	# Eight lines: npm's base URL, PyPI's index URL, PyPI's files host, the
	# sparse registry's URL, RubyGems' base URL, the Go module proxy's URL
	# and its checksum database's key, the Maven repository.
	local i
	for ((i = 0; i < 600; i++)); do
		MAVEN_URL=$(sed -n 8p "$TMP/upstream.url")
		[[ -n $MAVEN_URL ]] && break
		kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$TMP/upstream.log" >&2; die "fake upstream exited"; }
		sleep 0.1
	done
	[[ -n $MAVEN_URL ]] || die "fake upstream did not start"
	UPSTREAM_URL=$(sed -n 1p "$TMP/upstream.url")
	PYPI_INDEX_URL=$(sed -n 2p "$TMP/upstream.url")
	PYPI_FILES_URL=$(sed -n 3p "$TMP/upstream.url")
	CARGO_URL=$(sed -n 4p "$TMP/upstream.url")
	GEMS_URL=$(sed -n 5p "$TMP/upstream.url")
	GO_PROXY_URL=$(sed -n 6p "$TMP/upstream.url")
	GO_SUMDB_KEY=$(sed -n 7p "$TMP/upstream.url")
	log "fake upstream: $(tail -n 1 "$TMP/upstream.log")"
}

start_larder() {
	local port
	port=$(free_port)
	LARDER_URL=http://127.0.0.1:$port
	# public_url makes the rewritten tarball URLs independent of the Host
	# header, so nginx can serve exactly the bytes larder does.
	cat >"$TMP/larder.toml" <<-EOF
		listen = "127.0.0.1:$port"
		data = "$TMP/data"
		public_url = "$LARDER_URL"

		[[registry]]
		name = "npm"
		kind = "npm"
		upstream = "$UPSTREAM_URL"
		metadata_ttl = "1h"

		[[registry]]
		name = "pypi"
		kind = "pypi"
		upstream = "$PYPI_INDEX_URL"
		file_hosts = ["$PYPI_FILES_URL"]
		metadata_ttl = "1h"

		[[registry]]
		name = "cargo"
		kind = "cargo"
		upstream = "$CARGO_URL"
		download_url = "${CARGO_URL}crates/{crate}/{crate}-{version}.crate"
		metadata_ttl = "1h"

		[[registry]]
		name = "gems"
		kind = "rubygems"
		upstream = "$GEMS_URL"
		metadata_ttl = "1h"

		[[registry]]
		name = "maven"
		kind = "maven"
		upstream = "$MAVEN_URL"
		metadata_ttl = "1h"

		[[registry]]
		name = "go"
		kind = "go"
		upstream = "$GO_PROXY_URL"
		sumdb = "$GO_SUMDB_KEY"
		metadata_ttl = "1h"
	EOF
	"$TMP/larder" serve --config "$TMP/larder.toml" --data "$TMP/data" --listen "127.0.0.1:$port" 2>"$TMP/larder.log" &
	LARDER_PID=$!
	PIDS+=("$LARDER_PID")
	wait_http "$LARDER_URL/healthz" "$TMP/larder.log"
	log "larder at $LARDER_URL (pid $LARDER_PID)"
}

# fetch BASE CASE BODY HEADERS: one request as the load generator makes it
# (at most 2 minutes: larder fetches the 50 MB wheel from the fake upstream).
fetch() {
	local base=$1 body=$3 headers=$4 name path accept enc conns
	IFS='|' read -r name path accept enc conns <<<"$2"
	local args=(-sS --noproxy '*' -m 120 -o "$body" -D "$headers" -w '%{http_code}')
	[[ -n $accept ]] && args+=(-H "Accept: $accept")
	[[ -n $enc ]] && args+=(-H "Accept-Encoding: $enc")
	curl "${args[@]}" "$base$path"
}

header() { # header NAME FILE: the value of a response header
	awk -v h="$1" 'BEGIN { IGNORECASE = 1 } tolower($1) == tolower(h) ":" { sub(/^[^:]*:[ \t]*/, ""); sub(/\r$/, ""); print; exit }' "$2"
}

# is_file PATH: whether a case is an artifact (tarball, distribution file)
# rather than a document (packument, project page).
is_file() { [[ $1 == *.tgz || $1 == *.gem || $1 == *.zip || $1 == /pypi/files/* || $1 == /cargo/api/* || $1 == /maven/* ]]; }

# nginx_file CASE: where the case's bytes live under nginx's root.
nginx_file() {
	local name path accept enc conns variant project
	IFS='|' read -r name path accept enc conns <<<"$1"
	case $path in
	*.tgz | *.gem | *.zip | /pypi/files/* | /cargo/api/* | /maven/*) echo "$path" ;;
	/pypi/simple/*)
		variant=html
		[[ $accept == *vnd.pypi.simple.v1+json* ]] && variant=v1json
		project=${path#/pypi/simple/}
		echo "/pages/${project%/}.$variant${enc:+.gz}"
		;;
	*)
		variant=full.json
		[[ $accept == *install-v1* ]] && variant=abbrev.corgi
		echo "/packuments/${path##*/}.$variant${enc:+.gz}"
		;;
	esac
}

# warm: ask larder for every case until it answers from its cache, check
# that the answer is a HIT, and keep those bytes for nginx.
warm() {
	local c i code status file
	mkdir -p "$TMP/nginx/root"
	for c in "${CASES[@]}"; do
		for ((i = 0; i < 3; i++)); do
			code=$(fetch "$LARDER_URL" "$c" "$TMP/body" "$TMP/headers")
			[[ $code == 200 ]] || { cat "$TMP/headers" "$TMP/body" >&2; die "${c%%|*}: larder answered $code"; }
			status=$(header X-Larder-Cache "$TMP/headers")
			[[ $status == HIT ]] && break
		done
		[[ $status == HIT ]] || die "${c%%|*}: X-Larder-Cache is '$status' after 3 requests, want HIT"
		CTYPE[${c%%|*}]=$(header Content-Type "$TMP/headers")
		file=$TMP/nginx/root$(nginx_file "$c")
		mkdir -p "$(dirname "$file")"
		cp "$TMP/body" "$file"
		if [[ $file == *.gz ]]; then
			[[ $(header Content-Encoding "$TMP/headers") == gzip ]] || die "${c%%|*}: larder did not gzip"
			# The plain form must exist for nginx's try_files, and be what the gzip decodes to.
			if [[ -f ${file%.gz} ]]; then
				gzip -dc "$file" | cmp -s - "${file%.gz}" || die "${c%%|*}: larder's gzip body differs from its plain body"
			else
				gzip -dc "$file" >"${file%.gz}"
			fi
		fi
		log "warm: ${c%%|*}: HIT, $(stat -c %s "$file") bytes"
	done
	chmod -R a+rX "$TMP/nginx/root"
}

start_nginx() {
	local port dir=$TMP/nginx
	port=$(free_port)
	NGINX_URL=http://127.0.0.1:$port
	mkdir -p "$dir/tmp"
	cat >"$dir/nginx.conf" <<-EOF
		worker_processes auto;
		pid $dir/nginx.pid;
		error_log $dir/error.log warn;
		events { worker_connections 4096; }
		http {
		    types {
		        application/octet-stream tgz;
		        application/json json;
		        application/vnd.npm.install-v1+json corgi;
		        text/html html;
		        application/vnd.pypi.simple.v1+json v1json;
		        application/java-archive jar;
		        text/plain sha1;
		        application/zip zip;
		    }
		    default_type application/octet-stream;
		    sendfile on;
		    tcp_nopush on;
		    keepalive_requests 1000000;
		    keepalive_timeout 120s;
		    open_file_cache max=64 inactive=60s;
		    access_log $dir/access.log;
		    client_body_temp_path $dir/tmp/body;
		    proxy_temp_path $dir/tmp/proxy;
		    fastcgi_temp_path $dir/tmp/fastcgi;
		    uwsgi_temp_path $dir/tmp/uwsgi;
		    scgi_temp_path $dir/tmp/scgi;

		    # The packument variant by Accept, as larder negotiates it; the
		    # gzip form by Accept-Encoding (gzip_static: file.gz next to file).
		    map \$http_accept \$npm_variant {
		        default full.json;
		        "~application/vnd\.npm\.install-v1\+json" abbrev.corgi;
		    }
		    # The PyPI page likewise: JSON (PEP 691) when Accept names it.
		    map \$http_accept \$pypi_variant {
		        default html;
		        "~application/vnd\.pypi\.simple\.v1\+json" v1json;
		    }

		    server {
		        listen 127.0.0.1:$port;
		        root $dir/root;
		        location ~ "^/npm/(?<pkg>[^/]+)\$" {
		            gzip_static on;
		            add_header Vary "Accept, Accept-Encoding";
		            try_files /packuments/\$pkg.\$npm_variant =404;
		        }
		        location ~ "^/pypi/simple/(?<project>[^/]+)/\$" {
		            gzip_static on;
		            charset utf-8;
		            add_header Vary "Accept, Accept-Encoding";
		            try_files /pages/\$project.\$pypi_variant =404;
		        }
		    }
		}
	EOF
	chmod a+rx "$TMP" "$dir"
	nginx -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" || die "nginx rejects $dir/nginx.conf"
	nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' &
	PIDS+=($!)
	wait_http "$NGINX_URL/npm/$LARGE_TGZ/-/$LARGE_TGZ-1.0.0.tgz" "$dir/error.log"
	log "nginx at $NGINX_URL ($(nginx -v 2>&1 | sed 's/.*: //'))"
}

# verify_nginx: nginx must answer every case with larder's bytes and encoding.
verify_nginx() {
	local c code want ctype
	for c in "${CASES[@]}"; do
		code=$(fetch "$NGINX_URL" "$c" "$TMP/body" "$TMP/headers")
		[[ $code == 200 ]] || die "${c%%|*}: nginx answered $code"
		ctype=$(header Content-Type "$TMP/headers")
		NGINX_CTYPE[${c%%|*}]=$ctype
		[[ $ctype == "${CTYPE[${c%%|*}]}" ]] ||
			log "warning: ${c%%|*}: nginx sends Content-Type '$ctype', larder '${CTYPE[${c%%|*}]}'"
		want=$TMP/nginx/root$(nginx_file "$c")
		cmp -s "$TMP/body" "$want" || die "${c%%|*}: nginx's body differs from larder's"
		if [[ $want == *.gz ]]; then
			[[ $(header Content-Encoding "$TMP/headers") == gzip ]] || die "${c%%|*}: nginx did not send Content-Encoding: gzip"
		fi
	done
	log "nginx serves the same bytes as larder for every case"
}

# start_floor: the Go floor (bench/cmd/gofloor) over nginx's root, and
# a check that it answers every case as nginx does: status, bytes,
# Content-Type and Content-Encoding; and 404 for a path nginx has not.
start_floor() {
	local port c code want
	port=$(free_port)
	FLOOR_URL=http://127.0.0.1:$port
	"$TMP/gofloor" -engine "$FLOOR_ENGINE" -listen "127.0.0.1:$port" -root "$TMP/nginx/root" 2>"$TMP/gofloor.log" &
	PIDS+=($!)
	wait_http "$FLOOR_URL/npm/$LARGE_TGZ/-/$LARGE_TGZ-1.0.0.tgz" "$TMP/gofloor.log"
	for c in "${CASES[@]}"; do
		code=$(fetch "$FLOOR_URL" "$c" "$TMP/body" "$TMP/headers")
		[[ $code == 200 ]] || die "${c%%|*}: the $FLOOR answered $code"
		want=$TMP/nginx/root$(nginx_file "$c")
		cmp -s "$TMP/body" "$want" || die "${c%%|*}: the $FLOOR's body differs from nginx's"
		[[ $(header Content-Type "$TMP/headers") == "${NGINX_CTYPE[${c%%|*}]}" ]] ||
			die "${c%%|*}: the $FLOOR sends Content-Type '$(header Content-Type "$TMP/headers")', nginx '${NGINX_CTYPE[${c%%|*}]}'"
		if [[ $want == *.gz ]]; then
			[[ $(header Content-Encoding "$TMP/headers") == gzip ]] || die "${c%%|*}: the $FLOOR did not send Content-Encoding: gzip"
		fi
	done
	code=$(fetch "$FLOOR_URL" "404|/npm/$SMALL_TGZ/-/nothing.tgz|||1" /dev/null "$TMP/headers")
	[[ $code == 404 ]] || die "the $FLOOR answered $code for a missing file, want 404"
	log "$FLOOR at $FLOOR_URL serves the same bytes as nginx for every case"
}

# sample_rss PID FILE: the highest VmRSS (kB) seen, every 100 ms, until PID exits.
sample_rss() {
	local pid=$1 file=$2 max=0 k v _
	while [[ -r /proc/$pid/status ]]; do
		while read -r k v _; do
			if [[ $k == VmRSS: ]]; then
				((v > max)) && { max=$v; echo "$max" >"$file"; }
				break
			fi
		done <"/proc/$pid/status" 2>/dev/null || true
		sleep 0.1
	done
}

proc_kb() { # proc_kb PID FIELD: a /proc/PID/status field, in kB
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# run_wrk SERVER_URL CASE SECONDS RAWFILE SIZE: prints "rps bytes_per_response
# errors". For a body of HUGE_BYTES or more, rps is bytes received a second
# divided by the body's size: a run completes only a few dozen such requests
# and drops the ones under way when it ends, so counting requests would be
# off by up to one request a connection; wrk counts every byte read.
run_wrk() {
	local base=$1 seconds=$3 raw=$4 size=$5 name path accept enc conns
	IFS='|' read -r name path accept enc conns <<<"$2"
	local args=(-t "$THREADS" -c "$conns" -d "${seconds}s" --timeout 10s -s "$ROOT/bench/wrk-report.lua")
	[[ -n $accept ]] && args+=(-H "Accept: $accept")
	[[ -n $enc ]] && args+=(-H "Accept-Encoding: $enc")
	wrk "${args[@]}" "$base$path" >"$raw" 2>&1 || die "wrk failed: $(cat "$raw")"
	awk -v size="$size" -v huge="$HUGE_BYTES" '/^BENCH / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); m[kv[1]] = kv[2] }
		errs = m["connect"] + m["read"] + m["write"] + m["status"] + m["timeout"]
		secs = m["duration_us"] / 1e6
		rps = (size >= huge ? m["bytes"] / size : m["requests"]) / secs
		printf "%.1f %d %d\n", rps, (m["requests"] ? m["bytes"] / m["requests"] : 0), errs
	}' "$raw"
}

# bench_case CASE INDEX: a warm-up per server, then ROUNDS rounds of measured
# runs, nginx, larder and the $FLOOR back to back. The rounds go in
# pairs, ABBA: an odd round runs the servers in some order, the even round
# after it in the reverse order, and each pair rotates the order by one
# (nginx larder floor, floor larder nginx, larder floor nginx, nginx floor
# larder, ...). Over any pair every server's mean position is the middle one
# and larder runs before nginx once and after it once, so a steady drift in
# the machine's speed hits all alike. Appends to $TMP/results.tsv: name,
# size, connections, median req/s of nginx and of larder, the median, lowest
# and highest of the per-round larder/nginx ratios, error flags of nginx and
# larder, path, the medians of the per-round floor/nginx and larder/floor
# ratios, and the floor's error flag.
bench_case() {
	local c=$1 idx=$2 name path accept enc conns size r k s order line rps per errs rounds
	IFS='|' read -r name path accept enc conns <<<"$c"
	size=$(stat -c %s "$TMP/nginx/root$(nginx_file "$c")")
	declare -A url=([nginx]=$NGINX_URL [larder]=$LARDER_URL [floor]=$FLOOR_URL) bad=([nginx]=0 [larder]=0 [floor]=0) got
	local servers=(nginx larder floor)
	for s in "${servers[@]}"; do
		run_wrk "${url[$s]}" "$c" "$WARMUP" "$OUT/wrk/$idx-$s-warmup.txt" "$size" >/dev/null
	done
	rounds=$TMP/rounds-$idx
	: >"$rounds"
	for ((r = 1; r <= ROUNDS; r++)); do
		k=$(((r - 1) / 2 % 3))
		order=("${servers[@]:k}" "${servers[@]:0:k}")
		((r % 2 == 0)) && order=("${order[2]}" "${order[1]}" "${order[0]}")
		for s in "${order[@]}"; do
			line=$(run_wrk "${url[$s]}" "$c" "$DURATION" "$OUT/wrk/$idx-$s-$r.txt" "$size")
			read -r rps per errs <<<"$line"
			# Fewer bytes a response than the body means truncated or wrong answers.
			if ((per == 0)); then
				bad[$s]=1
				log "$name: $s round $r: no response completed in ${DURATION} s (is the machine overloaded?)"
			elif ((errs > 0 || per < size)); then
				bad[$s]=1
				log "$name: $s round $r: $errs errors, $per bytes a response for a $size-byte body (bench/out/wrk/$idx-$s-$r.txt)"
			fi
			got[$s]=$rps
		done
		awk -v n="${got[nginx]}" -v l="${got[larder]}" -v f="${got[floor]}" \
			'BEGIN { printf "%s %s %.4f %.4f %.4f\n", n, l, (n > 0 ? l / n : 0), (n > 0 ? f / n : 0), (f > 0 ? l / f : 0) }' >>"$rounds"
		log "$name: round $r: nginx ${got[nginx]} req/s, larder ${got[larder]} req/s, $FLOOR ${got[floor]} req/s"
	done
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$size" "$conns" \
		"$(median 1 "$rounds" %.0f)" "$(median 2 "$rounds" %.0f)" "$(median 3 "$rounds" %.2f)" \
		"$(sort -g -k3 "$rounds" | awk 'NR == 1 { printf "%.2f", $3 }')" \
		"$(sort -g -k3 "$rounds" | awk 'END { printf "%.2f", $3 }')" \
		"${bad[nginx]}" "${bad[larder]}" "$path" "$(median 4 "$rounds" %.2f)" "$(median 5 "$rounds" %.2f)" \
		"${bad[floor]}" >>"$TMP/results.tsv"
}

# median COLUMN FILE FORMAT: the median of a column of a rounds file (1: nginx
# req/s, 2: larder req/s, 3: larder/nginx, 4: floor/nginx, 5: larder/floor).
median() {
	awk -v c="$1" '{ print $c }' "$2" | sort -g |
		awk -v f="$3" '{ v[NR] = $1 } END { m = (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); printf f, m }'
}

human_size() {
	awk -v b="$1" 'BEGIN {
		if (b >= 1048576) printf "%.1f MiB", b / 1048576
		else if (b >= 1024) printf "%.1f KiB", b / 1024
		else printf "%d B", b }'
}

report() {
	local hwm=$1 rss=$2 load_before=$3 load_after=$4 md=$OUT/results.md miss=0
	local name size conns nginx larder ratio lo hi nbad lbad path floor ofloor fbad target result
	{
		echo "# larder vs nginx, warm data"
		echo
		echo "$(date -u '+%Y-%m-%d %H:%M UTC'); larder $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' with local changes');"
		echo "$(go version | awk '{ print $3 }'), $(nginx -v 2>&1 | sed 's/.*: //'), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo));"
		echo "wrk -t$THREADS on loopback, $ROUNDS rounds of ${DURATION} s per server and case; load average $load_before before, $load_after after."
		echo
		echo "| case | larder/nginx | target | result | round ratios | $FLOOR/nginx | larder/floor | nginx req/s | larder req/s | body | conns |"
		echo "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		while IFS=$'\t' read -r name size conns nginx larder ratio lo hi nbad lbad path floor ofloor fbad; do
			target=$TARGET_PACKUMENT
			is_file "$path" && target=$TARGET_TARBALL
			if ((nbad || lbad)); then
				result="ERROR"
				miss=1
			elif awk -v r="$ratio" -v t="$target" 'BEGIN { exit !(r >= t) }'; then
				result=PASS
			else
				result=MISS
				miss=1
			fi
			# The floor's errors do not make larder's result, but its ratios are void.
			((fbad)) && { floor=ERROR; ofloor=ERROR; }
			echo "| $name | **$ratio** | ≥ $target | $result | $lo–$hi | $floor | $ofloor | $nginx | $larder | $(human_size "$size") | $conns |"
		done <"$TMP/results.tsv"
		echo
		echo "| larder memory | MB | target | result |"
		echo "| --- | ---: | ---: | --- |"
		result=PASS
		awk -v k="$hwm" -v t="$TARGET_RSS_MB" 'BEGIN { exit !(k / 1024 < t) }' || { result=MISS; miss=1; }
		echo "| peak RSS (VmHWM, whole run) | **$(awk -v k="$hwm" 'BEGIN { printf "%.0f", k / 1024 }')** | < $TARGET_RSS_MB | $result |"
		echo "| highest VmRSS sampled under load | $(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }') | | |"
		echo
		echo "larder/nginx is the median over the rounds of larder's requests per second divided by nginx's in"
		echo "the same round (nginx serving the same bytes with sendfile and gzip_static); round ratios is"
		echo "the lowest and highest of those. req/s columns are medians. MB are MiB. The $FLOOR"
		echo "(bench/cmd/gofloor -engine $FLOOR_ENGINE) is a bare Go handler on that HTTP stack serving the"
		echo "same bytes from memory in one write, with no router and no log: the most a Go server on it"
		echo "reaches on this machine. $FLOOR/nginx is the part of the gap to nginx that is the HTTP"
		echo "stack and serving from memory rather than by sendfile; larder/floor (both medians of per-round"
		echo "ratios) is larder's own cost on top. The targets apply to larder/nginx only."
		if awk -v l="$load_before" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
			echo
			echo "**The machine was busy before the run (load average $load_before on $(nproc) CPUs): expect noise.**"
		fi
	} >"$md"
	echo
	cat "$md"
	echo
	log "written to ${md#"$ROOT"/} (raw wrk output in bench/out/wrk/)"
	((miss == 0)) || [[ ${BENCH_STRICT:-} != 1 ]]
}

main() {
	local started=$SECONDS load_before
	load_before=$(cut -d" " -f1 /proc/loadavg)
	ensure_tools
	TMP=$(mktemp -d /tmp/larder-bench.XXXXXX)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	# Only what this script writes: bench/out/ holds other tools' reports too.
	rm -rf "$OUT/wrk" "$OUT/results.md"
	mkdir -p "$OUT/wrk"

	build
	# Everything from here on is loopback: no proxy.
	unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
	start_upstream
	start_larder
	warm
	local warm_lines
	warm_lines=$(wc -l <"$TMP/larder.log")
	start_nginx
	verify_nginx
	start_floor

	RSS_FILE=$TMP/rss.max
	echo 0 >"$RSS_FILE"
	sample_rss "$LARDER_PID" "$RSS_FILE" &
	PIDS+=($!)

	local i
	: >"$TMP/results.tsv"
	for i in "${!CASES[@]}"; do
		[[ -z ${BENCH_ONLY:-} || ${CASES[$i]%%|*} =~ $BENCH_ONLY ]] || continue
		bench_case "${CASES[$i]}" "$((i + 1))"
	done

	# Every measured request must have been served from the cache.
	local not_hit
	not_hit=$(tail -n "+$((warm_lines + 1))" "$TMP/larder.log" | grep 'msg=request' | grep -vc 'cache=HIT' || true)
	((not_hit == 0)) || log "warning: $not_hit requests under load were not X-Larder-Cache: HIT (see larder's log with BENCH_KEEP=1)"

	local hwm rss
	hwm=$(proc_kb "$LARDER_PID" VmHWM)
	rss=$(cat "$RSS_FILE")
	log "done in $((SECONDS - started)) s"
	report "$hwm" "$rss" "$load_before" "$(cut -d" " -f1 /proc/loadavg)"
}

main "$@"
