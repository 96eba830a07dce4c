"""Ports: the small interfaces the core talks to. Adapters live in ``thera.adapters``."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class ObjectStore(Protocol):
    """A bucket of objects addressed by key (S3 in AWS, a dict in tests)."""

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None: ...

    def get(self, key: str) -> bytes: ...

    def metadata(self, key: str) -> dict[str, str] | None:
        """The object's user metadata, or None when the object does not exist."""
        ...

    def list(self, prefix: str) -> list[str]: ...

    def tag(self, key: str, tags: dict[str, str]) -> None:
        """Replace the object's tags (what lifecycle rules filter on)."""
        ...


class StateStore(Protocol):
    """Small JSON documents by key (a DynamoDB table in AWS): cursors and watermarks."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, doc: dict[str, Any]) -> None: ...


class MessageQueue(Protocol):
    """Where a stage hands work to the next (an SQS queue in AWS)."""

    def send_many(self, bodies: list[dict[str, Any]], delay_seconds: int = 0) -> None: ...


@dataclass(frozen=True)
class Received:
    receipt: str
    body: str


class ReceivingQueue(Protocol):
    """A queue read by hand, not by an event source mapping: a holding queue or a DLQ being redriven."""

    def receive(self, max_messages: int = 10) -> list[Received]: ...

    def delete(self, receipts: list[str]) -> None: ...

    def send_raw(self, bodies: list[str], delay_seconds: int = 0) -> None: ...


@dataclass(frozen=True)
class EmbeddingRecord:
    domain: str
    model_id: str
    text_hash: str
    key: str = ""
    tokens: int = 0
    version: int = 0  # of the profile embedded: an older profile delivered again is not embedded


class EmbeddingIndex(Protocol):
    """Which text each domain was last embedded from, by which model (a table in AWS)."""

    def known(self, domains: list[str]) -> dict[str, EmbeddingRecord]: ...

    def remember(self, records: list[EmbeddingRecord]) -> None: ...


class ProfileRegistry(Protocol):
    """The newest profile version built per domain: a profile already built (in any part) is not written again."""

    def versions(self, domains: list[str]) -> dict[str, int]: ...

    def remember(self, versions: dict[str, int], gold_key: str) -> None: ...


class ReadModel(Protocol):
    """A read-model table whose rows only move forward: ``put_if_newer`` answers
    ``written``, ``same`` (this version is stored already) or ``stale`` (a newer one is)."""

    def put_if_newer(self, item: dict[str, Any]) -> str: ...


class ShortlistStore(Protocol):
    """Saved shortlists by id (a DynamoDB table in AWS): the saved document stays as it was saved;
    decisions are kept per domain beside it, so two people deciding on two startups never race."""

    def create(self, shortlist_id: str, summary: dict[str, str], doc: dict[str, Any]) -> bool:
        """Store a new shortlist; False (and nothing written) when ``shortlist_id`` exists already."""
        ...

    def get(self, shortlist_id: str) -> SavedShortlist | None: ...

    def summaries(self) -> list[dict[str, str]]:
        """Every saved shortlist's ``summary`` with its ``id``, in no particular order."""
        ...

    def decide(self, shortlist_id: str, domain: str, decision: dict[str, str]) -> bool:
        """Set the decision on ``domain`` (replacing an earlier one); False when no such shortlist."""
        ...


@dataclass(frozen=True)
class SavedShortlist:
    id: str
    summary: dict[str, str]
    doc: dict[str, Any]
    decisions: dict[str, dict[str, str]]


class DomainRegistry(Protocol):
    """The last known content hash per domain: which silver rows are new or changed."""

    def hashes(self, domains: list[str]) -> dict[str, str]: ...

    def remember(self, hashes: dict[str, str], source: str) -> None: ...


@dataclass(frozen=True)
class LastCrawl:
    crawled_at: float
    content_key: str  # the silver/firecrawl object of that crawl ("" if not recorded)


class CrawlCache(Protocol):
    """When each domain was last crawled, and where its page landed (a table with TTL in AWS)."""

    def last_crawl(self, domain: str) -> LastCrawl | None: ...

    def remember(self, domain: str, crawled_at: float, expires_at: int, content_key: str) -> None: ...

    def note_skip(self, domain: str) -> None: ...


@dataclass(frozen=True)
class Embedding:
    """One text's vector (unit length) and the tokens the provider counted for it."""

    vector: Sequence[float]
    tokens: int


class EmbeddingProvider(Protocol):
    """Turns one text into a vector: Bedrock Titan in AWS, a local model offline."""

    @property
    def model_id(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    def embed(self, text: str) -> Embedding: ...


class ProviderUnavailable(RuntimeError):
    """The provider is throttling or down even after retries: try the message again later."""


class ProviderRejected(ValueError):
    """The provider refused this input (validation): retrying will not help."""


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


class Unknown(Enum):
    """Marks a state not read yet (None already means "absent")."""

    TOKEN = 0


UNKNOWN = Unknown.TOKEN


class Contention(RuntimeError):
    """Too many concurrent writers kept winning the compare-and-set."""


def cas_update[T](
    store: VersionedStore,
    key: str,
    plan: Callable[[Versioned | None], tuple[dict[str, Any] | None, T]],
    *,
    known: Versioned | Unknown | None = UNKNOWN,
    expires_at: int | None = None,
    max_attempts: int = 50,
) -> tuple[T, Versioned | None]:
    """Apply ``plan`` (current state -> new document or None for "no write", result) atomically.

    A lost race hands back the stored state and ``plan`` runs again on it. Returns the
    result and the state now stored, which callers may pass back as ``known`` to skip a read.
    """
    current = store.load(key) if known is UNKNOWN else known
    for attempt in range(max_attempts):
        new_doc, result = plan(current)
        if new_doc is None:
            return result, current
        ok, stored = store.compare_and_set(key, current.version if current else 0, new_doc, expires_at)
        current = stored
        if ok:
            return result, current
        time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
    raise Contention(f"{key}: gave up after {max_attempts} compare-and-set attempts")


# What the core needs of the Firecrawl and Apollo adapters: their answers and their failures.


class FirecrawlError(RuntimeError):
    pass


class FirecrawlRejected(FirecrawlError):
    """A final answer: not worth retrying (402 no credits, 400 bad request, 401/403 key, 404...)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"Firecrawl refused the scrape with HTTP {status}: {reason}")
        self.status, self.reason = status, reason


class FirecrawlUnavailable(FirecrawlError):
    """Firecrawl did not answer usefully after the retries: an outage signal for the breaker."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class ScrapeResult:
    markdown: str
    metadata: dict[str, Any]
    body: dict[str, Any]

    @classmethod
    def from_body(cls, payload: dict[str, Any]) -> ScrapeResult:
        """A successful ``/v2/scrape`` answer (``{"success": true, "data": {...}}``)."""
        data = payload.get("data") or {}
        return cls(str(data.get("markdown") or ""), dict(data.get("metadata") or {}), payload)

    @property
    def target_status(self) -> int:
        try:
            return int(self.metadata.get("statusCode") or 0)
        except (TypeError, ValueError):
            return 0


WINDOW_HEADERS = {
    "minute": ("x-rate-limit-minute", "x-minute-usage", "x-minute-requests-left"),
    "hour": ("x-rate-limit-hourly", "x-hourly-usage", "x-hourly-requests-left"),
    "day": ("x-rate-limit-24-hour", "x-24-hour-usage", "x-24-hour-requests-left"),
}


class ApolloError(RuntimeError):
    """Apollo answered with something the pull cannot use."""


class ApolloAuthError(ApolloError):
    """The API key was refused (401) or lacks access to the endpoint (403)."""


class ApolloRateLimited(ApolloError):
    """Apollo's own allowance for a window is used up; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, window: str, retry_after: float) -> None:
        super().__init__(message)
        self.window = window
        self.retry_after = retry_after


class ApolloUnavailable(ApolloError):
    """Server errors or network failures outlasted the retries."""


@dataclass(frozen=True)
class RateLimitInfo:
    """Apollo's view of its windows: (limit, used, left) where the headers say so."""

    windows: dict[str, tuple[int | None, int | None, int | None]]

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo:
        def num(name: str) -> int | None:
            try:
                return int(headers[name])
            except (KeyError, ValueError):
                return None

        return cls({w: (num(a), num(b), num(c)) for w, (a, b, c) in WINDOW_HEADERS.items()})

    def left(self, window: str) -> int | None:
        return self.windows.get(window, (None, None, None))[2]


@dataclass(frozen=True)
class SearchPage:
    organizations: list[Any]
    page: int
    per_page: int
    total_entries: int
    total_pages: int
    body: dict[str, Any]
    rate_limit: RateLimitInfo
