#!/usr/bin/env bash
# A warm Maven build through larder against the same repository served by
# nginx: `mvn -B package` of a small project (a dependency, the plugins of
# the default lifecycle), each round with an empty local repository, so
# that every POM, jar and checksum is fetched from the server under test.
# larder is warmed first by one build; nginx then serves exactly the files
# that build fetched (its local repository, laid out as the remote one).
# Prints the median build times and nginx/larder (a ratio of times: 1.0 is
# as fast as nginx; the target is 0.9), and writes bench/out/maven.md.
#
#   ./bench/maven.sh
#
# Knobs: BENCH_MAVEN_ROUNDS (builds per server, 3), BENCH_KEEP=1 (keep the
# temporary folder). Needs Go, curl, nginx, mvn and Debian's Maven plugins
# (scripts/install-test-deps.sh installs mvn and the plugins).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
ROUNDS=${BENCH_MAVEN_ROUNDS:-3}
TARGET=0.9
REPO_DIR=/usr/share/maven-repo

log() { printf 'bench maven [%3d s]: %s\n' "$SECONDS" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

TMP=$(mktemp -d /tmp/larder-bench-maven.XXXXXX)
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [[ ${BENCH_KEEP:-} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

for t in go curl nginx mvn; do command -v "$t" >/dev/null || die "$t is needed"; done
[[ -d $REPO_DIR/org/apache/maven/plugins/maven-jar-plugin ]] || die "Debian's Maven plugins are missing: run scripts/install-test-deps.sh"

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log "building larder and the fake upstream"
(cd "$ROOT" && go build -o "$TMP/larder" ./cmd/larder && go build -o "$TMP/fakeupstream" ./bench/cmd/fakeupstream)

"$TMP/fakeupstream" -versions 10 -pypi-versions 1 -pypi-large-bytes 1024 -maven-dir "$REPO_DIR" >"$TMP/upstream.url" 2>"$TMP/upstream.log" &
PIDS+=($!)
# The Maven repository's URL is the last line it prints, once it is ready.
for ((i = 0; i < 600; i++)); do
	grep -q 'ready in' "$TMP/upstream.log" 2>/dev/null && MAVEN_URL=$(tail -n 1 "$TMP/upstream.url") && break
	sleep 0.1
done
[[ -n ${MAVEN_URL:-} ]] || die "fake upstream did not start"

port=$(free_port)
LARDER_URL=http://127.0.0.1:$port
cat >"$TMP/larder.toml" <<-EOC
	listen = "127.0.0.1:$port"
	data = "$TMP/data"

	[[registry]]
	name = "maven"
	kind = "maven"
	upstream = "$MAVEN_URL"
	metadata_ttl = "1h"
EOC
"$TMP/larder" serve --config "$TMP/larder.toml" 2>"$TMP/larder.log" &
PIDS+=($!)
wait_http "$LARDER_URL/healthz" "$TMP/larder.log"

# The project: commons-lang3 and the default lifecycle's plugins.
P=$TMP/project
mkdir -p "$P/src/main/java/app"
cat >"$P/pom.xml" <<'EOC'
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>app</artifactId>
  <version>1.0</version>
  <properties>
    <maven.compiler.source>17</maven.compiler.source>
    <maven.compiler.target>17</maven.compiler.target>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies>
    <dependency>
      <groupId>org.apache.commons</groupId>
      <artifactId>commons-lang3</artifactId>
      <version>3.12.0</version>
    </dependency>
  </dependencies>
</project>
EOC
cat >"$P/src/main/java/app/App.java" <<'EOC'
package app;

public class App {
    public static void main(String[] args) {
        System.out.println(org.apache.commons.lang3.StringUtils.capitalize("hello"));
    }
}
EOC

settings() { # settings URL FILE
	cat >"$2" <<-EOC
		<settings><mirrors><mirror><id>bench</id><mirrorOf>*</mirrorOf><url>$1</url></mirror></mirrors></settings>
	EOC
}
settings "$LARDER_URL/maven/" "$TMP/larder-settings.xml"

# build SETTINGS REPO: one mvn package; prints its wall time in seconds.
build() {
	local start end
	rm -rf "$P/target" "$2"
	start=$(date +%s.%N)
	(cd "$P" && HOME=$TMP MAVEN_OPTS=-XX:TieredStopAtLevel=1 mvn -B -q -s "$1" -Dmaven.repo.local="$2" package >"$TMP/mvn.log" 2>&1) ||
		{ tail -n 40 "$TMP/mvn.log" >&2; die "mvn package failed"; }
	end=$(date +%s.%N)
	echo "$end - $start" | bc -l
}

log "warming larder with one build"
build "$TMP/larder-settings.xml" "$TMP/warm-repo" >/dev/null

# nginx's root: the files that build fetched, at their remote paths; the
# metadata Maven keeps per repository id under its remote name.
ROOTDIR=$TMP/nginx/root/maven
mkdir -p "$ROOTDIR"
(cd "$TMP/warm-repo" && find . -type f ! -name '_remote.repositories' ! -name '*.lastUpdated' ! -name 'resolver-status.properties' -print0 |
	while IFS= read -r -d '' f; do
		dest=$ROOTDIR/${f#./}
		dest=${dest//maven-metadata-bench.xml/maven-metadata.xml}
		mkdir -p "$(dirname "$dest")"
		cp "$f" "$dest"
	done)
chmod -R a+rX "$TMP/nginx"
nport=$(free_port)
NGINX_URL=http://127.0.0.1:$nport
mkdir -p "$TMP/nginx/tmp"
cat >"$TMP/nginx/nginx.conf" <<-EOC
	worker_processes auto;
	pid $TMP/nginx/nginx.pid;
	error_log $TMP/nginx/error.log warn;
	events { worker_connections 1024; }
	http {
	    default_type application/octet-stream;
	    sendfile on;
	    keepalive_timeout 120s;
	    open_file_cache max=1024 inactive=60s;
	    access_log $TMP/nginx/access.log;
	    client_body_temp_path $TMP/nginx/tmp/body;
	    proxy_temp_path $TMP/nginx/tmp/proxy;
	    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
	    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
	    scgi_temp_path $TMP/nginx/tmp/scgi;
	    server {
	        listen 127.0.0.1:$nport;
	        root $TMP/nginx/root;
	    }
	}
EOC
chmod a+rx "$TMP"
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" -g 'daemon off;' &
PIDS+=($!)
wait_http "$NGINX_URL/" "$TMP/nginx/error.log"
settings "$NGINX_URL/maven/" "$TMP/nginx-settings.xml"
log "nginx serves the $(find "$ROOTDIR" -type f | wc -l) files of the warm build"

misses_warm=$(grep -c 'cache=MISS' "$TMP/larder.log" || true)
larder_times=() nginx_times=()
for ((r = 1; r <= ROUNDS; r++)); do
	t=$(build "$TMP/nginx-settings.xml" "$TMP/repo-n$r")
	nginx_times+=("$t")
	t=$(build "$TMP/larder-settings.xml" "$TMP/repo-l$r")
	larder_times+=("$t")
	log "round $r: nginx ${nginx_times[-1]} s, larder ${larder_times[-1]} s"
done
misses=$(($(grep -c 'cache=MISS' "$TMP/larder.log" || true) - misses_warm))

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ln=$(median "${larder_times[@]}")
nn=$(median "${nginx_times[@]}")
ratio=$(echo "$nn / $ln" | bc -l)
mkdir -p "$OUT"
{
	echo "| case | nginx (s) | larder (s) | nginx/larder | target |"
	echo "| --- | --- | --- | --- | --- |"
	printf '| mvn package, empty local repository, %d rounds (median) | %.2f | %.2f | %.2f | >= %s |\n' "$ROUNDS" "$nn" "$ln" "$ratio" "$TARGET"
	echo
	echo "larder answered $misses requests of the measured builds from the upstream (MISS); the warming build, $misses_warm."
} | tee "$OUT/maven.md"
