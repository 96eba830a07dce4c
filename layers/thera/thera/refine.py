"""Bronze → silver for one bronze object, idempotent on redelivery.

Outputs sit at keys derived from the bronze key; the silver file is written last,
so its presence means the object was fully processed and a replay writes nothing.
A bronze file that cannot be read as the bronze schema is quarantined whole, with
the reason, instead of failing forever in the queue.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from thera import keys, schemas
from thera.ports import ObjectStore
from thera.silver import QualityRules, SchemaMismatch, read_bronze, transform
from thera.tables import to_parquet


@dataclass
class RefineOutcome:
    bronze_key: str
    status: str  # processed | already_processed | schema_rejected
    silver_rows: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    silver_key: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def refine_bronze_object(store: ObjectStore, bronze_key: str, rules: QualityRules) -> RefineOutcome:
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
        store.put(quarantine_key.removesuffix(".parquet") + ".rejected.json", json.dumps(reject).encode())
        store.put(silver_key, to_parquet(schemas.SILVER_COMPANIES.empty_table()), {"status": "schema_rejected"})
        return RefineOutcome(bronze_key, "schema_rejected", quarantined={"schema_mismatch": 1}, silver_key=silver_key)

    result = transform(bronze, bronze_key, rules)
    counts: dict[str, int] = {}
    if result.quarantine.num_rows:
        for reason in result.quarantine["reason"].to_pylist():
            counts[reason] = counts.get(reason, 0) + 1
        store.put(quarantine_key, to_parquet(result.quarantine))
    store.put(silver_key, to_parquet(result.silver), {"rows": str(result.silver.num_rows)})
    return RefineOutcome(
        bronze_key,
        "processed",
        silver_rows=result.silver.num_rows,
        quarantined=counts,
        duplicates=result.duplicates,
        silver_key=silver_key,
    )
