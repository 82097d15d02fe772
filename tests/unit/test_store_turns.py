"""The embedded engine's turns: one call at a time, an urgent call ahead of those waiting."""

import threading
import time

from aiops_core.store import EngineTurns


def test_an_urgent_call_goes_ahead_of_calls_already_waiting():
    turns = EngineTurns()
    order: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def call(name: str, urgent: bool, hold: bool = False) -> None:
        with turns.turn(urgent):
            order.append(name)
            if hold:
                holding.set()
                release.wait(5)

    first = threading.Thread(target=call, args=("under way", False, True))
    first.start()
    holding.wait(5)
    waiting = [threading.Thread(target=call, args=(f"bulk {i}", False)) for i in range(3)]
    for thread in waiting:
        thread.start()
    time.sleep(0.1)  # the bulk calls are queued behind the one under way
    urgent = threading.Thread(target=call, args=("urgent", True))
    urgent.start()
    time.sleep(0.1)
    release.set()
    for thread in [first, *waiting, urgent]:
        thread.join(5)
    assert order[0] == "under way" and order[1] == "urgent"
    assert sorted(order[2:]) == ["bulk 0", "bulk 1", "bulk 2"]


def test_calls_never_overlap():
    turns = EngineTurns()
    inside = 0
    most = 0
    lock = threading.Lock()

    def call(urgent: bool) -> None:
        nonlocal inside, most
        with turns.turn(urgent):
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.005)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=call, args=(i % 3 == 0,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert most == 1
