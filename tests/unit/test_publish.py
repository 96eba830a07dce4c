"""The read models: the newest version wins whatever the delivery order; no personal data in public."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

from tests.fakes import MemoryObjectStore, MemoryReadModel
from tests.unit.lake import CANARY_EMAIL, build_lake
from tests.unit.test_gold import gold
from thera.kernel import keys
from thera.kernel.tables import from_parquet, to_parquet
from thera.profiles.publish import PUBLIC_FIELDS, PublishOutcome, publish_part

NOW = datetime(2026, 11, 22, 14, tzinfo=UTC)


def versions(store: MemoryObjectStore, gold_key: str, *shifts: int) -> list[str]:
    """The same part written again with its versions moved by ``shift`` ms each (older or newer inputs)."""
    table = from_parquet(store.get(gold_key))
    out = []
    for shift in shifts:
        moved = table.set_column(
            table.schema.get_field_index("version"), "version", [[v + shift for v in table["version"].to_pylist()]]
        )
        key = keys.gold_profiles_part("2026-11-22", f"v{shift}")
        store.put(key, to_parquet(moved))
        out.append(key)
    return out


def publish(store: MemoryObjectStore, key: str, public: MemoryReadModel, private: MemoryReadModel) -> PublishOutcome:
    return publish_part(key, store=store, public=public, private=private, now=lambda: NOW, ttl_days=90)


def test_out_of_order_and_duplicate_deliveries_leave_the_newest_row() -> None:
    lake = build_lake()
    outcome, _ = gold(lake)
    parts = versions(lake.store, outcome.key, 0, 1000, 2000)
    for order in itertools.permutations(parts):
        public, private = MemoryReadModel(), MemoryReadModel()
        for key in [*order, *order]:  # every part delivered twice
            publish(lake.store, key, public, private)
        newest = from_parquet(lake.store.get(parts[-1])).to_pylist()
        assert {d: r["version"] for d, r in public.rows.items()} == {p["domain"]: p["version"] for p in newest}
        assert {d: r["gold_key"] for d, r in private.rows.items()} == {p["domain"]: parts[-1] for p in newest}
    replay = publish(lake.store, parts[0], public, private)
    assert (replay.public_written, replay.stale) == (0, 2)
    again = publish(lake.store, parts[-1], public, private)
    assert (again.public_written, again.same) == (0, 2)


def test_pii_canaries_never_reach_the_public_rows_and_private_rows_hold_them_masked() -> None:
    lake = build_lake(name="Acme Robots", city="Recife")
    outcome, _ = gold(lake)
    public, private = MemoryReadModel(), MemoryReadModel()
    publish(lake.store, outcome.key, public, private)
    dumped = json.dumps(public.rows)
    assert CANARY_EMAIL not in dumped and "99876" not in dumped and "@" not in dumped
    row = public.rows["acme-robots.com"]
    assert set(row) <= {*PUBLIC_FIELDS, "version", "updated_at", "expires_at"}
    assert row["name"] == "Acme Robots" and row["health_score"] == 100 and row["completeness"] > 75
    assert row["expires_at"] == int((NOW + timedelta(days=90)).timestamp())
    contacts = private.rows["acme-robots.com"]
    assert "m***********@acme-robots.com" in contacts["emails"] and "hello@acme-robots.com" in contacts["emails"]
    assert CANARY_EMAIL not in json.dumps(private.rows) and "+55 *******5432" in contacts["phones"]


def test_a_public_field_that_looks_like_personal_data_is_dropped() -> None:
    lake = build_lake(name="Call +1 415 555 0199")
    outcome, _ = gold(lake)
    public, private = MemoryReadModel(), MemoryReadModel()
    result = publish(lake.store, outcome.key, public, private)
    assert "name" not in public.rows["acme-robots.com"] and result.pii_dropped == 1
