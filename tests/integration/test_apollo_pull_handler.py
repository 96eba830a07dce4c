"""ApolloPullFunction against the emulator and the Apollo stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import SAMPLE, FakeContext, load_event, load_handler_module
from tests.integration.conftest import API_KEY, Aws, HandlerEnv
from thera.kernel import keys
from thera.kernel.ports import ApolloAuthError
from thera.lake.ingest import CURSOR_KEY
from thera_local.standins.apollo import ApolloStandIn, load_companies, organization_from_company


@pytest.fixture
def standin() -> Iterator[ApolloStandIn]:
    orgs = [organization_from_company(c) for c in load_companies(SAMPLE)][:45]
    server = ApolloStandIn(orgs, API_KEY)
    server.start()
    yield server
    server.stop()


def invoke(handler_env: HandlerEnv, standin: ApolloStandIn, **env: str) -> dict[str, object]:
    handler_env("ApolloPullFunction", **{"APOLLO_BASE_URL": standin.api_base, "APOLLO_PER_PAGE": "10", **env})
    module = load_handler_module("apollo_pull")
    result: dict[str, object] = module.handler(load_event("apollo_pull_schedule.json"), FakeContext("apollo-pull"))
    return result


def test_pull_lands_raw_and_bronze_and_notifies_the_bronze_queue(
    aws: Aws, handler_env: HandlerEnv, standin: ApolloStandIn
) -> None:
    report = invoke(handler_env, standin)
    assert report["status"] == "complete" and report["companies"] == 45 and report["api_calls"] == 5
    s3 = aws.client("s3")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=aws.bucket)["Contents"]]
    assert sum(k.startswith("raw/apollo/date=2026-11-22/") and k.endswith(".jsonl.gz") for k in listed) == 5
    bronze = [k for k in listed if keys.is_bronze_companies(k)]
    assert len(bronze) == 5
    sqs = aws.client("sqs")
    bodies = []
    for _ in range(3):
        bodies += [
            m["Body"]
            for m in sqs.receive_message(QueueUrl=aws.queue_url("BronzeQueue"), MaxNumberOfMessages=10).get(
                "Messages", []
            )
        ]
    assert sum("ObjectCreated" in b for b in bodies) == 5
    state = aws.client("dynamodb").get_item(TableName=aws.template.physical("QuotaTable"), Key={"pk": {"S": "apollo"}})[
        "Item"
    ]
    assert json.loads(state["doc"]["S"])["day"]["used"] == 5
    assert standin.stats()["calls"] == 5


def test_second_delivery_of_the_schedule_spends_nothing(
    aws: Aws, handler_env: HandlerEnv, standin: ApolloStandIn
) -> None:
    invoke(handler_env, standin)
    again = invoke(handler_env, standin)
    assert again["status"] == "already_complete" and again["api_calls"] == 0
    assert standin.stats()["calls"] == 5


def test_exhausted_day_quota_saves_the_cursor_and_a_later_run_resumes(
    aws: Aws, handler_env: HandlerEnv, standin: ApolloStandIn
) -> None:
    first = invoke(handler_env, standin, QUOTA_PER_DAY="2", QUOTA_MAX_WAIT_SECONDS="0")
    assert first["status"] == "quota_exhausted" and first["next_page"] == 3
    from thera.adapters.aws import DynamoStateStore

    cursor = DynamoStateStore(aws.client("dynamodb"), aws.template.physical("StateTable")).get(CURSOR_KEY)
    assert cursor is not None and cursor["next_page"] == 3 and not cursor["complete"]
    second = invoke(handler_env, standin, QUOTA_PER_DAY="600")
    assert second["status"] == "complete" and second["companies"] == 25
    assert sorted(standin.stats()["pages_served"]) == [1, 2, 3, 4, 5]


def test_refused_key_fails_with_a_clear_error_and_no_data(aws: Aws, handler_env: HandlerEnv) -> None:
    server = ApolloStandIn([], "another-key")
    server.start()
    try:
        with pytest.raises(ApolloAuthError, match="HTTP 401"):
            invoke(handler_env, server)
    finally:
        server.stop()
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=aws.bucket)


def test_two_segments_share_the_day_70_30_through_the_stand_in_and_keep_their_own_cursors(
    aws: Aws, handler_env: HandlerEnv, standin: ApolloStandIn
) -> None:
    segments = [
        {"name": "b2b", "share": 70, "filters": {"q_organization_keyword_tags": ["B2B"]}},
        {"name": "consumer", "share": 30, "filters": {"q_organization_keyword_tags": ["Consumer"]}},
    ]
    report = invoke(
        handler_env,
        standin,
        APOLLO_SEARCH_SEGMENTS=json.dumps(segments),
        APOLLO_PER_PAGE="2",
        QUOTA_PER_DAY="10",
        QUOTA_MAX_WAIT_SECONDS="0",
    )
    assert report["status"] == "quota_exhausted" and report["api_calls"] == 10
    parts = {p["segment"]: p for p in report["segments"]}  # type: ignore[attr-defined]
    assert (parts["b2b"]["api_calls"], parts["consumer"]["api_calls"]) == (7, 3)
    listed = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=aws.bucket)["Contents"]]
    raw = [k for k in listed if k.startswith(keys.RAW_APOLLO)]
    assert sum("/sweep=2026-11-22.b2b/" in k for k in raw) == 7
    assert sum("/sweep=2026-11-22.consumer/" in k for k in raw) == 3
    from thera.adapters.aws import DynamoStateStore
    from thera.lake.ingest import cursor_key

    cursors = DynamoStateStore(aws.client("dynamodb"), aws.template.physical("StateTable"))
    assert cursors.get(cursor_key("b2b"))["next_page"] == 8  # type: ignore[index]
    assert cursors.get(cursor_key("consumer"))["next_page"] == 4  # type: ignore[index]
    assert cursors.get(CURSOR_KEY) is None
