"""Unit tests for the template miner: generic masking, grouping of variable lines, snapshot and restore."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from aiops_core.policy import DEFAULT_POLICIES_DIR, MaskRule, load_policy
from services.anomaly_detection.templates import (
    GENERIC_GATE,
    GENERIC_MASKING,
    PARAMETER_MIN_VALUES,
    _GENERIC_RULES,
    Masker,
    TemplateMiner,
    standalone,
)

MASKER = Masker(GENERIC_MASKING)


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("from 192.168.1.10 port 22", "from <IP> port <NUM>"),
        ("syslog to 10.0.0.5:514 net 10.20.0.0/16", "syslog to <IP> net <IP>"),
        ("neighbor 2001:db8::1 and fe80::1ff:fe23:4567:890a%eth0 up", "neighbor <IP> and <IP> up"),
        ("full 2001:0db8:85a3:0000:0000:8a2e:0370:7334 mapped ::ffff:10.1.2.3", "full <IP> mapped <IP>"),
        ("client 00:1a:2b:3c:4d:5e via aabb.ccdd.eeff", "client <MAC> via <MAC>"),
        ("session 3fa85f64-5717-4562-b3fc-2c963f66afa6 open", "session <UUID> open"),
        ("fault at 0x7ffe3a2b digest 9f86d081884c7d65", "fault at <HEX> digest <HEX>"),
        ("took 123ms, used 45% of 10MB, delta -5 and +3.5", "took <NUM>, used <NUM> of <NUM>, delta <NUM> and <NUM>"),
        ("open /var/log/messages failed", "open <PATH> failed"),
        ("load C:\\Windows\\system32\\x.dll", "load <PATH>"),
        ("mail to ops@fleet.example.com sent", "mail to <EMAIL> sent"),
        ("resolved gw1.ship.local ok", "resolved <HOST> ok"),
        ("fetch https://api.example.com/v1/x?y=1 done", "fetch <URL> done"),
        ("at 2024-05-01T12:00:00.123Z and 12:34:56", "at <DATETIME> and <TIME>"),
    ],
)
def test_generic_masks_replace_variable_tokens(line: str, masked: str) -> None:
    """Addresses, identifiers, numbers, paths, times, URLs and e-mail/host names become named masks."""
    assert MASKER.mask(line) == masked


@pytest.mark.parametrize(
    "line",
    [
        "java.net.ConnectException in org.apache.hadoop.ipc.Client",
        "upgraded to v2.3.1 using IPv6 and ssh2 on eth0",
        "std::string Cache::lookup failed",
        "Interface changed state to down",
    ],
)
def test_constant_words_are_not_masked(line: str) -> None:
    """Class names, versions, words with digits and C++ scopes are part of the template, not variables."""
    assert MASKER.mask(line) == line


def test_policy_rules_extend_the_generic_masks() -> None:
    """A policy masking rule masks what the generic rules leave, and its leading flags are scoped."""
    miner = TemplateMiner(extra_masking=[("CABIN", r"(?i)\bcabin\s*[a-z]\d{3}\b")])
    assert miner.add("Wi-Fi login from cabin A123 failed").template == "Wi-Fi login from <CABIN> failed"


def test_policy_masking_with_back_references_is_refused() -> None:
    """A rule that cannot be combined into the single-pass alternation fails loudly at start."""
    with pytest.raises(ValueError, match="back-references"):
        standalone(r"(\w)\1")


def test_variable_lines_group_into_one_template() -> None:
    """Lines that differ only in variable values share one template id, counted, new only once."""
    miner = TemplateMiner()
    results = [
        miner.add(f"Failed password for root from 10.0.{i}.{i * 3} port {40000 + i} ssh2") for i in range(20)
    ]
    assert len({r.template_id for r in results}) == 1
    assert [r.is_new for r in results] == [True] + [False] * 19
    assert results[-1].count == 20
    assert results[-1].template == "Failed password for root from <IP> port <NUM> ssh2"


def test_different_messages_get_different_templates() -> None:
    """Unrelated messages are kept apart."""
    miner = TemplateMiner()
    a = miner.add("Interface Gi1/0/1 changed state to down")
    b = miner.add("DHCPACK on 10.20.1.5 to 00:1a:2b:3c:4d:5e via eth0")
    c = miner.add("Accepted publickey for admin from 10.0.0.5 port 50022 ssh2")
    assert len({a.template_id, b.template_id, c.template_id}) == 3
    assert miner.template_count == 3


def test_from_policy_uses_the_detect_template_settings() -> None:
    """The policy's Drain parameters configure the miner."""
    settings = load_policy(DEFAULT_POLICIES_DIR).detect.template
    miner = TemplateMiner.from_policy(settings)
    assert miner.drain.sim_th == settings.sim_th
    assert miner.drain.log_cluster_depth == settings.depth
    assert miner.drain.max_children == settings.max_children
    assert miner.drain.max_clusters == settings.max_clusters


def test_policy_mask_rule_objects_are_accepted() -> None:
    """MaskRule entries from detect.yaml are applied by name."""
    settings = load_policy(DEFAULT_POLICIES_DIR).detect.template
    extra = MaskRule(regex=r"\bcrew-\d+\b", mask_with="CREW")
    miner = TemplateMiner.from_policy(settings.model_copy(update={"masking": (*settings.masking, extra)}))
    assert miner.add("badge crew-4411 scanned").template == "badge <CREW> scanned"


def test_snapshot_and_restore_continue_where_the_miner_left_off() -> None:
    """A restored miner keeps template ids, counts and the line count, and knows old templates."""
    miner = TemplateMiner()
    first = [miner.add(f"User u{i} logged in from 10.1.1.{i}") for i in range(5)]
    other = miner.add("Disk /dev/sda1 is 91% full")
    data = orjson.loads(orjson.dumps(miner.snapshot()))

    restored = TemplateMiner()
    restored.restore(data)
    again = restored.add("User u9 logged in from 10.1.1.9")
    assert again.template_id == first[0].template_id
    assert again.is_new is False
    assert again.count == 6
    assert restored.lines == 7
    assert restored.add("Disk /dev/sdb2 is 97% full").template_id == other.template_id
    fresh = restored.add("Fan tray 2 removed")
    assert fresh.is_new and fresh.template_id not in {first[0].template_id, other.template_id}


def test_template_ids_of_a_fresh_miner_do_not_collide_with_a_lost_state() -> None:
    """Two miners started from nothing give different ids to their first template."""
    assert TemplateMiner().add("hello world").template_id != TemplateMiner().add("hello world").template_id


@pytest.mark.parametrize("data", [None, {}, {"version": 99}, {"version": 1, "clusters": [[1]]}])
def test_restore_rejects_what_is_not_a_snapshot(data) -> None:
    """A damaged snapshot raises ValueError and leaves the miner as it was."""
    miner = TemplateMiner()
    miner.add("keep me")
    with pytest.raises(ValueError):
        miner.restore(data)
    assert miner.template_count == 1 and miner.lines == 1


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("close, 1045 bytes (1.02 KB) sent, 0 bytes received", "close, <NUM> sent, <NUM> received"),
        ("estimated size 384.0 B, free 14.0 KB", "estimated size <NUM>, free <NUM>"),
        ("via proxy.cse.cuhk.edu.hk:5070 and rhost=dsl-ip.omantel.net.om", "via <HOST>:<NUM> and rhost=<HOST>"),
        ("GET /v2/servers/detail?all_tenants=True HTTP/1.1", "GET <PATH> HTTP/<NUM>"),
        ("key '{bf1a}GLOBALROOT/Device/config/SOFTWARE' and C\\Windows\\System32\\x.dll", "key '<PATH>' and <PATH>"),
        ("mask=ffffffff vis=0x40000500", "mask=<HEX> vis=<HEX>"),
    ],
)
def test_quantities_hosts_paths_and_hex_are_masked(line: str, masked: str) -> None:
    """A number with its unit and restatement is one quantity; ccTLD hosts, relative and query paths, letter-only hex are masked."""
    assert MASKER.mask(line) == masked


def test_the_gated_masker_masks_exactly_like_the_plain_one() -> None:
    """GENERIC_GATE is a necessary condition of every generic mask: skipping words that fail it changes nothing."""
    gated = Masker(GENERIC_MASKING, gate=GENERIC_GATE)
    lines = [
        "Accepted publickey for it.officer from 10.10.0.50 port 51000 ssh2: ED25519 SHA256:abc",
        "MAC de-ad-be-ef-fa-ce id deadbeefcafe uuid abcdefab-abcd-abcd-abcd-abcdefabcdef at 12:00:01",
        "mail ops@fleet.example.com https://x.example.org/a?b=1 ~/backup/db.tar 3.5 KB (3584 bytes)",
    ]
    assert [gated.mask(line) for line in lines] == [MASKER.mask(line) for line in lines]


_FUZZ_CHARS = "0123456789abcdefxABCDEFXghkmstzZ/\\.:-_=[](),@~%+ "
# The generic rules without their lookaheads and without the gate: what masking must equal.
BARE_MASKER = Masker([(name, regex) for name, _, regex in _GENERIC_RULES])


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.sampled_from(_FUZZ_CHARS), max_size=60))
def test_the_fail_fast_lookaheads_change_no_mask(line: str) -> None:
    """Each rule's lookahead and GENERIC_GATE are necessary conditions: the bare rules mask every line the same way."""
    assert TemplateMiner().masker.mask(line) == BARE_MASKER.mask(line)


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("srv.\u017fite up", "<HOST> up"),
        ("a.b.c/d/e x", "<PATH> x"),
        ("\\\\srv\\share C:\\x a\\b\\c", "<PATH> <PATH> <PATH>"),
        ("fe80::1%eth0 ::ffff:1.2.3.4", "<IP> <IP>"),
        ("0xAB deadbeefcafe 12345678", "<HEX> <HEX> <NUM>"),
    ],
)
def test_the_fail_fast_lookaheads_keep_tricky_matches(line: str, masked: str) -> None:
    """A TLD matched case-folded (a long s), a path after a host, UNC and drive paths, IPv6 and hex keep their masks."""
    assert TemplateMiner().masker.mask(line) == BARE_MASKER.mask(line) == masked


def test_words_that_differ_are_different_messages() -> None:
    """Lines that differ in a word (an enumeration such as ok/error) keep separate templates."""
    miner = TemplateMiner()
    ok = [miner.add("Link ok on node-1") for _ in range(3)]
    error = miner.add("Link error on node-1")
    assert error.template_id != ok[0].template_id and error.is_new


def test_a_word_position_becomes_a_parameter_once_it_shows_enough_values() -> None:
    """After PARAMETER_MIN_VALUES distinct user names the groups merge into one template that keeps the oldest id."""
    miner = TemplateMiner()
    users = ["admin", "oracle", "test", "ubuntu", "postgres", "guest", "pi"]
    results = [miner.add(f"Invalid user {user} from 10.0.0.{i}") for i, user in enumerate(users)]
    first_ids = {r.template_id for r in results[: PARAMETER_MIN_VALUES - 1]}
    assert len(first_ids) == PARAMETER_MIN_VALUES - 1  # separate until the evidence suffices
    merged = results[PARAMETER_MIN_VALUES - 1]
    assert merged.template == "Invalid user <*> from <IP>" and not merged.is_new
    assert merged.template_id == results[0].template_id
    assert {miner.canonical(r.template_id) for r in results} == {results[0].template_id}
    assert results[-1].template_id == results[0].template_id and results[-1].count == len(users)


def test_a_list_of_values_is_one_parameter() -> None:
    """Lines whose variable lists differ in length (block ids) share one template."""
    miner = TemplateMiner()
    a = miner.add("ask 10.0.0.1:50010 to delete blk_1234567 blk_-7654321")
    b = miner.add("ask 10.0.0.2:50010 to delete blk_2345678 blk_3456789 blk_-4567890")
    assert a.template_id == b.template_id and a.template == "ask <IP> to delete blk_<*>"


def test_snapshot_keeps_merges_and_evidence() -> None:
    """A restored miner redirects merged ids and completes evidence gathered before the snapshot."""
    miner = TemplateMiner()
    first = [miner.add(f"Invalid user {u} from 10.0.0.1") for u in ("a1x", "b2y", "c3z", "d4w", "e5v")]
    pending = [miner.add(f"Disk {d} failed") for d in ("sda", "sdb", "sdc")]
    restored = TemplateMiner()
    restored.restore(orjson.loads(orjson.dumps(miner.snapshot())))
    assert restored.canonical(first[1].template_id) == first[0].template_id
    more = [restored.add(f"Disk {d} failed") for d in ("sdd", "sde")]
    assert more[-1].template == "Disk <*> failed"
    assert restored.canonical(pending[0].template_id) == more[-1].template_id


def test_version_1_snapshots_are_still_read() -> None:
    """A snapshot of the former plain-Drain3 miner restores: its templates keep their ids."""
    data = {
        "version": 1, "epoch": "0badc0de", "lines": 3, "clusters_counter": 1,
        "clusters": [[1, ["Fan", "tray", "<NUM>", "removed"], 3]],
        "tree": {"k": {"4": {"k": {"Fan": {"c": [1]}}}}},
    }
    miner = TemplateMiner()
    miner.restore(data)
    again = miner.add("Fan tray 2 removed")
    assert again.template_id == "0badc0de-1" and again.count == 4 and not again.is_new


def test_restore_forgets_the_shapes_of_the_state_it_replaces() -> None:
    """After a restore, a line seen before it is matched against the restored templates, not the old ones."""
    other = TemplateMiner()
    other.add("Disk sda failed")
    fan = other.add("Fan tray 2 removed")
    snapshot = orjson.loads(orjson.dumps(other.snapshot()))
    miner = TemplateMiner()
    miner.add("Fan tray 2 removed")  # cluster 1 here; cluster 1 is the disk template in the snapshot
    miner.restore(snapshot)
    again = miner.add("Fan tray 2 removed")
    assert again.template_id == fan.template_id and again.template == "Fan tray <NUM> removed"
