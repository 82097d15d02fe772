"""One bench run: every figure measured on one NATS server, the bench's own.

The order of a run:
1. the embedded node (`aiops up`, every role in one process) starts on a fresh data dir, as a
   ship's node does, and waits for its RAG index;
2. fast path: syslog lines over TCP at a fixed rate (5 % anomalous) from a separate load
   process, plus a line a second over HTTP from a device never seen before (each opens an
   incident, whose fallback insight is an insight-path sample); every anomaly's
   ingestion-to-incident-stored time is read back from the store, and so are the enrichment and
   correlation stage stamps and the insights' path times;
3. floor: the bare five-stage relay on the same NATS server, with the message sizes just seen;
4. sustained: rates stepped up, each held while the detection consumer's backlog is watched,
   until the backlog grows or a line goes missing; the best rate is then held for the full time;
5. the node stops; its peak resident memory is the RSS figure, and its store is read;
6. API: the incident-api (`aiops serve incident-api`) on a copy of a seeded store (a fleet's
   incident history, cached between runs) answers /api/v3/stats and the incident list, one
   request at a time. The history is kept apart from the pipeline's node on purpose: a store
   seeded with a million incidents and their anomalies also weighs on roles that read history
   (enrichment's windowed counts), and that is not what the fast path figures are about.

The load generator is its own process so it never competes for the node's event loop; on two
cores it does share the machine, at a few percent of one core at 1,000 lines/s.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from collections.abc import Callable
from typing import Any

import httpx
import nats

from aiops_core.nats_server import NatsServer, free_port
from aiops_core.policy import load_policy
from aiops_core.settings import PROJECT_ROOT, Settings
from aiops_core.store import Store
from services.bench.lines import load_or_build_pool
from services.bench.pool import DEFAULT_CACHE_DIR, SEEDED_MARKER, pool_path, seed_dir_for
from services.bench.processes import NodeProcess
from services.bench.report import KEYS, machine, quantile

# Consumers of the fast path, drained before and after each phase.
FAST_PATH_CONSUMERS = (
    ("LOGS", "anomaly-detection-logs"),
    ("ANOMALIES", "enrichment"),
    ("ANOMALIES", "correlation"),
    ("INCIDENTS", "incident-api"),
)
DETECTION = ("LOGS", "anomaly-detection-logs")
# New incidents opened during the fast path for the insight path's samples, over this many ships.
NEW_INCIDENTS_PER_SECOND = 1.0
NEW_INCIDENT_SHIPS = 20


@dataclass
class BenchConfig:
    """How long each phase runs: the full run, `quick` (under a minute once the caches exist),
    or `smoke` (every phase for a moment: proves the bench works, its figures mean nothing)."""

    quick: bool = False
    smoke: bool = False
    rate: float = 1000.0
    anomaly_ratio: float = 0.05
    cache_dir: Path = DEFAULT_CACHE_DIR
    incidents: int | None = None
    keep: bool = False

    def __post_init__(self) -> None:
        full = not (self.quick or self.smoke)
        self.incidents = self.incidents or (1_000_000 if full else 100_000 if self.quick else 2_000)
        self.warmup_seconds = 10.0 if full else 2.0 if self.quick else 1.0
        self.fast_seconds = 60.0 if full else 6.0 if self.quick else 3.0
        self.floor_seconds = 30.0 if full else 2.0
        self.probe_seconds = 10.0 if full else 2.0
        self.hold_seconds = 60.0 if full else 3.0 if self.quick else 2.0
        self.refinements = 2 if full else 0
        # Rate steps of the sustained search: finer in the full run, fewer probes in the short ones.
        self.step_factor = 1.5 if full else 2.0
        self.hold_retries = 4 if full else 1
        # The hold starts at this share of the best probe (short probes flatter a rate), and a
        # failed hold is retried this much lower.
        self.hold_start = 1.0 if full else 0.8
        self.hold_step_down = 0.9
        self.max_probes = 12 if full else 3
        # How long a probe's backlog may take to drain after the load stops.
        self.drain_seconds = 30.0 if full else 5.0
        self.api_requests = 200 if full else 20 if self.quick else 5
        self.index_wait_seconds = 180.0 if full else 30.0

    @property
    def mode(self) -> str:
        return "smoke" if self.smoke else "quick" if self.quick else "full"


@dataclass
class Run:
    config: BenchConfig
    figures: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(KEYS))
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stream_index: int = 0
    started: float = field(default_factory=time.monotonic)

    def mark(self, phase: str) -> None:
        """Notes how far into the run `phase` ended (details.phase_end_s)."""
        self.details.setdefault("phase_end_s", {})[phase] = round(time.monotonic() - self.started, 1)


def run_bench(config: BenchConfig, log: Callable[[str], None]) -> Run:
    """Runs every measure; `log` receives progress lines (the CLI prints them to stderr)."""
    run = Run(config)
    run.details["mode"] = config.mode
    run.details["machine"] = machine()
    if run.details["machine"]["load_average_at_start"] > 1.0:
        run.notes.append(
            f"the machine was busy when the run began (load average {run.details['machine']['load_average_at_start']}); "
            "figures include that contention"
        )
    config.cache_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    pool = load_or_build_pool(config.cache_dir, load_policy(settings.policies_dir, settings.ship_id).detect)
    run.details["line_pool"] = f"{len(pool.normal)} normal + {len(pool.anomalous)} anomalous lines"
    seed_dir = ensure_seed(config.cache_dir, config.incidents, log)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=config.cache_dir))
    nats_server = NatsServer(store_dir=work / "nats", port=free_port(), server_name="bench")
    try:
        nats_server.start()
        _pipeline(run, work / "node", nats_server.url, log)
        log(f"bench: the incident-api over the seeded store ({config.incidents:,} incidents)")
        shutil.copytree(seed_dir, work / "history", symlinks=True)
        _history(run, work / "history", nats_server.url)
    finally:
        nats_server.stop()
    _derive(run)
    if config.keep:
        run.details["run_dir"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return run


def _pipeline(run: Run, data_dir: Path, nats_url: str, log: Callable[[str], None]) -> None:
    """The embedded node (every role, as `aiops up`) on a fresh store: fast path, floor,
    sustained throughput; its peak memory is the run's RSS figure."""
    config = run.config
    node = NodeProcess(data_dir, nats_url)
    sampler_stop = threading.Event()
    try:
        started = time.monotonic()
        node.start()
        ready = node.wait_for_log("rag_index_ready", config.index_wait_seconds)
        run.mark("node_ready")
        run.details["node_start_s"] = round(time.monotonic() - started, 1)
        if not ready:
            run.notes.append("the RAG index was not ready when the fast path began: insights used metadata retrieval")
        threading.Thread(target=_sample_rss, args=(node, sampler_stop), daemon=True).start()
        asyncio.run(_phases(run, node, nats_url, log))
    finally:
        sampler_stop.set()
        node.stop()
        run.figures["rss_mb"] = round(node.peak_rss_mb, 1) if node.peak_rss_mb else None
        run.details["rss_mb_upper_bound"] = round(node.peak_rss_upper_mb, 1) if node.peak_rss_upper_mb else None
        run.mark("node_stopped")
    asyncio.run(_read_store(run, data_dir, run.details.pop("_window")))
    run.mark("store_read")


def _history(run: Run, data_dir: Path, nats_url: str) -> None:
    """The incident-api role alone (`aiops serve incident-api`, as in compose) on a copy of the
    seeded store: the API figures over a fleet's history."""
    node = NodeProcess(data_dir, nats_url, command=["serve", "incident-api"])
    try:
        node.start()
        run.mark("history_node_ready")
        _api(run, node)
        run.mark("api")
    finally:
        node.stop()
        run.details["history_node_peak_rss_mb"] = round(node.peak_rss_mb, 1)
        run.mark("history_node_stopped")


def ensure_seed(cache_dir: Path, incidents: int, log) -> Path:
    """The cached seeded data dir for `incidents`, seeded in a child process the first time (the
    embedded ClickHouse holds one data dir per process)."""
    seed_dir = seed_dir_for(cache_dir, incidents)
    if seed_dir.joinpath(SEEDED_MARKER).exists():
        return seed_dir
    shutil.rmtree(seed_dir, ignore_errors=True)
    log(f"bench: seeding {incidents:,} incidents into {seed_dir} (once; cached for later runs)")
    subprocess.run(
        [sys.executable, "-m", "services.cli", "bench", "seed", "--incidents", str(incidents), "--data-dir", str(seed_dir)],
        cwd=PROJECT_ROOT, check=True,
    )
    return seed_dir


def _sample_rss(node: NodeProcess, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        node.sample_rss()


async def _phases(run: Run, node: NodeProcess, nats_url: str, log) -> None:
    config = run.config
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        rss = run.details["rss_mb_after"] = {"start": round(node.sample_rss(), 1)}
        log(f"bench: warm-up at {config.rate:,.0f} lines/s for {config.warmup_seconds:.0f} s")
        await _load(run, node, config.rate, config.warmup_seconds)
        await _drained(js, FAST_PATH_CONSUMERS, 60.0)

        run.mark("warm_up")
        log(f"bench: fast path at {config.rate:,.0f} lines/s for {config.fast_seconds:.0f} s")
        begin = datetime.now(UTC)
        opened = asyncio.create_task(_open_incidents(node, config.fast_seconds, NEW_INCIDENTS_PER_SECOND))
        cpu = node.cpu_meter()
        sent = await _load(run, node, config.rate, config.fast_seconds)
        run.details["cpu_percent_fast_path"] = cpu.read()
        run.details["new_incidents_posted"] = await opened
        end = datetime.now(UTC)
        drained = await _drained(js, FAST_PATH_CONSUMERS, 60.0)
        # Insights come after their incidents: give the slowest a moment to be stored.
        await asyncio.sleep(3.0 if config.mode == "full" else 1.0)
        run.details["_window"] = (begin, datetime.now(UTC))
        run.details["fast_path_load"] = (
            f"{sent['sent']:,} lines ({sent['anomalous']:,} anomalous) at {sent['achieved_rate']:,.0f} lines/s"
        )
        if not drained:
            run.notes.append("the fast path had not drained 60 s after the load stopped")
        sizes = await _message_sizes(js)
        run.details["message_sizes_bytes"] = sizes

        rss["fast_path"] = round(node.sample_rss(), 1)
        run.mark("fast_path")
        log(f"bench: floor relay at {config.rate:,.0f} msgs/s for {config.floor_seconds:.0f} s")
        floor = await _floor(nats_url, config, sizes)
        run.details["floor_samples"] = len(floor)
        run.figures["floor_p99_ms"] = _rounded(quantile(floor, 0.99))
        run.details["floor_p50_ms"] = _rounded(quantile(floor, 0.5))

        run.mark("floor")
        log("bench: sustained throughput (ingest -> detection)")
        await _sustained(run, node, js, log)

        rss["sustained"] = round(node.sample_rss(), 1)
        run.mark("sustained")
        run.details["window_end"] = end.isoformat()
    finally:
        await nc.close()


async def _load(run: Run, node: NodeProcess, rate: float, seconds: float) -> dict[str, Any]:
    """Sends lines from the load process and returns its report; the line stream continues
    across calls, so templates keep arriving in the pool's order."""
    spec = {
        "host": "127.0.0.1", "port": node.syslog_port, "pool_file": str(pool_path(run.config.cache_dir)),
        "rate": rate, "seconds": seconds, "anomaly_ratio": run.config.anomaly_ratio, "start_index": run.stream_index,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.bench.loadgen", json.dumps(spec),
        cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the load generator failed ({process.returncode})")
    result = json.loads(out)
    run.stream_index += result["sent"]
    return result


async def _open_incidents(node: NodeProcess, seconds: float, per_second: float) -> int:
    """Posts, alongside the syslog load, anomalous lines from devices never seen before, spread
    over many ships: each opens an incident of its own, which the llm-enricher explains (with
    the fallback, there being no LLM) - the insight path's samples. The fleet's incidents
    already open are re-explained only every couple of minutes, and the storm rule folds more
    than 20 new incidents a minute per ship, hence the spread."""
    headers = {"authorization": f"Bearer {node.token()}"}
    count = int(seconds * per_second)
    async with httpx.AsyncClient(base_url=node.url, headers=headers, timeout=30.0) as client:
        started = time.monotonic()
        for number in range(count):
            await asyncio.sleep(max(0.0, started + number / per_second - time.monotonic()))
            line = {
                "ship_id": f"bench-{number % NEW_INCIDENT_SHIPS:02d}", "device_id": f"bench-sw-{number:05d}",
                "service": "ios", "level": "error",
                "message": f"%LINK-3-UPDOWN: Interface GigabitEthernet1/0/{number % 48 + 1}, changed state to down",
            }
            response = await client.post("/api/v3/logs", json=[line])
            response.raise_for_status()
    return count


async def _backlog(js, consumers) -> int:
    total = 0
    for stream, durable in consumers:
        info = await js.consumer_info(stream, durable)
        total += (info.num_pending or 0) + (info.num_ack_pending or 0)
    return total


async def _drained(js, consumers, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await _backlog(js, consumers) == 0:
            return True
        await asyncio.sleep(0.2)
    return False


async def _message_sizes(js) -> list[int]:
    """Bytes of the latest message on each hop of the fast path, as the node just wrote them (a
    line's share of a logs.raw message)."""
    sizes = []
    for stream, subjects in (
        ("LOGS", ("logs.raw",)),
        ("ANOMALIES", ("anomaly.detected",)),
        ("ANOMALIES", ("anomaly.enriched",)),
        ("INCIDENTS", ("incidents.updated", "incidents.created")),
    ):
        size = 0
        for subject in subjects:
            try:
                data = (await js.get_last_msg(stream, subject)).data
            except Exception:  # noqa: BLE001 - a subject with nothing on it yet
                continue
            # A logs.raw message packs several lines; the floor relays a line per message.
            size = max(size, len(data) // (data.count(b"\n") + 1))
        sizes.append(size or 1024)
    return sizes


async def _floor(nats_url: str, config: BenchConfig, sizes: list[int]) -> list[float]:
    spec = {
        "nats_url": nats_url, "rate": config.rate, "seconds": config.floor_seconds, "sizes": sizes,
        "anomaly_ratio": config.anomaly_ratio, "warmup_seconds": 3.0 if config.mode == "full" else 1.0,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.bench.floor", json.dumps(spec), cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the floor relay failed ({process.returncode})")
    return json.loads(out)["latencies_ms"]


@dataclass
class Probe:
    rate: float
    seconds: float
    ok: bool
    achieved: float
    end_backlog: int
    peak_backlog: int
    lost: int
    why: str
    # Lines detection handled per second while the load ran: what the node kept up with.
    kept_up: float = 0.0
    # CPU while the load ran: percent of a core per process of the node, and machine_busy.
    cpu: dict[str, float] = field(default_factory=dict)


def _accepted_and_detected(metrics) -> tuple[float, float]:
    """Lines ingest accepted and inputs detection handled so far, from the node's counters."""
    return (
        metrics.value("aiops_ingested_lines_total", outcome="accepted"),
        metrics.value("aiops_messages_total", role="anomaly-detection", outcome="ok"),
    )


def _lines_behind(node: NodeProcess) -> int:
    """Lines ingest accepted that detection has not handled yet. In lines, not messages: a
    logs.raw message carries from one to LINES_PER_MESSAGE lines."""
    accepted, detected = _accepted_and_detected(node.metrics())
    return max(0, int(accepted - detected))


async def _probe(run: Run, node: NodeProcess, js, rate: float, seconds: float) -> Probe:
    """Holds `rate` for `seconds` and judges it: every line accepted and detected (zero loss),
    the sender never pushed back, and the detection backlog at the end under a second of input."""
    await _drained(js, [DETECTION], 60.0)
    accepted_before, detected_before = _accepted_and_detected(node.metrics())
    samples: list[int] = []
    cpu = node.cpu_meter()
    load = asyncio.create_task(_load(run, node, rate, seconds))
    while not load.done():
        samples.append(_lines_behind(node))
        await asyncio.sleep(0.5)
    sent = load.result()
    used = cpu.read()
    end_backlog = _lines_behind(node)
    drained = await _drained(js, [DETECTION], run.config.drain_seconds)
    accepted_after, detected_after = _accepted_and_detected(node.metrics())
    accepted, detected = accepted_after - accepted_before, detected_after - detected_before
    lost = int(sent["sent"] - min(accepted, detected))
    reasons = []
    if lost:
        reasons.append(f"{lost} lines not detected")
    if sent["achieved_rate"] < 0.97 * rate:
        reasons.append(f"sender held back to {sent['achieved_rate']:,.0f} lines/s")
    if end_backlog > rate:
        reasons.append(f"backlog of {end_backlog:,} lines at the end")
    if not drained:
        reasons.append("backlog not drained")
    kept_up = max(0.0, sent["sent"] - end_backlog) / seconds
    return Probe(
        rate, seconds, not reasons, sent["achieved_rate"], end_backlog, max(samples, default=0), lost,
        "; ".join(reasons) or "held", kept_up, used,
    )


async def _sustained(run: Run, node: NodeProcess, js, log) -> None:
    """From 1,000 lines/s, steps the rate up by half while probes hold (or halves it while they
    fail), narrows the gap between the best held and the first failed rate, then holds the best
    for the full time (stepping down while the hold fails)."""
    config = run.config
    probes: list[Probe] = []

    async def probe(rate: float, seconds: float, label: str) -> bool:
        result = await _probe(run, node, js, rate, seconds)
        probes.append(result)
        log(f"bench:   {label} {rate:,.0f} lines/s for {seconds:.0f} s: {result.why}")
        return result.ok

    best, failed = 0.0, None
    rate = 1000.0
    while 125 <= rate <= 100_000 and len(probes) < config.max_probes:
        if await probe(rate, config.probe_seconds, "probe"):
            best = rate
            if failed is not None:
                break
            rate *= config.step_factor
        else:
            failed = rate
            if best:
                break
            rate /= 2
    for _ in range(config.refinements):
        if failed is None or best == 0 or failed - best <= 200:
            break
        middle = round((best + failed) / 2, -2)
        if await probe(middle, config.probe_seconds, "probe"):
            best = middle
        else:
            failed = middle
    held = None
    candidate = round(best * config.hold_start, -1)
    for _ in range(config.hold_retries):
        if candidate < 100:
            break
        if await probe(candidate, config.hold_seconds, "hold"):
            held = candidate
            break
        # A failed hold shows the rate the node kept up with for that long: the next hold starts
        # a little under it rather than a fixed step down, which could stay above it every time.
        candidate = round(min(candidate * config.hold_step_down, probes[-1].kept_up * 0.95), -1)
    run.figures["sustained_lines_per_s"] = held
    run.details["sustained_probes"] = [
        f"{p.rate:,.0f}/s x {p.seconds:.0f} s: {p.why} (peak backlog {p.peak_backlog:,}; kept up with "
        f"{p.kept_up:,.0f}/s; cores {p.cpu.get('machine_busy', 0):.0f} % busy)"
        for p in probes
    ]
    if probes:
        # Where the CPU went in the last hold: the one that set the figure (or failed last).
        run.details["cpu_percent_last_hold"] = probes[-1].cpu
    if config.hold_seconds < 60:
        run.notes.append(
            f"{config.mode}: the sustained rate was held {config.hold_seconds:.0f} s, not 60 s, after {config.probe_seconds:.0f} s probes"
        )


def _api(run: Run, node: NodeProcess) -> None:
    """p99 of the stats and the incident list, one request at a time (as an operator's console
    polls them), after a few unmeasured requests."""
    config = run.config
    lists = [
        {}, {"status": "open"}, {"severity": "critical"}, {"incident_type": "link_degradation"},
        {"offset": 50}, {"ship_id": "ms-aurora", "status": "resolved"},
    ]
    stats, listing = [], []
    with node.client() as client:
        total = client.get("/api/v3/incidents", params={"limit": 1}).json()["total"]
        run.details["incidents_stored"] = total
        for index in range(config.api_requests + 3):
            started = time.perf_counter()
            response = client.get("/api/v3/stats", params={"time_range": "30d"})
            elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            if index >= 3:
                stats.append(elapsed)
            started = time.perf_counter()
            response = client.get("/api/v3/incidents", params={"limit": 50, **lists[index % len(lists)]})
            elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            if index >= 3:
                listing.append(elapsed)
    run.figures["stats_p99_ms"] = _rounded(quantile(stats, 0.99))
    run.figures["incident_list_p99_ms"] = _rounded(quantile(listing, 0.99))
    run.details["stats_p50_ms"] = _rounded(quantile(stats, 0.5))
    run.details["incident_list_p50_ms"] = _rounded(quantile(listing, 0.5))
    run.details["api_requests_each"] = len(stats)
    if config.incidents != 1_000_000:
        run.notes.append(f"{config.mode}: the API figures are over {config.incidents:,} seeded incidents, not 1,000,000")


async def _read_store(run: Run, node_dir: Path, window: tuple[datetime, datetime]) -> None:
    """The fast path, stage and insight times the node recorded during the fast-path window."""
    begin, end = window
    settings = Settings(data_dir=node_dir)
    store = Store(settings.store_dsn(), timeout_seconds=120)
    await store.start()
    try:
        params = {"begin": begin, "end": end}
        anomalies = await store.query(
            "SELECT fast_path_ms FROM aiops.anomalies FINAL "
            "WHERE stored_at >= {begin:DateTime64(6, 'UTC')} AND stored_at <= {end:DateTime64(6, 'UTC')}",
            params,
        )
        fast = [row["fast_path_ms"] for row in anomalies]
        run.details["fast_path_samples"] = len(fast)
        run.figures["fast_path_p50_ms"] = _rounded(quantile(fast, 0.5))
        run.figures["fast_path_p99_ms"] = _rounded(quantile(fast, 0.99))
        run.details["fast_path_hops_ms"] = await _hops(store, params)
        stages = await store.query(
            "SELECT stage, duration_ms FROM aiops.pipeline_trace FINAL "
            "WHERE stage IN ('enrichment', 'correlation') AND tracking_id IN ("
            "  SELECT tracking_id FROM aiops.anomalies "
            "  WHERE stored_at >= {begin:DateTime64(6, 'UTC')} AND stored_at <= {end:DateTime64(6, 'UTC')})",
            params,
        )
        for stage in ("enrichment", "correlation"):
            durations = [row["duration_ms"] for row in stages if row["stage"] == stage]
            run.figures[f"{stage}_p99_ms"] = _rounded(quantile(durations, 0.99))
            run.details[f"{stage}_samples"] = len(durations)
        insights = await store.query(
            "SELECT source, insight_path_ms, JSONExtractFloat(insight, 'latency_ms') AS enricher_ms "
            "FROM aiops.incident_insights "
            "WHERE stored_at >= {begin:DateTime64(6, 'UTC')} AND stored_at <= {end:DateTime64(6, 'UTC')}",
            params,
        )
        fallback = [row["insight_path_ms"] for row in insights if row["source"] == "fallback"]
        run.details["insight_fallback_samples"] = len(fallback)
        run.figures["insight_fallback_p99_ms"] = _rounded(quantile(fallback, 0.99))
        run.details["insight_fallback_p50_ms"] = _rounded(quantile(fallback, 0.5))
        # The llm-enricher's own time on each (retrieval and fallback), without the queueing.
        enricher = [row["enricher_ms"] for row in insights if row["source"] == "fallback"]
        run.details["insight_enricher_ms"] = {
            "p50": _rounded(quantile(enricher, 0.5)), "p99": _rounded(quantile(enricher, 0.99)),
        }
        if len(fallback) < len(insights):
            run.notes.append(f"{len(insights) - len(fallback)} insights came from an LLM and are left out")
        for name, count in (("fast path", len(fast)), ("insight fallback", len(fallback))):
            if count == 0:
                run.notes.append(f"no {name} sample was stored during the fast-path window")
            elif count < 100:
                run.notes.append(f"the {name} p99 is over {count} samples: close to their maximum")
    finally:
        await store.close()


# The fast path's stages in order, as their stamps name them.
HOP_STAGES = ("ingest", "anomaly-detection", "enrichment", "correlation")


async def _hops(store: Store, params: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Where the fast path's time goes: p50 and p99 of each hop, from one stage's stamp (when it
    finished) to the next's, the last hop ending when the incident was stored. A hop is the
    publish, JetStream, the wait for the next role's turn on the event loop and its work. The
    last is split where the incident-api took the anomaly's batch (its stamp's start)."""
    rows = await store.query(
        "SELECT a.ingestion_timestamp AS ingested, a.stored_at AS stored, "
        "  groupArray((p.stage, toUnixTimestamp64Micro(p.at), p.duration_ms)) AS stamps "
        "FROM aiops.anomalies AS a INNER JOIN aiops.pipeline_trace AS p ON p.tracking_id = a.tracking_id "
        "WHERE a.stored_at >= {begin:DateTime64(6, 'UTC')} AND a.stored_at <= {end:DateTime64(6, 'UTC')} "
        "GROUP BY a.tracking_id, ingested, stored",
        params,
    )
    hops: dict[str, list[float]] = {}
    for row in rows:
        at = {stage: (micros / 1000, duration) for stage, micros, duration in row["stamps"]}
        previous, previous_at = "ingested", row["ingested"].timestamp() * 1000
        for stage in HOP_STAGES:
            if stage in at:
                hops.setdefault(f"{previous} -> {stage}", []).append(at[stage][0] - previous_at)
                previous, previous_at = stage, at[stage][0]
        if "incident-api" in at:
            finished, duration = at["incident-api"]
            taken = "incident-api takes the batch"
            hops.setdefault(f"{previous} -> {taken}", []).append(finished - duration - previous_at)
            previous, previous_at = taken, finished - duration
        hops.setdefault(f"{previous} -> stored", []).append(row["stored"].timestamp() * 1000 - previous_at)
    return {
        hop: {"p50": _rounded(quantile(values, 0.5)), "p99": _rounded(quantile(values, 0.99))}
        for hop, values in hops.items()
    }


def _derive(run: Run) -> None:
    fast, floor = run.figures["fast_path_p99_ms"], run.figures["floor_p99_ms"]
    if fast is not None and floor:
        run.figures["fast_path_ratio_to_floor"] = round(fast / floor, 2)


def _rounded(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)

