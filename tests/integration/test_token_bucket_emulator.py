"""The DynamoDB token bucket under concurrent takers, on the emulator."""

from __future__ import annotations

import json

from tests.integration.conftest import Aws
from tests.unit.test_quota import WINDOWS, run_race
from thera.adapters.aws import DynamoVersionedStore
from thera.lake.quota import TokenBucket, default_windows

T0 = 86400.0 * 20833


def test_eight_threads_never_overspend_the_dynamodb_bucket(aws: Aws) -> None:
    table = aws.template.physical("QuotaTable")

    def bucket() -> TokenBucket:
        return TokenBucket(
            DynamoVersionedStore(aws.client("dynamodb"), table),
            "apollo",
            WINDOWS,
            clock=lambda: T0 + 10,
            max_attempts=500,
        )

    granted = run_race(bucket, threads=8, takes=20)
    assert granted == 50
    item = aws.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "apollo"}}, ConsistentRead=True)["Item"]
    doc = json.loads(item["doc"]["S"])
    assert (doc["minute"]["used"], doc["hour"]["used"], doc["day"]["used"]) == (50, 50, 50)
    assert int(item["version"]["N"]) == 50  # every grant was exactly one successful compare-and-set


def test_hour_window_binds_across_minutes_on_the_emulator(aws: Aws) -> None:
    table = aws.template.physical("QuotaTable")
    now = [T0]
    bucket = TokenBucket(
        DynamoVersionedStore(aws.client("dynamodb"), table),
        "apollo",
        default_windows(per_minute=3, per_hour=5, per_day=600),
        clock=lambda: now[0],
    )
    granted = []
    for minute in range(3):
        now[0] = T0 + 60 * minute + 1
        granted.append(sum(bucket.take().allowed for _ in range(4)))
    assert granted == [3, 2, 0]
    assert bucket.usage() == {"minute": (0, 3), "hour": (5, 5), "day": (5, 600)}


def test_emulator_makes_each_conditional_update_atomic(aws: Aws) -> None:
    """The raw pattern moto alone gets wrong under threads: conditional ADD up to a cap."""
    import threading

    from botocore.exceptions import ClientError

    table = aws.template.physical("QuotaTable")
    wins: list[int] = []
    refusals: list[str] = []
    lock = threading.Lock()

    def taker() -> None:
        ddb = aws.client("dynamodb")
        mine = 0
        for _ in range(30):
            try:
                ddb.update_item(
                    TableName=table,
                    Key={"pk": {"S": "raw"}},
                    UpdateExpression="ADD n :one",
                    ConditionExpression="attribute_not_exists(n) OR n < :cap",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":cap": {"N": "100"}},
                )
                mine += 1
            except ClientError as exc:
                refusals.append(exc.response["Error"]["Code"])
        with lock:
            wins.append(mine)

    threads = [threading.Thread(target=taker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    item = aws.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "raw"}})["Item"]
    assert sum(wins) == 100 and item["n"]["N"] == "100"
    assert set(refusals) == {"ConditionalCheckFailedException"}
