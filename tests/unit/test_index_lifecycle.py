"""An index version the pointer stops naming is tagged superseded, which the bucket's lifecycle rule expires."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import ROOT
from tests.unit.served import DAY, NOW, served_sample
from thera.kernel import keys
from thera.matching.index_store import build_index, read_pointer
from thera_local.template import load_yaml

RULES = load_yaml(ROOT / "template.yaml")["Resources"]["DataLakeBucket"]["Properties"]["LifecycleConfiguration"][
    "Rules"
]


def test_a_rebuild_tags_every_object_of_the_replaced_version_and_none_of_the_current() -> None:
    served = served_sample(limit=40)
    store = served.store
    first = read_pointer(store)
    assert first is not None
    old = store.list(keys.index_object(first["version"], ""))
    assert len(old) >= 4 and not any(store.tags(k) for k in store.list(keys.INDEX))

    gold = store.list(keys.GOLD_PROFILES)[0]
    store.put(keys.gold_profiles_part(DAY, "again"), store.get(gold))  # a new gold part: the sources change
    assert build_index(store, NOW + timedelta(hours=1)).status == "built"

    second = read_pointer(store)
    assert second is not None and second["version"] != first["version"]
    assert {k: store.tags(k) for k in old} == dict.fromkeys(old, keys.SUPERSEDED_TAG)
    current = [*store.list(keys.index_object(second["version"], "")), keys.INDEX_POINTER]
    assert len(current) >= 5 and not any(store.tags(k) for k in current)


def test_an_unchanged_lake_tags_nothing() -> None:
    served = served_sample(limit=40)
    assert build_index(served.store, NOW + timedelta(hours=1)).status == "unchanged"
    assert not any(served.store.tags(k) for k in served.store.list(keys.INDEX))


def test_the_lifecycle_rule_expires_exactly_what_the_builder_tags() -> None:
    (rule,) = [r for r in RULES if "TagFilters" in r]
    assert rule["Status"] == "Enabled" and rule["Prefix"] == keys.INDEX
    assert {t["Key"]: t["Value"] for t in rule["TagFilters"]} == keys.SUPERSEDED_TAG
    assert rule["ExpirationInDays"] == {"Ref": "SupersededIndexRetentionDays"}
