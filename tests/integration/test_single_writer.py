"""The pull and the index builder run alone under a lease in the state table (no reserved concurrency)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import SAMPLE, FakeContext, emitted_metrics, load_event, load_handler_module
from tests.integration.conftest import API_KEY, Aws
from thera.adapters.aws import DynamoVersionedStore
from thera.kernel.lease import Lease, lease_key
from thera.stages.index_builder import INDEX_JOB
from thera_local.standins.apollo import ApolloStandIn, load_companies, organization_from_company


@pytest.fixture
def slow_standin() -> Iterator[ApolloStandIn]:
    """Every answer takes 0.3 s, so a pull of five pages is still running when the second one starts."""
    orgs = [organization_from_company(c) for c in load_companies(SAMPLE)][:45]
    server = ApolloStandIn(orgs, API_KEY, latency=0.3)
    server.start()
    yield server
    server.stop()


def lease_store(aws: Aws) -> DynamoVersionedStore:
    return DynamoVersionedStore(aws.client("dynamodb"), aws.template.physical("StateTable"))


def test_of_two_pulls_started_together_exactly_one_walks_the_pages(
    aws: Aws, handler_env: Any, slow_standin: ApolloStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    handler_env("ApolloPullFunction", APOLLO_BASE_URL=slow_standin.api_base, APOLLO_PER_PAGE="10")
    module = load_handler_module("apollo_pull")
    event = load_event("apollo_pull_schedule.json")
    start = threading.Barrier(2)
    reports: list[dict[str, Any]] = []

    def run() -> None:
        start.wait()
        reports.append(module.handler(event, FakeContext("apollo-pull")))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r["status"] for r in reports) == ["complete", "lease_held"]
    (done,) = [r for r in reports if r["status"] == "complete"]
    (left,) = [r for r in reports if r["status"] == "lease_held"]
    assert done["companies"] == 45 and done["api_calls"] == 5
    assert left["api_calls"] == 0 and "holds the pull until" in left["stop_reason"]
    assert slow_standin.stats()["calls"] == 5  # each page fetched once
    assert "LeaseHeld_apollo_pull" in emitted_metrics(capsys.readouterr().out)
    lease = lease_store(aws).load(lease_key("apollo_pull"))
    assert lease is not None and lease.doc["holder"] == ""


def test_the_index_builder_leaves_while_another_run_builds_and_runs_after_a_crashed_holders_lease_expires(
    aws: Aws, handler_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    handler_env("IndexBuilderFunction")
    module = load_handler_module("index_builder")
    store = lease_store(aws)
    Lease(store, INDEX_JOB, time.time).acquire("a-live-run", 300)
    assert module.handler({}, FakeContext("index-builder"))["status"] == "lease_held"
    assert "LeaseHeld_index_builder" in emitted_metrics(capsys.readouterr().out)
    lease = store.load(lease_key(INDEX_JOB))
    assert lease is not None and lease.doc["holder"] == "a-live-run"

    assert Lease(store, INDEX_JOB, time.time).release("a-live-run")
    Lease(store, INDEX_JOB, lambda: time.time() - 3600).acquire("crashed-an-hour-ago", 300)
    assert module.handler({}, FakeContext("index-builder"))["status"] == "empty"  # it ran: nothing to index yet
