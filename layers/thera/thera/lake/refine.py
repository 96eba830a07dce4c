"""Bronze → silver for one bronze object, idempotent on redelivery.

Outputs sit at keys derived from the bronze key; the silver file is written last,
so its presence means the object was fully processed and a replay writes nothing.
Before it, every new or changed domain goes to the health gate (``fan_out``).
A bronze file that cannot be read as the bronze schema is quarantined whole, with
the reason, instead of failing forever in the queue.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pyarrow as pa

from thera.kernel import keys, schemas
from thera.kernel.messages import HealthRequest
from thera.kernel.outcomes import AsDict
from thera.kernel.ports import DomainRegistry, MessageQueue, ObjectStore
from thera.kernel.tables import to_parquet
from thera.lake.silver import QualityRules, SchemaMismatch, read_bronze, transform

# The fields whose change sends a domain through health and crawl again.
HASHED_FIELDS = (
    "name",
    "website_url",
    "description",
    "industries",
    "keywords",
    "city",
    "state",
    "country",
    "team_size",
    "founded_year",
    "linkedin_url",
    "phone",
)


@dataclass
class RefineOutcome(AsDict):
    bronze_key: str
    status: str  # processed | already_processed | schema_rejected
    silver_rows: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    silver_key: str = ""
    sent_to_health: int = 0

    @property
    def quarantined_percent(self) -> float | None:
        """The object's rows quarantined, in % of its rows; None when nothing was refined now (a replay)."""
        quarantined = sum(self.quarantined.values())
        rows = self.silver_rows + quarantined + self.duplicates
        if self.status == "already_processed" or not rows:
            return None
        return round(100 * quarantined / rows, 2)


def record_hashes(silver: pa.Table) -> dict[str, str]:
    """Content hash per domain over ``HASHED_FIELDS`` (lineage excluded: a re-pull of the same data is no change)."""
    out: dict[str, str] = {}
    for row in silver.select(["domain", *HASHED_FIELDS]).to_pylist():
        text = json.dumps([row[f] for f in HASHED_FIELDS], sort_keys=True, default=str)
        out[row["domain"]] = hashlib.sha256(text.encode()).hexdigest()[:32]
    return out


def fan_out(silver: pa.Table, silver_key: str, registry: DomainRegistry, health_queue: MessageQueue) -> int:
    """Send every new or changed domain to the health gate, then remember what was sent.

    Sending comes first: a crash in between re-sends (the gate is idempotent), never loses.
    """
    hashes = record_hashes(silver)
    known = registry.hashes(list(hashes))
    changed = {d: h for d, h in hashes.items() if known.get(d) != h}
    if not changed:
        return 0
    names = dict(zip(silver["domain"].to_pylist(), silver["name"].to_pylist(), strict=True))
    runs = dict(zip(silver["domain"].to_pylist(), silver["run_id"].to_pylist(), strict=True))
    health_queue.send_many(
        [HealthRequest(d, names[d], h, silver_key, runs[d]).body() for d, h in sorted(changed.items())]
    )
    registry.remember(changed, silver_key)
    return len(changed)


def refine_bronze_object(
    store: ObjectStore,
    bronze_key: str,
    rules: QualityRules,
    registry: DomainRegistry,
    health_queue: MessageQueue,
) -> RefineOutcome:
    if not keys.is_bronze_companies(bronze_key):
        raise ValueError(f"unexpected key for the bronze stage: {bronze_key!r}")
    silver_key = keys.silver_for_bronze(bronze_key)
    quarantine_key = keys.quarantine_for_bronze(bronze_key)
    if store.metadata(silver_key) is not None:
        return RefineOutcome(bronze_key, "already_processed", silver_key=silver_key)

    try:
        bronze = read_bronze(store.get(bronze_key))
    except SchemaMismatch as exc:
        reject = {"reason": "schema_mismatch", "detail": str(exc), "bronze_key": bronze_key}
        store.put(keys.rejected_bronze(bronze_key), json.dumps(reject).encode())
        store.put(silver_key, to_parquet(schemas.SILVER_COMPANIES.empty_table()), {"status": "schema_rejected"})
        return RefineOutcome(bronze_key, "schema_rejected", quarantined={"schema_mismatch": 1}, silver_key=silver_key)

    result = transform(bronze, bronze_key, rules)
    counts: dict[str, int] = {}
    if result.quarantine.num_rows:
        for reason in result.quarantine["reason"].to_pylist():
            counts[reason] = counts.get(reason, 0) + 1
        store.put(quarantine_key, to_parquet(result.quarantine))
    sent = fan_out(result.silver, silver_key, registry, health_queue)
    store.put(silver_key, to_parquet(result.silver), {"rows": str(result.silver.num_rows)})  # last: the done mark
    return RefineOutcome(
        bronze_key,
        "processed",
        silver_rows=result.silver.num_rows,
        quarantined=counts,
        duplicates=result.duplicates,
        silver_key=silver_key,
        sent_to_health=sent,
    )
