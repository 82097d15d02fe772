"""The LLM's concurrency limit: a bounded priority queue (most severe incident first, then the
earliest deadline) feeding `max_concurrency` workers. A caller waits at most its timeout, queue
time included; a job whose caller gave up is skipped, and a full queue is refused at once so
the caller can send the fallback instead of waiting."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiops_core import metrics
from aiops_core.logging import StructuredLogger
from services.llm_enricher.llm_client import GuardedLlm, LlmOverloaded, LlmTimeout

log = StructuredLogger.get_logger(__name__, service="llm-enricher")

T = TypeVar("T")

# A worker does not start a call with less time than this left: it could not finish.
MIN_CALL_SECONDS = 0.25


@dataclass
class _Job:
    system: str
    user: str
    parse: Callable[[str], Any]
    deadline: float
    future: asyncio.Future
    started: bool = field(default=False)


class LlmScheduler:
    def __init__(self, llm: GuardedLlm, *, workers: int, queue_limit: int) -> None:
        self.llm = llm
        self.workers = workers
        self._queue: asyncio.PriorityQueue[tuple[int, float, int, _Job]] = asyncio.PriorityQueue(maxsize=queue_limit)
        self._order = itertools.count()
        self._tasks: list[asyncio.Task] = []

    @property
    def model(self) -> str:
        return self.llm.model

    def start(self, spawn: Callable[[Any, str], asyncio.Task]) -> None:
        for number in range(self.workers):
            self._tasks.append(spawn(self._work(), f"llm-enricher:llm-worker-{number}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def complete(self, system: str, user: str, *, parse: Callable[[str], T], timeout: float, priority: int) -> T:
        loop = asyncio.get_running_loop()
        job = _Job(system, user, parse, loop.time() + timeout, loop.create_future())
        try:
            self._queue.put_nowait((-priority, job.deadline, next(self._order), job))
        except asyncio.QueueFull:
            metrics.LLM_REQUESTS.labels(LlmOverloaded.outcome).inc()
            raise LlmOverloaded("every LLM worker is busy and the queue is full") from None
        try:
            return await asyncio.wait_for(job.future, timeout=timeout)
        except asyncio.TimeoutError:
            if not job.started:
                # Never reached a worker: the LLM was busy with more urgent incidents.
                metrics.LLM_REQUESTS.labels(LlmOverloaded.outcome).inc()
                raise LlmOverloaded(f"no LLM worker free within {timeout:.2f}s") from None
            raise LlmTimeout(f"no answer within {timeout:.2f}s") from None

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            *_, job = await self._queue.get()
            if job.future.done():
                continue
            remaining = job.deadline - loop.time()
            if remaining < MIN_CALL_SECONDS:
                continue  # the caller's own wait ends now and counts it
            job.started = True
            try:
                answer = await self.llm.complete(job.system, job.user, parse=job.parse, timeout=remaining)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - handed to the caller, who falls back
                if not job.future.done():
                    job.future.set_exception(exc)
            else:
                if not job.future.done():
                    job.future.set_result(answer)
