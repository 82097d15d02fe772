#!/usr/bin/env python3
"""Creates the RAG collections (`runbooks`, `incidents`: 384-d cosine) in Qdrant, with the same
code the llm-enricher uses; idempotent. `--index-runbooks` also embeds the runbooks (otherwise
the llm-enricher does it at start when the collection is empty or a runbook changed).

Qdrant is QDRANT_URL when set (compose), else the local directory <DATA_DIR>/qdrant. Waits up to
--wait seconds for a Qdrant server to answer.

Exit codes: 0 done; 1 Qdrant not reachable in time or a collection has the wrong vector size;
3 the local directory is held by a running node (it creates the collections itself)."""

from __future__ import annotations

import argparse
import sys
import time

from aiops_core.policy import load_policy
from aiops_core.settings import Settings
from services.llm_enricher.rag import IndexLocked, KnowledgeIndex, open_index, passages_of


def connect(settings: Settings, wait_seconds: float) -> KnowledgeIndex:
    policy = load_policy(settings.policies_dir, settings.ship_id)
    deadline = time.monotonic() + wait_seconds
    while True:
        index = open_index(settings, policy.llm.rag)
        try:
            index.run_sync(index.client.get_collections)
            return index
        except Exception as exc:  # noqa: BLE001 - the server may still be starting
            if time.monotonic() >= deadline:
                raise ConnectionError(f"Qdrant at {settings.qdrant_url} did not answer: {exc}") from exc
            time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for a Qdrant server")
    parser.add_argument("--index-runbooks", action="store_true", help="also embed the runbooks into `runbooks`")
    args = parser.parse_args(argv)
    settings = Settings()
    try:
        index = connect(settings, args.wait)
        created = index.run_sync(index.ensure_collections_sync)
    except IndexLocked as exc:
        print(f"init_qdrant: {exc}; the node creates its collections itself", file=sys.stderr)
        return 3
    except (ConnectionError, RuntimeError) as exc:
        print(f"init_qdrant: {exc}", file=sys.stderr)
        return 1
    existing = sorted({index.runbooks_collection, index.incidents_collection} - set(created))
    print(f"init_qdrant: created {', '.join(created) or 'nothing'}; already there: {', '.join(existing) or 'nothing'}")
    if args.index_runbooks:
        from services.llm_enricher.embeddings import shared_embedder
        from services.llm_enricher.knowledge import load_runbooks

        runbooks, problems = load_runbooks(settings.knowledge_dir)
        for problem in problems:
            print(f"init_qdrant: skipped {problem}", file=sys.stderr)
        vectors = shared_embedder().encode_sync([p.text for p in passages_of(runbooks)])
        count = index.run_sync(index.index_runbooks_sync, runbooks, vectors)
        print(f"init_qdrant: indexed {len(runbooks)} runbooks ({count} passages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
