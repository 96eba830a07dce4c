"""SQS ``StartMessageMoveTask`` and ``ListMessageMoveTasks`` on moto's backend, which lacks them.

``thera redrive`` moves a DLQ's messages back with these two calls, on AWS and on the emulator
alike. Here a task moves every visible message at once (bodies and message attributes, as new
messages of the destination, as SQS redrive does) and is COMPLETED when the call returns; the
tasks of the last hour of a source are listed, newest first, as SQS lists them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

TASKS_KEPT_SECONDS = 3600  # SQS lists a source's tasks of the last 14 days; an hour is plenty here


def _queue_by_arn(backend: Any, arn: str) -> Any:
    from moto.sqs.exceptions import QueueDoesNotExist

    for queue in backend.queues.values():
        if queue.queue_arn == arn:
            return queue
    raise QueueDoesNotExist()


def start_message_move_task(backend: Any, source_arn: str, destination_arn: str | None) -> dict[str, Any]:
    """Move the source queue's visible messages to the destination (default: the queue it is the DLQ of)."""
    from moto.sqs.exceptions import SQSException

    source = _queue_by_arn(backend, source_arn)
    if destination_arn:
        destination = _queue_by_arn(backend, destination_arn)
    else:
        feeders = [q for q in backend.queues.values() if q.dead_letter_queue is source]
        if len(feeders) != 1:
            raise SQSException("InvalidParameterValue", f"{source_arn} is not the DLQ of exactly one queue")
        destination = feeders[0]
    with source._messages_lock:
        moving = [m for m in source._messages if m.visible and not m.delayed]
        source._messages = [m for m in source._messages if m not in moving]
    for message in moving:
        backend.send_message(destination.name, message.body, message_attributes=message.message_attributes)
    now = int(time.time() * 1000)
    task = {
        "TaskHandle": uuid.uuid4().hex,
        "Status": "COMPLETED",
        "SourceArn": source_arn,
        "DestinationArn": destination.queue_arn,
        "ApproximateNumberOfMessagesMoved": len(moving),
        "ApproximateNumberOfMessagesToMove": len(moving),
        "StartedTimestamp": now,
    }
    tasks = backend.__dict__.setdefault("_thera_move_tasks", [])
    tasks[:] = [t for t in tasks if now - t["StartedTimestamp"] < TASKS_KEPT_SECONDS * 1000] + [task]
    return task


def list_message_move_tasks(backend: Any, source_arn: str, max_results: int = 1) -> list[dict[str, Any]]:
    _queue_by_arn(backend, source_arn)
    tasks = [t for t in backend.__dict__.get("_thera_move_tasks", []) if t["SourceArn"] == source_arn]
    return [dict(t) for t in reversed(tasks)][:max_results]


def message_move_tasks() -> None:
    """Give moto's SQS the two operations (idempotent)."""
    from moto.core.responses import ActionResult
    from moto.sqs.responses import SQSResponse

    if getattr(SQSResponse, "_thera_moves", False):
        return
    SQSResponse._thera_moves = True  # type: ignore[attr-defined]

    def start(self: Any) -> ActionResult:
        task = start_message_move_task(
            self.sqs_backend, self._get_param("SourceArn"), self._get_param("DestinationArn")
        )
        return ActionResult({"TaskHandle": task["TaskHandle"]})

    def list_tasks(self: Any) -> ActionResult:
        results = list_message_move_tasks(
            self.sqs_backend, self._get_param("SourceArn"), int(self._get_param("MaxResults") or 1)
        )
        return ActionResult({"Results": results})

    SQSResponse.start_message_move_task = start  # type: ignore[attr-defined]
    SQSResponse.list_message_move_tasks = list_tasks  # type: ignore[attr-defined]
