"""moto's backends read and written in place, for code running in the emulator's process."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from thera_local.emulator.counting import RequestCounts
from thera_local.template import REGION


class InProcess:
    """moto's objects and items read in place, without HTTP and botocore's parsing: the stack saves
    its state from the emulator's own process (about 3 ms per object and 1 ms per item over HTTP).
    Item reads hold the lock DynamoDB requests are served under; an object is read as it stands."""

    def __init__(self, dynamodb_lock: threading.Lock) -> None:
        self._lock = dynamodb_lock

    def object(self, bucket: str, key: str) -> tuple[bytes, dict[str, str]] | None:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        got = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key)
        if got is None:
            return None
        prefix = "x-amz-meta-"  # moto keeps the headers; boto3 shows them without the prefix
        return bytes(got.value), {k[len(prefix) :]: v for k, v in got.metadata.items() if k.startswith(prefix)}

    def items(self, table: str) -> list[dict[str, Any]]:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        with self._lock:
            found = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(table)
            return [item.to_json()["Attributes"] for item in found.all_items()]

    def user_pools(self) -> list[dict[str, Any]]:
        """Every user pool's name and users, each with what signing in again needs: its password
        (moto keeps it as given; no API answers it), attributes, status and whether it is enabled."""
        from moto.cognitoidp.models import cognitoidp_backends
        from moto.core.models import DEFAULT_ACCOUNT_ID

        pools = list(cognitoidp_backends[DEFAULT_ACCOUNT_ID][REGION].user_pools.values())
        return [
            {
                "name": pool.name,
                "users": [
                    {
                        "username": user.username,
                        "password": user.password,
                        "status": user.status,
                        "enabled": user.enabled,
                        "attributes": [a for a in user.attributes if a["Name"] != "sub"],
                    }
                    for user in list(pool.users.values())
                ],
            }
            for pool in pools
        ]


class LocalSqs:
    """The SQS calls the runtime's pollers make, answered by moto's backend in place, in boto3's
    request and response shapes. The pollers run in the emulator's process; over HTTP every poll
    cost botocore's serializing and parsing on both ends of one process, and with some thirty
    pollers that was about half of the stack's CPU, which the functions' own calls waited behind.
    Each call holds the lock the emulator serves SQS receives, deletes and visibility changes under.
    """

    def __init__(self, lock: threading.Lock, counts: RequestCounts | None = None) -> None:
        self._lock = lock
        self._counts = counts

    def _count(self, action: str) -> None:
        if self._counts is not None:
            self._counts.add("sqs", action)

    @staticmethod
    def _backend() -> Any:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.sqs.models import sqs_backends

        return sqs_backends[DEFAULT_ACCOUNT_ID][REGION]

    def receive_message(
        self,
        *,
        QueueUrl: str,
        MaxNumberOfMessages: int = 1,
        WaitTimeSeconds: int = 0,
        AttributeNames: Iterable[str] = (),
        MessageAttributeNames: Iterable[str] = (),
    ) -> dict[str, Any]:
        if WaitTimeSeconds:
            raise ValueError("LocalSqs serves short polls only (WaitTimeSeconds=0): a long poll would hold the lock")
        backend, name = self._backend(), _queue_name(QueueUrl)
        with self._lock:
            queue = backend.get_queue(name)
            got = backend.receive_message(
                name, MaxNumberOfMessages, 0, queue.visibility_timeout, list(MessageAttributeNames)
            )
            messages = [_received(m, set(AttributeNames)) for m in got]
        if messages:  # Lambda's pollers long-poll; the local ones short-poll, so their empty receives are not AWS's
            self._count("ReceiveMessage")
        return {"Messages": messages} if messages else {}

    def delete_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self._count("DeleteMessageBatch")
        with self._lock:
            done, failed = self._backend().delete_message_batch(_queue_name(QueueUrl), Entries)
        return _batch_answer(done, failed)

    def change_message_visibility_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self._count("ChangeMessageVisibilityBatch")
        with self._lock:
            done, failed = self._backend().change_message_visibility_batch(_queue_name(QueueUrl), Entries)
        return _batch_answer(done, failed)


class LocalLogs:
    """PutLogEvents answered by moto's backend in place, under the lock the emulator serves
    CloudWatch Logs requests under (moto's log streams are plain lists and dicts: a
    ``sam logs`` read would otherwise iterate them while a put grows them)."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock

    def put(self, group: str, stream: str, events: list[dict[str, Any]]) -> None:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.logs.models import logs_backends

        backend = logs_backends[DEFAULT_ACCOUNT_ID][REGION]
        with self._lock:
            if group not in backend.groups:  # no LogGroup in the template: Lambda creates one
                backend.create_log_group(group, {})
            backend.ensure_log_stream(group, stream)
            backend.put_log_events(group, stream, events)


def _queue_name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _received(message: Any, names: set[str]) -> dict[str, Any]:
    """One received message as boto3 parses ReceiveMessage's answer (the system attributes a
    standard queue has)."""
    doc: dict[str, Any] = {
        "MessageId": message.id,
        "ReceiptHandle": message.receipt_handle,
        "MD5OfBody": message.body_md5,
        "Body": message.body,
    }
    if message.message_attributes:
        doc["MessageAttributes"] = message.message_attributes
        doc["MD5OfMessageAttributes"] = message.attribute_md5
    every = {
        "SenderId": message.sender_id,
        "SentTimestamp": str(message.sent_timestamp),
        "ApproximateReceiveCount": str(message.approximate_receive_count),
        "ApproximateFirstReceiveTimestamp": str(message.approximate_first_receive_timestamp),
    }
    attributes = {k: v for k, v in every.items() if "All" in names or k in names}
    if attributes:
        doc["Attributes"] = attributes
    return doc


def _batch_answer(done: list[str], failed: list[dict[str, Any]]) -> dict[str, Any]:
    answer: dict[str, Any] = {"Successful": [{"Id": i} for i in done]}
    if failed:
        answer["Failed"] = failed
    return answer
