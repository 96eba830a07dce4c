"""In-memory fakes of the ports, with the same semantics as the AWS adapters."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

from thera.ports import EmbeddingRecord, LastCrawl, Received, Versioned


class MemoryObjectStore:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.puts = 0

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        self.puts += 1
        self.objects[key] = (bytes(data), dict(metadata or {}))

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


class MemoryStateStore:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        doc = self.docs.get(key)
        return copy.deepcopy(doc) if doc is not None else None

    def put(self, key: str, doc: dict[str, Any]) -> None:
        self.docs[key] = copy.deepcopy(doc)


class MemoryVersionedStore:
    """Compare-and-set under a lock: the reference semantics for the DynamoDB adapter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: dict[str, Versioned] = {}

    def load(self, key: str) -> Versioned | None:
        with self._lock:
            return self.items.get(key)

    def compare_and_set(
        self, key: str, expected_version: int, doc: dict[str, Any], expires_at: int | None = None
    ) -> tuple[bool, Versioned | None]:
        with self._lock:
            current = self.items.get(key)
            if (current.version if current else 0) != expected_version:
                return False, current
            new = Versioned(expected_version + 1, copy.deepcopy(doc))
            self.items[key] = new
            return True, new


class MemoryQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], int]] = []

    def send_many(self, bodies: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        self.sent.extend((copy.deepcopy(b), delay_seconds) for b in bodies)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [b for b, _ in self.sent]

    def send_raw(self, bodies: list[str], delay_seconds: int = 0) -> None:
        self.sent.extend((json.loads(b), delay_seconds) for b in bodies)

    def receive(self, max_messages: int = 10) -> list[Received]:
        return [Received(str(i), json.dumps(b)) for i, (b, _) in enumerate(self.sent[:max_messages])]

    def delete(self, receipts: list[str]) -> None:
        gone = {int(r) for r in receipts}
        self.sent = [m for i, m in enumerate(self.sent) if i not in gone]


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

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def put_if_newer(self, item: dict[str, Any]) -> str:
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
