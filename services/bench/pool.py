"""The bench's line pool as the load generator reads it: standard library only, so the generator
process starts in a blink and spends its core on sending."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

POOL_VERSION = 1
# Line pool and seeded stores, kept between runs (inside the git-ignored data dir).
DEFAULT_CACHE_DIR = Path(".aiops-data") / "bench"


# Written into a seeded data dir once seeding finished: the bench reuses only complete seeds.
SEEDED_MARKER = ".seeded"


def pool_path(cache_dir: Path) -> Path:
    return cache_dir / f"lines-v{POOL_VERSION}.txt"


def seed_dir_for(cache_dir: Path, incidents: int) -> Path:
    """Where the bench keeps its store seeded with `incidents`."""
    return cache_dir / f"seed-{incidents}"


@dataclass(frozen=True)
class LinePool:
    normal: tuple[bytes, ...]
    anomalous: tuple[bytes, ...]

    def lines(self, anomaly_ratio: float, start: int = 0) -> Iterator[bytes]:
        """An endless stream in which exactly `anomaly_ratio` of the lines are anomalous, spread
        evenly (one in twenty at 5 %); `start` resumes the stream where a previous one stopped."""
        if not self.normal or (anomaly_ratio > 0 and not self.anomalous):
            raise ValueError("the pool needs normal lines, and anomalous ones for a ratio above zero")
        index = start
        anomalous_at = int(start * anomaly_ratio)
        normal_at = start - anomalous_at
        while True:
            if int((index + 1) * anomaly_ratio) > int(index * anomaly_ratio):
                yield self.anomalous[anomalous_at % len(self.anomalous)]
                anomalous_at += 1
            else:
                yield self.normal[normal_at % len(self.normal)]
                normal_at += 1
            index += 1

    def write(self, path: Path) -> None:
        """One line per entry: `N <line>` for normal, `A <line>` for anomalous (no line has a newline)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        body = b"".join(b"N " + line + b"\n" for line in self.normal) + b"".join(
            b"A " + line + b"\n" for line in self.anomalous
        )
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(body)
        temporary.replace(path)

    @classmethod
    def read(cls, path: Path) -> LinePool:
        normal, anomalous = [], []
        for raw in path.read_bytes().splitlines():
            kind, _, line = raw.partition(b" ")
            (anomalous if kind == b"A" else normal).append(line)
        return cls(tuple(normal), tuple(anomalous))
