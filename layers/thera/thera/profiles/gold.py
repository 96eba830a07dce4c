"""The SilverToGold stage: profile requests in, one gold part per batch out.

Two kinds of message reach ``ProfileQueue``: the S3 notification of a page landed
under ``silver/firecrawl/`` (its row names the company's silver and health objects),
and a ``ProfileRequest`` sent by the health gate or the crawl stage for a domain that
gets no new page (failed the gate, could not be crawled, or was crawled recently).
Each record is read on its own, so a bad one fails alone; the batch's profiles are
then built, and those not built before (a newer version than the registry holds for
their domain) are written together, under a key derived from their content. A
redelivered message, or the same pages regrouped into other batches by SQS, writes
nothing new and sends no second notification downstream; a page older than the
domain's newest profile (a replayed notification) writes nothing either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from thera.kernel import keys
from thera.kernel.events import is_s3_notification, s3_objects
from thera.kernel.messages import BadMessage, ProfileRequest, load_object
from thera.kernel.ports import ObjectStore, ProfileRegistry
from thera.kernel.tables import from_parquet, to_parquet
from thera.profiles.profiles import build_profiles


@dataclass(frozen=True)
class ProfileInputs:
    request: ProfileRequest
    company: pa.Table
    health: pa.Table | None
    page: pa.Table | None


@dataclass
class GoldOutcome:
    key: str = ""
    profiles: int = 0
    crawled: int = 0
    written: bool = False
    already_built: int = 0
    mean_completeness: float = 0.0
    domains: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out.pop("domains")
        return out


class ProfileSources:
    """Reads the lake objects a batch's requests name, each object once per batch."""

    def __init__(self, store: ObjectStore, bucket: str) -> None:
        self._store, self._bucket = store, bucket
        self._tables: dict[str, pa.Table] = {}

    def _table(self, key: str) -> pa.Table:
        if key not in self._tables:
            self._tables[key] = from_parquet(self._store.get(key))
        return self._tables[key]

    def requests(self, body: str) -> list[ProfileRequest]:
        doc = load_object(body)
        if not is_s3_notification(doc):
            return [ProfileRequest.parse_doc(doc)]
        out = []
        for obj in s3_objects(doc, self._bucket):
            if not keys.is_silver_firecrawl(obj.key):
                raise BadMessage(f"not a crawled page: {obj.key!r}")
            for row in self._table(obj.key).to_pylist():
                if not row.get("silver_key"):
                    raise BadMessage(f"{obj.key} does not name its company's silver object")
                request = {**row, "content_key": obj.key}
                out.append(ProfileRequest.parse_doc(request))
        return out

    def load(self, request: ProfileRequest) -> ProfileInputs:
        return ProfileInputs(
            request,
            self._rows(request.silver_key, request.domain, required=True),
            self._rows(request.health_key, request.domain),
            self._rows(request.content_key, request.domain, required=bool(request.content_key)),
        )

    def _rows(self, key: str, domain: str, required: bool = False) -> pa.Table | None:
        if not key:
            return None
        table = self._table(key)
        rows = table.filter(pc.equal(table["domain"], domain))
        if rows.num_rows == 0:
            if required:
                raise BadMessage(f"{domain} has no row in {key}")
            return None
        return rows


def part_name(profiles: pa.Table) -> str:
    """Same profiles, same key: a redelivered batch overwrites nothing new."""
    triples = zip(*(profiles[c].to_pylist() for c in ("domain", "version", "text_hash")), strict=True)
    return keys.content_part(f"{d} {v} {h}" for d, v, h in triples)


def _concat(tables: list[pa.Table | None]) -> pa.Table | None:
    present = [t for t in tables if t is not None]
    return pa.concat_tables(present, promote_options="permissive") if present else None


def build_part(
    inputs: list[ProfileInputs], store: ObjectStore, registry: ProfileRegistry, date: str, built_at: datetime
) -> GoldOutcome:
    outcome = GoldOutcome()
    if not inputs:
        return outcome
    companies = _concat([i.company for i in inputs])
    assert companies is not None  # every input has its company row
    refs = {
        i.request.domain: {
            "silver_key": i.request.silver_key,
            "health_key": i.request.health_key,
            "content_key": i.request.content_key,
            "correlation_id": i.request.correlation_id,
        }
        for i in inputs
    }
    profiles = build_profiles(
        companies, _concat([i.health for i in inputs]), _concat([i.page for i in inputs]), built_at, refs
    )
    built = registry.versions(profiles["domain"].to_pylist())
    new = [
        built.get(d, -1) < v
        for d, v in zip(profiles["domain"].to_pylist(), profiles["version"].to_pylist(), strict=True)
    ]
    outcome.already_built = new.count(False)
    profiles = profiles.filter(pa.array(new, pa.bool_()))
    if profiles.num_rows == 0:
        return outcome
    outcome.key = keys.gold_profiles_part(date, part_name(profiles))
    outcome.profiles = profiles.num_rows
    outcome.crawled = sum(profiles["crawled"].to_pylist())
    outcome.mean_completeness = round(pc.mean(profiles["completeness"]).as_py(), 1)
    outcome.domains = profiles["domain"].to_pylist()
    if store.metadata(outcome.key) is None:
        store.put(outcome.key, to_parquet(profiles))
        outcome.written = True
    registry.remember(dict(zip(outcome.domains, profiles["version"].to_pylist(), strict=True)), outcome.key)
    return outcome
