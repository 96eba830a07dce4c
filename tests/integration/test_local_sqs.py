"""The pollers' in-process SQS: the same answers as boto3 over HTTP, receipt counts and redrive
included, and no message handed out twice to concurrent receivers."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.integration.conftest import Aws
from thera_local.emulator import Emulator

ALL: dict[str, Any] = {"AttributeNames": ["All"], "MessageAttributeNames": ["All"]}


def send(aws: Aws, queue: str, count: int) -> list[str]:
    sqs, url = aws.client("sqs"), aws.queue_url(queue)
    ids = []
    for i in range(count):
        attributes = {"kind": {"DataType": "String", "StringValue": f"k{i}"}} if i % 2 else {}
        ids.append(
            sqs.send_message(QueueUrl=url, MessageBody=f'{{"n": {i}}}', MessageAttributes=attributes)["MessageId"]
        )
    return ids


def shape(message: dict[str, Any]) -> tuple[Any, ...]:
    """What a poller reads of a message, without what changes from one receive to the next."""
    attributes = message.get("Attributes", {})
    return (
        message["MessageId"],
        message["Body"],
        message["MD5OfBody"],
        message.get("MessageAttributes"),
        message.get("MD5OfMessageAttributes"),
        sorted(attributes),
        attributes.get("SentTimestamp"),
        attributes.get("SenderId"),
    )


def test_local_receive_answers_as_boto3_does_and_deletes_for_good(aws: Aws, emulator: Emulator) -> None:
    local, sqs, url = emulator.local_sqs(), aws.client("sqs"), aws.queue_url("CrawlQueue")
    sent = send(aws, "CrawlQueue", 3)

    first = local.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, **ALL)["Messages"]
    assert sorted(m["MessageId"] for m in first) == sorted(sent)
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in first} == {"1"}
    answer = local.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for n, m in enumerate(first)
        ],
    )
    assert len(answer["Successful"]) == 3 and "Failed" not in answer

    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, **ALL)["Messages"]
    assert sorted(map(shape, again)) == sorted(map(shape, first))
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in again} == {"2"}

    answer = local.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(again)]
    )
    assert len(answer["Successful"]) == 3
    assert local.delete_message_batch(QueueUrl=url, Entries=[{"Id": "x", "ReceiptHandle": "not-a-handle"}])["Failed"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == counts["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert local.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **ALL) == {}


def test_a_message_received_too_often_moves_to_the_dead_letter_queue(aws: Aws, emulator: Emulator) -> None:
    local, url = emulator.local_sqs(), aws.queue_url("CrawlQueue")
    (sent,) = send(aws, "CrawlQueue", 1)
    receives = 0
    while got := local.receive_message(QueueUrl=url, MaxNumberOfMessages=1, **ALL).get("Messages"):
        receives += 1
        entry = {"Id": "0", "ReceiptHandle": got[0]["ReceiptHandle"], "VisibilityTimeout": 0}
        local.change_message_visibility_batch(QueueUrl=url, Entries=[entry])
        assert receives < 20
    dlq = aws.client("sqs").receive_message(QueueUrl=aws.queue_url("CrawlDLQ"), MaxNumberOfMessages=10)["Messages"]
    assert [m["MessageId"] for m in dlq] == [sent]
    policy = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
    assert receives == int(json.loads(policy["RedrivePolicy"])["maxReceiveCount"])


def test_concurrent_local_receives_hand_out_each_message_once(aws: Aws, emulator: Emulator) -> None:
    local, url = emulator.local_sqs(), aws.queue_url("HealthQueue")
    sent = send(aws, "HealthQueue", 300)
    got: list[str] = []
    lock = threading.Lock()

    def drain() -> None:
        while batch := local.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **ALL).get("Messages"):
            with lock:
                got.extend(m["MessageId"] for m in batch)

    threads = [threading.Thread(target=drain) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(sent)


def test_a_long_poll_is_refused(aws: Aws, emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="short polls"):
        emulator.local_sqs().receive_message(QueueUrl=aws.queue_url("CrawlQueue"), WaitTimeSeconds=5)
