"""The log shipper batches: one call per stream per flush, lines in order, failures reported."""

from __future__ import annotations

from typing import Any

import pytest

from thera_local.function_logs import LogShipper, stream_name


class RecordingSink:
    """An in-memory CloudWatch Logs: the calls it received."""

    def __init__(self, fail: int = 0) -> None:
        self.calls: list[tuple[str, str, list[dict[str, Any]]]] = []
        self.fail = fail

    def put(self, group: str, stream: str, events: list[dict[str, Any]]) -> None:
        if self.fail:
            self.fail -= 1
            raise OSError("emulator gone")
        self.calls.append((group, stream, events))


def test_lines_are_batched_per_stream_in_order() -> None:
    sink = RecordingSink()
    shipper = LogShipper(sink)
    for n in range(25):
        shipper.add("/aws/lambda/a", "s1" if n % 2 else "s2", f"line {n}", timestamp_ms=1000 + n)
    shipper.flush()
    assert [(g, s, len(e)) for g, s, e in sink.calls] == [("/aws/lambda/a", "s2", 13), ("/aws/lambda/a", "s1", 12)]
    assert [e["message"] for e in sink.calls[1][2]] == [f"line {n}" for n in range(1, 25, 2)]
    assert [e["timestamp"] for e in sink.calls[1][2]] == sorted(e["timestamp"] for e in sink.calls[1][2])
    shipper.flush()
    assert len(sink.calls) == 2 and shipper.shipped == 25  # nothing shipped twice


def test_a_failed_put_is_reported_and_the_next_lines_still_go() -> None:
    errors: list[Exception] = []
    sink = RecordingSink(fail=1)
    shipper = LogShipper(sink, on_error=errors.append)
    shipper.add("g", "s", "lost")
    shipper.flush()
    shipper.add("g", "s", "kept")
    shipper.close()
    assert [str(e) for e in errors] == ["emulator gone"]
    assert [e["message"] for _, _, events in sink.calls for e in events] == ["kept"]
    strict = LogShipper(RecordingSink(fail=1))  # no error handler: the caller sees it
    strict.add("g", "s", "x")
    with pytest.raises(OSError, match="emulator gone"):
        strict.flush()


def test_stream_names_look_like_lambdas() -> None:
    name = stream_name(now=1796505291.0)
    assert name.startswith("2026/12/05/[$LATEST]") and len(name) == len("2026/12/05/[$LATEST]") + 32
