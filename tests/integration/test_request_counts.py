"""The emulator counts the requests it serves per service and action, the local tools' apart."""

from __future__ import annotations

from typing import Any

import boto3

from thera_local.emulator import CREDENTIALS, Emulator, aws_client
from thera_local.emulator.server import COUNTS_PATH
from thera_local.stack import http_json


def _counts(emulator: Emulator) -> dict[str, Any]:
    doc: dict[str, Any] = http_json("GET", emulator.endpoint + COUNTS_PATH)
    return doc


def _function_client(emulator: Emulator, service: str) -> Any:
    """A client as a function builds one: no tool marker in its user agent."""
    return boto3.client(service, endpoint_url=emulator.endpoint, **CREDENTIALS)  # type: ignore[call-overload]


def _delta(after: dict[str, Any], before: dict[str, Any], service: str) -> dict[str, int]:
    old = before["requests"].get(service, {})
    return {a: n - old.get(a, 0) for a, n in after["requests"].get(service, {}).items() if n - old.get(a, 0)}


def test_functions_requests_are_counted_by_action_and_the_tools_apart(emulator: Emulator) -> None:
    s3, ddb = _function_client(emulator, "s3"), _function_client(emulator, "dynamodb")
    s3.create_bucket(Bucket="counted")
    ddb.create_table(
        TableName="counted",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    before = _counts(emulator)
    for n in range(3):
        s3.put_object(Bucket="counted", Key=f"raw/{n}.json", Body=b"{}")
    s3.get_object(Bucket="counted", Key="raw/0.json")
    s3.list_objects_v2(Bucket="counted", Prefix="raw/")
    ddb.batch_write_item(RequestItems={"counted": [{"PutRequest": {"Item": {"id": {"S": str(n)}}}} for n in range(4)]})
    ddb.get_item(TableName="counted", Key={"id": {"S": "1"}})
    tool = aws_client("s3", emulator.endpoint)
    tool.list_objects_v2(Bucket="counted")
    tool.get_object(Bucket="counted", Key="raw/1.json")
    after = _counts(emulator)

    assert _delta(after, before, "s3") == {"PUT": 3, "GET": 1, "LIST": 1}
    assert _delta(after, before, "dynamodb") == {"BatchWriteItem": 1, "BatchWriteItem:items": 4, "GetItem": 1}
    assert after["tool_requests"] - before["tool_requests"] == 2


def test_the_pollers_receives_count_only_when_they_bring_messages(emulator: Emulator) -> None:
    sqs = _function_client(emulator, "sqs")
    url = sqs.create_queue(QueueName="counted-queue")["QueueUrl"]
    local = emulator.local_sqs()
    before = _counts(emulator)
    for _ in range(5):
        assert local.receive_message(QueueUrl=url, MaxNumberOfMessages=10) == {}  # empty short polls
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": "x"} for n in range(3)])
    got = local.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    local.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)]
    )
    after = _counts(emulator)
    assert _delta(after, before, "sqs") == {"SendMessageBatch": 1, "ReceiveMessage": 1, "DeleteMessageBatch": 1}
