"""Company records: Apollo organization → bronze record (pure, no I/O).

Bronze keeps what the source said, flattened to one typed schema, with lineage.
A value that cannot be coerced (say ``estimated_num_employees: "lots"``) becomes
null and is named in ``issues``, so silver can quarantine the row with a reason
instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SOURCE_APOLLO_SEARCH = "apollo.mixed_companies_search"


@dataclass(frozen=True)
class Lineage:
    run_id: str
    sweep: str
    raw_key: str
    page: int
    pulled_at: datetime


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _int(value: Any, field: str, issues: list[str]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        issues.append(f"{field}: not an integer: {value!r}")
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip().replace(",", ""))
        except ValueError:
            pass
    issues.append(f"{field}: not an integer: {str(value)[:40]!r}")
    return None


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [s for s in (_text(v) for v in value) if s]


def _phone(org: Mapping[str, Any]) -> str | None:
    primary = org.get("primary_phone")
    number = primary.get("number") if isinstance(primary, Mapping) else None
    return _text(org.get("phone")) or _text(number) or _text(org.get("sanitized_phone"))


def bronze_record(org: Mapping[str, Any], position: int, lineage: Lineage) -> dict[str, Any]:
    """Flatten one Apollo organization into the bronze schema (see ``thera.kernel.schemas.BRONZE``)."""
    issues: list[str] = []
    if not isinstance(org, Mapping):
        issues.append(f"organization: not a JSON object: {str(org)[:40]!r}")
        org = {}
    industries = _strings(org.get("industries")) or _strings(org.get("industry"))
    return {
        "run_id": lineage.run_id,
        "sweep": lineage.sweep,
        "source": SOURCE_APOLLO_SEARCH,
        "raw_key": lineage.raw_key,
        "source_page": lineage.page,
        "source_position": position,
        "pulled_at": lineage.pulled_at,
        "apollo_id": _text(org.get("id")),
        "name": _text(org.get("name")),
        "website_url": _text(org.get("website_url")),
        "primary_domain": _text(org.get("primary_domain")),
        "description": _text(org.get("short_description")) or _text(org.get("seo_description")),
        "industries": industries,
        "keywords": _strings(org.get("keywords")),
        "city": _text(org.get("city")),
        "state": _text(org.get("state")),
        "country": _text(org.get("country")),
        "employees": _int(org.get("estimated_num_employees"), "estimated_num_employees", issues),
        "founded_year": _int(org.get("founded_year"), "founded_year", issues),
        "linkedin_url": _text(org.get("linkedin_url")),
        "phone": _phone(org),
        "issues": issues,
    }
