"""The floor: a bare five-stage JetStream relay with the fast path's shape and nothing else.

Five stages as on the fast path (ingest, detection, enrichment, correlation, incident-api): a
publisher and four durable pull consumers, each hop a JetStream stream, each consumer reading
with the bus's PullFeed, publishing its output (with a Nats-Msg-Id), waiting for the publish
acknowledgement and then acking its input. Message sizes are the real path's (measured by the
bench on the node's own streams), the rate and the anomalous share are the fast path run's:
every line crosses the first hop, the anomalous ones go on. No decoding, no logic, no store: the
time left is what NATS, nats-py and the event loop cost, the least any pipeline built this way
can take.

`python -m services.bench.floor '<json spec>'` runs in its own process (all stages in one event
loop, like the node's roles) and prints one JSON line with the latencies in ms.
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
import time
from dataclasses import asdict, dataclass

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from aiops_core.bus import DUPLICATE_WINDOW_SECONDS, PullFeed

STREAM = "BENCH_FLOOR"
SUBJECT = "bench.floor.{}"
HOPS = 4
TICK_SECONDS = 0.001
# The first byte says whether the message goes on past the first hop; then the start time.
_HEADER = struct.Struct("!cd")


@dataclass
class FloorSpec:
    nats_url: str
    rate: float
    seconds: float
    # Bytes of the message on each hop: logs.raw, anomaly.detected, anomaly.enriched, incidents.*.
    sizes: list[int]
    anomaly_ratio: float = 0.05
    warmup_seconds: float = 2.0
    batch: int = 256


@dataclass
class FloorResult:
    latencies_ms: list[float]
    sent: int


async def run(spec: FloorSpec) -> FloorResult:
    nc = await nats.connect(spec.nats_url, pending_size=64 * 1024 * 1024)
    js = nc.jetstream(timeout=10.0)
    await _fresh_topology(js)
    stop = asyncio.Event()
    latencies: list[float] = []
    measuring = {"from": time.perf_counter() + spec.warmup_seconds}

    async def relay(hop: int) -> None:
        """Consumes hop `hop`, forwards to the next one (or records, after the last)."""
        feed = PullFeed(nc, STREAM, f"floor-{hop}", spec.batch)
        payload_size = spec.sizes[hop] if hop < HOPS else 0
        try:
            while not stop.is_set():
                msgs = await feed.next_batch(timeout=0.5)
                if not msgs:
                    continue
                futures = []
                now = time.perf_counter()
                for msg in msgs:
                    flag, started = _HEADER.unpack_from(msg.data)
                    if hop == HOPS:
                        if started >= measuring["from"]:
                            latencies.append((now - started) * 1000)
                    elif hop > 1 or flag == b"A":
                        body = _HEADER.pack(flag, started).ljust(payload_size, b"x")
                        headers = {"Nats-Msg-Id": f"{msg.metadata.sequence.stream}:{hop}"}
                        futures.append(await js.publish_async(SUBJECT.format(hop + 1), body, headers=headers))
                if futures:
                    await asyncio.gather(*futures)
                for msg in msgs:
                    await msg.ack()
        finally:
            await feed.close()

    tasks = [asyncio.create_task(relay(hop)) for hop in range(1, HOPS + 1)]
    sent = await _publish(js, spec)
    # Let the last messages through, then stop the relays.
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*tasks)
    await nc.drain()
    return FloorResult(latencies, sent)


async def _fresh_topology(js) -> None:
    try:
        await js.delete_stream(STREAM)
    except NotFoundError:
        pass
    await js.add_stream(
        StreamConfig(
            name=STREAM, subjects=[SUBJECT.format(">")[:-1] + ">"], storage=StorageType.FILE,
            max_age=3600, duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
    )
    for hop in range(1, HOPS + 1):
        await js.add_consumer(
            STREAM,
            ConsumerConfig(
                durable_name=f"floor-{hop}", deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30, filter_subject=SUBJECT.format(hop), max_ack_pending=4096,
            ),
        )


async def _publish(js, spec: FloorSpec) -> int:
    """Publishes the first hop at the rate, in ticks, waiting for each tick's acknowledgements
    as ingest does for its batches."""
    total = int(spec.rate * (spec.seconds + spec.warmup_seconds))
    sent = 0
    started = time.perf_counter()
    while sent < total:
        due = min(total, int((time.perf_counter() - started) * spec.rate) + 1)
        futures = []
        while sent < due:
            flag = b"A" if int((sent + 1) * spec.anomaly_ratio) > int(sent * spec.anomaly_ratio) else b"N"
            body = _HEADER.pack(flag, time.perf_counter()).ljust(spec.sizes[0], b"x")
            futures.append(await js.publish_async(SUBJECT.format(1), body, headers={"Nats-Msg-Id": f"p:{sent}"}))
            sent += 1
        if futures:
            await asyncio.gather(*futures)
        pause = sent / spec.rate - (time.perf_counter() - started)
        if pause > 0:
            await asyncio.sleep(min(pause, TICK_SECONDS))
    return sent


def main(argv: list[str]) -> int:
    spec = FloorSpec(**json.loads(argv[1]))
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    sys.stdout.write(json.dumps(asdict(result)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
