"""In-memory fakes of the ports, for the unit tests of the core.

Each behaves as its AWS adapter does on the emulator, and tests/integration/test_port_contracts.py
runs the same cases against both, so a fake cannot drift from the adapter it stands in for.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from thera.kernel.ports import EmbeddingRecord, LastCrawl, Received, SavedShortlist, Versioned


def _as_json(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as the tables give it back: stored as JSON text, so tuples come back as lists."""
    back: dict[str, Any] = json.loads(json.dumps(doc, sort_keys=True))
    return back


class MemoryObjectStore:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.object_tags: dict[str, dict[str, str]] = {}
        self.puts = 0

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        self.puts += 1
        # S3 keeps user metadata names in lower case
        self.objects[key] = (bytes(data), {k.lower(): v for k, v in (metadata or {}).items()})

    def get(self, key: str) -> bytes:
        try:
            return self.objects[key][0]
        except KeyError:
            raise KeyError(f"no such object: {key}") from None

    def metadata(self, key: str) -> dict[str, str] | None:
        entry = self.objects.get(key)
        return dict(entry[1]) if entry else None

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def tag(self, key: str, tags: dict[str, str]) -> None:
        if key not in self.objects:
            raise KeyError(f"no such object: {key}")  # S3 answers NoSuchKey
        self.object_tags[key] = dict(tags)

    def tags(self, key: str) -> dict[str, str]:
        return dict(self.object_tags.get(key, {}))


class MemoryStateStore:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        doc = self.docs.get(key)
        return copy.deepcopy(doc) if doc is not None else None

    def put(self, key: str, doc: dict[str, Any]) -> None:
        self.docs[key] = _as_json(doc)


class MemoryVersionedStore:
    """Compare-and-set under a lock: the reference semantics for the DynamoDB adapter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: dict[str, Versioned] = {}

    def load(self, key: str) -> Versioned | None:
        with self._lock:
            return self._copy(self.items.get(key))

    def compare_and_set(
        self, key: str, expected_version: int, doc: dict[str, Any], expires_at: int | None = None
    ) -> tuple[bool, Versioned | None]:
        stored = _as_json(doc)
        with self._lock:
            current = self.items.get(key)
            if (current.version if current else 0) != expected_version:
                return False, self._copy(current)
            self.items[key] = Versioned(expected_version + 1, stored)
            return True, Versioned(expected_version + 1, copy.deepcopy(doc))

    @staticmethod
    def _copy(item: Versioned | None) -> Versioned | None:
        """A fresh document per read, as each DynamoDB read decodes one: a caller's edit stays its own."""
        return None if item is None else Versioned(item.version, copy.deepcopy(item.doc))


@dataclass
class _Message:
    body: str
    visible_at: float
    receipt: str = ""  # the handle of the last receive; "" until received


class MemoryQueue:
    """A standard SQS queue: bodies kept as sent, delays honoured, a received message hidden for
    ``visibility_timeout`` seconds unless deleted, at most 10 messages per receive."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, visibility_timeout: float = 30.0) -> None:
        self._clock = clock
        self._visibility_timeout = visibility_timeout
        self._receipts = itertools.count()
        self._issued: set[str] = set()
        self.messages: list[_Message] = []

    def send_many(self, bodies: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        self.send_raw([json.dumps(b, sort_keys=True) for b in bodies], delay_seconds)

    def send_raw(self, bodies: list[str], delay_seconds: int = 0) -> None:
        at = self._clock() + delay_seconds
        self.messages.extend(_Message(b, at) for b in bodies)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """Every message still on the queue (visible, delayed or in flight), decoded."""
        return [json.loads(m.body) for m in self.messages]

    def receive(self, max_messages: int = 10) -> list[Received]:
        if not 1 <= max_messages <= 10:
            raise ValueError(f"SQS receives 1 to 10 messages at a time, not {max_messages}")
        now = self._clock()
        got: list[Received] = []
        for message in self.messages:
            if len(got) == max_messages:
                break
            if message.visible_at <= now:
                message.receipt = f"receipt-{next(self._receipts)}"
                message.visible_at = now + self._visibility_timeout
                self._issued.add(message.receipt)
                got.append(Received(message.receipt, message.body))
        return got

    def delete(self, receipts: list[str]) -> None:
        unknown = [r for r in receipts if r not in self._issued]
        if unknown:
            raise RuntimeError(f"not a valid receipt handle: {unknown[0]}")
        gone = set(receipts)
        self.messages = [m for m in self.messages if m.receipt not in gone]


class MemoryEmbeddingIndex:
    def __init__(self) -> None:
        self.records: dict[str, EmbeddingRecord] = {}

    def known(self, domains: list[str]) -> dict[str, EmbeddingRecord]:
        return {d: self.records[d] for d in domains if d in self.records}

    def remember(self, records: list[EmbeddingRecord]) -> None:
        self.records.update((r.domain, r) for r in records)


class MemoryProfileRegistry:
    def __init__(self) -> None:
        self.built: dict[str, int] = {}

    def versions(self, domains: list[str]) -> dict[str, int]:
        return {d: self.built[d] for d in domains if d in self.built}

    def remember(self, versions: dict[str, int], gold_key: str) -> None:
        self.built.update(versions)


class MemoryReadModel:
    """A read-model table keyed by ``domain``: the newer version wins, as the conditional put does."""

    _to_ddb = TypeSerializer()

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def put_if_newer(self, item: dict[str, Any]) -> str:
        for value in item.values():
            self._to_ddb.serialize(value)  # what DynamoDB cannot hold (a float) fails here too
        stored = self.rows.get(item["domain"])
        if stored is not None and stored["version"] >= item["version"]:
            return "same" if stored["version"] == item["version"] else "stale"
        self.rows[item["domain"]] = copy.deepcopy(item)
        return "written"


class MemoryRegistry:
    def __init__(self) -> None:
        self.known: dict[str, str] = {}

    def hashes(self, domains: list[str]) -> dict[str, str]:
        return {d: self.known[d] for d in domains if d in self.known}

    def remember(self, hashes: dict[str, str], source: str) -> None:
        self.known.update(hashes)


class MemoryCrawlCache:
    def __init__(self) -> None:
        self.crawled: dict[str, float] = {}
        self.content_keys: dict[str, str] = {}
        self.skips: dict[str, int] = {}

    def last_crawl(self, domain: str) -> LastCrawl | None:
        at = self.crawled.get(domain)
        return None if at is None else LastCrawl(at, self.content_keys.get(domain, ""))

    def remember(self, domain: str, crawled_at: float, expires_at: int, content_key: str) -> None:
        self.crawled[domain] = crawled_at
        self.content_keys[domain] = content_key

    def note_skip(self, domain: str) -> None:
        self.skips[domain] = self.skips.get(domain, 0) + 1


class MemoryShortlistStore:
    """Saved shortlists in a dict; the document comes back as JSON gives it, as the table's does."""

    def __init__(self) -> None:
        self.items: dict[str, SavedShortlist] = {}

    def create(self, shortlist_id: str, summary: dict[str, str], doc: dict[str, Any]) -> bool:
        if shortlist_id in self.items:
            return False
        self.items[shortlist_id] = SavedShortlist(shortlist_id, dict(summary), _as_json(doc), {})
        return True

    def get(self, shortlist_id: str) -> SavedShortlist | None:
        item = self.items.get(shortlist_id)
        return None if item is None else copy.deepcopy(item)

    def summaries(self) -> list[dict[str, str]]:
        return [{**item.summary, "id": item.id} for item in self.items.values()]

    def decide(self, shortlist_id: str, domain: str, decision: dict[str, str]) -> bool:
        item = self.items.get(shortlist_id)
        if item is None:
            return False
        item.decisions[domain] = dict(decision)
        return True
