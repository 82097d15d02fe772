"""One settings tree for every role. Defaults suit the embedded node on localhost; compose
overrides them by environment (NATS_URL, CLICKHOUSE_DSN, QDRANT_URL, OLLAMA_URL, SHIP_ID, ...)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="",
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )

    ship_id: str = Field("ms-aurora", description="This node's ship; logs without one get it.")
    node_role: str = Field("ship", description="ship (an edge node) or shore (a fleet hub).")
    data_dir: Path = Path(".aiops-data")

    nats_url: str | None = Field(None, description="Unset: the embedded node starts its own NATS.")
    nats_port: int = 4222
    clickhouse_dsn: str | None = Field(None, description="Unset: chdb:///<data_dir>/clickhouse.")
    qdrant_url: str | None = Field(None, description="Unset: local Qdrant in <data_dir>/qdrant.")
    ollama_url: str | None = Field(None, description="Unset: no LLM; insights use the fallback.")
    llm_api: str = Field("ollama", description="ollama or openai (an OpenAI-compatible server).")
    llm_api_key: str | None = Field(
        None, description="Bearer key for an OpenAI-compatible server that needs one (vLLM --api-key)."
    )

    policies_dir: Path = PROJECT_ROOT / "policies"
    inventory_file: Path = PROJECT_ROOT / "inventory" / "demo-ship.yaml"
    knowledge_dir: Path = PROJECT_ROOT / "knowledge"

    api_host: str = "0.0.0.0"
    api_port: int = 8081
    syslog_host: str = "0.0.0.0"
    syslog_port: int = 1514
    metrics_port: int = Field(9108, description="/health and /metrics of a role without an API.")

    log_level: str = "info"
    version: str = "3.0.0"

    # How many messages a role pulls and handles at once: bounds in-flight work.
    bus_batch: int = 256
    bus_max_deliver: int = 5
    bus_ack_wait_seconds: float = 30.0
    archive_enabled: bool = Field(True, description="The ingest role archives logs.raw to logs_raw.")
    syslog_listener: bool = Field(True, description="The ingest role listens for syslog on syslog_port.")
    node_workers: bool = Field(
        True,
        description="`aiops up` runs the per-line roles (the syslog listener, anomaly-detection) in worker "
        "processes of their own, so they use another core (services/workers.py); false: one process.",
    )
    store_relay: bool = Field(
        False, description="Read the store through the embedded node's relay (set by the node for its workers).",
    )
    ingest_buffer_max_bytes: int = Field(
        256 * 1024**2, ge=0,
        description="Disk journal for syslog lines while NATS is down (<data_dir>/ingest-buffer); beyond it lines are dropped and counted.",
    )

    # Ship to shore over a NATS leaf-node link (docs/RELIABILITY.md, "Ship to shore").
    shore_leaf_url: str | None = Field(
        None, description="Ship: the shore hub's leafnode URL, e.g. nats://shore.example:7422; unset: no sync."
    )
    leafnode_host: str = Field("0.0.0.0", description="Shore: the address ships' leaf nodes connect to.")
    leafnode_port: int = Field(7422, description="Shore: the port ships' leaf nodes connect to.")
    fleet_ships: str = Field("", description="Shore: comma-separated ship ids whose outbox the hub sources.")

    fault_injection_delay_ms: float = Field(
        0.0, description="Adds this delay to each fast-path stage (for SLO alert drills only)."
    )

    @property
    def is_shore(self) -> bool:
        return self.node_role == "shore"

    def fleet_ship_ids(self) -> list[str]:
        return [ship.strip().lower() for ship in self.fleet_ships.split(",") if ship.strip()]

    def store_dsn(self) -> str:
        return self.clickhouse_dsn or f"chdb:///{(self.data_dir / 'clickhouse').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
