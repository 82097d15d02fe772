"""Exceptions shared across the core without importing each other's modules."""

from __future__ import annotations


class DependencyUnavailable(RuntimeError):
    """A dependency (the store) did not answer. No fault of the message being handled: the bus
    holds such messages and retries them in place instead of spending their deliveries."""
