#!/usr/bin/env bash
# Runs the whole suite. pytest exits 5 when a selection collects nothing; that is not a failure here.
set -uo pipefail
cd "$(dirname "$0")/.."
# vmalert and victoria-metrics for the SLO alert tests (Debian package victoria-metrics; idempotent).
bash scripts/install_victoria_metrics.sh
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "no tests collected"
  exit 0
fi
exit "$status"
