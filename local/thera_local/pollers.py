"""SQS event source mappings, emulated from template.yaml.

One poller per SQS event of a function. It runs MaximumConcurrency workers (five when
the template sets none: Lambda starts with five pollers and scales beyond, locally we stop there), each with its own
execution environment. A worker gathers up to BatchSize messages, waiting at
most MaximumBatchingWindowInSeconds once the first one arrives, invokes the
handler, then deletes what succeeded: everything on success, everything but the
``batchItemFailures`` when ReportBatchItemFailures is on, nothing when the
invocation fails. What is not deleted becomes visible again after the queue's
visibility timeout, and moto moves it to the DLQ after ``maxReceiveCount``
receives, exactly as the redrive policy says.

A message the handler reports in ``batchItemFailures`` keeps the visibility the handler gave
it (``thera.runtime.retry_later``: a short delay that grows with its receive count); the
poller never changes it. ``retry_delay`` is for the invocations that failed as a whole (the
handler raised, timed out or was killed, and never got to delay anything): it sets their
messages' visibility instead of the queue's whole timeout, so the crash drills retry in
seconds. Left at None, such messages wait the queue's timeout, as in AWS.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thera_local.function_logs import LogShipper
from thera_local.lambda_env import ExecutionEnvironment
from thera_local.template import REGION, FunctionSpec, SqsEvent

DEFAULT_CONCURRENCY = 5
IDLE_POLL_SECONDS = 0.5
# Workers other than the first poll an idle queue this much less often; the first one's catch
# wakes them (as Lambda scales its pollers down on an idle queue and up again on traffic).
IDLE_BACKOFF = 6
WAKE_SECONDS = 5.0


@dataclass
class PollerStats:
    queue: str = ""
    batches: int = 0
    messages: int = 0
    failures: int = 0
    errors: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda hands a function for a batch of SQS messages."""
    records = []
    for m in messages:
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    k: {
                        "stringValue": v.get("StringValue"),
                        "dataType": v.get("DataType", "String"),
                        "stringListValues": [],
                        "binaryListValues": [],
                    }
                    for k, v in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


class SqsPoller:
    def __init__(
        self,
        spec: FunctionSpec,
        event: SqsEvent,
        queue_url: str,
        queue_arn: str,
        sqs: Any,
        env: dict[str, str],
        log_path: Path,
        retry_delay: int | None = None,
        shipper: LogShipper | None = None,
    ) -> None:
        self.spec, self.event = spec, event
        self.queue_url, self.queue_arn = queue_url, queue_arn
        self._sqs = sqs  # boto3's SQS client, or the emulator's LocalSqs (the same three calls)
        self.env, self.log_path, self.shipper = env, log_path, shipper
        self.retry_delay = retry_delay
        self.concurrency = event.max_concurrency or DEFAULT_CONCURRENCY
        self.stats = PollerStats(queue=event.queue)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._envs: list[ExecutionEnvironment] = []
        self._traffic = threading.Event()  # set while messages keep arriving
        self._last_catch = 0.0

    @property
    def name(self) -> str:
        return f"{self.spec.logical_id}.{self.event.name}"

    def start(self) -> None:
        for i in range(self.concurrency):
            env = ExecutionEnvironment(self.spec, self.env, self.log_path, self.shipper)
            self._envs.append(env)
            t = threading.Thread(target=self._work, args=(env, i), name=f"{self.name}#{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self._traffic.set()
        for t in self._threads:
            t.join(timeout=self.spec.timeout + 20)
        for env in self._envs:
            env.stop()

    def kill_environments(self) -> int:
        """Kill this poller's live environments at once; how many were handling a batch."""
        return sum(env.kill() for env in self._envs)

    def _idle_wait(self, worker: int) -> None:
        if worker == 0 or time.monotonic() - self._last_catch < WAKE_SECONDS:
            self._stop.wait(IDLE_POLL_SECONDS)
            return
        self._traffic.clear()
        self._traffic.wait(IDLE_POLL_SECONDS * IDLE_BACKOFF)

    def _receive_batch(self, worker: int = 0) -> list[dict[str, Any]]:
        """Up to BatchSize messages, waiting at most the batching window once the first arrived.

        Short polls only: the emulator serves receives one at a time (moto's are not atomic),
        so an idle queue is polled every ``IDLE_POLL_SECONDS`` instead of long-polled.
        """
        batch: list[dict[str, Any]] = []
        deadline: float | None = None
        while not self._stop.is_set() and len(batch) < self.event.batch_size:
            got = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.event.batch_size - len(batch)),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if got:
                self._last_catch = time.monotonic()
                self._traffic.set()
                batch.extend(got)
                if deadline is None:
                    deadline = time.monotonic() + self.event.batching_window
                continue
            if deadline is None:
                self._idle_wait(worker)
                return batch  # idle: back to the loop, which checks for stop
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._stop.wait(min(0.2, left))
        return batch

    def _work(self, env: ExecutionEnvironment, worker: int = 0) -> None:
        while not self._stop.is_set():
            try:
                batch = self._receive_batch(worker)
            except Exception:  # the emulator going away at shutdown
                if self._stop.is_set():
                    return
                time.sleep(0.5)
                continue
            if not batch:
                continue
            with self._lock:
                self.stats.in_flight += 1
                self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.stats.in_flight)
            try:
                self._handle(env, batch)
            except Exception:  # the poller lives on; what was not deleted comes back after its visibility timeout
                logging.getLogger("thera_local.pollers").exception("%s: handling a batch failed", self.name)
            finally:
                with self._lock:
                    self.stats.in_flight -= 1

    def _handle(self, env: ExecutionEnvironment, batch: list[dict[str, Any]]) -> None:
        result = env.invoke(lambda_sqs_event(batch, self.queue_arn))
        ids = {m["MessageId"]: m for m in batch}
        failed: set[str] = set()
        if not result.ok:
            failed = set(ids)
        elif self.event.report_failures and isinstance(result.payload, dict):
            items = result.payload.get("batchItemFailures") or []
            named = {str(i.get("itemIdentifier", "")) for i in items if isinstance(i, dict)}
            # Lambda fails the whole batch when a failure names no message of the batch.
            failed = set(ids) if any(n not in ids for n in named) else named
        with self._lock:
            self.stats.batches += 1
            self.stats.messages += len(batch)
            self.stats.failures += len(failed)
            self.stats.errors += 0 if result.ok else 1
        done = [m for mid, m in ids.items() if mid not in failed]
        for i in range(0, len(done), 10):
            answer = self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i : i + 10])],
            )
            if answer.get("Failed"):
                logging.getLogger("thera_local.pollers").warning("%s: deletes refused: %s", self.name, answer["Failed"])
        if self.retry_delay is not None and not result.ok:
            retry = list(batch)
            for i in range(0, len(retry), 10):
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_delay}
                        for n, m in enumerate(retry[i : i + 10])
                    ],
                )
