"""What every role is given at start, wired once (the bootstrap), and the HTTP face every role
shows: `/health` (readiness of NATS and the store) and `/metrics`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from aiops_core import metrics
from aiops_core.bus import Bus, node_consumers
from aiops_core.logging import StructuredLogger
from aiops_core.policy import Policy
from aiops_core.settings import Settings
from aiops_core.store import Store

log = StructuredLogger.get_logger(__name__, service="runtime")


@dataclass
class Runtime:
    settings: Settings
    policy: Policy
    bus: Bus
    store: Store
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)
    # Shared in-process services a role publishes for others in the same process (e.g. auth).
    services: dict[str, Any] = field(default_factory=dict)

    def for_role(self, role: str) -> Runtime:
        """The same node seen by one role: its own Bus identity (for its DLQ), all else shared."""
        return Runtime(
            settings=self.settings,
            policy=self.policy,
            bus=Bus(self.bus.nc, role),
            store=self.store,
            stop=self.stop,
            tasks=self.tasks,
            services=self.services,
        )

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_task_end)
        self.tasks.append(task)
        return task

    def consume(
        self, durable: str, handler, *, batch: int | None = None, after_publish=None, linger_seconds: float = 0.0
    ) -> asyncio.Task:
        return self.spawn(
            self.bus.consume(
                durable,
                handler,
                batch=batch or self.settings.bus_batch,
                max_deliver=self.settings.bus_max_deliver,
                stop=self.stop,
                after_publish=after_publish,
                linger_seconds=linger_seconds,
            ),
            name=f"consumer:{durable}",
        )


def _log_task_end(task: asyncio.Task) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("task_crashed", task=task.get_name(), error=repr(exc))


class Role(Protocol):
    """A role: logic in its handlers, wiring here. `start` spawns its consumers and listeners."""

    name: str

    async def start(self, runtime: Runtime) -> None: ...

    async def stop(self) -> None: ...

    def routers(self) -> list[APIRouter]: ...


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def watch_consumer_lag(runtime: Runtime, roles: set[str], every_seconds: float = 5.0) -> None:
    """Publishes consumer lag as gauges so VMAlert can see a role falling behind (the durables
    this kind of node declares: a ship does not watch the hub's FLEET reader, nor a hub the
    ship's outbox)."""
    durables = [spec.durable for spec in node_consumers(shore=runtime.settings.is_shore) if spec.role in roles]
    while not runtime.stop.is_set():
        for durable in durables:
            try:
                pending, ack_pending = await runtime.bus.consumer_lag(durable)
                metrics.CONSUMER_PENDING.labels(durable).set(pending)
                metrics.CONSUMER_ACK_PENDING.labels(durable).set(ack_pending)
            except Exception:  # noqa: BLE001 - a gauge can wait for the next round
                pass
        try:
            await asyncio.wait_for(runtime.stop.wait(), timeout=every_seconds)
        except asyncio.TimeoutError:
            pass


def build_app(title: str, roles: list[Role], runtime_getter: Callable[[], Runtime | None]) -> FastAPI:
    """One FastAPI app: the roles' routers plus /health and /metrics (open, no token)."""
    app = FastAPI(
        title=title,
        version="3.0.0",
        description="Ship-edge AIOps platform API (v3). See /docs for every route.",
    )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # A bug must not take the role down or leak a stack trace to the client; it is logged.
        log.error("unhandled_request_error", path=request.url.path, error=repr(exc), exc_info=exc)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/health", tags=["ops"])
    async def health() -> Response:
        runtime = runtime_getter()
        if runtime is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        nats_ok = runtime.bus.connected
        store_ok = await runtime.store.ping()
        # The embedded node's worker processes (services/workers.py) are part of its readiness.
        workers = runtime.services.get("workers")
        worker_health = await workers.health() if workers is not None else {}
        ready = nats_ok and store_ok and all(worker_health.values())
        body = {
            "status": "ok" if ready else "degraded",
            "ship_id": runtime.settings.ship_id,
            "roles": [role.name for role in roles],
            "nats": nats_ok,
            "store": store_ok,
            "version": runtime.settings.version,
        }
        if workers is not None:
            body["workers"] = worker_health
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"])
    async def prometheus_metrics() -> Response:
        runtime = runtime_getter()
        workers = runtime.services.get("workers") if runtime else None
        body, content_type = metrics.render(await workers.metrics_texts() if workers else ())
        return Response(body, media_type=content_type)

    for role in roles:
        for router in role.routers():
            app.include_router(router)
    return app
