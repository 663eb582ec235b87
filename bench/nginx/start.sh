#!/usr/bin/env bash
# Runs nginx with bench/nginx/nchan.conf in the foreground on 127.0.0.1:PORT, in a scratch prefix directory;
# for the side-by-side benchmarks only. Usage: bench/nginx/start.sh PORT [PREFIX_DIR]
# The process stays nginx's master (exec); its single worker is its only child. SIGTERM/SIGINT stop both.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${1:?usage: start.sh PORT [PREFIX_DIR]}"
prefix="${2:-$(mktemp -d /tmp/wshub-nchan.XXXXXX)}"
mkdir -p "$prefix/tmp" "$prefix/logs"
sed "s/@PORT@/$port/" "$here/nchan.conf" > "$prefix/nchan.conf"
# -e: errors before the config is read go to stderr, not to /var/log/nginx.
exec nginx -p "$prefix/" -e stderr -c "$prefix/nchan.conf"
