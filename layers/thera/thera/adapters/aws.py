"""boto3 adapters for the ports. Clients are created by the caller (never at import)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from thera.kernel.ports import EmbeddingRecord, LastCrawl, Received, SavedShortlist, Versioned

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient


class S3ObjectStore:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata=metadata or {})

    def get(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def metadata(self, key: str) -> dict[str, str] | None:
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in {"404", "NoSuchKey", "NotFound"}:
                return None
            # S3 answers 403 for a missing key when the role may not list that exact key; the
            # stages may list their prefixes, so a listing tells "absent" from "forbidden".
            if code in {"403", "AccessDenied"} and not self._listed(key):
                return None
            raise
        return dict(head.get("Metadata", {}))

    def _listed(self, key: str) -> bool:
        got = self._s3.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        return any(obj["Key"] == key for obj in got.get("Contents", []))

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)

    def tag(self, key: str, tags: dict[str, str]) -> None:
        self._s3.put_object_tagging(
            Bucket=self.bucket, Key=key, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
        )

    def tags(self, key: str) -> dict[str, str]:
        got = self._s3.get_object_tagging(Bucket=self.bucket, Key=key)
        return {t["Key"]: t["Value"] for t in got["TagSet"]}


class DynamoStateStore:
    """JSON documents in a table keyed by ``pk`` (string)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._ddb = client
        self._table = table

    def get(self, key: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        if not item:
            return None
        doc: dict[str, Any] = json.loads(item["doc"]["S"])
        return doc

    def put(self, key: str, doc: dict[str, Any]) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={"pk": {"S": key}, "doc": {"S": json.dumps(doc, sort_keys=True)}},
        )


class DynamoVersionedStore:
    """Versioned JSON documents, one item each (``pk``, ``version``, ``doc``, TTL ``expires_at``).

    ``compare_and_set`` is one conditional ``UpdateItem`` (``version = :expected``, or
    ``attribute_not_exists(pk)`` for a new item). On a lost race the current item
    comes back with the error (``ReturnValuesOnConditionCheckFailure``), so the
    caller re-plans without another read.
    """

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._ddb = client
        self._table = table

    @staticmethod
    def decode(item: dict[str, Any] | None) -> Versioned | None:
        if not item or "version" not in item:
            return None
        return Versioned(int(item["version"]["N"]), json.loads(item["doc"]["S"]))

    def load(self, key: str) -> Versioned | None:
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return self.decode(item)

    def compare_and_set(
        self, key: str, expected_version: int, doc: dict[str, Any], expires_at: int | None = None
    ) -> tuple[bool, Versioned | None]:
        values: dict[str, Any] = {
            ":new": {"N": str(expected_version + 1)},
            ":doc": {"S": json.dumps(doc, sort_keys=True)},
        }
        sets = ["#v = :new", "#doc = :doc"]
        names = {"#v": "version", "#doc": "doc"}
        if expires_at is not None:
            names["#exp"] = "expires_at"
            values[":exp"] = {"N": str(expires_at)}
            sets.append("#exp = :exp")
        if expected_version == 0:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "#v = :expected"
            values[":expected"] = {"N": str(expected_version)}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False, self.decode(exc.response.get("Item"))  # type: ignore[arg-type]
        return True, Versioned(expected_version + 1, doc)


class SqsQueue:
    """Batched sends (10 per call); entries SQS refuses are retried, then reported."""

    def __init__(self, client: SQSClient, url: str) -> None:
        self._sqs = client
        self.url = url

    def send_many(self, bodies: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        self.send_raw([json.dumps(b, sort_keys=True) for b in bodies], delay_seconds)

    def send_raw(self, bodies: list[str], delay_seconds: int = 0) -> None:
        """Bodies as they are (a redriven message is sent back byte for byte, malformed or not)."""
        for start in range(0, len(bodies), 10):
            entries = [
                {"Id": str(i), "MessageBody": b, "DelaySeconds": delay_seconds}
                for i, b in enumerate(bodies[start : start + 10])
            ]
            for _ in range(3):
                failed = self._sqs.send_message_batch(QueueUrl=self.url, Entries=entries).get("Failed", [])  # type: ignore[arg-type]
                if not failed:
                    break
                retry = {f["Id"] for f in failed if not f.get("SenderFault")}
                if len(retry) < len(failed):
                    raise RuntimeError(f"SQS refused messages: {failed}")
                entries = [e for e in entries if e["Id"] in retry]
            else:
                raise RuntimeError(f"SQS kept failing {len(entries)} message(s) to {self.url}")

    def receive(self, max_messages: int = 10) -> list[Received]:
        got = self._sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=1)
        return [Received(m["ReceiptHandle"], m["Body"]) for m in got.get("Messages", [])]

    def delete(self, receipts: list[str]) -> None:
        for start in range(0, len(receipts), 10):
            entries: Any = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts[start : start + 10])]
            failed = self._sqs.delete_message_batch(QueueUrl=self.url, Entries=entries).get("Failed", [])
            if failed:
                raise RuntimeError(f"SQS did not delete {len(failed)} message(s) from {self.url}: {failed[0]}")


def _batch_get(ddb: DynamoDBClient, table: str, pks: list[str], **read: Any) -> list[dict[str, Any]]:
    """Every item of ``table`` with one of ``pks``: 100 keys per call, unprocessed keys asked again."""
    items: list[dict[str, Any]] = []
    unique = sorted(set(pks))
    for start in range(0, len(unique), 100):
        request: Any = {table: {"Keys": [{"pk": {"S": k}} for k in unique[start : start + 100]], **read}}
        while request:
            got = ddb.batch_get_item(RequestItems=request)
            items.extend(got.get("Responses", {}).get(table, []))
            request = got.get("UnprocessedKeys") or None
    return items


def _batch_put(ddb: DynamoDBClient, table: str, items: list[dict[str, Any]]) -> None:
    """Put ``items``: 25 per call, unprocessed items written again."""
    for start in range(0, len(items), 25):
        request: Any = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or None


class DynamoDomainRegistry:
    """``pk`` = domain, ``hash`` = content hash of the silver row last sent on, ``source`` = its silver key."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._ddb = client
        self._table = table

    def hashes(self, domains: list[str]) -> dict[str, str]:
        items = _batch_get(
            self._ddb, self._table, domains, ProjectionExpression="pk, #h", ExpressionAttributeNames={"#h": "hash"}
        )
        return {item["pk"]["S"]: item["hash"]["S"] for item in items}

    def remember(self, hashes: dict[str, str], source: str) -> None:
        items = [{"pk": {"S": d}, "hash": {"S": h}, "source": {"S": source}} for d, h in sorted(hashes.items())]
        _batch_put(self._ddb, self._table, items)


class DynamoCrawlCache:
    """``pk`` = domain, ``crawled_at`` (epoch seconds), ``content_key``, ``expires_at`` (TTL), ``skips`` (counter)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._ddb = client
        self._table = table

    def last_crawl(self, domain: str) -> LastCrawl | None:
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": domain}}, ConsistentRead=True).get("Item")
        if not item or "crawled_at" not in item:
            return None
        return LastCrawl(float(item["crawled_at"]["N"]), item.get("content_key", {}).get("S", ""))

    def remember(self, domain: str, crawled_at: float, expires_at: int, content_key: str) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": domain}},
            UpdateExpression="SET crawled_at = :c, expires_at = :e, content_key = :k",
            ExpressionAttributeValues={
                ":c": {"N": str(crawled_at)},
                ":e": {"N": str(expires_at)},
                ":k": {"S": content_key},
            },
        )

    def note_skip(self, domain: str) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": domain}},
            UpdateExpression="ADD skips :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )


class DynamoEmbeddingIndex:
    """``pk`` = domain, ``model_id``, ``text_hash``, ``key`` (the embeddings part), ``tokens``."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._ddb = client
        self._table = table

    def known(self, domains: list[str]) -> dict[str, EmbeddingRecord]:
        return {
            item["pk"]["S"]: EmbeddingRecord(
                item["pk"]["S"],
                item["model_id"]["S"],
                item["text_hash"]["S"],
                item.get("key", {}).get("S", ""),
                int(item.get("tokens", {}).get("N", "0")),
                int(item.get("version", {}).get("N", "0")),
            )
            for item in _batch_get(self._ddb, self._table, domains)
        }

    def remember(self, records: list[EmbeddingRecord]) -> None:
        items = [
            {
                "pk": {"S": r.domain},
                "model_id": {"S": r.model_id},
                "text_hash": {"S": r.text_hash},
                "key": {"S": r.key},
                "tokens": {"N": str(r.tokens)},
                "version": {"N": str(r.version)},
            }
            for r in records
        ]
        _batch_put(self._ddb, self._table, items)


class DynamoReadModel:
    """A read-model table keyed by ``domain``; one conditional ``PutItem`` keeps the newer version."""

    _to_ddb = TypeSerializer()

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._ddb = client
        self._table = table

    def put_if_newer(self, item: dict[str, Any]) -> str:
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={k: self._to_ddb.serialize(v) for k, v in item.items()},
                ConditionExpression="attribute_not_exists(#d) OR #v < :v",
                ExpressionAttributeNames={"#d": "domain", "#v": "version"},
                ExpressionAttributeValues={":v": {"N": str(item["version"])}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old: Any = exc.response.get("Item") or {}
            stored = old.get("version", {}).get("N")
            return "same" if stored is not None and int(stored) == item["version"] else "stale"
        return "written"


class DynamoProfileRegistry:
    """``pk`` = domain, ``version`` of the newest profile built, ``gold_key`` of the part holding it."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._ddb = client
        self._table = table

    def versions(self, domains: list[str]) -> dict[str, int]:
        return {i["pk"]["S"]: int(i["version"]["N"]) for i in _batch_get(self._ddb, self._table, domains)}

    def remember(self, versions: dict[str, int], gold_key: str) -> None:
        items = [
            {"pk": {"S": d}, "version": {"N": str(v)}, "gold_key": {"S": gold_key}} for d, v in sorted(versions.items())
        ]
        _batch_put(self._ddb, self._table, items)


class DynamoShortlistStore:
    """``pk`` = shortlist id, ``summary`` (a map of strings), ``doc`` (the saved shortlist as JSON text,
    never rewritten) and ``decisions`` (a map per domain, each set by its own ``UpdateItem``)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._ddb = client
        self._table = table

    def create(self, shortlist_id: str, summary: dict[str, str], doc: dict[str, Any]) -> bool:
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": shortlist_id},
                    "summary": {"M": {k: {"S": v} for k, v in summary.items()}},
                    "doc": {"S": json.dumps(doc, sort_keys=True)},
                    "decisions": {"M": {}},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def get(self, shortlist_id: str) -> SavedShortlist | None:
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": shortlist_id}}, ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return None
        decisions = {
            domain: {k: v["S"] for k, v in d["M"].items()}
            for domain, d in item.get("decisions", {}).get("M", {}).items()
        }
        return SavedShortlist(shortlist_id, self._strings(item), json.loads(item["doc"]["S"]), decisions)

    @staticmethod
    def _strings(item: dict[str, Any]) -> dict[str, str]:
        return {k: v["S"] for k, v in item.get("summary", {}).get("M", {}).items()}

    def summaries(self) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        request: dict[str, Any] = {"TableName": self._table, "ProjectionExpression": "pk, summary"}
        while True:
            page = self._ddb.scan(**request)
            found.extend({**self._strings(item), "id": item["pk"]["S"]} for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def decide(self, shortlist_id: str, domain: str, decision: dict[str, str]) -> bool:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": shortlist_id}},
                UpdateExpression="SET decisions.#d = :v",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#d": domain},
                ExpressionAttributeValues={":v": {"M": {k: {"S": v} for k, v in decision.items()}}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True
