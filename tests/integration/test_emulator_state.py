"""The emulator's saved state: a snapshot restores every object, item, waiting message and local user;
a second snapshot reads again only the objects written since the first; moto's answers stay moto's."""

from __future__ import annotations

import json
import stat
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROOT
from tests.integration.conftest import API_KEY, FIRECRAWL_KEY, Aws
from thera_local.cognito import JwtAuthorizer, UserPool
from thera_local.emulator import Emulator, aws_client, provision, restore, snapshot
from thera_local.emulator.persistence import USERS_FILE
from thera_local.template import Template
from thera_local.users import add_user

SECRETS = {"ApolloApiKeySecret": API_KEY, "FirecrawlApiKeySecret": FIRECRAWL_KEY}


def lake(aws: Aws) -> dict[str, tuple[bytes, dict[str, str]]]:
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(Bucket=aws.bucket).get("Contents", [])
    got = {o["Key"]: s3.get_object(Bucket=aws.bucket, Key=o["Key"]) for o in listed}
    return {k: (g["Body"].read(), g["Metadata"]) for k, g in got.items()}


def items(aws: Aws) -> dict[str, list[dict[str, Any]]]:
    ddb = aws.client("dynamodb")
    tables = ddb.list_tables()["TableNames"]
    return {t: sorted(ddb.scan(TableName=t)["Items"], key=json.dumps) for t in tables}


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "over-http"])
def test_snapshot_restores_everything_and_reads_only_what_changed(
    aws: Aws, emulator: Emulator, tmp_path: Path, in_process: bool
) -> None:
    local = emulator.in_process() if in_process else None
    s3, sqs = aws.client("s3"), aws.client("sqs")
    aws.client("dynamodb").put_item(
        TableName=aws.template.physical("PublicStartupsTable"),
        Item={
            "domain": {"S": "acme.com"},
            "version": {"N": "3"},
            "score": {"N": "0.75"},
            "tags": {"L": [{"S": "fintech"}, {"N": "2"}]},
            "flags": {"M": {"public": {"BOOL": True}, "gone": {"NULL": True}}},
        },
    )
    for queue in sqs.list_queues()["QueueUrls"]:  # the test events S3 sent when notifications were set
        sqs.purge_queue(QueueUrl=queue)
    for n in range(30):
        s3.put_object(Bucket=aws.bucket, Key=f"notes/k{n}.json", Body=f"body {n}".encode(), Metadata={"n": str(n)})
    url = aws.queue_url("CrawlQueue")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"domain": "acme.com"}))
    state = tmp_path / "state"

    first = snapshot(state, aws.endpoint, local)
    assert (first["objects"], first["objects_read"], first["messages"]) == (30, 30, 1)

    s3.put_object(Bucket=aws.bucket, Key="notes/k3.json", Body=b"body three", Metadata={"n": "three"})
    s3.put_object(Bucket=aws.bucket, Key="notes/new.json", Body=b"new")
    s3.delete_object(Bucket=aws.bucket, Key="notes/k4.json")
    second = snapshot(state, aws.endpoint, local)
    assert (second["objects"], second["objects_read"]) == (30, 2)
    saved, saved_items = lake(aws), items(aws)
    assert first["items"] >= 1 and saved_items[aws.template.physical("PublicStartupsTable")]

    # a new stack: moto's state is per process, so the same emulator reset and provisioned again
    req = urllib.request.Request(aws.endpoint + "/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(req, timeout=10).close()  # noqa: S310 - loopback emulator
    provision(aws.template, aws.endpoint, {"ApolloApiKeySecret": "k", "FirecrawlApiKeySecret": "k"})
    for queue in sqs.list_queues()["QueueUrls"]:
        sqs.purge_queue(QueueUrl=queue)
    assert lake(aws) == {}
    restore(state, aws.endpoint)
    assert lake(aws) == saved and items(aws) == saved_items
    assert saved["notes/k3.json"] == (b"body three", {"n": "three"}) and "notes/k4.json" not in saved
    got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    assert [json.loads(m["Body"]) for m in got] == [{"domain": "acme.com"}]
    # after a restore the next snapshot links the restored files rather than reading them
    third = snapshot(state, aws.endpoint, local)
    assert (third["objects"], third["objects_read"], third["messages"]) == (30, 0, 1)


def test_queue_attributes_and_receives_answer_as_moto_does(aws: Aws) -> None:
    sqs = aws.client("sqs")
    url = aws.queue_url("CrawlQueue")
    for start in range(0, 25, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(start + n)} for n in range(min(10, 25 - start))]
        )
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
    assert len(got) == 10
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "MessageRetentionPeriod"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "15" and attrs["ApproximateNumberOfMessagesNotVisible"] == "10"
    every = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert {k: every[k] for k in names} == attrs and "QueueArn" in every
    with pytest.raises(ClientError, match="InvalidAttributeName"):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["NoSuchAttribute"])
    rest = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        rest += batch
    assert sorted(int(m["Body"]) for m in got + rest) == list(range(25))


def test_users_sign_in_after_a_restart_and_their_tokens_still_verify(emulator: Emulator, tmp_path: Path) -> None:
    """`thera user add`, then `thera down` (a save) and `thera up` (an emulator without state, provisioned
    from the template with the saved state): the same pool and client, the users sign in, tokens verify."""
    endpoint = emulator.endpoint

    def new_stack() -> UserPool:
        req = urllib.request.Request(endpoint + "/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(req, timeout=10).close()  # noqa: S310 - loopback emulator
        pool = provision(template, endpoint, SECRETS, restore_from=state if state.exists() else None)
        assert pool is not None
        return pool

    def sign_in(pool: UserPool, email: str, password: str) -> str:
        answer = aws_client("cognito-idp", endpoint).admin_initiate_auth(
            UserPoolId=pool.pool_id,
            ClientId=pool.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
        return str(answer["AuthenticationResult"]["IdToken"])

    template = Template(ROOT / "template.yaml", {"ApiAuth": "Cognito", "ApolloBaseUrl": "http://127.0.0.1:9/api/v1"})
    state = tmp_path / "state"
    before = new_stack()
    printed = add_user(template, endpoint, "ana@example.com")
    add_user(template, endpoint, "ben@example.com", "Local-Passw0rd!")
    token = sign_in(before, "ana@example.com", printed)
    saved = snapshot(state, endpoint, emulator.in_process())
    assert saved["users"] == 2 and stat.S_IMODE((state / USERS_FILE).stat().st_mode) == 0o600

    after = new_stack()
    assert after == before  # the same pool and client ids: a token's iss and aud still name them
    authorizer = JwtAuthorizer.for_pool(after, endpoint)
    assert authorizer.check(f"Bearer {token}")["claims"]["email"] == "ana@example.com"  # issued before
    for email, password in (("ana@example.com", printed), ("ben@example.com", "Local-Passw0rd!")):
        claims = authorizer.check(f"Bearer {sign_in(after, email, password)}")["claims"]
        assert (claims["email"], claims["aud"]) == (email, after.client_id)
    with pytest.raises(ClientError, match="NotAuthorizedException"):
        sign_in(after, "ana@example.com", "Wrong-Passw0rd!")
    with pytest.raises(ClientError, match="UsernameExistsException"):  # kept, so not added twice
        add_user(template, endpoint, "ben@example.com", "Local-Passw0rd!")
