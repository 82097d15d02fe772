"""StructuredLogger: the one logger of every role. JSON lines on stderr, with the tracking_id
of the message being handled bound from a contextvar, so every line of one log's journey can be
found by its id."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

import structlog

_tracking_id: ContextVar[str | None] = ContextVar("tracking_id", default=None)
_configured = False


def _add_tracking_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    tracking_id = _tracking_id.get()
    if tracking_id and "tracking_id" not in event:
        event["tracking_id"] = tracking_id
    return event


def configure(level: str = "info") -> None:
    """Configures structlog once per process; later calls only change the level."""
    global _configured
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_tracking_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = True


@contextmanager
def tracking(tracking_id: str | None) -> Iterator[None]:
    """Binds a tracking_id to every log line written inside the block."""
    token = _tracking_id.set(tracking_id)
    try:
        yield
    finally:
        _tracking_id.reset(token)


class StructuredLogger:
    @staticmethod
    def get_logger(name: str, service: str, version: str = "3.0.0") -> structlog.typing.FilteringBoundLogger:
        if not _configured:
            configure()
        return structlog.get_logger(name).bind(logger=name, service=service, service_version=version)
