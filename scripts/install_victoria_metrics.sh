#!/usr/bin/env bash
# Installs Debian's victoria-metrics package (victoria-metrics, vmalert, vmagent, ...) for the SLO
# alert tests. Idempotent: does nothing when vmalert is already on PATH.
set -euo pipefail

if command -v vmalert >/dev/null 2>&1 && command -v victoria-metrics >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "install_victoria_metrics.sh: need root (or sudo) to apt-get install victoria-metrics" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends victoria-metrics >/dev/null
command -v vmalert >/dev/null && command -v victoria-metrics >/dev/null
