"""Typed views of the events the stages receive (S3 notifications carried by SQS).

moto and real S3 differ in small ways (moto omits ``userIdentity`` and friends,
and encodes keys with ``quote_plus``), so only the fields every sender fills are
required. The first message on a freshly wired queue is an ``s3:TestEvent`` with
no ``Records``: it parses to an empty list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo

from thera.kernel.messages import BadMessage, GoldPartRequest, load_object

BadEvent = BadMessage  # a message whose body is not the event it claims to be


@dataclass(frozen=True)
class S3ObjectEvent:
    bucket: str
    key: str
    size: int
    etag: str
    event_name: str
    event_time: str


def is_s3_notification(doc: dict[str, Any]) -> bool:
    """Whether a message body (already parsed) is an S3 notification rather than a stage's own message."""
    return "Records" in doc or "Event" in doc


def s3_objects(doc: dict[str, Any], bucket: str | None = None) -> list[S3ObjectEvent]:
    """The objects an S3 notification names; with ``bucket``, a record for another bucket is a bad event."""
    if doc.get("Event") == "s3:TestEvent":
        return []
    records = doc.get("Records")
    if not isinstance(records, list) or not records:
        raise BadEvent("message body has no S3 Records")
    objects = [_s3_record(r) for r in records]
    for obj in objects:
        if bucket is not None and obj.bucket != bucket:
            raise BadEvent(f"notification for bucket {obj.bucket!r}, expected {bucket!r}")
    return objects


def s3_objects_from_sqs_body(body: str, bucket: str | None = None) -> list[S3ObjectEvent]:
    """The objects named by one SQS message body carrying an S3 notification."""
    return s3_objects(load_object(body), bucket)


def _s3_record(record: Any) -> S3ObjectEvent:
    try:
        s3 = record["s3"]
        obj = s3["object"]
        return S3ObjectEvent(
            bucket=str(s3["bucket"]["name"]),
            key=unquote_plus(str(obj["key"])),
            size=int(obj.get("size", 0)),
            etag=str(obj.get("eTag", "")),
            event_name=str(record.get("eventName", "")),
            event_time=str(record.get("eventTime", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadEvent(f"S3 record is missing a field: {exc}") from None


def gold_keys(body: str, bucket: str) -> list[str]:
    """An EmbedQueue / PublishQueue message: a gold part's S3 notification, or a ``GoldPartRequest``."""
    doc = load_object(body)
    if is_s3_notification(doc):
        return [GoldPartRequest.parse_doc({"gold_key": obj.key}).gold_key for obj in s3_objects(doc, bucket)]
    return [GoldPartRequest.parse_doc(doc).gold_key]


@dataclass(frozen=True)
class ScheduleEvent:
    """An EventBridge Scheduler invocation; a console test without a time runs for now."""

    scheduled_time: datetime

    @classmethod
    def parse(cls, event: Any, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> ScheduleEvent:
        if not isinstance(event, dict):
            raise ValueError("a schedule event must be a JSON object")
        raw = event.get("scheduled_time") or event.get("time")
        if not raw or (isinstance(raw, str) and raw.startswith("<aws.scheduler")):
            return cls(now())
        try:
            return cls(datetime.fromisoformat(str(raw).replace("Z", "+00:00")).astimezone(UTC))
        except ValueError:
            raise ValueError(f"scheduled_time is not an ISO 8601 time: {raw!r}") from None

    def business_date(self, timezone: str) -> str:
        return self.scheduled_time.astimezone(ZoneInfo(timezone)).date().isoformat()
