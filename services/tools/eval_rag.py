"""`aiops eval rag`: retrieval quality of the runbook index on the labelled set
(knowledge/eval/rag_eval.yaml): hit@1, hit@3 and MRR, with the real embeddings against a
throwaway local Qdrant, ranked exactly as the llm-enricher ranks (best passage per runbook,
llm.yaml's minimum similarity: a correct runbook below it counts as a miss)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
import yaml

from aiops_core.settings import Settings

DEFAULT_SET = Path("eval") / "rag_eval.yaml"


@dataclass(frozen=True)
class Miss:
    id: str
    expected: str
    rank: int | None
    got: list[str]


@dataclass
class RagEvalReport:
    items: int
    runbooks: int
    passages: int
    model: str
    min_similarity: float
    hit_at_1: float
    hit_at_3: float
    mrr: float
    below_floor: int
    misses: list[Miss] = field(default_factory=list)


class EvalSetError(ValueError):
    pass


def load_eval_set(path: Path, runbook_ids: set[str]) -> list[dict]:
    items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    problems = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not item.get("description") or not item.get("runbook_id"):
            problems.append(f"item {number}: needs id, description and runbook_id")
        elif item["runbook_id"] not in runbook_ids:
            problems.append(f"item {item.get('id', number)}: unknown runbook {item['runbook_id']}")
    if problems:
        raise EvalSetError(f"{path}: " + "; ".join(problems))
    return items


def evaluate(eval_set: Path, knowledge_dir: Path, policies_dir: Path) -> RagEvalReport:
    from aiops_core.policy import load_policy
    from services.llm_enricher.embeddings import MODEL_NAME, shared_embedder
    from services.llm_enricher.knowledge import load_runbooks
    from services.llm_enricher.rag import KnowledgeIndex, passages_of

    rag = load_policy(policies_dir).llm.rag
    runbooks, problems = load_runbooks(knowledge_dir)
    if problems:
        raise EvalSetError("invalid runbooks: " + "; ".join(problems))
    items = load_eval_set(eval_set, {r.id for r in runbooks})
    embedder = shared_embedder()
    passages = passages_of(runbooks)
    with tempfile.TemporaryDirectory(prefix="aiops-eval-rag-") as workdir:
        index = KnowledgeIndex(rag, path=Path(workdir) / "qdrant")
        index.run_sync(index.ensure_collections_sync)
        index.run_sync(index.index_runbooks_sync, runbooks, embedder.encode_sync([p.text for p in passages]))
        queries = embedder.encode_sync([item["description"] for item in items])
        hit1 = hit3 = below = 0
        reciprocal = 0.0
        misses: list[Miss] = []
        for item, vector in zip(items, queries, strict=True):
            ranked = [rid for rid, _ in index.run_sync(index.search_runbooks_sync, vector, len(runbooks), rag.min_similarity)]
            rank = ranked.index(item["runbook_id"]) + 1 if item["runbook_id"] in ranked else None
            hit1 += rank == 1
            hit3 += rank is not None and rank <= 3
            below += rank is None
            reciprocal += 1 / rank if rank else 0.0
            if rank != 1:
                misses.append(Miss(str(item.get("id", "?")), item["runbook_id"], rank, ranked[:3]))
    n = len(items) or 1
    return RagEvalReport(
        items=len(items), runbooks=len(runbooks), passages=len(passages), model=MODEL_NAME,
        min_similarity=rag.min_similarity, hit_at_1=round(hit1 / n, 4), hit_at_3=round(hit3 / n, 4),
        mrr=round(reciprocal / n, 4), below_floor=below, misses=misses,
    )


def render(report: RagEvalReport) -> str:
    lines = [
        f"RAG retrieval eval: {report.items} items, {report.runbooks} runbooks ({report.passages} passages), "
        f"{report.model}, min similarity {report.min_similarity}",
        f"hit@1  {report.hit_at_1:.3f}",
        f"hit@3  {report.hit_at_3:.3f}",
        f"MRR    {report.mrr:.3f}",
        f"correct runbook below the similarity floor: {report.below_floor}",
    ]
    for miss in report.misses:
        where = f"rank {miss.rank}" if miss.rank else "not retrieved"
        lines.append(f"  {miss.id}: expected {miss.expected} ({where}); top: {', '.join(miss.got) or '-'}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    knowledge_dir = args.knowledge_dir or settings.knowledge_dir
    eval_set = args.set or knowledge_dir / DEFAULT_SET
    try:
        report = evaluate(eval_set, knowledge_dir, settings.policies_dir)
    except (EvalSetError, OSError) as exc:
        print(f"eval rag: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(orjson.dumps(asdict(report), option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(report))
    return 0


def register_eval(eval_sub: argparse._SubParsersAction) -> None:
    parser = eval_sub.add_parser("rag", help="runbook retrieval quality: hit@1, hit@3, MRR")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--set", type=Path, default=None, help="labelled set (default knowledge/eval/rag_eval.yaml)")
    parser.add_argument("--knowledge-dir", type=Path, default=None, help="default: the project's knowledge/")
    parser.set_defaults(func=run)
