"""The knowledge base: runbooks as markdown with YAML front-matter (knowledge/README.md), parsed
into `Runbook`s with their sections, and the passages of each runbook that get embedded.

A runbook is 200-450 words but all-MiniLM-L6-v2 reads at most 256 word pieces, so a runbook is
embedded as a few passages (overview, symptoms, causes), each headed by the title; retrieval
scores a runbook by its best passage."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiops_core.models import IncidentType
from aiops_core.policy import ActionName, DeviceKind

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.DOTALL)
_SECTION = re.compile(r"^## +(.+?)\s*$", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*]|\d+\.)\s+(.*)$")
# Backticks and emphasis only: underscores are part of names such as failover_path and snr_db.
_MARKUP = re.compile(r"`|\*")


class KnowledgeError(ValueError):
    """A runbook file that cannot be used, with the file and the reason."""


class RunbookMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^rb-[a-z0-9][a-z0-9-]{1,62}$")
    title: str = Field(min_length=3, max_length=200)
    incident_types: list[IncidentType] = Field(min_length=1)
    device_kinds: list[DeviceKind] = Field(default_factory=list)
    risk: Literal["low", "medium", "high"]
    symptoms: list[str] = Field(default_factory=list)
    actions: list[ActionName] = Field(default_factory=list)


@dataclass(frozen=True)
class Passage:
    """One embedded piece of a runbook."""

    runbook_id: str
    part: str
    text: str


@dataclass(frozen=True)
class Runbook:
    meta: RunbookMeta
    sections: dict[str, str]
    content_hash: str
    path: Path

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def title(self) -> str:
        return self.meta.title

    def items(self, section: str) -> list[str]:
        """The list items (bulleted or numbered) of a section, markup stripped."""
        return section_items(self.sections.get(section, ""))

    def passages(self) -> list[Passage]:
        """What gets embedded: each passage is headed by the title and kept under the model's
        window, so nothing a reader would search for falls off the end."""
        meta = self.meta
        kinds = ", ".join(k.replace("_", " ") for k in meta.device_kinds)
        types = ", ".join(t.value.replace("_", " ") for t in meta.incident_types)
        head = f"{meta.title}. {types} on {kinds}." if kinds else f"{meta.title}. {types}."
        passages = [Passage(meta.id, "overview", f"{head} Symptoms: {'; '.join(meta.symptoms)}")]
        for part, section in (("symptoms", "Symptoms"), ("causes", "Likely causes")):
            items = self.items(section)
            if items:
                passages.append(Passage(meta.id, part, _clip(f"{meta.title}. {section}: " + " ".join(items))))
        return passages


def section_items(text: str) -> list[str]:
    items: list[str] = []
    for line in text.splitlines():
        match = _LIST_ITEM.match(line)
        if match:
            items.append(_MARKUP.sub("", match.group(1)).strip())
        elif items and line.startswith("  ") and line.strip():
            items[-1] += " " + _MARKUP.sub("", line.strip())
    return [i for i in items if i]


def _clip(text: str, max_words: int = 150) -> str:
    # ~150 words stays inside 256 word pieces even for log lines that tokenise into many pieces.
    words = text.split()
    return " ".join(words[:max_words])


def parse_runbook(path: Path) -> Runbook:
    text = path.read_text(encoding="utf-8")
    match = _FRONT_MATTER.match(text)
    if not match:
        raise KnowledgeError(f"{path}: no YAML front-matter between '---' lines")
    try:
        data = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{path}: invalid front-matter YAML: {exc}") from None
    try:
        meta = RunbookMeta.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise KnowledgeError(f"{path}: {problems}") from None
    body = match.group(2)
    sections: dict[str, str] = {}
    headings = list(_SECTION.finditer(body))
    for index, heading in enumerate(headings):
        end = headings[index + 1].start() if index + 1 < len(headings) else len(body)
        sections[heading.group(1)] = body[heading.end():end].strip()
    return Runbook(meta, sections, hashlib.sha256(text.encode()).hexdigest(), path)


def load_runbooks(directory: Path) -> tuple[list[Runbook], list[str]]:
    """Every runbook in `<directory>/runbooks`, and the problems of files that could not be used
    (a typo in one runbook must not leave the ship without the others)."""
    runbooks: list[Runbook] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in sorted((Path(directory) / "runbooks").glob("*.md")):
        try:
            runbook = parse_runbook(path)
        except (KnowledgeError, OSError) as exc:
            problems.append(str(exc))
            continue
        if runbook.id in seen:
            problems.append(f"{path}: id {runbook.id} already used by {seen[runbook.id]}")
            continue
        seen[runbook.id] = path
        runbooks.append(runbook)
    return runbooks, problems


def knowledge_hash(runbooks: list[Runbook]) -> str:
    """One hash of every runbook's content and of the passage layout: a change re-indexes."""
    digest = hashlib.sha256(PASSAGE_LAYOUT_VERSION.encode())
    for runbook in sorted(runbooks, key=lambda r: r.id):
        digest.update(f"{runbook.id}:{runbook.content_hash}\n".encode())
    return digest.hexdigest()


# Bumped when `Runbook.passages` changes what is embedded, so running nodes re-index.
PASSAGE_LAYOUT_VERSION = "passages-v1"
