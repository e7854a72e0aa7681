#!/usr/bin/env bash
# Prints a folder to put first on PATH so that `node` is >= 22: the machine's own when new enough,
# else Node 24 installed from the npm registry (package node@24) into the cache, once.
set -euo pipefail
CACHE=${KUBESWAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeswap}
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -ge 22 ]; then dirname "$(command -v node)"; exit 0; fi
dir="$CACHE/node-24"
if ! "$dir/node_modules/.bin/node" --version >/dev/null 2>&1; then
  echo "setup: installing Node 24 from the npm registry into $dir" >&2
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error node@24 >&2
  "$dir/node_modules/.bin/node" --version >/dev/null || { echo "setup: Node 24 install failed" >&2; exit 1; }
fi
echo "$dir/node_modules/.bin"
