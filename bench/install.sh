#!/usr/bin/env bash
# Installs what bench/run.sh needs besides wshub itself: nginx with nchan from Debian, and Bun and Node `ws` from
# npm (pinned by bench/package-lock.json). Idempotent; downloads nothing else. Not needed for building or testing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sudo=""
[[ "$(id -u)" -eq 0 ]] || sudo="sudo"

missing=()
for pkg in nginx libnginx-mod-nchan; do
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
# Commands rather than packages: node and npm may come from another Debian package than "nodejs"/"npm".
command -v curl >/dev/null || missing+=(curl)
command -v taskset >/dev/null || missing+=(util-linux)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
    echo "install.sh: apt-get install ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's nginx package may start a system nginx on port 80; the benchmark never uses it and starts its own.

# npm ci reinstalls from scratch each time; skip it when node_modules already matches the lock file.
if ! cmp -s "$here/package-lock.json" "$here/node_modules/.package-lock.json.ci" 2>/dev/null ||
    [[ ! -x "$here/node_modules/@oven/bun-linux-x64/bin/bun" ]]; then
    (cd "$here" && npm ci --no-audit --no-fund)
    cp "$here/package-lock.json" "$here/node_modules/.package-lock.json.ci"
fi
"$here/node_modules/@oven/bun-linux-x64/bin/bun" --version >/dev/null
echo "install.sh: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), nchan $(dpkg-query -W -f '${Version}' libnginx-mod-nchan)," \
    "bun $("$here/node_modules/@oven/bun-linux-x64/bin/bun" --version), node $(node --version)" >&2
