"""SilverToGold → Embeddings → Publisher handlers against the emulator, wired by the template's queues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeContext, load_event, load_handler_module
from tests.integration.conftest import Aws
from tests.integration.test_domain_health_handler import sqs_event
from tests.unit.lake import CANARY_EMAIL, CANARY_PHONE, build_lake, s3_notification
from thera.adapters.aws import DynamoVersionedStore
from thera.adapters.lsa import fit_lsa
from thera.kernel.tables import from_parquet
from thera_local.models import corpus_texts
from thera_local.standins.apollo import load_companies

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lake_in_s3(aws: Aws) -> Any:
    """The lake built by the real upstream stages, copied into the emulator's bucket."""
    lake = build_lake()
    s3 = aws.client("s3")
    for key, (data, _) in lake.store.objects.items():
        s3.put_object(Bucket=aws.bucket, Key=key, Body=data)
    return lake


@pytest.fixture(scope="module")
def local_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    companies = load_companies(ROOT / "local" / "data" / "companies_sample.jsonl")
    path = tmp_path_factory.mktemp("model") / "lsa.npz"
    fit_lsa(corpus_texts(companies), 64).save(path)
    return str(path)


def drain(aws: Aws, logical: str) -> list[str]:
    sqs, url = aws.client("sqs"), aws.queue_url(logical)
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return bodies
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if "s3:TestEvent" not in m["Body"]:
                bodies.append(m["Body"])


def invoke(stage: str, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = load_handler_module(stage).handler(event, FakeContext(stage))
    return result


def scan(aws: Aws, logical: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = aws.client("dynamodb").scan(TableName=aws.template.physical(logical))["Items"]
    return items


def embed_env(handler_env: Any, model: str, **extra: str) -> None:
    handler_env("EmbeddingsFunction", EMBEDDING_PROVIDER="local", LOCAL_EMBEDDING_MODEL=model, **extra)


def test_profiles_flow_from_silver_to_both_read_models_without_leaking_pii(
    aws: Aws, handler_env: Any, lake_in_s3: Any, local_model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    handler_env("SilverToGoldFunction")
    messages = [*lake_in_s3.profile_messages(aws.bucket), "{not json", json.dumps({"domain": "x.com"})]
    result = invoke("silver_to_gold", sqs_event(messages))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    (notification,) = drain(aws, "EmbedQueue")  # the gold part's S3 notification, sent by the bucket

    embed_env(handler_env, local_model)
    assert invoke("embeddings", sqs_event([notification])) == {"batchItemFailures": []}
    (embedded,) = [i for i in scan(aws, "EmbeddingsTable")][:1]
    assert len(scan(aws, "EmbeddingsTable")) == 2 and embedded["model_id"]["S"].startswith("local-lsa-64-")
    vectors = from_parquet(aws.client("s3").get_object(Bucket=aws.bucket, Key=embedded["key"]["S"])["Body"].read())
    assert vectors.num_rows == 2 and len(vectors["vector"][0].as_py()) == 64
    publish = drain(aws, "PublishQueue")
    # a redelivered notification: nothing embedded again, published again (a no-op there)
    assert invoke("embeddings", sqs_event([notification])) == {"batchItemFailures": []}
    assert len(drain(aws, "PublishQueue")) == 1 and len(scan(aws, "EmbeddingsTable")) == 2

    handler_env("PublisherFunction")
    assert invoke("publisher", sqs_event(publish * 2)) == {"batchItemFailures": []}
    public = {i["domain"]["S"]: i for i in scan(aws, "PublicStartupsTable")}
    private = {i["domain"]["S"]: i for i in scan(aws, "PrivateStartupsTable")}
    assert set(public) == set(private) == {"acme-robots.com", "company1.com"}
    assert public["acme-robots.com"]["name"]["S"] == "Acme Robots" and "expires_at" in public["acme-robots.com"]
    assert CANARY_EMAIL not in json.dumps(public) and "99876" not in json.dumps(public)
    assert {e["S"] for e in private["acme-robots.com"]["emails"]["L"]} >= {"hello@acme-robots.com"}
    logs = capsys.readouterr()
    for canary in (CANARY_EMAIL, CANARY_PHONE, "99876-5432"):
        assert canary not in logs.out + logs.err


def test_a_spent_budget_parks_the_part_without_failing_and_the_schedule_releases_it(
    aws: Aws, handler_env: Any, lake_in_s3: Any, local_model: str
) -> None:
    handler_env("SilverToGoldFunction")
    invoke("silver_to_gold", sqs_event(lake_in_s3.profile_messages(aws.bucket)))
    (notification,) = drain(aws, "EmbedQueue")
    embed_env(handler_env, local_model, DAILY_EMBEDDING_BUDGET_USD="0.000000001")  # one nano-dollar: no text fits
    assert invoke("embeddings", sqs_event([notification])) == {"batchItemFailures": []}
    assert scan(aws, "EmbeddingsTable") == []
    (parked,) = drain(aws, "EmbedWaitQueue")
    assert len(drain(aws, "PublishQueue")) == 1  # the read models do not wait for vectors
    aws.client("sqs").send_message(QueueUrl=aws.queue_url("EmbedWaitQueue"), MessageBody=parked)

    embed_env(handler_env, local_model)  # a new day, or a raised budget
    assert invoke("embeddings", load_event("embeddings_schedule.json")) == {"released": 1}
    (released,) = drain(aws, "EmbedQueue")
    assert invoke("embeddings", sqs_event([released])) == {"batchItemFailures": []}
    assert len(scan(aws, "EmbeddingsTable")) == 2
    (spend,) = [i for i in scan(aws, "QuotaTable") if i["pk"]["S"].startswith("embedding-spend#")]
    stored = DynamoVersionedStore(aws.client("dynamodb"), aws.template.physical("QuotaTable")).load(spend["pk"]["S"])
    assert stored is not None and stored.doc["tokens"] > 0 and stored.doc["calls"] == 2 and "expires_at" in spend


def test_unknown_keys_and_foreign_buckets_fail_alone(
    aws: Aws, handler_env: Any, lake_in_s3: Any, local_model: str
) -> None:
    handler_env("SilverToGoldFunction")
    invoke("silver_to_gold", sqs_event(lake_in_s3.profile_messages(aws.bucket)))
    good = drain(aws, "EmbedQueue")
    embed_env(handler_env, local_model)
    bad = [
        s3_notification("gold/profiles/date=2026-11-22/part-missing.parquet", bucket=aws.bucket),
        s3_notification("gold/profiles/date=2026-11-22/part-x.parquet", bucket="someone-else"),
        json.dumps({"gold_key": "silver/companies/x.parquet"}),
    ]
    result = invoke("embeddings", sqs_event([*bad, *good]))
    assert result == {"batchItemFailures": [{"itemIdentifier": f"m{i}"} for i in range(3)]}
    assert len(scan(aws, "EmbeddingsTable")) == 2  # the good part in the same batch went through
