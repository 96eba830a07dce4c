"""A base for the stand-ins: an aiohttp app on 127.0.0.1, on its own thread and event loop.

The stand-ins are driven from synchronous code (tests, Lambda worker processes, the CLI), so
they cannot borrow the caller's loop; a private loop on a daemon thread keeps them usable
from anywhere. One app may listen on several sockets (plain and TLS), which is how a single
stand-in serves an admin port next to its HTTP and HTTPS ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Listener:
    """One listening socket of the app; with ``ssl`` it speaks HTTPS."""

    name: str
    port: int = 0  # 0: a free port
    ssl: ssl.SSLContext | None = None


class LoopbackServer:
    """Serve ``app()`` on every socket of ``listeners()`` until ``stop()``.

    Subclasses build the app and, when they need more than one socket, override
    ``listeners``. ``url`` is the base URL of the first listener; ``ports`` maps every
    listener's name to the port it got.
    """

    thread_name = "loopback-server"
    shutdown_timeout = 1.0  # seconds in-flight handlers get at stop() before they are cancelled

    def __init__(self) -> None:
        self.url = ""
        self.ports: dict[str, int] = {}
        self._names_by_port: dict[int, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    def listeners(self, port: int) -> list[Listener]:
        """The sockets to open; ``port`` is what ``start`` was given."""
        return [Listener("main", port)]

    def listener_of(self, request: web.Request) -> str:
        """Name of the listener a request came in on (one app, several sockets)."""
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport else None
        return self._names_by_port.get(sockname[1], "") if sockname else ""

    # ------------------------------------------------------------ lifecycle
    def start(self, port: int = 0) -> str:
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already running at {self.url}")
        listeners = self.listeners(port)
        # Bind here, in the caller's thread: a taken port fails start() at once, and every
        # port is known before the first request can arrive.
        socks: list[socket.socket] = []
        try:
            for listener in listeners:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((HOST, listener.port))
        except OSError:
            for sock in socks:
                sock.close()
            raise
        self.ports = {listener.name: sock.getsockname()[1] for listener, sock in zip(listeners, socks, strict=True)}
        self._names_by_port = {port: name for name, port in self.ports.items()}
        first = listeners[0]
        self.url = f"{'https' if first.ssl else 'http'}://{HOST}:{self.ports[first.name]}"

        app = self.app()
        ready = threading.Event()
        failures: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.shutdown_timeout)
            try:
                loop.run_until_complete(runner.setup())
                for listener, sock in zip(listeners, socks, strict=True):
                    site = web.SockSite(runner, sock, ssl_context=listener.ssl)
                    loop.run_until_complete(site.start())
            except BaseException as exc:  # handed to the caller of start()
                failures.append(exc)
                with contextlib.suppress(Exception):
                    loop.run_until_complete(runner.cleanup())
                for sock in socks:
                    sock.close()
                loop.close()
                ready.set()
                return
            self._loop, self._runner = loop, runner
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name=self.thread_name, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start within 10 s")
        if failures:
            self._thread.join(timeout=5)
            self._thread = None
            raise failures[0]
        return self.url

    def stop(self) -> None:
        loop, runner, thread = self._loop, self._runner, self._thread
        if loop is not None and runner is not None and loop.is_running():
            done = asyncio.run_coroutine_threadsafe(runner.cleanup(), loop)
            with contextlib.suppress(Exception):
                done.result(timeout=self.shutdown_timeout + 5)
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=5)
        self._loop = self._runner = self._thread = None


def take_injected(faults: Any) -> int | None:
    """The status to inject for this request, if any (``faults.status``, ``faults.count`` more times).

    Call it under the server's lock: it spends one of the count.
    """
    if faults.status is None or faults.count <= 0:
        return None
    faults.count -= 1
    return int(faults.status)
