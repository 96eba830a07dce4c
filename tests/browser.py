"""A small Chrome DevTools Protocol client so end-to-end tests can drive a real headless Chromium.

Why not Playwright or pyppeteer: both download their own browser from the internet, which CI cannot reach. The
Debian `chromium` package comes from the apt mirror CI can reach, and CDP over a websocket needs nothing beyond
aiohttp, which is already pinned. The API is synchronous because the tests are: one private event loop runs in a
background thread and every call waits for its answer there.

    with Browser() as page:
        page.goto(url)
        page.type_into("#q", "fintech")
        page.click("#search")
        page.wait_for("document.querySelectorAll('li').length > 0")
        assert page.errors == []
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import functools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, TypeVar

import aiohttp

T = TypeVar("T")

CHROMIUM_NAMES = ("chromium", "chromium-browser")
APT_LOCK_WAIT_S = 600
INSTALL_LOCK = Path(tempfile.gettempdir()) / "thera-chromium-install.lock"

# Keeps Chromium offline and quiet: the tests may only use loopback, and a browser phoning home for updates,
# safe-browsing lists or sync would be both slow and a surprise. --no-sandbox because CI runs as root (the sandbox
# refuses root) and containers usually lack the user namespaces it needs; the page under test is our own.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm, which crashes renderers
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
    "--mute-audio",
    "--window-size=1280,800",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


class ChromiumUnavailable(RuntimeError):
    """Chromium is missing and this machine cannot install it (not root, or no apt-get): the only case to skip."""


class JsError(RuntimeError):
    """JavaScript evaluated in the page threw; the message is the page's own exception text."""


def _find_chromium() -> str | None:
    override = os.environ.get("THERA_CHROMIUM")
    if override:
        return override
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "-o", f"DPkg::Lock::Timeout={APT_LOCK_WAIT_S}", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)


def _apt_lists_present() -> bool:
    lists = Path("/var/lib/apt/lists")
    return lists.is_dir() and any(
        p.name.endswith(("_Packages", "_Packages.lz4", "_Packages.gz")) for p in lists.iterdir()
    )


@functools.cache
def ensure_chromium() -> str:
    """Path of a Chromium binary, installing the Debian package first when it is missing.

    Raises ChromiumUnavailable only when installing is impossible here (not root or no apt-get), so a caller may
    skip; a failed install on a machine that could install raises RuntimeError, so CI never skips silently.
    """
    found = _find_chromium()
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise ChromiumUnavailable("chromium is not installed and there is no apt-get to install it")
    if os.geteuid() != 0:
        raise ChromiumUnavailable("chromium is not installed and installing it needs root: apt-get install chromium")
    # pytest-xdist workers may all get here at once; one installs, the others wait and then find it.
    with INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _find_chromium()
        if found:
            return found
        install = ("install", "-y", "--no-install-recommends", "chromium")
        log: list[str] = []
        if not _apt_lists_present():
            log.append(_apt("update").stderr)
        done = _apt(*install)
        if done.returncode != 0:  # stale package lists give 404s: refresh them once and retry
            log.append(done.stdout[-2000:] + done.stderr[-2000:])
            log.append(_apt("update").stderr)
            done = _apt(*install)
        found = _find_chromium()
        if done.returncode != 0 or not found:
            detail = "\n".join([*log, done.stdout[-4000:], done.stderr[-4000:]])
            raise RuntimeError(f"apt-get install chromium failed (exit {done.returncode}):\n{detail}")
        return found


def chromium_or_skip() -> str:
    """ensure_chromium() for a pytest fixture: skips when the machine cannot install it, fails on anything else."""
    import pytest

    try:
        return ensure_chromium()
    except ChromiumUnavailable as exc:
        pytest.skip(str(exc))


def wait_until(predicate: Callable[[], object], timeout: float = 10, interval: float = 0.05, message: str = "") -> Any:
    """Poll a Python-side condition (the server got the POST, an error arrived): pages answer asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout}s {message}".strip())
        time.sleep(interval)


def _js(value: Any) -> str:
    """A Python value as a JavaScript literal, so selectors and text never need hand-quoting."""
    return json.dumps(value)


class _Cdp:
    """One websocket to the browser, with a flat session on one page; lives entirely on the private loop."""

    def __init__(self, on_event: Callable[[str, dict[str, Any]], None]) -> None:
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._queues: dict[str, list[asyncio.Queue[dict[str, Any]]]] = {}
        self._on_event = on_event
        self.session_id: str | None = None

    async def connect(self, ws_url: str) -> None:
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(ws_url, max_msg_size=0, autoping=True)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        error: BaseException = ConnectionError("the DevTools websocket closed")
        try:
            async for msg in self._ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                if "id" in data:
                    fut = self._pending.pop(data["id"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(data)
                    continue
                method, params = data.get("method", ""), data.get("params", {})
                if data.get("sessionId") not in (None, self.session_id):
                    continue
                self._on_event(method, params)
                for queue in self._queues.get(method, []):
                    queue.put_nowait(params)
        except Exception as exc:  # a broken socket must fail the waiting calls, not hang them
            error = exc
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(error)
        self._pending.clear()

    async def send(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True) -> dict[str, Any]:
        """One command; `page=False` addresses the browser itself rather than the attached page."""
        if self._ws is None or self._ws.closed:
            raise ConnectionError(f"{method}: the DevTools websocket is closed")
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if page and self.session_id:
            message["sessionId"] = self.session_id
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = fut
        await self._ws.send_str(json.dumps(message))
        reply = await fut
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error'].get('message')} {reply['error'].get('data', '')}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def subscribe(self, method: str) -> asyncio.Queue[dict[str, Any]]:
        """Events of one kind from now on; subscribe before sending the command that causes them."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._queues.setdefault(method, []).append(queue)
        return queue

    def unsubscribe(self, method: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._queues[method].remove(queue)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._http is not None:
            await self._http.close()


class Browser:
    """A headless Chromium with one page, driven synchronously; a context manager that always cleans up.

    `errors` collects console.error/console.assert calls, uncaught exceptions, unhandled rejections and browser
    log errors (such as a failed fetch), so a test can end with `assert browser.errors == []`.
    """

    def __init__(
        self, executable: str | None = None, *, launch_timeout: float = 30, command_timeout: float = 30
    ) -> None:
        self.executable = executable
        self.launch_timeout = launch_timeout
        self.command_timeout = command_timeout
        self.errors: list[str] = []
        self.console: list[str] = []  # every console message, "type: text", for failure messages
        self.version = ""
        self.launch_seconds = 0.0
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._cdp = _Cdp(self._record)

    # lifecycle

    def __enter__(self) -> Browser:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        started = time.monotonic()
        executable = self.executable or ensure_chromium()
        self._dir = Path(tempfile.mkdtemp(prefix="thera-chromium-"))
        profile = self._dir / "profile"
        profile.mkdir()
        self._log = (self._dir / "chromium.log").open("wb")
        argv = [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"]
        # Its own session, so close() can kill the renderer and zygote children along with the browser.
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        ws_url = self._wait_for_devtools(profile / "DevToolsActivePort")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cdp-loop", daemon=True)
        self._thread.start()
        self._run(self._open_page(ws_url))
        self.launch_seconds = time.monotonic() - started

    def _wait_for_devtools(self, port_file: Path) -> str:
        """Chromium writes the port it picked (we ask for 0: any free one) and the browser's websocket path."""
        assert self._proc is not None
        deadline = time.monotonic() + self.launch_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._proc.returncode} while starting:\n{self.log_tail()}")
            with contextlib.suppress(FileNotFoundError, ValueError):
                lines = port_file.read_text().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{int(lines[0])}{lines[1]}"
            time.sleep(0.02)
        raise TimeoutError(f"chromium wrote no DevToolsActivePort within {self.launch_timeout}s:\n{self.log_tail()}")

    async def _open_page(self, ws_url: str) -> None:
        await self._cdp.connect(ws_url)
        self.version = (await self._cdp.send("Browser.getVersion", page=False)).get("product", "")
        target = await self._cdp.send("Target.createTarget", {"url": "about:blank"}, page=False)
        attached = await self._cdp.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, page=False
        )
        self._cdp.session_id = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            await self._cdp.send(f"{domain}.enable")
        await self._cdp.send("Page.setLifecycleEventsEnabled", {"enabled": True})

    def close(self) -> None:
        """Browser.close first (lets Chromium flush and exit), then terminate, then kill the whole group."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._run(self._shutdown(), timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self._loop.close()
        self._loop = self._thread = None
        if self._proc is not None:
            proc, self._proc = self._proc, None
            for sig, wait in ((None, 5.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
                if sig is not None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            # Children (renderers, zygote) share the group and can outlive the browser for a moment.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def _shutdown(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._cdp.send("Browser.close", page=False), 5)
        await self._cdp.close()

    def log_tail(self, chars: int = 4000) -> str:
        """The end of Chromium's own stdout/stderr, for error messages."""
        if self._dir is None:
            return ""
        with contextlib.suppress(OSError):
            return (self._dir / "chromium.log").read_bytes()[-chars:].decode(errors="replace")
        return ""

    # plumbing

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the browser is not running (use it inside `with Browser() as page:`)")
        limit = self.command_timeout if timeout is None else timeout
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, limit), self._loop)
        try:
            return future.result(limit + 5)
        except TimeoutError as exc:
            future.cancel()
            if str(exc):  # a timeout with its own explanation (goto's load wait) says more than ours
                raise
            raise TimeoutError(f"no answer from chromium within {limit}s") from None

    def _record(self, method: str, params: dict[str, Any]) -> None:
        """Runs on the loop thread for every page event: keeps what a test should see as an error."""
        if method == "Runtime.consoleAPICalled":
            text = " ".join(_describe(arg) for arg in params.get("args", []))
            kind = params.get("type", "log")
            self.console.append(f"{kind}: {text}")
            if kind in ("error", "assert"):
                self.errors.append(f"console.{kind}: {text}")
        elif method == "Runtime.exceptionThrown":
            self.errors.append(f"uncaught: {_exception_text(params.get('exceptionDetails', {}))}")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                self.errors.append(
                    f"{entry.get('source', 'log')}: {entry.get('text', '')} {entry.get('url', '')}".strip()
                )
        elif method == "Page.javascriptDialogOpening":  # an unanswered alert() would block every later call
            self.errors.append(f"dialog {params.get('type')}: {params.get('message')}")
            asyncio.get_running_loop().create_task(self._dismiss_dialog())
        elif method == "Inspector.targetCrashed":
            self.errors.append("the page crashed")

    async def _dismiss_dialog(self) -> None:
        with contextlib.suppress(Exception):
            await self._cdp.send("Page.handleJavaScriptDialog", {"accept": False})

    # page API

    def goto(self, url: str, timeout: float = 15) -> None:
        """Navigate and wait for that navigation's load event (not an earlier page's)."""
        self._run(self._goto(url, timeout), timeout + 1)

    async def _goto(self, url: str, timeout: float) -> None:
        events = self._cdp.subscribe("Page.lifecycleEvent")
        try:
            nav = await self._cdp.send("Page.navigate", {"url": url})
            if nav.get("errorText"):
                raise RuntimeError(f"navigating to {url} failed: {nav['errorText']}")
            loader = nav.get("loaderId")
            if loader is None:  # same-document navigation (only the #fragment changed): there is no load event
                return
            try:
                async with asyncio.timeout(timeout):
                    while True:
                        event = await events.get()
                        if event.get("name") == "load" and event.get("loaderId") == loader:
                            return
            except TimeoutError:
                raise TimeoutError(f"{url} did not load within {timeout}s; page errors: {self.errors}") from None
        finally:
            self._cdp.unsubscribe("Page.lifecycleEvent", events)

    def evaluate(self, js: str) -> Any:
        """The value of a JavaScript expression (promises awaited), as JSON-able Python; JsError if it throws."""
        return self._run(self._evaluate(js))

    async def _evaluate(self, js: str) -> Any:
        reply = await self._cdp.send(
            "Runtime.evaluate",
            {"expression": js, "returnByValue": True, "awaitPromise": True, "userGesture": True},
        )
        if "exceptionDetails" in reply:
            raise JsError(f"{_exception_text(reply['exceptionDetails'])}\n  in: {js}")
        return reply.get("result", {}).get("value")

    def wait_for(self, js_condition: str, timeout: float = 10, interval: float = 0.05) -> Any:
        """Poll until the expression is truthy and return its value; it may throw meanwhile (element not there yet)."""
        deadline = time.monotonic() + timeout
        last: str = "never evaluated"
        while True:
            try:
                value = self.evaluate(js_condition)
                if value:
                    return value
                last = f"last value {value!r}"
            except JsError as exc:
                last = f"last error {str(exc).splitlines()[0]}"
            if time.monotonic() >= deadline:
                raise TimeoutError(f"waited {timeout}s for {js_condition} ({last}); page errors: {self.errors}")
            time.sleep(interval)

    def _element(self, css_selector: str, body: str) -> str:
        """JS that finds one element (or throws a readable error) and then runs `body` with it as `el`."""
        return (
            f"(() => {{ const el = document.querySelector({_js(css_selector)});"
            f" if (!el) throw new Error('no element matches ' + {_js(css_selector)}); {body} }})()"
        )

    def type_into(self, css_selector: str, text: str) -> None:
        """Replace a field's value the way typing does: focus, clear, then Input.insertText (real input events)."""
        focused = self.evaluate(
            self._element(
                css_selector,
                "el.focus(); el.value = ''; el.dispatchEvent(new Event('input', {bubbles: true}));"
                " return document.activeElement === el;",
            )
        )
        if not focused:
            raise RuntimeError(f"{css_selector} did not take focus (disabled or hidden?)")
        if text:
            self._run(self._cdp.send("Input.insertText", {"text": text}))

    def click(self, css_selector: str) -> None:
        """A real mouse click at the element's centre, so a hidden, covered or disabled element fails loudly."""
        box = self.evaluate(
            self._element(
                css_selector,
                "el.scrollIntoView({block: 'center', inline: 'center'});"
                " const r = el.getBoundingClientRect(); const x = r.left + r.width / 2, y = r.top + r.height / 2;"
                " const hit = document.elementFromPoint(x, y);"
                " const mine = hit && (hit === el || el.contains(hit));"
                " const over = mine ? '' : hit ? hit.outerHTML.slice(0, 120) : 'nothing';"
                " return {x, y, w: r.width, h: r.height, disabled: !!el.disabled, covered: over};",
            )
        )
        if box["w"] <= 0 or box["h"] <= 0:
            raise RuntimeError(f"cannot click {css_selector}: it has no size (hidden?)")
        if box["disabled"]:
            raise RuntimeError(f"cannot click {css_selector}: it is disabled")
        if box["covered"]:
            raise RuntimeError(f"cannot click {css_selector}: covered by {box['covered']}")
        self._run(self._click_at(box["x"], box["y"]))

    async def _click_at(self, x: float, y: float) -> None:
        await self._cdp.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for kind in ("mousePressed", "mouseReleased"):
            await self._cdp.send(
                "Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
            )

    def text(self, css_selector: str) -> str:
        """The rendered text (innerText) of the first matching element."""
        return str(self.evaluate(self._element(css_selector, "return el.innerText;")))

    def texts(self, css_selector: str) -> list[str]:
        """The rendered text of every matching element, in document order (empty when none match)."""
        found = self.evaluate(f"Array.from(document.querySelectorAll({_js(css_selector)}), el => el.innerText)")
        return [str(t) for t in found]

    def screenshot(self, path: Path) -> Path:
        """A PNG of the viewport, for looking at a failure after the fact."""
        shot = self._run(self._cdp.send("Page.captureScreenshot", {"format": "png"}))
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def _describe(arg: dict[str, Any]) -> str:
    if "value" in arg:
        return str(arg["value"])
    return str(arg.get("description") or arg.get("unserializableValue") or arg.get("type", ""))


def _exception_text(details: dict[str, Any]) -> str:
    exc = details.get("exception") or {}
    text = exc.get("description") or exc.get("value") or details.get("text", "")
    where = f" ({details['url']}:{details.get('lineNumber', 0) + 1})" if details.get("url") else ""
    return f"{text}{where}"
