#!/usr/bin/env bash
# Installs what the end-to-end tests drive when it is missing: Node.js and npm
# (Debian), pnpm and yarn (from the npm registry), Python's pip and poetry
# (Debian), Ruby's gem and bundle (Debian), and chromium (Debian) for the web
# UI's browser tests.
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

