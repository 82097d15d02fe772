"""Shared fixtures: a real nats-server with JetStream, the real ClickHouse engine (chDB), and a
real `aiops up` node in a subprocess for end-to-end tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aiops_core.nats_server import NatsServer, free_port
from tests.support import start_node, stop_node

@pytest.fixture
def nats_server(tmp_path):
    """A fresh JetStream server per test, on a free loopback port."""
    server = NatsServer(store_dir=tmp_path / "nats", port=free_port(), server_name=f"test-{os.getpid()}")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
async def store(chdb_dir):
    """The real ClickHouse engine in-process. chDB allows one data dir per process at a time, so
    every test shares one directory; tests isolate themselves by unique ids."""
    from aiops_core.store import Store

    st = Store(f"chdb:///{chdb_dir}")
    await st.start()
    yield st
    await st.close()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """One embedded node shared by a test module."""
    running = start_node(tmp_path_factory.mktemp("node"))
    yield running
    stop_node(running)


