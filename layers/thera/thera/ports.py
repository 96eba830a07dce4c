"""Ports: the small interfaces the core talks to. Adapters live in ``thera.adapters``."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Versioned:
    version: int
    doc: dict[str, Any]


class VersionedStore(Protocol):
    """Shared state changed only by compare-and-set: the atomic step under concurrent writers
    (token buckets, circuit breakers)."""

    def load(self, key: str) -> Versioned | None: ...

    def compare_and_set(
        self, key: str, expected_version: int, doc: dict[str, Any], expires_at: int | None = None
    ) -> tuple[bool, Versioned | None]:
        """Store ``doc`` as version ``expected_version + 1`` only if the stored version is
        ``expected_version`` (0 = absent). Returns (True, new) or (False, what is stored now)."""
        ...
