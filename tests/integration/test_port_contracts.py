"""Port contracts: each case runs against the in-memory fake (tests/fakes.py) and against the AWS
adapter on the emulator, with the bucket, tables and queues template.yaml declares, so a fake cannot
drift from the adapter it stands in for.

The emulator's account is provisioned once for the module: each case works under keys and domains
of its own (``ns``), and each queue case gets queues of its own with the template's attributes.
Left out: the providers (Bedrock, Apollo, Firecrawl, the health checker), which have no in-memory
fake here, and S3 listings past one page of 1,000 keys (too slow on the emulator for this tier).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from tests.fakes import (
    MemoryCrawlCache,
    MemoryEmbeddingIndex,
    MemoryObjectStore,
    MemoryProfileRegistry,
    MemoryQueue,
    MemoryReadModel,
    MemoryRegistry,
    MemoryShortlistStore,
    MemoryStateStore,
    MemoryVersionedStore,
)
from tests.integration.conftest import Aws, fresh_account
from thera.adapters.aws import (
    DynamoCrawlCache,
    DynamoDomainRegistry,
    DynamoEmbeddingIndex,
    DynamoProfileRegistry,
    DynamoReadModel,
    DynamoShortlistStore,
    DynamoStateStore,
    DynamoVersionedStore,
    S3ObjectStore,
    SqsQueue,
)
from thera.kernel.ports import (
    Contention,
    CrawlCache,
    DomainRegistry,
    EmbeddingIndex,
    EmbeddingRecord,
    LastCrawl,
    MessageQueue,
    ObjectStore,
    ProfileRegistry,
    ReadModel,
    ReceivingQueue,
    SavedShortlist,
    ShortlistStore,
    StateStore,
    Versioned,
    VersionedStore,
    cas_update,
)
from thera.profiles.embed import move_messages
from thera_local.emulator import Emulator

IMPLEMENTATIONS = ["memory", "aws"]
QUEUE_ATTRIBUTES = {
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "VisibilityTimeout",
}
MORE_THAN_A_BATCH = 130  # DynamoDB takes 100 keys per BatchGetItem and 25 items per BatchWriteItem


@dataclass
class Account:
    """The template's resources on the emulator and one client per service, for the whole module."""

    aws: Aws
    s3: Any
    dynamodb: Any
    sqs: Any

    def table(self, logical: str) -> str:
        return self.aws.template.physical(logical)

    def queue(self, logical: str, ns: str) -> str:
        """A queue of this case's own, with the attributes the template gives ``logical``
        (SQS allows one purge a minute, so cases cannot share one queue and purge it)."""
        template_url = self.aws.queue_url(logical)
        got = self.sqs.get_queue_attributes(QueueUrl=template_url, AttributeNames=["All"])["Attributes"]
        attributes = {k: v for k, v in got.items() if k in QUEUE_ATTRIBUTES}
        name = f"{self.aws.template.physical(logical)}-{ns}"
        url: str = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return url


@pytest.fixture(scope="module")
def account(emulator: Emulator) -> Account:
    aws = fresh_account(emulator)
    return Account(aws, aws.client("s3"), aws.client("dynamodb"), aws.client("sqs"))


def on_aws(request: pytest.FixtureRequest) -> Account | None:
    """The module's account for the ``aws`` case (started only then), None for the fake's."""
    if request.param == "aws":
        found: Account = request.getfixturevalue("account")
        return found
    return None


@pytest.fixture
def ns() -> str:
    """This case's own corner of the shared account."""
    return uuid.uuid4().hex[:12]


# ---------------------------------------------------------------- ObjectStore


@pytest.fixture(params=IMPLEMENTATIONS)
def objects(request: pytest.FixtureRequest) -> ObjectStore:
    acc = on_aws(request)
    return MemoryObjectStore() if acc is None else S3ObjectStore(acc.s3, acc.aws.bucket)


def test_an_object_comes_back_with_its_bytes_and_metadata(objects: ObjectStore, ns: str) -> None:
    key = f"contract-{ns}/raw/apollo/date=2026-11-22/page=00001.json.gz"
    objects.put(key, b"\x00\xff binary", {"run-id": "run-1", "Total-Pages": "3"})
    objects.put(f"contract-{ns}/empty", b"")
    assert objects.get(key) == b"\x00\xff binary"
    assert objects.metadata(key) == {"run-id": "run-1", "total-pages": "3"}  # S3 lowers metadata names
    assert (objects.get(f"contract-{ns}/empty"), objects.metadata(f"contract-{ns}/empty")) == (b"", {})


def test_a_missing_object_has_no_metadata_and_cannot_be_read(objects: ObjectStore, ns: str) -> None:
    missing = f"contract-{ns}/silver/never-written.parquet"
    assert objects.metadata(missing) is None
    with pytest.raises((KeyError, ClientError)):  # the port names no error: the core asks metadata() first
        objects.get(missing)
    assert objects.list(f"contract-{ns}/") == []


def test_putting_again_replaces_the_bytes_and_the_metadata(objects: ObjectStore, ns: str) -> None:
    key = f"contract-{ns}/gold/profiles/part-a.parquet"
    objects.put(key, b"first", {"run-id": "run-1"})
    objects.put(key, b"second")
    assert (objects.get(key), objects.metadata(key)) == (b"second", {})
    assert objects.list(f"contract-{ns}/") == [key]


def test_list_gives_every_key_under_a_prefix_sorted(objects: ObjectStore, ns: str) -> None:
    root = f"contract-{ns}/"
    keys = [
        f"{root}date=2026-11-22/sweep=s/page=00002.parquet",
        f"{root}date=2026-11-22/sweep=s/page=00001.parquet",
        f"{root}date=2026-11-23/sweep=s/page=00001.parquet",
        f"{root}date=2026-11-22x/a name with spaces é.json",
        f"contract-{ns}x/outside",
    ]
    for key in keys:
        objects.put(key, key.encode())
    assert objects.list(f"{root}date=2026-11-22/") == sorted(keys[:2])
    assert objects.list(f"{root}date=2026-11-22") == sorted([*keys[:2], keys[3]])  # a prefix, not a folder
    assert objects.list(root) == sorted(keys[:4])
    assert objects.list(f"{root}date=2026-11-22/sweep=t") == []
    assert objects.get(keys[3]) == keys[3].encode()


def test_tagging_replaces_an_objects_tags_and_leaves_its_bytes(objects: ObjectStore, ns: str) -> None:
    key, other = f"contract-{ns}/index/v=1/vectors.npy", f"contract-{ns}/index/v=2/vectors.npy"
    objects.put(key, b"old", {"rows": "3"})
    objects.put(other, b"new")
    objects.tag(key, {"superseded": "true", "by": "v=2"})
    objects.tag(key, {"superseded": "true"})
    readable = cast("MemoryObjectStore | S3ObjectStore", objects)  # reading tags back is not the core's business
    assert (readable.tags(key), readable.tags(other)) == ({"superseded": "true"}, {})
    assert (objects.get(key), objects.metadata(key)) == (b"old", {"rows": "3"})
    with pytest.raises((KeyError, ClientError)):
        objects.tag(f"contract-{ns}/index/v=3/missing.npy", {"superseded": "true"})


# ---------------------------------------------------------------- StateStore


@pytest.fixture(params=IMPLEMENTATIONS)
def states(request: pytest.FixtureRequest) -> StateStore:
    acc = on_aws(request)
    return MemoryStateStore() if acc is None else DynamoStateStore(acc.dynamodb, acc.table("StateTable"))


def test_a_state_document_is_the_last_one_put(states: StateStore, ns: str) -> None:
    key = f"cursor#{ns}"
    assert states.get(key) is None
    states.put(key, {"sweep": "2026-11-22", "next_page": 3, "complete": False})
    states.put(key, {"sweep": "2026-11-22", "next_page": 4, "complete": True})
    assert states.get(key) == {"sweep": "2026-11-22", "next_page": 4, "complete": True}
    assert states.get(f"other#{ns}") is None


def test_a_state_document_comes_back_as_json_gives_it(states: StateStore, ns: str) -> None:
    key = f"cursor#{ns}"
    states.put(key, {"pages": (1, 2), "rate": 0.5, "by_page": {1: "a"}, "left": None})
    got = states.get(key)
    assert got == {"pages": [1, 2], "rate": 0.5, "by_page": {"1": "a"}, "left": None}
    assert got is not None
    got["pages"].append(3)
    assert states.get(key) == {"pages": [1, 2], "rate": 0.5, "by_page": {"1": "a"}, "left": None}
    with pytest.raises(TypeError):
        states.put(f"bad#{ns}", {"at": datetime(2026, 11, 22, tzinfo=UTC)})
    assert states.get(f"bad#{ns}") is None


# ---------------------------------------------------------------- VersionedStore


@pytest.fixture(params=IMPLEMENTATIONS)
def versioned(request: pytest.FixtureRequest) -> VersionedStore:
    acc = on_aws(request)
    return MemoryVersionedStore() if acc is None else DynamoVersionedStore(acc.dynamodb, acc.table("QuotaTable"))


def test_the_first_write_expects_version_zero_and_only_one_wins(versioned: VersionedStore, ns: str) -> None:
    assert versioned.load(ns) is None
    assert versioned.compare_and_set(ns, 0, {"used": 1}) == (True, Versioned(1, {"used": 1}))
    assert versioned.compare_and_set(ns, 0, {"used": 9}) == (False, Versioned(1, {"used": 1}))
    assert versioned.load(ns) == Versioned(1, {"used": 1})


def test_a_stale_version_is_refused_with_the_stored_state(versioned: VersionedStore, ns: str) -> None:
    versioned.compare_and_set(ns, 0, {"used": 1})
    assert versioned.compare_and_set(ns, 1, {"used": 2}, expires_at=1_800_000_000) == (True, Versioned(2, {"used": 2}))
    assert versioned.compare_and_set(ns, 1, {"used": 7}) == (False, Versioned(2, {"used": 2}))
    assert versioned.compare_and_set(ns, 5, {"used": 7}) == (False, Versioned(2, {"used": 2}))
    assert versioned.load(ns) == Versioned(2, {"used": 2})


def test_expecting_a_version_of_an_absent_key_is_refused(versioned: VersionedStore, ns: str) -> None:
    assert versioned.compare_and_set(ns, 3, {"used": 1}) == (False, None)
    assert versioned.load(ns) is None


def test_a_versioned_document_comes_back_as_json_gives_it(versioned: VersionedStore, ns: str) -> None:
    doc = {"windows": ("minute", "hour"), "by_day": {20833: 4}}
    assert versioned.compare_and_set(ns, 0, doc) == (True, Versioned(1, doc))
    loaded = versioned.load(ns)
    assert loaded == Versioned(1, {"windows": ["minute", "hour"], "by_day": {"20833": 4}})
    assert loaded is not None
    loaded.doc["windows"].append("day")  # a plan that edits what it was handed changes nothing stored
    assert versioned.load(ns) == Versioned(1, {"windows": ["minute", "hour"], "by_day": {"20833": 4}})
    refused = versioned.compare_and_set(ns, 0, {})[1]
    assert refused is not None
    refused.doc["by_day"]["20833"] = 0
    assert versioned.load(ns) == Versioned(1, {"windows": ["minute", "hour"], "by_day": {"20833": 4}})


def count_up(current: Versioned | None) -> tuple[dict[str, Any], int]:
    n = (current.doc["n"] if current else 0) + 1
    return {"n": n}, n


def test_cas_update_plans_again_on_what_a_rival_wrote(versioned: VersionedStore, ns: str) -> None:
    seen: list[Versioned | None] = []

    def plan(current: Versioned | None) -> tuple[dict[str, Any], int]:
        if not seen:  # a rival writes between this read and this write
            versioned.compare_and_set(ns, 0, {"n": 10})
        seen.append(current)
        return count_up(current)

    result, stored = cas_update(versioned, ns, plan)
    assert (result, stored) == (11, Versioned(2, {"n": 11}))
    assert seen == [None, Versioned(1, {"n": 10})]  # the second plan ran on the rival's state, with no read
    assert versioned.load(ns) == stored
    assert cas_update(versioned, ns, lambda current: (None, "no write")) == ("no write", stored)
    assert versioned.load(ns) == stored


def test_cas_update_gives_up_when_rivals_keep_winning(versioned: VersionedStore, ns: str) -> None:
    def plan(current: Versioned | None) -> tuple[dict[str, Any], None]:
        rival = versioned.load(ns)
        versioned.compare_and_set(ns, rival.version if rival else 0, {"rival": True})
        return {"mine": True}, None

    with pytest.raises(Contention):
        cas_update(versioned, ns, plan, max_attempts=3)
    assert versioned.load(ns) == Versioned(3, {"rival": True})


def test_concurrent_cas_updates_lose_no_increment(versioned: VersionedStore, ns: str) -> None:
    def worker() -> None:
        for _ in range(10):
            cas_update(versioned, ns, count_up, max_attempts=500)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert versioned.load(ns) == Versioned(40, {"n": 40})  # every increment was one successful write


# ---------------------------------------------------------------- MessageQueue and ReceivingQueue


class Queue(MessageQueue, ReceivingQueue, Protocol):
    pass


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Queues:
    """A source and a target queue, and time: the fake's moves by hand, the emulator's by sleeping."""

    source: Queue
    target: Queue
    clock: Callable[[], float]
    sleep_until: Callable[[float], None]


def receive_all(queue: ReceivingQueue, expected: int) -> list[tuple[str, str]]:
    """(receipt, body) of ``expected`` messages: SQS may hand a batch out over several receives."""
    got: list[tuple[str, str]] = []
    for _ in range(5):
        got += [(m.receipt, m.body) for m in queue.receive(10)]
        if len(got) >= expected:
            break
    return got


@pytest.fixture(params=IMPLEMENTATIONS)
def queues(request: pytest.FixtureRequest, ns: str) -> Queues:
    acc = on_aws(request)
    if acc is None:
        clock = ManualClock()

        def advance(deadline: float) -> None:
            clock.now = max(clock.now, deadline)

        return Queues(MemoryQueue(clock), MemoryQueue(clock), clock, advance)
    # as in production: parts parked on EmbedWaitQueue are moved back to EmbedQueue
    source, target = acc.queue("EmbedWaitQueue", ns), acc.queue("EmbedQueue", ns)
    return Queues(
        SqsQueue(acc.sqs, source),
        SqsQueue(acc.sqs, target),
        time.monotonic,
        lambda deadline: time.sleep(max(0.0, deadline - time.monotonic())),
    )


def test_sent_messages_are_received_then_gone_once_deleted(queues: Queues) -> None:
    queue = queues.source
    bodies = [{"gold_key": f"gold/profiles/part-{i}.parquet", "n": i} for i in range(3)]
    queue.send_many(bodies)
    got = receive_all(queue, 3)
    assert sorted((json.loads(body) for _, body in got), key=lambda b: b["n"]) == bodies
    queue.delete([receipt for receipt, _ in got])
    assert queue.receive() == []


def test_a_received_message_stays_hidden_until_it_is_deleted(queues: Queues) -> None:
    queue = queues.source
    queue.send_raw(["one", "two"])
    first = receive_all(queue, 2)
    assert sorted(body for _, body in first) == ["one", "two"]
    assert queue.receive() == []  # in flight: not handed out again within the visibility timeout
    queue.delete([receipt for receipt, _ in first])
    queue.delete([receipt for receipt, _ in first])  # deleting again is harmless


def test_raw_bodies_travel_byte_for_byte(queues: Queues) -> None:
    raw = ['{"b": 1,  "a": 2}', "not json {", " spaced "]  # a poison message is redriven as it came
    queues.source.send_raw(raw)
    assert sorted(body for _, body in receive_all(queues.source, len(raw))) == sorted(raw)


def test_a_delayed_message_shows_up_only_after_its_delay(queues: Queues) -> None:
    queue = queues.source
    sent_at = queues.clock()
    queue.send_many([{"domain": "later.com"}], delay_seconds=2)
    queue.send_many([{"domain": "now.com"}])
    assert [body for _, body in receive_all(queue, 1)] == ['{"domain": "now.com"}']
    queues.sleep_until(sent_at + 2.5)
    assert [m.body for m in queue.receive()] == ['{"domain": "later.com"}']


def test_a_receive_hands_out_at_most_ten_and_asking_for_more_fails(queues: Queues) -> None:
    queue = queues.source
    queue.send_many([{"n": i} for i in range(12)])
    assert 1 <= len(queue.receive(3)) <= 3
    assert 1 <= len(queue.receive(10)) <= 10
    with pytest.raises((ValueError, ClientError)):
        queue.receive(11)


def test_deleting_a_receipt_never_handed_out_fails(queues: Queues) -> None:
    with pytest.raises(RuntimeError):
        queues.source.delete(["not-a-receipt"])


def test_move_messages_moves_every_message_as_it_is(queues: Queues) -> None:
    raw = [f'{{"gold_key": "gold/profiles/part-{i:02d}.parquet"}}' for i in range(11)] + ["not json {"]
    queues.source.send_raw(raw)
    assert move_messages(queues.source, queues.target, lambda: 60.0) == len(raw)
    assert sorted(body for _, body in receive_all(queues.target, len(raw))) == sorted(raw)


# ---------------------------------------------------------------- EmbeddingIndex


@pytest.fixture(params=IMPLEMENTATIONS)
def embeddings(request: pytest.FixtureRequest) -> EmbeddingIndex:
    acc = on_aws(request)
    if acc is None:
        return MemoryEmbeddingIndex()
    return DynamoEmbeddingIndex(acc.dynamodb, acc.table("EmbeddingsTable"))


def test_the_embedding_index_knows_only_what_was_remembered(embeddings: EmbeddingIndex, ns: str) -> None:
    a, b = f"a-{ns}.com", f"b-{ns}.com"
    first = EmbeddingRecord(a, "titan-v2", "h1", "embeddings/part-1.parquet", 120, 3)
    bare = EmbeddingRecord(b, "titan-v2", "h2")
    embeddings.remember([first, bare])
    assert embeddings.known([a, b, f"c-{ns}.com", a]) == {a: first, b: bare}
    assert embeddings.known([]) == {}
    again = EmbeddingRecord(a, "lsa-256", "h3", "embeddings/part-2.parquet", 0, 4)
    embeddings.remember([again])
    assert embeddings.known([a]) == {a: again}


def test_the_embedding_index_spans_more_domains_than_one_batch(embeddings: EmbeddingIndex, ns: str) -> None:
    records = [EmbeddingRecord(f"d{i}-{ns}.com", "titan-v2", f"h{i}", "k", i, i) for i in range(MORE_THAN_A_BATCH)]
    embeddings.remember(records)
    assert embeddings.known([r.domain for r in records]) == {r.domain: r for r in records}


# ---------------------------------------------------------------- ProfileRegistry


@pytest.fixture(params=IMPLEMENTATIONS)
def profiles(request: pytest.FixtureRequest) -> ProfileRegistry:
    acc = on_aws(request)
    return MemoryProfileRegistry() if acc is None else DynamoProfileRegistry(acc.dynamodb, acc.table("ProfilesTable"))


def test_the_profile_registry_gives_the_version_last_remembered(profiles: ProfileRegistry, ns: str) -> None:
    a, b = f"a-{ns}.com", f"b-{ns}.com"
    profiles.remember({a: 1_764_000_000, b: 5}, "gold/profiles/part-1.parquet")
    assert profiles.versions([a, b, f"c-{ns}.com"]) == {a: 1_764_000_000, b: 5}
    profiles.remember({a: 2}, "gold/profiles/part-2.parquet")  # keeping the newest is the caller's rule
    assert profiles.versions([a]) == {a: 2}
    many = {f"d{i}-{ns}.com": i for i in range(MORE_THAN_A_BATCH)}
    profiles.remember(many, "gold/profiles/part-3.parquet")
    assert profiles.versions([*many, a]) == {**many, a: 2}


# ---------------------------------------------------------------- ReadModel


@dataclass
class ReadModelUnderTest:
    model: ReadModel
    stored: Callable[[str], dict[str, Any] | None]


@pytest.fixture(params=IMPLEMENTATIONS)
def read_model(request: pytest.FixtureRequest) -> ReadModelUnderTest:
    acc = on_aws(request)
    if acc is None:
        fake = MemoryReadModel()
        return ReadModelUnderTest(fake, fake.rows.get)
    table, ddb, decode = acc.table("PublicStartupsTable"), acc.dynamodb, TypeDeserializer()

    def stored(domain: str) -> dict[str, Any] | None:
        item = ddb.get_item(TableName=table, Key={"domain": {"S": domain}}, ConsistentRead=True).get("Item")
        return None if item is None else {k: decode.deserialize(v) for k, v in item.items()}

    return ReadModelUnderTest(DynamoReadModel(ddb, table), stored)


def row(domain: str, version: int) -> dict[str, Any]:
    return {"domain": domain, "name": "Acme", "keywords": ["robots", "retail"], "health_score": 80, "version": version}


def test_a_read_model_row_only_moves_forward(read_model: ReadModelUnderTest, ns: str) -> None:
    domain, model = f"acme-{ns}.com", read_model.model
    newest = {**row(domain, 3), "name": "Acme Robots", "team_size": 40}
    assert [model.put_if_newer(r) for r in (row(domain, 2), row(domain, 2), row(domain, 1), newest)] == [
        "written",
        "same",
        "stale",
        "written",
    ]
    assert model.put_if_newer(row(domain, 2)) == "stale"
    assert read_model.stored(domain) == newest
    assert read_model.stored(f"other-{ns}.com") is None


def test_a_read_model_refuses_what_dynamodb_cannot_hold(read_model: ReadModelUnderTest, ns: str) -> None:
    domain = f"acme-{ns}.com"
    with pytest.raises(TypeError):
        read_model.model.put_if_newer({**row(domain, 1), "health_score": 80.5})  # floats need Decimal
    assert read_model.stored(domain) is None


# ---------------------------------------------------------------- DomainRegistry


@pytest.fixture(params=IMPLEMENTATIONS)
def registry(request: pytest.FixtureRequest) -> DomainRegistry:
    acc = on_aws(request)
    return MemoryRegistry() if acc is None else DynamoDomainRegistry(acc.dynamodb, acc.table("DomainsTable"))


def test_the_domain_registry_gives_the_hash_last_remembered(registry: DomainRegistry, ns: str) -> None:
    a, b = f"a-{ns}.com", f"b-{ns}.com"
    registry.remember({a: "h1", b: "h2"}, "silver/companies/page=00001.parquet")
    assert registry.hashes([a, b, f"c-{ns}.com", a]) == {a: "h1", b: "h2"}
    registry.remember({a: "h3"}, "silver/companies/page=00002.parquet")
    assert registry.hashes([a, b]) == {a: "h3", b: "h2"}
    assert registry.hashes([]) == {}
    many = {f"d{i}-{ns}.com": f"h{i}" for i in range(MORE_THAN_A_BATCH)}
    registry.remember(many, "silver/companies/page=00003.parquet")
    assert registry.hashes(list(many)) == many


# ---------------------------------------------------------------- CrawlCache


@pytest.fixture(params=IMPLEMENTATIONS)
def crawl_cache(request: pytest.FixtureRequest) -> CrawlCache:
    acc = on_aws(request)
    return MemoryCrawlCache() if acc is None else DynamoCrawlCache(acc.dynamodb, acc.table("CrawlCacheTable"))


def test_the_crawl_cache_gives_the_last_crawl_and_skips_change_nothing(crawl_cache: CrawlCache, ns: str) -> None:
    domain = f"acme-{ns}.com"
    assert crawl_cache.last_crawl(domain) is None
    crawl_cache.note_skip(domain)  # counted, but a skip is not a crawl
    assert crawl_cache.last_crawl(domain) is None
    page = "silver/firecrawl/date=2026-11-29/acme.parquet"
    crawl_cache.remember(domain, 1_764_417_600.25, 1_767_000_000, page)
    crawl_cache.note_skip(domain)
    assert crawl_cache.last_crawl(domain) == LastCrawl(1_764_417_600.25, page)
    crawl_cache.remember(domain, 1_765_000_000.0, 1_768_000_000, "")  # a crawl whose page did not land
    assert crawl_cache.last_crawl(domain) == LastCrawl(1_765_000_000.0, "")
    assert crawl_cache.last_crawl(f"other-{ns}.com") is None


# ---------------------------------------------------------------- ShortlistStore


@pytest.fixture(params=IMPLEMENTATIONS)
def shortlists(request: pytest.FixtureRequest) -> ShortlistStore:
    acc = on_aws(request)
    return MemoryShortlistStore() if acc is None else DynamoShortlistStore(acc.dynamodb, acc.table("ShortlistsTable"))


def test_a_saved_shortlist_comes_back_as_saved_with_its_decisions(shortlists: ShortlistStore, ns: str) -> None:
    sid, other = f"{ns}a", f"{ns}b"
    summary = {"name": "Robots, Q1", "created_by": "arn:aws:iam::1:user/ana"}
    doc = {"matches": [{"rank": 1, "domain": "picker.io", "score": 0.91, "reasons": ["a", "b"]}], "filters": (None,)}
    assert shortlists.get(sid) is None
    assert shortlists.create(sid, summary, doc) is True
    assert shortlists.create(sid, {"name": "again"}, {}) is False  # an id is never overwritten
    assert shortlists.create(other, {"name": "Other"}, {"matches": []}) is True
    assert shortlists.decide(sid, "picker.io", {"decision": "reject", "decided_by": "ana"}) is True
    assert shortlists.decide(sid, "picker.io", {"decision": "accept", "decided_by": "ben"}) is True
    assert shortlists.decide(sid, "pack.bot.ai", {"decision": "reject", "decided_by": "ana"}) is True
    assert shortlists.decide(f"{ns}missing", "picker.io", {"decision": "accept"}) is False
    assert shortlists.get(f"{ns}missing") is None
    assert shortlists.get(sid) == SavedShortlist(
        sid,
        summary,
        {"matches": [{"rank": 1, "domain": "picker.io", "score": 0.91, "reasons": ["a", "b"]}], "filters": [None]},
        {
            "picker.io": {"decision": "accept", "decided_by": "ben"},
            "pack.bot.ai": {"decision": "reject", "decided_by": "ana"},
        },
    )
    mine = [s for s in shortlists.summaries() if s["id"].startswith(ns)]  # the account is shared by the cases
    assert sorted(mine, key=lambda s: s["id"]) == [{**summary, "id": sid}, {"name": "Other", "id": other}]
