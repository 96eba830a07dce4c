"""The messages stages send each other, parsed strictly: a malformed one is a ``BadMessage``."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from thera.kernel import keys

_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9\-]{0,61}[a-z0-9])$")


class BadMessage(ValueError):
    """A message that will never succeed: it goes to the DLQ with this reason."""


def load_object(body: str) -> dict[str, Any]:
    """A message body that must be a JSON object."""
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadMessage(f"message body is not JSON: {exc.msg} at {exc.pos}") from None
    if not isinstance(doc, dict):
        raise BadMessage("message body is not a JSON object")
    return doc


def _domain(doc: dict[str, Any]) -> str:
    domain = doc.get("domain")
    if not isinstance(domain, str) or len(domain) > 253 or not _DOMAIN.match(domain):
        raise BadMessage(f"'domain' is missing or not a domain name: {str(domain)[:80]!r}")
    return domain


def _text(doc: dict[str, Any], name: str, required: bool = False) -> str:
    value = doc.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadMessage(f"'{name}' must be a non-empty string")
    return value


def _key(doc: dict[str, Any], name: str, prefix: str, required: bool = False) -> str:
    value = _text(doc, name, required)
    if value and (not value.startswith(prefix) or ".." in value):
        raise BadMessage(f"'{name}' must be a key under {prefix}, got {value[:120]!r}")
    return value


@dataclass(frozen=True)
class HealthRequest:
    """BronzeToSilver → DomainHealth: a new or changed company domain to check."""

    domain: str
    name: str
    record_hash: str
    silver_key: str
    correlation_id: str

    @classmethod
    def parse(cls, body: str) -> HealthRequest:
        doc = load_object(body)
        return cls(
            _domain(doc),
            _text(doc, "name"),
            _text(doc, "record_hash", True),
            _text(doc, "silver_key"),
            _text(doc, "correlation_id"),
        )

    def body(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CrawlRequest:
    """DomainHealth → Firecrawl: a healthy domain's page to scrape (and where its company and health rows are)."""

    domain: str
    url: str
    health_score: int
    correlation_id: str
    deferrals: int = 0
    silver_key: str = ""
    health_key: str = ""

    @classmethod
    def parse(cls, body: str) -> CrawlRequest:
        doc = load_object(body)
        domain = _domain(doc)
        url = _text(doc, "url", True)
        if url not in (f"https://{domain}/", f"http://{domain}/"):
            raise BadMessage(f"'url' must be the domain's home page, got {url[:120]!r}")
        score, deferrals = doc.get("health_score", 0), doc.get("deferrals", 0)
        if not isinstance(score, int) or not isinstance(deferrals, int):
            raise BadMessage("'health_score' and 'deferrals' must be integers")
        return cls(
            domain,
            url,
            score,
            _text(doc, "correlation_id"),
            deferrals,
            _key(doc, "silver_key", keys.SILVER_COMPANIES),
            _key(doc, "health_key", keys.SILVER_DOMAIN_HEALTH),
        )

    def body(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProfileRequest:
    """→ SilverToGold: build one domain's profile from its silver row, health row and page (when crawled)."""

    domain: str
    silver_key: str
    health_key: str = ""
    content_key: str = ""
    correlation_id: str = ""

    @classmethod
    def parse(cls, body: str) -> ProfileRequest:
        return cls.parse_doc(load_object(body))

    @classmethod
    def parse_doc(cls, doc: dict[str, Any]) -> ProfileRequest:
        return cls(
            _domain(doc),
            _key(doc, "silver_key", keys.SILVER_COMPANIES, required=True),
            _key(doc, "health_key", keys.SILVER_DOMAIN_HEALTH),
            _key(doc, "content_key", keys.SILVER_FIRECRAWL),
            _text(doc, "correlation_id"),
        )

    def body(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GoldPartRequest:
    """→ Embeddings (a part parked until the budget allows) and → Publisher: one gold profiles part."""

    gold_key: str

    @classmethod
    def parse(cls, body: str) -> GoldPartRequest:
        return cls.parse_doc(load_object(body))

    @classmethod
    def parse_doc(cls, doc: dict[str, Any]) -> GoldPartRequest:
        key = _key(doc, "gold_key", keys.GOLD_PROFILES, required=True)
        if not keys.is_gold_profiles(key):
            raise BadMessage(f"'gold_key' is not a gold profiles part: {key[:120]!r}")
        return cls(key)

    def body(self) -> dict[str, Any]:
        return asdict(self)
