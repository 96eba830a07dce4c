"""Silver → gold: one startup profile per domain from its company row, health row and page (pure).

Tables in, table out: the stage builds the few profiles of one queue batch with it,
a replay or a benchmark builds hundreds of thousands at once. Rows are aligned to the
companies by domain with ``index_in`` + ``take`` (a missing health or page row becomes
nulls); the per-row work (texts, contacts, completeness) is plain Python over the few
text columns, because it is regular-expression work that Arrow's RE2 kernels cannot
express (the personal-data patterns need look-arounds).

Completeness (0–100) says how much of a profile is known: name 5, description 20 (10
if under 40 characters), industries 10, keywords 10, country 5, city 5, team size 5,
founded year 5, a health check 10, and the crawled page up to 25 (its richness scaled).
A company that was never crawled tops out at 75.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from thera.kernel import pii, schemas

EXCERPT_CHARS = 1500
DESCRIPTION_CHARS = 4000
# silver company columns a profile carries as they are (its own columns are built in ``_profile``)
CARRIED = (
    "website_url",
    "linkedin_url",
    "city",
    "state",
    "country",
    "team_size",
    "founded_year",
    "run_id",
    "raw_key",
    "bronze_key",
)


def _aligned(table: pa.Table | None, domains: pa.ChunkedArray) -> list[dict[str, Any] | None]:
    """``table``'s row for each domain (its last row when there are several), or None where it has none."""
    if table is None or table.num_rows == 0:
        return [None] * len(domains)
    table = table.take(_last_per_domain(table["domain"]))
    found = pc.index_in(domains, value_set=table["domain"].combine_chunks())
    rows: list[dict[str, Any]] = table.take(found).to_pylist()
    return [row if hit else None for row, hit in zip(rows, pc.is_valid(found).to_pylist(), strict=True)]


def _last_per_domain(domains: pa.ChunkedArray) -> pa.Array:
    last: dict[str, int] = {}
    for i, domain in enumerate(domains.to_pylist()):
        last[domain] = i
    return pa.array(sorted(last.values()), pa.int64())


def _millis(value: datetime | None) -> int:
    return int(value.timestamp() * 1000) if value is not None else 0


def _sentence(label: str, values: list[str] | None) -> str:
    return f"{label}: {', '.join(values)}." if values else ""


def embedding_text(company: dict[str, Any], description: str, page: dict[str, Any] | None, excerpt: str) -> str:
    """What the embedding sees: who the company is and what it does, never a contact."""
    place = ", ".join(v for v in (company.get("city"), company.get("country")) if v)
    parts = [
        f"{company['name']}." + (f" {description}" if description else ""),
        _sentence("Industries", company.get("industries")),
        _sentence("Keywords", company.get("keywords")),
        f"Based in {place}." if place else "",
    ]
    if page is not None:
        title = pii.scrub(page.get("title") or "")
        parts.append(" ".join(p for p in (title, excerpt) if p))
    return "\n".join(p for p in parts if p)


def completeness(company: dict[str, Any], health: dict[str, Any] | None, richness: int | None) -> int:
    description = company.get("description") or ""
    points = 5 + (20 if len(description) >= 40 else 10 if description else 0)
    points += 10 * bool(company.get("industries")) + 10 * bool(company.get("keywords"))
    points += 5 * bool(company.get("country")) + 5 * bool(company.get("city"))
    points += 5 * (company.get("team_size") is not None) + 5 * (company.get("founded_year") is not None)
    points += 10 * (health is not None)
    points += round(25 * (richness or 0) / 100)
    return min(100, points)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def build_profiles(
    companies: pa.Table,
    health: pa.Table | None,
    pages: pa.Table | None,
    built_at: datetime,
    refs: dict[str, dict[str, str]] | None = None,
) -> pa.Table:
    """Gold profiles (``schemas.GOLD_PROFILES``) for the companies, one per domain.

    ``refs`` gives each domain's lineage keys that the rows do not hold themselves
    (``silver_key``, ``health_key``, ``content_key``, ``correlation_id``).
    """
    companies = companies.take(_last_per_domain(companies["domain"]))
    domains = companies["domain"]
    health_rows = _aligned(health, domains)
    page_rows = _aligned(pages, domains)
    refs = refs or {}
    rows = []
    for company, checked, page in zip(companies.to_pylist(), health_rows, page_rows, strict=True):
        rows.append(_profile(company, checked, page, built_at, refs.get(company["domain"], {})))
    return pa.Table.from_pylist(rows, schema=schemas.GOLD_PROFILES)


def _profile(
    company: dict[str, Any],
    checked: dict[str, Any] | None,
    page: dict[str, Any] | None,
    built_at: datetime,
    ref: dict[str, str],
) -> dict[str, Any]:
    source_text = company.get("description") or ""
    description = pii.scrub(source_text[:DESCRIPTION_CHARS])
    markdown = (page or {}).get("markdown") or ""
    contact_text = f"{source_text}\n{markdown}"  # where contacts are looked for: the source, never the scrubbed texts
    excerpt = pii.scrub(((page or {}).get("text") or "")[:EXCERPT_CHARS])
    phones = [company["phone"]] if company.get("phone") else []
    richness = page.get("richness") if page else None
    text = embedding_text(company, description, page, excerpt)
    return {
        "domain": company["domain"],
        "name": company["name"],
        "description": description or None,
        **{column: company.get(column) for column in CARRIED},
        "industries": company.get("industries") or [],
        "keywords": company.get("keywords") or [],
        "health_score": checked["score"] if checked else None,
        "health_passed": checked["passed"] if checked else None,
        "health_flags": checked["flags"] if checked else [],
        "crawled": page is not None,
        "content_richness": richness,
        "page_title": pii.scrub(page.get("title") or "") or None if page else None,
        "page_excerpt": excerpt or None,
        "emails": pii.find_emails(contact_text),
        "phones": pii.dedupe([*phones, *pii.find_phones(contact_text)]),
        "completeness": completeness(company, checked, richness),
        "embedding_text": text,
        "text_hash": text_hash(text),
        "version": max(
            _millis(company.get("pulled_at")),
            _millis(checked.get("checked_at") if checked else None),
            _millis(page.get("crawled_at") if page else None),
        ),
        "built_at": built_at,
        "correlation_id": ref.get("correlation_id") or company.get("run_id"),
        "silver_key": ref.get("silver_key"),
        "health_key": ref.get("health_key") or None,
        "content_key": ref.get("content_key") or None,
        "firecrawl_raw_key": page.get("raw_key") if page else None,
    }
