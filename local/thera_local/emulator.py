"""The embedded AWS emulator: moto's server on loopback, its stack created from template.yaml.

moto's threaded server does not make a DynamoDB request atomic, so two conditional
updates racing on one item can both pass; nor an SQS receive, so two concurrent
receives can hand out the same message (measured: 1 in 2,000 with 6 threads). Requests
whose ``X-Amz-Target`` names a DynamoDB or CloudWatch Logs operation, or an SQS receive, delete or
visibility change, are therefore served one at a time (body read and response
materialized inside one lock). S3, SQS sends and any receive that long-polls
(``WaitTimeSeconds`` > 0) stay concurrent; the runtime's own pollers do not long-poll.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from thera_local.cloudformation import ARTIFACTS_BUCKET, create_stack, quiet_left_out
from thera_local.function_logs import MAX_BATCH, HttpLogs
from thera_local.standins.bedrock import INVOKE_PATH, BedrockStandIn
from thera_local.stepfunctions import deploy as deploy_state_machines
from thera_local.template import REGION, Template

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


_SQS_SERIAL = {
    "AmazonSQS.ReceiveMessage",
    "AmazonSQS.DeleteMessage",
    "AmazonSQS.DeleteMessageBatch",
    "AmazonSQS.ChangeMessageVisibility",
    "AmazonSQS.ChangeMessageVisibilityBatch",
}


class SerializedRequests:
    """WSGI middleware: DynamoDB and CloudWatch Logs requests and SQS receives/deletes one at a time,
    Bedrock's InvokeModel to its stand-in, the rest untouched."""

    def __init__(self, app: WsgiApp, bedrock: BedrockStandIn | None = None) -> None:
        self._app = app
        self.lock = threading.Lock()
        self.bedrock = bedrock

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.bedrock is not None and environ.get("REQUEST_METHOD") == "POST":
            path = environ.get("RAW_URI", "").split("?", 1)[0] or environ.get("PATH_INFO", "")
            if INVOKE_PATH.match(path):
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                answer = self.bedrock.answer(path, body)
                assert answer is not None
                status, headers, data = answer.wsgi()
                start_response(status, headers)
                return [data]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not (target.startswith(("DynamoDB_", "Logs_")) or target in _SQS_SERIAL):
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        if target == "AmazonSQS.ReceiveMessage" and _long_poll(body):
            return self._app(environ, start_response)
        with self.lock:
            return list(self._app(environ, start_response))


def _long_poll(body: bytes) -> bool:
    try:
        return int(json.loads(body or b"{}").get("WaitTimeSeconds") or 0) > 0
    except (ValueError, TypeError, AttributeError):
        return False


def _fast_sqs_clock() -> None:
    """moto's SQS checks every message's visibility with a datetime round trip per message per call,
    which made a 2,000-message queue cost ~60 % of the stack's CPU. Epoch time from ``time.time``
    is the same value, computed cheaply."""
    import time

    from moto.core import utils
    from moto.sqs import models

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else utils.unix_time(dt)

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else utils.unix_time_millis(dt)

    # moto.sqs.models imports these from moto.core.utils without re-exporting them
    models.unix_time = unix_time  # type: ignore[attr-defined]
    models.unix_time_millis = unix_time_millis  # type: ignore[attr-defined]


def _fast_moto() -> None:
    """Three per-request costs of moto that grow with the work, removed without changing an answer.

    - A receive checks each message it hands out against the queue's retention period by asking
      ``get_queue_attributes``, which computes every attribute of the queue, the message counts
      included (three scans of the queue), twice per attribute name: a receive from a queue of
      n messages cost O(n) per message returned. The retention period is read directly instead.
    - ``get_queue_attributes`` computes the queue's attributes once per call, not twice per name.
    - The dispatcher lists moto's package folder (a ``listdir`` and ~150 ``isdir``) on every
      request to match the Host header; the listing never changes while the process runs.
    - CloudFormation parses every template body with PyYAML's pure-Python loader first, JSON
      included: the local stack's translated template (~200 resources) took 3-4 s. A body that is a
      JSON object is read with ``json`` (the same document: JSON is YAML).
    """
    import functools
    import time

    from moto import backends
    from moto.cloudformation.models import Stack
    from moto.sqs import models

    if getattr(models.SQSBackend, "_thera_fast", False):
        return
    models.SQSBackend._thera_fast = True  # type: ignore[attr-defined]

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        queue = self.get_queue(queue_name)
        retain_until = int(queue.message_retention_period) + message.sent_timestamp / 1000
        return bool(retain_until > time.time())

    original_attributes = models.SQSBackend.get_queue_attributes

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
        if not attribute_names or "All" in attribute_names:
            return original_attributes(self, queue_name, attribute_names)
        queue = self.get_queue(queue_name)
        valid = {"All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES}
        if any(name not in valid for name in attribute_names):
            return original_attributes(self, queue_name, attribute_names)  # raises moto's own error
        attributes = queue.attributes
        return {n: attributes[n] for n in attribute_names if attributes.get(n) is not None}

    models.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    models.SQSBackend.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]
    parse_template = Stack.parse_template

    def parse_json_first(template: str) -> dict[str, Any]:
        if template.lstrip().startswith("{"):
            return dict(json.loads(template))
        return parse_template(template)

    Stack.parse_template = staticmethod(parse_json_first)  # type: ignore[method-assign]
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = functools.cache(lambda: modules)


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Emulator:
    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._app: SerializedRequests | None = None

    def start(self, bedrock: BedrockStandIn | None = None) -> str:
        _fast_sqs_clock()
        _fast_moto()
        quiet_left_out()
        app = SerializedRequests(DomainDispatcherApplication(create_backend_app), bedrock)
        self._app = app
        self._server = make_server("127.0.0.1", self._port, app, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        return self.endpoint

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def in_process(self) -> InProcess:
        """Direct reads of this emulator's state, for code running in its process (the stack's saves)."""
        if self._app is None:
            raise RuntimeError("emulator not started")
        return InProcess(self._app.lock)

    def local_sqs(self) -> LocalSqs:
        """SQS for code running in this emulator's process (the runtime's pollers)."""
        if self._app is None:
            raise RuntimeError("emulator not started")
        return LocalSqs(self._app.lock)

    def local_logs(self) -> LocalLogs:
        """CloudWatch Logs for code running in this emulator's process (the stack's log shipper)."""
        if self._app is None:
            raise RuntimeError("emulator not started")
        return LocalLogs(self._app.lock)

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = None

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, **CREDENTIALS)  # type: ignore[call-overload]


def aws_client(service: str, endpoint: str, config: Config | None = None) -> Any:
    return boto3.client(service, endpoint_url=endpoint, config=config, **CREDENTIALS)  # type: ignore[call-overload]


# ---------------------------------------------------------------- provisioning


def provision(
    template: Template,
    endpoint: str,
    secret_values: dict[str, str],
    restore_from: Path | None = None,
    cache: Path | None = None,
) -> None:
    """Create the template's stack in the emulator's CloudFormation, then what moto's CloudFormation
    leaves out: secret values, queue policies, TTL, versioning, public access blocks, notifications,
    state machines in moto's executing Step Functions engine.

    Objects and items saved by ``snapshot`` are put back before the bucket
    notifications are wired, so restoring state does not re-trigger the stages. ``cache`` keeps
    the template's translation between starts.
    """
    s3, sqs, ddb = aws_client("s3", endpoint), aws_client("sqs", endpoint), aws_client("dynamodb", endpoint)
    secrets = aws_client("secretsmanager", endpoint)
    create_stack(template, aws_client("cloudformation", endpoint), s3, cache)
    deploy_state_machines(template, endpoint, aws_client("stepfunctions", endpoint))

    for res in template.of_type("AWS::SQS::QueuePolicy").values():
        props = template.resolve(res["Properties"])
        for url in props["Queues"]:
            sqs.set_queue_attributes(
                QueueUrl=url.replace("{sqs_endpoint}", endpoint),
                Attributes={"Policy": json.dumps(props["PolicyDocument"])},
            )

    for logical, res in template.of_type("AWS::DynamoDB::Table").items():
        ttl = template.resolve(res["Properties"]).get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(
                TableName=template.physical(logical),
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
            )

    for logical in template.of_type("AWS::SecretsManager::Secret"):
        name = template.physical(logical)
        if logical not in secret_values:
            raise ValueError(f"no local value for secret {logical}")
        secrets.create_secret(Name=name, SecretString=secret_values[logical])

    # Bucket policies are not applied: moto enforces them, and the TLS-only policy would refuse
    # every call over the emulator's plain-HTTP loopback endpoint.
    if restore_from is not None:
        restore(restore_from, endpoint)

    for logical, res in template.of_type("AWS::S3::Bucket").items():
        props = template.resolve(res.get("Properties", {}))
        name = template.physical(logical)
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if "VersioningConfiguration" in props:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
        notif = props.get("NotificationConfiguration", {})
        queue_configs = [
            {
                "QueueArn": q["Queue"],
                "Events": [q["Event"]],
                "Filter": {"Key": {"FilterRules": q.get("Filter", {}).get("S3Key", {}).get("Rules", [])}},
            }
            for q in notif.get("QueueConfigurations", [])
        ]
        if queue_configs:
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"QueueConfigurations": queue_configs}
            )


# ---------------------------------------------------------------- snapshot / restore


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


class LocalSqs:
    """The SQS calls the runtime's pollers make, answered by moto's backend in place, in boto3's
    request and response shapes. The pollers run in the emulator's process; over HTTP every poll
    cost botocore's serializing and parsing on both ends of one process, and with some thirty
    pollers that was about half of the stack's CPU, which the functions' own calls waited behind.
    Each call holds the lock the emulator serves SQS receives, deletes and visibility changes under.
    """

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock

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
        return {"Messages": messages} if messages else {}

    def delete_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            done, failed = self._backend().delete_message_batch(_queue_name(QueueUrl), Entries)
        return _batch_answer(done, failed)

    def change_message_visibility_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
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


def snapshot(directory: Path, endpoint: str, local: InProcess | None = None) -> dict[str, int]:
    """Save every object, item, waiting message and function log line so a later stack can carry on
    from here.
    ``local`` reads objects and items in place (the caller runs the emulator), else over HTTP."""
    s3, ddb, sqs = aws_client("s3", endpoint), aws_client("dynamodb", endpoint), aws_client("sqs", endpoint)
    tmp = directory.with_name(directory.name + ".tmp")
    if tmp.exists():
        _rmtree(tmp)
    counts = {"objects": 0, "items": 0, "messages": 0, "unsaved_messages": 0, "objects_read": 0, "log_events": 0}
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
