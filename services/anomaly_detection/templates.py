"""Log template mining: generic masking, then a Drain parse tree whose words become parameters
only on evidence.

`TemplateMiner.add(line)` masks the variable parts of a line (addresses, identifiers, quantities,
paths, times) and groups it with the lines of the same shape:

    >>> miner = TemplateMiner()
    >>> miner.add("Interface Gi1/0/1 changed state to down").template
    'Interface Gi1/<NUM>/<NUM> changed state to down'

How a line finds its group (docs/DETECTION.md has the measurements behind each rule):
- Masking is generic on purpose: no rule knows a vendor or a system, so the same miner serves
  every device on board (and is measured on public log corpora against published Drain). The
  policy's `masking` rules extend the generic set: they are tried after it, so where a generic
  rule and a policy rule match at the same place the generic one wins. All masks run as one
  alternation in a single pass: at each position the leftmost match wins, and where several
  rules match at the same position the earlier one does (an IPv6 address is one <IP>).
- A token is *variable* when it holds a mask or a run of four or more digits (an id such as
  blk_3886504906). Two variable tokens with the same letters around their variable parts are
  the same parameter whatever the mask (a `<HOST>:<NUM>` and an `<IP>` are both an endpoint).
  A run of such tokens is one parameter (a list of block ids is one value, however long).
- Any other token is a *word*, and a word that differs is a different message: "Link ok" and
  "Link error", "VM Paused" and "VM Resumed" stay apart. Plain Drain merges them as soon as
  most words agree, and one wrong line in a big group loses the whole group.
- A word position becomes a parameter on evidence: once lines that agree everywhere else
  (keeping at least half, and at least two, of the template's words) have shown
  PARAMETER_MIN_VALUES distinct values there (four user names after "Invalid user"), the
  position is opened and the variants' groups are merged into one. Ids of merged groups are
  redirected (`canonical`), so a group's first lines and its later ones end up with one id.

The miner's state (the parse tree, the clusters, the merges and the evidence so far) round-trips
through `snapshot()` / `restore()` as plain JSON-able data.
"""

from __future__ import annotations

import re
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from drain3.drain import Drain, LogCluster, Node

SNAPSHOT_VERSION = 2

# A word position needs this many distinct values before it is a parameter. Enumerations (a VM
# state, a link's ok/error, true/false) are usually one event each; names and ids are many.
PARAMETER_MIN_VALUES = 5
# At most this many positions are opened by one piece of evidence: more is a different message.
MAX_NEW_PARAMETERS = 2
# A template reduced to fewer words than this says too little to gather variants under it.
MIN_WORDS_LEFT = 2
# Clusters of the same length (newest first) searched for the group a new line is a variant of:
# bounds the cost of a line that matches nothing.
VARIANT_SCAN = 1000
# Evidence and merge redirections kept (least recently used forgotten first).
EVIDENCE_KEYS = 20000
# Value combinations kept per piece of evidence: enough for every position to show its values,
# bounded when one position varies endlessly and the other never does.
EVIDENCE_VALUES = 64
ALIASES = 50000
# Masked lines remembered with their cluster: most lines repeat a shape seen before, and a
# cluster only ever generalises, so the shape still belongs to it (or to what it merged into).
SHAPE_CACHE = 50000

PARAM = "<*>"

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
# Generic top-level domains; any two-letter last label is taken for a country-code one.
_TLDS = (
    "com|net|org|edu|gov|mil|int|io|info|biz|cloud|local|localdomain|lan|internal|intranet|"
    "corp|home|arpa|example|test|invalid|localhost|aero|asia|mobi|name|pro|app|dev|online|site"
)
# A quantity: a number with its unit, attached ("10MB") or after a space ("5.2 KB", "3 sec"),
# and the same quantity restated in other units in parentheses ("1045 bytes (1.02 KB)").
_UNIT_ATTACHED = r"(?:(?i:ms|us|ns|s|secs?|min|h|kb|mb|gb|tb|kbps|mbps|gbps|b)|%)"
_UNIT_SPACED = r"(?i:(?:[kmgtp]i?)?b|bytes?|ms|us|ns|secs?|seconds?|mins?|minutes?|hours?|days?|[kmg]bps)"
_QUANTITY = rf"[-+]?\d+(?:\.\d+)?(?:{_UNIT_ATTACHED}|\s{_UNIT_SPACED})?"
_PATH_CHARS = r"[\w.@%+~{}$-]"

# (mask name, what the match must begin with, regex), most specific first. Each regex must stand
# alone inside an alternation (no numbered back-references, no global inline flags); matches begin
# at a word start (Masker). The second field is a lookahead every match of the rule satisfies: it
# rejects a word in one scan where the rule's own backtracking would try each of its characters,
# which takes masking from 46-47 to 29 µs a line on the bench pool without changing any match.
_GENERIC_RULES: tuple[tuple[str, str, str], ...] = (
    ("URL", "", r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,15}://[^\s\"'<>]+"),
    ("EMAIL", r"(?=[\w.+-]*+@)", r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b"),
    ("UUID", "", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ("MAC", "", r"\b(?:[0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}\b|\b[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\b"),
    ("IP", r"(?=[0-9a-fA-F]{0,4}:)", _IPV6),
    ("IP", r"(?=\d{1,3}\.)", rf"(?<![\w.]){_IPV4}(?:/\d{{1,2}}|:\d{{1,5}})?(?![\w.]|\.\d)"),
    (
        "DATETIME",
        "",
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w-])",
    ),
    ("TIME", "", r"(?<![\w:.])\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?![\w:])"),
    # Absolute and home paths (with a URL's query string); relative paths of three or more
    # segments ending in a name (not "Gi1/0/17", not a date); UNC and drive-letter paths.
    (
        "PATH",
        rf"(?={_PATH_CHARS}*+[/\\]|[A-Za-z]:\\)",
        rf"(?<![\w./:~-])(?:~|\.{{1,2}})?(?:/{_PATH_CHARS}+)+/?(?:\?[^\s\"'<>]*)?"
        rf"|(?<![\w./:~-]){_PATH_CHARS}+(?:/{_PATH_CHARS}+)+/{_PATH_CHARS}*[A-Za-z]{_PATH_CHARS}*/?"
        r"|\b[A-Za-z]:\\[^\s\"'<>|]*|\\\\[^\s\"'<>|]+"
        rf"|(?<![\w\\]){_PATH_CHARS}*(?:\\{_PATH_CHARS}+){{2,}}",
    ),
    (
        "HOST",
        r"(?=[A-Za-z0-9-]*+\.\w)",
        rf"\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+(?:(?i:{_TLDS})|[a-z]{{2}})(?![\w-]|\.\w)",
    ),
    # 0x-hex; 8+ hex digits mixing digits and letters; 8+ hex letters of one case ("ffffffff").
    (
        "HEX",
        r"(?=0[xX]|[0-9a-fA-F]{8})",
        r"\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"
        r"|\b(?:[a-f]{8,}|[A-F]{8,})\b",
    ),
    ("NUM", "", rf"(?<![\w.]){_QUANTITY}(?:\s\({_QUANTITY}\))?(?![\w.]|\.\d)"),
)
# (mask name, regex): each rule behind its lookahead.
GENERIC_MASKING: tuple[tuple[str, str], ...] = tuple(
    (name, f"{begins}(?:{regex})" if begins else regex) for name, begins, regex in _GENERIC_RULES
)

# What every generic match holds in its first whitespace-free stretch: a digit or one of / \\ . @ :
# (numbers, addresses, paths, hosts, times, URLs), or, for hex ids and MACs made of letters
# only, eight hex letters or a hex pair and a dash. Plain words fail it at once. (The stretch is
# read as a run without those characters, then one of them: one scan, no lazy steps.)
GENERIC_GATE = r"(?=[^\s\d/\\.@:]*+[\d/\\.@:]|[A-Fa-f]{8}|[A-Fa-f]{2}-)"

_LEADING_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")
_NUMBERED_BACKREF = re.compile(r"\\[1-9]|\(\?P=")
_MASK = re.compile(r"<(?:\*|[A-Z][A-Z0-9_]*)>")
_VARIABLE_PART = re.compile(r"<(?:\*|[A-Z][A-Z0-9_]*)>|\d{4,}")
_NOT_LETTER = re.compile(r"[^A-Za-z]+")


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

    A mask begins at a word start: where the previous character is not a word character (a
    variable part glued to a word, like the 3 of "ssh3", is left to the miner's own parameters).
    One test rejects every position inside a word instead of trying every rule there, which
    halves the cost of masking. `gate`, when given, is a lookahead every match of `rules` must
    satisfy (a cheap necessary condition, e.g. GENERIC_GATE): a word that fails it is skipped
    without trying each rule. `extra` rules are tried after `rules`, without the gate."""

    def __init__(
        self, rules: Sequence[tuple[str, str]], extra: Sequence[tuple[str, str]] = (), *, gate: str | None = None
    ) -> None:
        self._replacements: dict[str, str] = {}
        branches = []
        for group_rules, group_gate in ((rules, gate), (extra, None)):
            groups = []
            for name, regex in group_rules:
                group = f"_m{len(self._replacements)}"
                self._replacements[group] = f"<{name}>"
                groups.append(f"(?P<{group}>{standalone(regex)})")
            if groups:
                branches.append(f"{group_gate or ''}(?:{'|'.join(groups)})")
        self._pattern = re.compile(f"(?<!\\w)(?:{'|'.join(branches)})") if branches else None

    def mask(self, line: str) -> str:
        if self._pattern is None:
            return line
        return self._pattern.sub(self._replace, line)

    def _replace(self, match: re.Match[str]) -> str:
        return self._replacements[match.lastgroup]  # type: ignore[index]


@lru_cache(maxsize=65536)
def token_shape(token: str) -> tuple[bool, str]:
    """(is the token variable, what must agree for two tokens to be the same parameter).

    A variable token holds a mask or a long digit run; its letters outside the variable parts
    must agree ("blk_<*>" is one parameter, "ee0" and "alt0" are words). For a word, the word."""
    if _VARIABLE_PART.search(token) is None:
        return False, token
    return True, _NOT_LETTER.sub("", _MASK.sub("", token))


def _template_form(token: str) -> str:
    """How a variable token reads in a template: its variable parts as <*>, masks kept."""
    return _VARIABLE_PART.sub(lambda m: m.group(0) if m.group(0)[0] == "<" else PARAM, token)


def tokens_of(masked: str) -> list[str]:
    """Whitespace tokens, with a run of variable tokens of one shape kept as one."""
    tokens: list[str] = []
    previous: tuple[bool, str] | None = None
    for token in masked.split():
        shape = token_shape(token)
        if shape[0] and previous == shape:
            continue
        tokens.append(token)
        previous = shape
    return tokens


class Cluster(LogCluster):
    """A Drain cluster plus the word positions opened as parameters by evidence."""

    __slots__ = ["open"]

    def __init__(self, tokens: Sequence[str], cluster_id: int, open_positions: Iterable[int] = ()) -> None:
        super().__init__(list(tokens), cluster_id)
        self.open: frozenset[int] = frozenset(open_positions)


def _differences(cluster: LogCluster, tokens: Sequence[str], limit: int) -> list[int]:
    """Positions where the line is not the cluster's message (stops once past `limit`)."""
    hard: list[int] = []
    opened = getattr(cluster, "open", ())
    for index, (ours, theirs) in enumerate(zip(cluster.log_template_tokens, tokens)):
        if ours == theirs or index in opened:
            continue
        our_shape, their_shape = token_shape(ours), token_shape(theirs)
        if our_shape[0] and their_shape[0] and our_shape[1] == their_shape[1]:
            continue
        hard.append(index)
        if len(hard) > limit:
            break
    return hard


class EvidenceDrain(Drain):
    """Drain's prefix tree as the index, with evidence-based parameters (module docstring).

    `sim_th` is the share of a template's words a variant must keep to count as evidence;
    `depth` and `max_children` shape the prefix tree as in Drain."""

    def __init__(self, *, depth: int, sim_th: float, max_children: int, max_clusters: int | None) -> None:
        super().__init__(depth=depth, sim_th=sim_th, max_children=max_children, max_clusters=max_clusters)
        # Variable tokens (and opened positions) go down the tree's wildcard branch.
        self.has_numbers = lambda token: token_shape(token)[0]  # type: ignore[method-assign]
        self.by_length: dict[int, list[int]] = {}
        self.aliases: OrderedDict[int, int] = OrderedDict()
        self.evidence: OrderedDict[tuple[tuple[str, ...], frozenset[int]], set[tuple[str, ...]]] = OrderedDict()
        self.shapes: dict[tuple[str, ...], int] = {}

    def add_tokens(self, tokens: list[str]) -> tuple[LogCluster, bool]:
        """The line's cluster (created, or grown and generalised), and whether it is new."""
        shape = tuple(tokens)
        known = self.shapes.get(shape)
        cluster = self.id_to_cluster.get(self.canonical(known)) if known is not None else None
        if cluster is None:
            cluster = self._matching(tokens)
        if cluster is None:
            cluster = self._generalised_for(tokens)
        if cluster is None:
            self.clusters_counter += 1
            cluster = Cluster([_template_form(t) if token_shape(t)[0] else t for t in tokens], self.clusters_counter)
            self.id_to_cluster[cluster.cluster_id] = cluster
            self.by_length.setdefault(len(tokens), []).append(cluster.cluster_id)
            self.add_seq_to_prefix_tree(self.root_node, cluster)
            self._remember(shape, cluster.cluster_id)
            return cluster, True
        self._join(cluster, tokens)
        if known is None:
            self._remember(shape, cluster.cluster_id)
        return cluster, False

    def _remember(self, shape: tuple[str, ...], cluster_id: int) -> None:
        if len(self.shapes) >= SHAPE_CACHE:
            self.shapes.clear()  # cheaper than LRU bookkeeping on every line; refills in seconds
        self.shapes[shape] = cluster_id

    def canonical(self, cluster_id: int) -> int:
        """The id a cluster's lines now belong to (itself unless it was merged into another)."""
        seen = 0
        while cluster_id in self.aliases and seen < 64:
            cluster_id = self.aliases[cluster_id]
            seen += 1
        return cluster_id

    # --- matching ------------------------------------------------------------------------------
    def _candidates(self, tokens: Sequence[str]) -> list[int]:
        """Cluster ids in the leaves the line reaches by its own tokens or the wildcard branch."""
        first = self.root_node.key_to_child_node.get(str(len(tokens)))
        if first is None:
            return []
        nodes = [first]
        depth = 1
        for token in tokens:
            if depth >= self.max_node_depth or depth == len(tokens):
                break
            reached = []
            for node in nodes:
                child = node.key_to_child_node.get(token)
                if child is not None:
                    reached.append(child)
                if token != PARAM and (wildcard := node.key_to_child_node.get(PARAM)) is not None:
                    reached.append(wildcard)
            if not reached:
                return []
            nodes = reached
            depth += 1
        return [cluster_id for node in nodes for cluster_id in node.cluster_ids]

    def _matching(self, tokens: list[str]) -> LogCluster | None:
        """The largest cluster the line belongs to as it is."""
        best = None
        for cluster_id in self._candidates(tokens):
            cluster = self.id_to_cluster.get(cluster_id)
            if cluster is not None and not _differences(cluster, tokens, 0):
                if best is None or cluster.size > best.size:
                    best = cluster
        return best

    def _generalised_for(self, tokens: list[str]) -> LogCluster | None:
        """Records the line as a variant of its closest cluster; once the evidence suffices, opens
        the differing positions, merges the variants' clusters and returns the merged one."""
        variant: tuple[LogCluster, list[int]] | None = None
        ids = self.by_length.get(len(tokens), [])
        for cluster_id in reversed(ids[-VARIANT_SCAN:]):
            cluster = self.id_to_cluster.get(cluster_id)
            if cluster is None:
                continue
            hard = _differences(cluster, tokens, MAX_NEW_PARAMETERS)
            if not 0 < len(hard) <= MAX_NEW_PARAMETERS or not self._keeps_enough_words(cluster, hard):
                continue
            if variant is None or (len(hard), -cluster.size) < (len(variant[1]), -variant[0].size):
                variant = (cluster, hard)
        if variant is None:
            return None
        cluster, hard = variant
        opened = getattr(cluster, "open", frozenset()) | frozenset(hard)
        generalised = tuple(PARAM if i in hard else t for i, t in enumerate(cluster.log_template_tokens))
        key = (generalised, opened)
        values = self.evidence.pop(key, set())
        if len(values) < EVIDENCE_VALUES:
            values.add(tuple(cluster.log_template_tokens[i] for i in hard))
            values.add(tuple(tokens[i] for i in hard))
        if any(len({v[j] for v in values}) < PARAMETER_MIN_VALUES for j in range(len(hard))):
            self.evidence[key] = values
            while len(self.evidence) > EVIDENCE_KEYS:
                self.evidence.popitem(last=False)
            return None
        merged = self._merge(Cluster(generalised, cluster.cluster_id, opened))
        self.add_seq_to_prefix_tree(self.root_node, merged)
        return merged

    def _keeps_enough_words(self, cluster: LogCluster, hard: list[int]) -> bool:
        opened = getattr(cluster, "open", ())
        words = sum(1 for i, t in enumerate(cluster.log_template_tokens) if i not in opened and not token_shape(t)[0])
        left = words - len(hard)
        return left >= MIN_WORDS_LEFT and left >= self.sim_th * words

    def _merge(self, general: Cluster) -> Cluster:
        """Merges every cluster of the same length that the generalised template covers into one,
        which keeps the oldest id (so the ids its first lines were given stay valid)."""
        length = len(general.log_template_tokens)
        covered, kept = [], []
        for cluster_id in self.by_length.get(length, []):
            cluster = self.id_to_cluster.get(cluster_id)
            if cluster is None:
                continue  # forgotten (least recently used): drop its id here too
            if _differences(general, cluster.log_template_tokens, 0):
                kept.append(cluster_id)
            else:
                covered.append(cluster)
        survivor = min(cluster.cluster_id for cluster in covered)
        merged = Cluster(general.log_template_tokens, survivor, general.open)
        merged.size = sum(cluster.size for cluster in covered)
        for cluster in covered:
            del self.id_to_cluster[cluster.cluster_id]
            if cluster.cluster_id != survivor:
                self.aliases[cluster.cluster_id] = survivor
        while len(self.aliases) > ALIASES:
            self.aliases.popitem(last=False)
        self.id_to_cluster[survivor] = merged
        kept.append(survivor)
        kept.sort()
        self.by_length[length] = kept
        return merged

    def _join(self, cluster: LogCluster, tokens: list[str]) -> None:
        """Adds the line: differing variable tokens without letters become <*> (an <IP> and a
        <HOST> in one place are an endpoint); words only change through evidence."""
        opened = getattr(cluster, "open", ())
        template = cluster.log_template_tokens
        if any(a != b for a, b in zip(template, tokens)):
            cluster.log_template_tokens = tuple(
                a if a == b or i in opened or token_shape(a)[1] else PARAM
                for i, (a, b) in enumerate(zip(template, tokens))
            )
        cluster.size += 1
        # Reading through the cache's __getitem__ counts as a use for its LRU order.
        self.id_to_cluster[cluster.cluster_id]  # noqa: B018


class TemplateMiner:
    """The masker and the evidence-based Drain, with a stable template id per cluster.

    Template ids are `<epoch>-<cluster>`: the epoch is drawn when a miner starts from nothing and
    kept in its snapshots, so ids stay stable across restarts and never collide with the ids of
    a previous, lost state. A merged cluster's lines report the id it was merged into."""

    def __init__(
        self,
        *,
        sim_th: float = 0.5,
        depth: int = 4,
        max_children: int = 100,
        max_clusters: int | None = 20000,
        extra_masking: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.masker = Masker(GENERIC_MASKING, list(extra_masking), gate=GENERIC_GATE)
        self.drain = EvidenceDrain(sim_th=sim_th, depth=depth, max_children=max_children, max_clusters=max_clusters)
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
        cluster, created = self.drain.add_tokens(tokens_of(self.masker.mask(line)))
        self.lines += 1
        return Mined(self.template_id(cluster), cluster.get_template(), created, cluster.size)

    def template_id(self, cluster: LogCluster) -> str:
        return f"{self.epoch}-{cluster.cluster_id}"

    def canonical(self, template_id: str) -> str:
        """The id a template's lines belong to now: a template merged since into a more general
        one answers with that one's id (ids of another epoch are returned unchanged)."""
        epoch, _, number = template_id.rpartition("-")
        if epoch != self.epoch or not number.isdigit():
            return template_id
        return f"{self.epoch}-{self.drain.canonical(int(number))}"

    @property
    def template_count(self) -> int:
        return len(self.drain.id_to_cluster)

    # --- state -----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The miner's whole state as JSON-able data (parse tree, clusters, merges, evidence)."""
        drain = self.drain
        return {
            "version": SNAPSHOT_VERSION,
            "epoch": self.epoch,
            "lines": self.lines,
            "clusters_counter": drain.clusters_counter,
            "clusters": [
                [c.cluster_id, list(c.log_template_tokens), c.size, sorted(getattr(c, "open", ()))]
                for c in self._clusters_by_recency()
            ],
            "tree": _node_to_data(drain.root_node),
            "aliases": [[old, new] for old, new in drain.aliases.items()],
            "evidence": [
                [list(template), sorted(opened), [list(v) for v in values]]
                for (template, opened), values in drain.evidence.items()
            ],
        }

    def _clusters_by_recency(self) -> list[LogCluster]:
        """Clusters least recently used first, read without touching the LRU order."""
        clusters = self.drain.id_to_cluster
        # cachetools' LRUCache keeps its recency order privately; without it, creation order will do.
        order = getattr(clusters, "_LRUCache__order", None)
        ids = list(order if order is not None else clusters)
        read = clusters.get  # Drain's LogClusterCache.get reads without counting as a use
        return [cluster for cluster in map(read, ids) if cluster is not None]

    def restore(self, data: dict[str, Any]) -> None:
        """Replaces the miner's state with a snapshot's; raises ValueError if it is not one.

        A version 1 snapshot (plain Drain3 clusters) is read too: it has no merges or evidence."""
        if not isinstance(data, dict) or data.get("version") not in (1, SNAPSHOT_VERSION):
            raise ValueError("not a template-miner snapshot of a known version")
        try:
            clusters = []
            for entry in data["clusters"]:
                cluster_id, tokens, size = entry[0], entry[1], entry[2]
                opened = entry[3] if len(entry) > 3 else ()
                cluster = Cluster([str(t) for t in tokens], int(cluster_id), (int(i) for i in opened))
                cluster.size = int(size)
                clusters.append(cluster)
            root = _node_from_data(data["tree"])
            epoch, lines, counter = str(data["epoch"]), int(data["lines"]), int(data["clusters_counter"])
            aliases = [(int(old), int(new)) for old, new in data.get("aliases", [])]
            evidence = [
                ((tuple(str(t) for t in template), frozenset(int(i) for i in opened)), {tuple(map(str, v)) for v in values})
                for template, opened, values in data.get("evidence", [])
            ]
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"malformed template-miner snapshot: {exc!r}") from exc
        drain = self.drain
        drain.id_to_cluster.clear()
        drain.by_length = {}
        for cluster in clusters:
            drain.id_to_cluster[cluster.cluster_id] = cluster
            drain.by_length.setdefault(len(cluster.log_template_tokens), []).append(cluster.cluster_id)
        for ids in drain.by_length.values():
            ids.sort()
        drain.root_node = root
        drain.clusters_counter = counter
        drain.aliases = OrderedDict(aliases)
        drain.evidence = OrderedDict(evidence)
        drain.shapes = {}
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
