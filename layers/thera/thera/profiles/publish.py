"""The Publisher stage: gold profiles → the public and private read models (pure rules + ports).

``PublicStartups`` is built from an allow-list of company fields: no description, no
contact, no URL that could name a person; a string that still looks like an e-mail or
phone number is dropped (and counted). ``PrivateStartups`` holds the contacts, masked
as ``thera.kernel.pii`` describes, and the lineage to the lake.

Every row carries the profile's ``version`` (the newest of its inputs' timestamps);
the tables keep a row only if it is newer than the stored one, so replays and
out-of-order deliveries never roll a row back, and a duplicate writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from thera.kernel import pii
from thera.kernel.outcomes import PartOutcome
from thera.kernel.ports import ObjectStore, ReadModel
from thera.kernel.schemas import QUALITY_SCORES, STARTUP_FIELDS
from thera.kernel.tables import from_parquet

PUBLIC_FIELDS = (*STARTUP_FIELDS, "team_size", "founded_year", *QUALITY_SCORES)


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def public_item(profile: dict[str, Any], updated_at: datetime, expires_at: int) -> tuple[dict[str, Any], list[str]]:
    """The public row and the names of fields dropped because they looked like personal data."""
    item: dict[str, Any] = {}
    dropped = []
    for name in PUBLIC_FIELDS:
        value = profile.get(name)
        if value is None:
            continue
        if any(pii.contains_pii(s) for s in _strings_in(value)):
            dropped.append(name)
            continue
        item[name] = value
    item.update(version=profile["version"], updated_at=updated_at.isoformat(), expires_at=expires_at)
    return item, dropped


def private_item(profile: dict[str, Any], updated_at: datetime, expires_at: int, gold_key: str) -> dict[str, Any]:
    item = {
        "domain": profile["domain"],
        "name": profile["name"],
        "emails": [pii.mask_email(e) for e in profile.get("emails") or []],
        "phones": [pii.mask_phone(p) for p in profile.get("phones") or []],
        "website_url": profile.get("website_url"),
        "linkedin_url": profile.get("linkedin_url"),
        "correlation_id": profile.get("correlation_id"),
        "raw_key": profile.get("raw_key"),
        "gold_key": gold_key,
        "version": profile["version"],
        "updated_at": updated_at.isoformat(),
        "expires_at": expires_at,
    }
    return {k: v for k, v in item.items() if v is not None}


@dataclass
class PublishOutcome(PartOutcome):
    public_written: int = 0
    private_written: int = 0
    same: int = 0
    pii_dropped: int = 0


def publish_part(
    gold_key: str,
    *,
    store: ObjectStore,
    public: ReadModel,
    private: ReadModel,
    now: Callable[[], datetime],
    ttl_days: int,
) -> PublishOutcome:
    outcome = PublishOutcome(gold_key)
    at = now()
    expires_at = int((at + timedelta(days=ttl_days)).timestamp())
    for profile in from_parquet(store.get(gold_key)).to_pylist():
        outcome.profiles += 1
        outcome.domains.append(profile["domain"])
        item, dropped = public_item(profile, at, expires_at)
        outcome.pii_dropped += len(dropped)
        results = (
            public.put_if_newer(item),
            private.put_if_newer(private_item(profile, at, expires_at, gold_key)),
        )
        outcome.public_written += results[0] == "written"
        outcome.private_written += results[1] == "written"
        outcome.same += results[0] == "same"
        outcome.stale += results[0] == "stale"
    return outcome
