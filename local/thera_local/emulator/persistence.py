"""The emulator's state saved to files (``snapshot``) and put back into a new emulator (``restore``,
and ``restore_users`` once the template's user pool exists again)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from thera_local.cloudformation import ARTIFACTS_BUCKET
from thera_local.emulator.clients import aws_client
from thera_local.emulator.in_process import InProcess
from thera_local.function_logs import MAX_BATCH, HttpLogs

USERS_FILE = "cognito-users.json"  # the user pools' users, passwords included: the owner's eyes only (0600)


def snapshot(directory: Path, endpoint: str, local: InProcess | None = None) -> dict[str, int]:
    """Save every object, item, waiting message and function log line so a later stack can carry on
    from here.
    ``local`` reads objects and items in place (the caller runs the emulator), else over HTTP."""
    s3, ddb, sqs = aws_client("s3", endpoint), aws_client("dynamodb", endpoint), aws_client("sqs", endpoint)
    tmp = directory.with_name(directory.name + ".tmp")
    if tmp.exists():
        _rmtree(tmp)
    counts = {
        "objects": 0,
        "items": 0,
        "messages": 0,
        "unsaved_messages": 0,
        "objects_read": 0,
        "log_events": 0,
        "users": 0,
    }
    for bucket in (b["Name"] for b in s3.list_buckets().get("Buckets", [])):
        if bucket == ARTIFACTS_BUCKET:
            continue  # uploaded again from the source folders at every start
        saved = _object_index(directory / "s3", bucket)
        index: dict[str, dict[str, Any]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                key, version = obj["Key"], _version(obj)
                path = tmp / "s3" / bucket / key
                path.parent.mkdir(parents=True, exist_ok=True)
                before = saved.get(key)
                if before and before.get("version") == version and _link(directory / "s3" / bucket / key, path):
                    index[key] = before  # saved by an earlier snapshot, unchanged since: linked, not read again
                else:
                    got = local.object(bucket, key) if local else _get_object(s3, bucket, key)
                    if got is None:
                        continue  # deleted since the listing
                    path.write_bytes(got[0])
                    index[key] = {"version": version, "metadata": got[1]}
                    counts["objects_read"] += 1
                counts["objects"] += 1
        (tmp / "s3").mkdir(parents=True, exist_ok=True)
        (tmp / "s3" / f"{bucket}.objects.json").write_text(json.dumps(index))
    (tmp / "dynamodb").mkdir(parents=True, exist_ok=True)
    for table in ddb.list_tables().get("TableNames", []):
        if local:
            items = local.items(table)
        else:
            pages = ddb.get_paginator("scan").paginate(TableName=table)
            items = [i for page in pages for i in page.get("Items", [])]
        (tmp / "dynamodb" / f"{table}.json").write_text(json.dumps(items))
        counts["items"] += len(items)
    (tmp / "sqs").mkdir(parents=True, exist_ok=True)
    for url in sqs.list_queues().get("QueueUrls", []):
        bodies: list[dict[str, Any]] = []
        handles: list[str] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, MessageAttributeNames=["All"]
            )
            msgs = got.get("Messages", [])
            if not msgs:
                break
            bodies.extend({"Body": m["Body"], "MessageAttributes": m.get("MessageAttributes", {})} for m in msgs)
            handles.extend(m["ReceiptHandle"] for m in msgs)
        for i in range(0, len(handles), 10):  # hand them back: the running stack keeps its messages
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for n, h in enumerate(handles[i : i + 10])
                ],
            )
        # delayed messages and ones a consumer holds cannot be read: say so rather than pretend
        attrs = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        counts["unsaved_messages"] += int(attrs["ApproximateNumberOfMessagesDelayed"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )
        (tmp / "sqs" / (url.rsplit("/", 1)[1] + ".json")).write_text(json.dumps(bodies))
        counts["messages"] += len(bodies)
    # function logs, so that `sam logs` still shows earlier runs after a restart
    logs, groups = aws_client("logs", endpoint), {}
    for page in logs.get_paginator("describe_log_groups").paginate():
        for group in page.get("logGroups", []):
            name = group["logGroupName"]
            found = logs.get_paginator("filter_log_events").paginate(logGroupName=name)
            events = [
                {"stream": e["logStreamName"], "timestamp": e["timestamp"], "message": e["message"]}
                for p in found
                for e in p.get("events", [])
            ]
            if events:
                groups[name] = events
                counts["log_events"] += len(events)
    (tmp / "logs.json").write_text(json.dumps(groups))
    if local:  # users need their passwords, which only moto's objects hold: in the emulator's process only
        pools = local.user_pools()
        _write_private(tmp / USERS_FILE, json.dumps(pools))
        counts["users"] = sum(len(p["users"]) for p in pools)
    if directory.exists():
        _rmtree(directory)
    tmp.rename(directory)
    return counts


def restore(directory: Path, endpoint: str) -> None:
    s3, ddb, sqs = aws_client("s3", endpoint), aws_client("dynamodb", endpoint), aws_client("sqs", endpoint)
    buckets = {p.name.rsplit(".", 2)[0] for p in (directory / "s3").glob("*.json")}
    for bucket in sorted(buckets):
        index = _object_index(directory / "s3", bucket)
        for key, saved in index.items():
            body = (directory / "s3" / bucket / key).read_bytes()
            s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=saved["metadata"])
        # the restored objects' new versions, so the next snapshot links their files instead of reading them
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                if obj["Key"] in index:
                    index[obj["Key"]]["version"] = _version(obj)
        (directory / "s3" / f"{bucket}.objects.json").write_text(json.dumps(index))
    for table_file in sorted((directory / "dynamodb").glob("*.json")):
        items = json.loads(table_file.read_text())
        for i in range(0, len(items), 25):
            ddb.batch_write_item(
                RequestItems={table_file.stem: [{"PutRequest": {"Item": it}} for it in items[i : i + 25]]}
            )
    if (directory / "logs.json").exists():
        sink = HttpLogs.at(endpoint)
        for group, events in json.loads((directory / "logs.json").read_text()).items():
            streams: dict[str, list[dict[str, Any]]] = {}
            for e in sorted(events, key=lambda e: e["timestamp"]):
                streams.setdefault(e["stream"], []).append({"timestamp": e["timestamp"], "message": e["message"]})
            for stream, batch in streams.items():
                for i in range(0, len(batch), MAX_BATCH):
                    sink.put(group, stream, batch[i : i + MAX_BATCH])
    for queue_file in sorted((directory / "sqs").glob("*.json")):
        url = sqs.get_queue_url(QueueName=queue_file.stem)["QueueUrl"]
        for m in json.loads(queue_file.read_text()):
            args: dict[str, Any] = {"QueueUrl": url, "MessageBody": m["Body"]}
            if m["MessageAttributes"]:
                args["MessageAttributes"] = m["MessageAttributes"]
            sqs.send_message(**args)


def restore_users(directory: Path, idp: Any, pool_id: str) -> int:
    """Add the users saved with the pool of the same name to the pool ``pool_id`` (the template's,
    created again at this start); how many. ``thera user add`` makes them, so they are kept like items:
    each signs in again with its password (its ``sub`` is new; moto draws it)."""
    saved = directory / USERS_FILE
    if not saved.exists():
        return 0
    pool = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    users = [u for p in json.loads(saved.read_text()) if p["name"] == pool["Name"] for u in p["users"]]
    for user in users:
        # a pool whose users sign in with their e-mail (UsernameAttributes) is given the e-mail, not moto's name
        given = {a["Name"]: a["Value"] for a in user["attributes"]}
        name = next((given[a] for a in pool.get("UsernameAttributes", []) if a in given), user["username"])
        idp.admin_create_user(
            UserPoolId=pool_id, Username=name, UserAttributes=user["attributes"], MessageAction="SUPPRESS"
        )
        if user["password"] is not None:
            permanent = user["status"] == "CONFIRMED"
            idp.admin_set_user_password(
                UserPoolId=pool_id, Username=name, Password=user["password"], Permanent=permanent
            )
        if not user["enabled"]:
            idp.admin_disable_user(UserPoolId=pool_id, Username=name)
    return len(users)


def _write_private(path: Path, text: str) -> None:
    """``text`` in a file only its owner may read (it holds the local users' passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _get_object(s3: Any, bucket: str, key: str) -> tuple[bytes, dict[str, str]] | None:
    try:
        got = s3.get_object(Bucket=bucket, Key=key)
    except s3.exceptions.NoSuchKey:
        return None
    return got["Body"].read(), got.get("Metadata", {})


def _object_index(s3_dir: Path, bucket: str) -> dict[str, dict[str, Any]]:
    """A bucket's saved objects: key -> {"version" (ETag and LastModified), "metadata"}. State saved
    before versions were kept (``<bucket>.index.json``, key -> metadata) has none: read again."""
    current, older = s3_dir / f"{bucket}.objects.json", s3_dir / f"{bucket}.index.json"
    if current.exists():
        return dict(json.loads(current.read_text()))
    if older.exists():
        return {key: {"version": None, "metadata": meta} for key, meta in json.loads(older.read_text()).items()}
    return {}


def _version(listed: dict[str, Any]) -> str:
    # the ETag alone would miss a rewrite with the same body and other metadata; LastModified has
    # one-second steps, so such a rewrite within the second is still missed (the pipeline sets none)
    return f"{listed['ETag']} {listed['LastModified'].isoformat()}"


def _link(source: Path, target: Path) -> bool:
    try:
        os.link(source, target)
    except OSError:
        return False
    return True


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path)
