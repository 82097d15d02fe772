#!/bin/sh
# Makes the insight path's LLM available: waits until Ollama answers GET /api/tags, then pulls
# the model (POST /api/pull) unless it is already there. Idempotent: safe on every start.
#
# POSIX sh, so it runs in the ollama/ollama image (which has the `ollama` CLI but no curl) as
# well as in the platform image (curl or python3).
#
# Environment:
#   OLLAMA_URL            Ollama base URL (default http://127.0.0.1:11434)
#   OLLAMA_MODEL          model to pull (default: `model:` in policies/llm.yaml, else phi3:mini)
#   LLM_POLICY            path of llm.yaml (default: policies/llm.yaml next to this script's dir)
#   OLLAMA_WAIT_SECONDS   how long to wait for Ollama to answer (default 300)
#   OLLAMA_PULL_SECONDS   how long the pull may take (default 3600; phi3:mini is ~2.2 GB)
#
# Exit codes:
#   0  the model is present (already there or pulled now)
#   1  cannot run here: no curl, ollama CLI or python3 to talk HTTP with
#   2  Ollama did not answer /api/tags within OLLAMA_WAIT_SECONDS
#   3  the pull failed (unknown model, no network to the registry, disk full, ...)
set -u

URL="${OLLAMA_URL:-http://127.0.0.1:11434}"
URL="${URL%/}"
WAIT="${OLLAMA_WAIT_SECONDS:-300}"
PULL_SECONDS="${OLLAMA_PULL_SECONDS:-3600}"
HERE="$(cd "$(dirname "$0")" && pwd)"
POLICY="${LLM_POLICY:-$HERE/../policies/llm.yaml}"

MODEL="${OLLAMA_MODEL:-}"
if [ -z "$MODEL" ] && [ -r "$POLICY" ]; then
  MODEL="$(sed -n 's/^model:[[:space:]]*\([^#[:space:]]*\).*$/\1/p' "$POLICY" | head -n 1)"
fi
MODEL="${MODEL:-phi3:mini}"

log() { echo "init_ollama: $*" >&2; }

if command -v curl >/dev/null 2>&1; then
  HTTP=curl
elif command -v ollama >/dev/null 2>&1; then
  HTTP=ollama
elif command -v python3 >/dev/null 2>&1; then
  HTTP=python3
else
  log "need curl, the ollama CLI or python3"
  exit 1
fi

tags() {
  case "$HTTP" in
    curl) curl -fsS --max-time 5 "$URL/api/tags" ;;
    ollama) OLLAMA_HOST="$URL" ollama list ;;
    python3) python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1] + "/api/tags", timeout=5).read().decode())' "$URL" ;;
  esac
}

has_model() {
  # Ollama names a model without a tag "<name>:latest".
  case "$MODEL" in *:*) wanted="$MODEL" ;; *) wanted="$MODEL:latest" ;; esac
  case "$HTTP" in
    ollama) tags 2>/dev/null | awk 'NR > 1 { print $1 }' | grep -qx "$wanted" ;;
    *) tags 2>/dev/null | grep -q "\"name\":[[:space:]]*\"$wanted\"" ;;
  esac
}

pull() {
  body="{\"model\": \"$MODEL\", \"stream\": false}"
  case "$HTTP" in
    curl) curl -fsS --max-time "$PULL_SECONDS" -X POST "$URL/api/pull" -H 'content-type: application/json' -d "$body" | grep -q '"status":[[:space:]]*"success"' ;;
    ollama) OLLAMA_HOST="$URL" ollama pull "$MODEL" ;;
    python3) python3 -c 'import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1] + "/api/pull", data=sys.argv[2].encode(), headers={"content-type": "application/json"})
answer = json.loads(urllib.request.urlopen(request, timeout=float(sys.argv[3])).read())
sys.exit(0 if answer.get("status") == "success" else 1)' "$URL" "$body" "$PULL_SECONDS" ;;
  esac
}

log "waiting for Ollama at $URL (up to ${WAIT}s)"
waited=0
until tags >/dev/null 2>&1; do
  if [ "$waited" -ge "$WAIT" ]; then
    log "Ollama did not answer $URL/api/tags within ${WAIT}s"
    exit 2
  fi
  sleep 2
  waited=$((waited + 2))
done

if has_model; then
  log "model $MODEL already present"
  exit 0
fi
log "pulling $MODEL (this can take a while)"
if pull && has_model; then
  log "model $MODEL pulled"
  exit 0
fi
log "pull of $MODEL failed"
exit 3
