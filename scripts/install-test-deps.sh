#!/usr/bin/env bash
# Installs what the end-to-end tests drive when it is missing: Node.js and npm
# (Debian), pnpm and yarn (from the npm registry), Python's pip and poetry
# (Debian), Ruby's gem and bundle (Debian), chromium (Debian) for the web UI's
# browser tests, Maven with the plugins it runs (Debian), and PostgreSQL and
# nginx (Debian) for the shared backends' tests. SeaweedFS, the S3 server of
# those tests, is built by scripts/seaweedfs.sh (cached under ~/.cache).
# Idempotent and quiet when everything is there. Needs root (apt-get); installs
# without Debian's recommended extras, which took a first run from minutes to 21.
set -euo pipefail

need_apt=()
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if ! python3 -m pip --version >/dev/null 2>&1; then
  command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
  need_apt+=(python3-pip)
fi
# e2e/poetry_test.go drives Debian's poetry.
command -v poetry >/dev/null 2>&1 || need_apt+=(python3-poetry)
# e2e/rubygems_test.go drives Debian's gem (ruby) and bundle (bundler).
command -v gem >/dev/null 2>&1 || need_apt+=(ruby)
command -v bundle >/dev/null 2>&1 || need_apt+=(bundler)
# The web UI's browser tests (e2e/web_test.go) drive Debian's chromium.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# e2e/cargo_test.go drives the machine's own cargo (rustup's, in ~/.cargo/bin):
# Debian bookworm's cargo (Rust 1.65) predates sparse registries (1.68), so it
# is no substitute and is not installed here.
# e2e/maven_test.go drives Debian's mvn, and serves Debian's Maven repository
# (/usr/share/maven-repo) as the fake upstream: the plugins mvn package runs.
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
for p in libmaven-resources-plugin-java libmaven-compiler-plugin-java libsurefire-java \
  libmaven-jar-plugin-java libmaven-install-plugin-java libmaven-dependency-plugin-java libcommons-lang3-java; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_apt+=("$p")
done
# The shared backends' tests (storage, e2e/cluster_test.go) start a real
# PostgreSQL server, and the cluster test puts nginx in front of its nodes.
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || need_apt+=(postgresql)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing from Debian: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

npm_global=()
command -v pnpm >/dev/null 2>&1 || npm_global+=(pnpm@10)
command -v yarn >/dev/null 2>&1 || npm_global+=(yarn@1)
if [ ${#npm_global[@]} -gt 0 ]; then
  echo "installing from the npm registry: ${npm_global[*]}"
  npm install -g --no-audit --no-fund --loglevel=error "${npm_global[@]}"
fi


# The S3 server of the shared blob store's tests: built once per machine
# (about 8 minutes), then found in the cache.
"$(dirname "$0")/seaweedfs.sh" >/dev/null
