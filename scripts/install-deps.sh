#!/usr/bin/env bash
# Installs what wshub needs to build and test on Debian 12: idempotent, quiet
# when everything is already there, and usable as root or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev valgrind
  libssl-dev zlib1g-dev libsqlite3-dev libhiredis-dev node-llhttp libjsmn-dev
  libcmocka-dev python3 python3-pytest python3-websockets
  ca-certificates
  openssl
  chromium
)
# Node.js: the machine may already have one (any version >= 18 works); only
# install Debian's when none is on PATH.
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Test-only npm packages (Node's ws client), pinned by package-lock.json.
if [ -f tests/integ/node/package.json ]; then
  if [ ! -d tests/integ/node/node_modules ] || [ tests/integ/node/package-lock.json -nt tests/integ/node/node_modules ]; then
    (cd tests/integ/node && npm ci --no-audit --no-fund --loglevel=error && touch node_modules)
  fi
fi
# Browser tests: playwright-core drives Debian's chromium (no browser download).
if [ -f tests/browser/package.json ]; then
  if [ ! -d tests/browser/node_modules ] || [ tests/browser/package-lock.json -nt tests/browser/node_modules ]; then
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && touch node_modules)
  fi
fi
