"""LocalStack on the host: started on a free loopback port, watched for memory, stopped with its children."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack_checks import RehearsalError

LAUNCHER = Path(__file__).with_name("launch_localstack.py")


class RssSampler(threading.Thread):
    """Peak resident memory of a process and its descendants (Linux /proc; silent elsewhere)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_main_kb = 0
        self.peak_tree_kb = 0
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(0.5):
            tree = _descendants(self.pid)
            sizes = {pid: _rss_kb(pid) for pid in tree}
            self.peak_main_kb = max(self.peak_main_kb, sizes.get(self.pid, 0))
            self.peak_tree_kb = max(self.peak_tree_kb, sum(sizes.values()))

    def stop(self) -> None:
        self._stop.set()


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health(port: int) -> dict[str, Any] | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/_localstack/health")
        response = conn.getresponse()
        return json.loads(response.read()) if response.status == 200 else None
    except (OSError, ValueError):
        return None
    finally:
        conn.close()


@dataclass
class LocalStack:
    python: Path
    dynamodb_local: Path
    java_home: Path
    root: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    sampler: RssSampler | None = None

    @property
    def log(self) -> Path:
        return self.root / "localstack.log"

    def start(self, timeout: float = 180.0) -> int:
        libs = self.root / "var" / "lib" / "localstack" / "lib"
        (libs / "java").mkdir(parents=True)
        (libs / "java" / "21").symlink_to(self.java_home)  # LocalStack would download a Java 21
        (libs / "dynamodb-local").mkdir()
        (libs / "dynamodb-local" / "2").symlink_to(self.dynamodb_local.resolve())
        self.port = free_port()
        env = {
            **os.environ,
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(self.root),
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "DISABLE_EVENTS": "1",
            "XDG_CACHE_HOME": str(self.root / "cache"),
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES": "1",
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(self.python), str(LAUNCHER)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: DynamoDB Local's Java stops with it
            )
        self.sampler = RssSampler(self.process.pid)
        self.sampler.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RehearsalError(f"LocalStack exited with code {self.process.returncode} while starting")
            status = health(self.port)
            if status and status.get("services", {}).get("cloudformation") in ("available", "running"):
                return len(status["services"])
            time.sleep(0.5)
        raise RehearsalError(f"LocalStack did not answer /_localstack/health within {timeout:.0f} s")

    def stop(self) -> None:
        if self.sampler:
            self.sampler.stop()
        if self.process is None or self.process.poll() is not None:
            return
        group = self.process.pid  # the session started for it: LocalStack and its children only
        os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait()
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # a child that outlived LocalStack's own shutdown
