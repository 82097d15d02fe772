"""Ingest's disk buffer: where syslog lines wait while NATS is down, bounded, replayed in order.

A journal of segment files under `<data-dir>/ingest-buffer/`, one `LogEntry` JSON per line,
named by a rising sequence number, so the order on disk is the order of arrival. A segment is
deleted only after every line in it is stored by JetStream; a crash during a replay sends the
segment again, and JetStream drops the lines it already has (Nats-Msg-Id = tracking_id, inside
its duplicate window). Lines are written and flushed to the OS at once, so a process crash loses
none; a power cut may lose the last unsynced ones.

What would grow the journal past `max_bytes` is dropped and counted (`dropped`), never blocks
the syslog listener: a UDP sender cannot be slowed down and the edge server's disk is shared.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from aiops_core.logging import StructuredLogger
from aiops_core.models import LogEntry

log = StructuredLogger.get_logger(__name__, service="ingest")

SEGMENT_BYTES = 4 * 1024 * 1024
REPLAY_CHUNK = 1000
_SUFFIX = ".ndjson"


class DiskBuffer:
    def __init__(self, directory: Path, max_bytes: int, *, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._segments = sorted(self.directory.glob(f"*{_SUFFIX}"))
        self._sizes = {path: path.stat().st_size for path in self._segments}
        self._lines = sum(_count_lines(path) for path in self._segments)
        self._next = int(self._segments[-1].stem) + 1 if self._segments else 0
        # The segment being written; a reopened journal starts a fresh one after the last.
        self._open: Path | None = None
        self.dropped = 0

    @property
    def empty(self) -> bool:
        return not self._segments

    @property
    def lines(self) -> int:
        return self._lines

    @property
    def bytes(self) -> int:
        return sum(self._sizes.values())

    def append(self, entries: Sequence[LogEntry]) -> int:
        """Journals what fits under `max_bytes`; returns how many were dropped for lack of room."""
        used = self.bytes
        encoded = []
        for entry in entries:
            line = entry.model_dump_json().encode() + b"\n"
            if used + len(line) > self.max_bytes:
                break
            used += len(line)
            encoded.append(line)
        dropped = len(entries) - len(encoded)
        self.dropped += dropped
        start = 0
        while start < len(encoded):
            path = self._writable()
            room = max(1, (self.segment_bytes - self._sizes[path]))
            chunk, size = [], 0
            while start < len(encoded) and (not chunk or size + len(encoded[start]) <= room):
                chunk.append(encoded[start])
                size += len(encoded[start])
                start += 1
            with open(path, "ab") as handle:
                handle.write(b"".join(chunk))
                handle.flush()
            self._sizes[path] += size
            self._lines += len(chunk)
        return dropped

    def _writable(self) -> Path:
        if self._open is None or self._sizes[self._open] >= self.segment_bytes:
            self._open = self.directory / f"{self._next:012d}{_SUFFIX}"
            self._next += 1
            self._open.touch()
            self._segments.append(self._open)
            self._sizes[self._open] = 0
        return self._open

    async def replay(self, publish: Callable[[Sequence[LogEntry]], Awaitable[None]]) -> int:
        """Publishes segments oldest first, deleting each once all of it is stored; stops at (and
        raises) the first publish error, keeping that segment. Returns the lines published."""
        published = 0
        while self._segments:
            path = self._segments[0]
            entries, unreadable = _read(path)
            if unreadable:
                # A line cut short by a crash mid-write, or a foreign file: counted, not fatal.
                self.dropped += unreadable
                log.warning("ingest_buffer_unreadable_lines", segment=path.name, count=unreadable)
            for start in range(0, len(entries), REPLAY_CHUNK):
                await publish(entries[start:start + REPLAY_CHUNK])
            published += len(entries)
            self._lines -= len(entries) + unreadable
            self._segments.pop(0)
            del self._sizes[path]
            if self._open == path:
                self._open = None
            os.unlink(path)
        return published


def _read(path: Path) -> tuple[list[LogEntry], int]:
    entries, unreadable = [], 0
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            entries.append(LogEntry.model_validate_json(line))
        except ValidationError:
            unreadable += 1
    return entries, unreadable


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.strip())
