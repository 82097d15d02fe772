"""Log template mining: generic masking, then Drain3's parse tree.

`TemplateMiner.add(line)` masks the variable parts of a line (addresses, identifiers, numbers,
paths, times) and hands it to Drain3, which groups it with lines of the same shape:

    >>> miner = TemplateMiner()
    >>> miner.add("Interface Gi1/0/1 changed state to down").template
    'Interface Gi1/<NUM>/<NUM> changed state to down'

The masking is generic on purpose: no rule knows a vendor or a system, so the same miner serves
every device on board (and is measured on public log corpora against published Drain). The
policy's `masking` rules extend the generic set: they are tried after it, so where a generic rule
and a policy rule match at the same place the generic one wins.

All masks run as one alternation in a single pass: at each position the leftmost match wins,
and where several rules match at the same position the earlier one does (so an IPv6 address is
one <IP>, not a run of <NUM>s). The miner's state (the parse tree, the clusters and the line
count) round-trips through `snapshot()` / `restore()` as plain JSON-able data.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from drain3.drain import Drain, LogCluster, Node

SNAPSHOT_VERSION = 1

_HEX4 = r"[0-9a-fA-F]{1,4}"
_IPV4 = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
# Every compressed form contains "::"; the full form has eight groups. A digit is required
# somewhere so that C++-style names ("Add::bad") are not taken for addresses.
_IPV6 = (
    r"(?<![\w:.])(?=[0-9a-fA-F:.]*\d)(?:"
    rf"(?:{_HEX4}:){{7}}{_HEX4}"
    rf"|(?:{_HEX4}:){{1,4}}:?(?::{_HEX4}){{0,3}}:{_IPV4}"
    rf"|::(?:ffff(?::0{{1,4}})?:)?{_IPV4}"
    rf"|(?:{_HEX4}:){{1,6}}(?::{_HEX4}){{1,6}}"
    rf"|(?:{_HEX4}:){{1,7}}:"
    rf"|:(?::{_HEX4}){{1,7}}"
    r")(?:%[\w.-]+)?(?:/\d{1,3})?(?![\w:])"
)
_TLDS = (
    "com|net|org|edu|gov|mil|int|io|info|biz|cloud|local|localdomain|lan|internal|intranet|"
    "corp|home|arpa"
)

# (mask name, regex), most specific first. Each regex must stand alone inside an alternation
# (no numbered back-references, no global inline flags); matches begin at a word start (Masker).
GENERIC_MASKING: tuple[tuple[str, str], ...] = (
    ("URL", r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,15}://[^\s\"'<>]+"),
    ("EMAIL", r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b"),
    ("UUID", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ("MAC", r"\b(?:[0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}\b|\b[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\b"),
    ("IP", _IPV6),
    ("IP", rf"(?<![\w.]){_IPV4}(?:/\d{{1,2}}|:\d{{1,5}})?(?![\w.]|\.\d)"),
    (
        "DATETIME",
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w-])",
    ),
    ("TIME", r"(?<![\w:.])\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?![\w:])"),
    ("PATH", r"(?<![\w./:~-])(?:~|\.{1,2})?(?:/[\w.@%+~-]+)+/?|\b[A-Za-z]:\\[^\s\"'<>|]*"),
    ("HOST", rf"\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+(?i:{_TLDS})(?![\w-]|\.\w)"),
    ("HEX", r"\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"),
    (
        "NUM",
        r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?i:ms|us|ns|s|secs?|min|h|kb|mb|gb|tb|kbps|mbps|gbps|%)?(?![\w.]|\.\d)",
    ),
)

_LEADING_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")
_NUMBERED_BACKREF = re.compile(r"\\[1-9]|\(\?P=")


class Mined(NamedTuple):
    """What the miner made of one line."""

    template_id: str
    template: str
    is_new: bool
    count: int


def standalone(regex: str) -> str:
    """The regex rewritten to sit inside an alternation: leading global flags become scoped."""
    if _NUMBERED_BACKREF.search(regex):
        raise ValueError(f"a regex combined with others cannot use back-references: {regex!r}")
    match = _LEADING_FLAGS.match(regex)
    if match:
        return f"(?{match.group(1)}:{regex[match.end():]})"
    return regex


class Masker:
    """Replaces every variable token of a line with `<NAME>` in one regex pass.

    A mask begins at a word start: where the previous character is not a word character (Drain
    splits on whitespace, and a variable part glued to a word, like the 3 of "ssh3", is left to
    Drain's own wildcards). One test rejects every position inside a word instead of trying
    every rule there, which halves the cost of masking."""

    def __init__(self, rules: Sequence[tuple[str, str]]) -> None:
        self._replacements: dict[str, str] = {}
        groups = []
        for index, (name, regex) in enumerate(rules):
            group = f"_m{index}"
            self._replacements[group] = f"<{name}>"
            groups.append(f"(?P<{group}>{standalone(regex)})")
        self._pattern = re.compile(f"(?<!\\w)(?:{'|'.join(groups)})") if groups else None

    def mask(self, line: str) -> str:
        if self._pattern is None:
            return line
        return self._pattern.sub(self._replace, line)

    def _replace(self, match: re.Match[str]) -> str:
        return self._replacements[match.lastgroup]  # type: ignore[index]


class TemplateMiner:
    """Drain3 over generically masked lines, with a stable template id per cluster.

    Template ids are `<epoch>-<cluster>`: the epoch is drawn when a miner starts from nothing and
    kept in its snapshots, so ids stay stable across restarts and never collide with the ids of
    a previous, lost state."""

    def __init__(
        self,
        *,
        sim_th: float = 0.4,
        depth: int = 4,
        max_children: int = 100,
        max_clusters: int | None = 20000,
        extra_masking: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.masker = Masker([*GENERIC_MASKING, *extra_masking])
        self.drain = Drain(
            sim_th=sim_th, depth=depth, max_children=max_children, max_clusters=max_clusters
        )
        self.epoch = uuid.uuid4().hex[:8]
        self.lines = 0

    @classmethod
    def from_policy(cls, template_policy: Any) -> TemplateMiner:
        """A miner configured by `policy.detect.template`."""
        return cls(
            sim_th=template_policy.sim_th,
            depth=template_policy.depth,
            max_children=template_policy.max_children,
            max_clusters=template_policy.max_clusters,
            extra_masking=[(rule.mask_with, rule.regex) for rule in template_policy.masking],
        )

    def add(self, line: str) -> Mined:
        """Learns one line and says which template it belongs to."""
        cluster, change = self.drain.add_log_message(self.masker.mask(line))
        self.lines += 1
        return Mined(self.template_id(cluster), cluster.get_template(), change == "cluster_created", cluster.size)

    def template_id(self, cluster: LogCluster) -> str:
        return f"{self.epoch}-{cluster.cluster_id}"

    def known(self, template_id: str) -> bool:
        """Whether the template is still held (the miner forgets least recently used ones)."""
        epoch, _, number = template_id.rpartition("-")
        return epoch == self.epoch and number.isdigit() and int(number) in self.drain.id_to_cluster

    @property
    def template_count(self) -> int:
        return len(self.drain.id_to_cluster)

    # --- state -----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The miner's whole state as JSON-able data (parse tree, clusters, counters)."""
        return {
            "version": SNAPSHOT_VERSION,
            "epoch": self.epoch,
            "lines": self.lines,
            "clusters_counter": self.drain.clusters_counter,
            "clusters": [
                [c.cluster_id, list(c.log_template_tokens), c.size] for c in self.drain.id_to_cluster.values()
            ],
            "tree": _node_to_data(self.drain.root_node),
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Replaces the miner's state with a snapshot's; raises ValueError if it is not one."""
        if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
            raise ValueError("not a template-miner snapshot of a known version")
        try:
            clusters = []
            for cluster_id, tokens, size in data["clusters"]:
                cluster = LogCluster([str(t) for t in tokens], int(cluster_id))
                cluster.size = int(size)
                clusters.append(cluster)
            root = _node_from_data(data["tree"])
            epoch, lines, counter = str(data["epoch"]), int(data["lines"]), int(data["clusters_counter"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed template-miner snapshot: {exc!r}") from exc
        self.drain.id_to_cluster.clear()
        for cluster in clusters:
            self.drain.id_to_cluster[cluster.cluster_id] = cluster
        self.drain.root_node = root
        self.drain.clusters_counter = counter
        self.epoch = epoch
        self.lines = lines


def _node_to_data(node: Node) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if node.key_to_child_node:
        data["k"] = {token: _node_to_data(child) for token, child in node.key_to_child_node.items()}
    if node.cluster_ids:
        data["c"] = list(node.cluster_ids)
    return data


def _node_from_data(data: dict[str, Any]) -> Node:
    node = Node()
    node.key_to_child_node = {str(token): _node_from_data(child) for token, child in data.get("k", {}).items()}
    node.cluster_ids = [int(c) for c in data.get("c", [])]
    return node
