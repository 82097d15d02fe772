#!/usr/bin/env bash
# Builds the Operations Console: the Grafana app plugin (dist/) and the standalone build that the
# incident-api serves at /console (dist-standalone/). Without npm it skips with a message (/console
# then answers 503 saying how to build). Reinstalls only when package-lock.json changed and
# rebuilds only when a source changed, so `make setup` stays fast.
set -euo pipefail
cd "$(dirname "$0")/../grafana/plugins/aiops-ops-console"

if ! command -v npm >/dev/null 2>&1; then
  echo "build_console: npm not found, skipping the Operations Console build (install Node.js 20+ and rerun)"
  exit 0
fi

lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.aiops-lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.aiops-lock-hash
fi

source_hash=$(
  find package.json package-lock.json tsconfig.json webpack.standalone.config.ts src .config -type f -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
)
if [ "$(cat node_modules/.aiops-build-hash 2>/dev/null)" = "$source_hash" ] \
  && [ -f dist/module.js ] && [ -f dist-standalone/index.html ]; then
  echo "build_console: up to date"
  exit 0
fi
npm run build
npm run build:standalone
echo "$source_hash" > node_modules/.aiops-build-hash
