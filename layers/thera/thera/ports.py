"""Ports: the small interfaces the core talks to. Adapters live in ``thera.adapters``."""

from __future__ import annotations

from typing import Any, Protocol


class ObjectStore(Protocol):
    """A bucket of objects addressed by key (S3 in AWS, a dict in tests)."""

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None: ...

    def get(self, key: str) -> bytes: ...

    def metadata(self, key: str) -> dict[str, str] | None:
        """The object's user metadata, or None when the object does not exist."""
        ...

    def list(self, prefix: str) -> list[str]: ...


class StateStore(Protocol):
    """Small JSON documents by key (a DynamoDB table in AWS): cursors and watermarks."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, doc: dict[str, Any]) -> None: ...
