"""A scheduled invocation whose firing process died is retried with its request id and event,
as Lambda retries an asynchronous invocation; one whose firing process still runs is left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from thera_local.async_invocations import fire


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_firing_is_recorded_until_done(tmp_path: Path) -> None:
    first = fire(tmp_path, "ApolloPullFunction.pull", {"n": 1})
    assert not first.retry and first.event == {"n": 1}
    assert json.loads((tmp_path / "ApolloPullFunction.pull.json").read_text())["request_id"] == first.request_id
    first.done()
    second = fire(tmp_path, "ApolloPullFunction.pull", {"n": 2})
    assert not second.retry and second.request_id != first.request_id and second.event == {"n": 2}


def test_an_invocation_whose_process_died_is_retried_with_its_request_id_and_event(tmp_path: Path) -> None:
    (tmp_path / "ApolloPullFunction.pull.json").write_text(
        json.dumps({"request_id": "req-1", "event": {"n": 1}, "pid": _dead_pid()})
    )
    retry = fire(tmp_path, "ApolloPullFunction.pull", {"n": 2})
    assert (retry.retry, retry.request_id, retry.event) == (True, "req-1", {"n": 1})
    assert json.loads((tmp_path / "ApolloPullFunction.pull.json").read_text())["pid"] == os.getpid()
    retry.done()
    assert not (tmp_path / "ApolloPullFunction.pull.json").exists()


def test_an_invocation_still_running_elsewhere_is_not_taken_over(tmp_path: Path) -> None:
    record = {"request_id": "req-1", "event": {"n": 1}, "pid": os.getppid()}
    (tmp_path / "ApolloPullFunction.pull.json").write_text(json.dumps(record))
    other = fire(tmp_path, "ApolloPullFunction.pull", {"n": 2})
    assert not other.retry and other.request_id != "req-1" and other.event == {"n": 2}
    other.done()
    assert json.loads((tmp_path / "ApolloPullFunction.pull.json").read_text()) == record
