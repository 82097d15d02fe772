"""`aiops kb index`: embeds the runbooks and the resolved incidents into Qdrant (collections
`runbooks` and `incidents`). Idempotent: point ids derive from the runbook passage and the
incident id, so running it again overwrites instead of duplicating.

A running node holds its local Qdrant directory (and its chDB directory): it indexes the
runbooks itself at start when the collection is empty or a runbook changed (content hash), and
each incident as it is resolved. With QDRANT_URL/CLICKHOUSE_DSN (compose) this command can run
next to the node."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from aiops_core.settings import Settings

LOCKED_HINT = (
    "A running node indexes the runbooks itself at start when the collection is empty or a runbook "
    "changed (content hash), and adds each incident when it is resolved: restart the node to pick up "
    "edited runbooks, or stop it and run `aiops kb index` again."
)
MAX_INCIDENTS = 100_000


async def index_knowledge(settings: Settings, *, with_incidents: bool = True) -> int:
    from aiops_core.devices import LOAD_DEVICES_SQL, DeviceRegistry, device_from_row
    from aiops_core.models import Incident
    from aiops_core.policy import load_policy
    from aiops_core.store import Store
    from services.llm_enricher import queries
    from services.llm_enricher.embeddings import shared_embedder
    from services.llm_enricher.handlers import resolution_of
    from services.llm_enricher.knowledge import load_runbooks
    from services.llm_enricher.rag import IndexLocked, incident_text, open_index, passages_of

    policy = load_policy(settings.policies_dir, settings.ship_id)
    runbooks, problems = load_runbooks(settings.knowledge_dir)
    if problems:
        for problem in problems:
            print(f"kb index: {problem}", file=sys.stderr)
        print("kb index: fix the runbooks above; nothing was indexed", file=sys.stderr)
        return 2
    try:
        index = await asyncio.to_thread(open_index, settings, policy.llm.rag)
    except IndexLocked as exc:
        print(f"kb index: {exc}.\n{LOCKED_HINT}", file=sys.stderr)
        return 3
    where = settings.qdrant_url or str(settings.data_dir / "qdrant")
    embedder = shared_embedder()
    await index.ensure_collections()
    vectors = await embedder.encode([p.text for p in passages_of(runbooks)])
    passages = await index.index_runbooks(runbooks, vectors)
    print(f"runbooks: {len(runbooks)} indexed ({passages} passages) into {where}")
    if not with_incidents:
        return 0

    store = Store(settings.store_dsn())
    try:
        await store.start()
        devices = DeviceRegistry.of([device_from_row(r) for r in await store.query(LOAD_DEVICES_SQL)])
        rows = await store.query(queries.RESOLVED_INCIDENTS, {"limit": MAX_INCIDENTS})
    except Exception as exc:  # noqa: BLE001 - the runbooks are in; say why incidents are not
        print(f"kb index: resolved incidents skipped, the store is unavailable: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    indexed = with_resolution = 0
    for row in rows:
        incident = Incident.model_validate_json(row["doc"])
        resolution = resolution_of(incident)
        device = devices.get(incident.ship_id, incident.root_cause_device)
        kind = device.kind if device else None
        [vector] = await embedder.encode([incident_text(incident, kind)])
        await index.upsert_incident(incident, kind, resolution, vector)
        indexed += 1
        with_resolution += resolution is not None
    print(f"incidents: {indexed} resolved incidents indexed ({with_resolution} with a resolution)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    kb = sub.add_parser("kb", help="the knowledge base (runbooks and resolved incidents) behind the insights")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    index = kb_sub.add_parser(
        "index", help="embed the runbooks and resolved incidents into Qdrant (idempotent)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    index.add_argument("--data-dir", type=Path, default=None, help="the node's data dir (default ./.aiops-data)")
    index.add_argument("--runbooks-only", action="store_true", help="skip the resolved incidents (no store access)")

    def run(args: argparse.Namespace) -> int:
        settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
        return asyncio.run(index_knowledge(settings, with_incidents=not args.runbooks_only))

    index.set_defaults(func=run)
