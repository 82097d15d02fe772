"""The `actions:` of each runbook's front-matter (knowledge/runbooks/*.md), by runbook id: what
an insight that cites a runbook lets the platform propose."""

from __future__ import annotations

from pathlib import Path

import yaml

from aiops_core.logging import StructuredLogger

log = StructuredLogger.get_logger(__name__, service="remediation")


def front_matter(text: str) -> dict:
    """The YAML between the leading `---` lines, or {} when the file has none."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    for end, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            data = yaml.safe_load("\n".join(lines[1:end]))
            return data if isinstance(data, dict) else {}
    return {}


def load_runbook_actions(runbooks_dir: Path) -> dict[str, tuple[str, ...]]:
    """Runbook id to its actions. A broken runbook is logged and left out: the knowledge base is
    advisory and must not stop the incident-api from starting."""
    found: dict[str, tuple[str, ...]] = {}
    if not runbooks_dir.is_dir():
        log.warning("runbooks_missing", path=str(runbooks_dir))
        return found
    for path in sorted(runbooks_dir.glob("*.md")):
        try:
            meta = front_matter(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            log.warning("runbook_unreadable", path=str(path), error=str(exc)[:300])
            continue
        runbook_id, actions = meta.get("id"), meta.get("actions") or []
        if not isinstance(runbook_id, str) or not isinstance(actions, list):
            log.warning("runbook_without_id_or_actions", path=str(path))
            continue
        found[runbook_id] = tuple(str(a) for a in actions)
    return found
