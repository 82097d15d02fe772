"""Runs roles: all of them as one node (`aiops up`, the embedded node) or one (`aiops serve`).

The embedded node runs its per-line roles (the syslog listener, anomaly-detection) as worker
processes (services/workers.py) that read the store through the node's relay.

The roles talk only over NATS either way; the embedded node differs only in settings: it starts
its own nats-server unless NATS_URL is set, and uses chDB and local Qdrant in its data dir."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from functools import partial
from pathlib import Path

import uvicorn

from aiops_core.auth import TokenStore
from aiops_core.bus import Bus
from aiops_core.collector import FreezingCollector
from aiops_core.devices import DEVICE_COLUMNS
from aiops_core.logging import StructuredLogger, configure
from aiops_core.nats_server import NatsServer
from aiops_core.policy import load_policy
from aiops_core.retention import apply_ttls
from aiops_core.runtime import Role, Runtime, build_app, watch_consumer_lag
from aiops_core.settings import Settings
from aiops_core.store import Store
from aiops_core.store_relay import RelayStore, StoreRelay
from services.roles import ROLE_CLASSES
from services.simulator.inventory import load_inventory, registry_devices
from services.shore_sync.leaf import SHORE_ROLES, jetstream_domain, leafnode_config
from services.workers import Workers, planned_workers, roles_left_in_node, watch_parent

log = StructuredLogger.get_logger(__name__, service="node")


def role_factories() -> dict[str, Callable[[], Role]]:
    """Every role by name, in pipeline order. A role's module is imported only when the role is
    made, so a process that runs one role (a worker, a container) loads only its code: a
    detection worker does not carry the llm-enricher's vector store client, for one."""
    return {name: partial(_make_role, module, cls) for name, (module, cls) in ROLE_CLASSES.items()}


def _make_role(module: str, cls: str) -> Role:
    import importlib

    return getattr(importlib.import_module(module), cls)()


async def _reload_tokens(runtime: Runtime, tokens: TokenStore, every_seconds: float = 30.0) -> None:
    """Roles in other processes (compose) see tokens created through the incident-api."""
    while not runtime.stop.is_set():
        try:
            await asyncio.wait_for(runtime.stop.wait(), timeout=every_seconds)
        except asyncio.TimeoutError:
            with contextlib.suppress(Exception):
                await tokens.load()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the node owns SIGINT/SIGTERM and shuts down in order."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


async def seed_devices(store: Store, inventory_file: Path) -> int:
    """Seeds the device registry from the ship's inventory when the table is empty."""
    if not inventory_file.exists():
        return 0
    if await store.scalar("SELECT count() FROM aiops.devices"):
        return 0
    devices = registry_devices(load_inventory(inventory_file))
    await store.insert("devices", DEVICE_COLUMNS, [d.row() for d in devices])
    return len(devices)


async def run_node(
    settings: Settings,
    role_names: list[str],
    *,
    http_port: int | None,
    started: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    configure(settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    nats_server: NatsServer | None = None
    nats_url = settings.nats_url
    if not nats_url:
        nats_server = NatsServer(
            store_dir=(settings.data_dir / "nats").resolve(), port=settings.nats_port,
            # Server names must differ across a leaf-node link: the hub refuses a second "aiops".
            server_name=f"aiops-{jetstream_domain(settings)}",
            domain=jetstream_domain(settings), extra_config=leafnode_config(settings),
        )
        await asyncio.to_thread(nats_server.start)
        nats_url = nats_server.url

    worker_names = planned_workers(settings, role_names)
    if "syslog" in worker_names:
        # The syslog worker listens on the port; the node's ingest keeps HTTP and the archive.
        settings = settings.model_copy(update={"syslog_listener": False})
    bus: Bus | None = None
    store: Store | RelayStore
    if settings.store_relay:
        # A worker of the embedded node: it reads the store the node opened (store_relay.py).
        bus = await Bus.connect(nats_url, role="node")
        store = RelayStore(bus.nc)
    else:
        store = Store(settings.store_dsn())
    relay: StoreRelay | None = None
    workers: Workers | None = None
    server: _Server | None = None
    roles: list[Role] = []
    runtime: Runtime | None = None
    collector = FreezingCollector()
    stop = stop or asyncio.Event()
    try:
        await store.start()
        seeded = 0 if settings.store_relay else await seed_devices(store, settings.inventory_file)
        tokens = TokenStore(store)
        await tokens.load()
        policy = load_policy(settings.policies_dir, settings.ship_id)
        if not settings.store_relay:
            await tokens.ensure_bootstrap_admin(settings.data_dir)
            await apply_ttls(store, policy.retention)
        bus = bus or await Bus.connect(nats_url, role="node")
        await bus.ensure_topology(
            settings.bus_max_deliver, settings.bus_ack_wait_seconds,
            fleet_ships=settings.fleet_ship_ids() if settings.is_shore else None,
        )
        if worker_names:
            relay = StoreRelay(bus.nc, store)  # type: ignore[arg-type]
            await relay.start()
        runtime = Runtime(settings=settings, policy=policy, bus=bus, store=store, stop=stop)  # type: ignore[arg-type]
        runtime.services["auth"] = tokens
        runtime.spawn(_reload_tokens(runtime, tokens), "tokens-reload")
        factories = role_factories()
        if settings.is_shore:
            skipped = [name for name in role_names if name not in SHORE_ROLES]
            role_names = [name for name in role_names if name in SHORE_ROLES]
            if not role_names:
                raise SystemExit(f"a shore hub runs only {', '.join(SHORE_ROLES)}; not {', '.join(skipped)}")
            log.info("shore_hub_roles", roles=role_names, skipped=skipped)
        unknown = [name for name in role_names if name not in factories]
        if unknown:
            raise SystemExit(f"unknown role(s): {', '.join(unknown)}; known: {', '.join(factories)}")
        in_node = roles_left_in_node(role_names, worker_names)
        roles = [factories[name]() for name in in_node]
        for role in roles:
            await role.start(runtime.for_role(role.name))
        runtime.spawn(watch_consumer_lag(runtime, set(in_node)), "consumer-lag")
        if settings.store_relay:
            runtime.spawn(watch_parent(stop), "node-watch")
        if worker_names:
            workers = Workers.plan(settings, nats_url, worker_names)
            runtime.services["workers"] = workers
            await workers.start()
            runtime.spawn(workers.supervise(stop), "workers")
        # What start-up loaded lives as long as the process, and so does most of what a full
        # collection leaves: frozen, neither is walked again (aiops_core/collector.py).
        collector.install()
        runtime.spawn(collector.sweep_periodically(stop), "gc-sweep")

        if http_port is not None:
            app = build_app("ship-aiops", roles, lambda: runtime)
            app.state.runtime = runtime
            server = _Server(
                uvicorn.Config(
                    app, host=settings.api_host, port=http_port, log_config=None, access_log=False,
                    lifespan="off", timeout_graceful_shutdown=5,
                )
            )
            runtime.spawn(server.serve(), "http")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        log.info(
            "node_started", roles=in_node, workers=worker_names, http_port=http_port, nats=nats_url,
            store=store.dsn, ship_id=settings.ship_id, devices_seeded=seeded,
        )
        if started:
            started.set()
        await stop.wait()
    finally:
        log.info("node_stopping")
        stop.set()
        collector.uninstall()
        if server:
            server.should_exit = True
        if workers:
            # First: they feed the node's roles, which then drain what is in hand.
            await workers.stop()
        for role in reversed(roles):
            try:
                await asyncio.wait_for(role.stop(), timeout=10)
            except Exception as exc:  # noqa: BLE001 - stop the rest anyway
                log.error("role_stop_failed", role=role.name, error=repr(exc))
        if runtime:
            # Consumers finish the batch in hand (ack after publish), then return.
            done, pending = await asyncio.wait(runtime.tasks, timeout=15) if runtime.tasks else (set(), set())
            for task in pending:
                task.cancel()
        if relay:
            await relay.stop()
        if bus:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(bus.close(), timeout=10)
        await store.close()
        if nats_server:
            await asyncio.to_thread(nats_server.stop)
        log.info("node_stopped")
