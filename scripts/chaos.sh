#!/usr/bin/env bash
# `make chaos`: a thousand-event stream with labelled faults through the embedded node and through
# one process per role, with kill -9 of the node, of each role and of the nats-server mid-stream.
# The last line is `lost=N duplicated=M`; the exit status is non-zero unless both are 0.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m services.cli chaos "$@"
