"""boto3 adapters for the ports. Clients are created by the caller (never at import)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from thera.ports import Versioned

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client


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
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return dict(head.get("Metadata", {}))

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)


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
    def _decode(item: dict[str, Any] | None) -> Versioned | None:
        if not item or "version" not in item:
            return None
        return Versioned(int(item["version"]["N"]), json.loads(item["doc"]["S"]))

    def load(self, key: str) -> Versioned | None:
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return self._decode(item)

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
            return False, self._decode(exc.response.get("Item"))  # type: ignore[arg-type]
        return True, Versioned(expected_version + 1, doc)
