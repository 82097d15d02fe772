#!/usr/bin/env bash
# Installs Debian's Chromium for the console's browser test (Playwright drives it; Playwright's own
# browser download cannot work offline-first). Idempotent: returns at once when it is there.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_browser: no apt-get here; install Chromium at $CHROMIUM by hand for the browser test" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "install_browser: installing Debian's chromium"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
"$CHROMIUM" --version
