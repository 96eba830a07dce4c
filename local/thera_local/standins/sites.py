"""The companies' web sites on loopback, healthy and broken in the ways real ones break.

Every company domain gets a site whose behaviour (its *mode*) follows from a hash of the
seed and the domain, so a run is repeatable: most sites are ``ok``, the rest refuse
connections, time out, answer 500, show a parked-domain page, loop on redirects, or fail
TLS verification (self-signed, expired, certificate for another name), and some names do
not resolve at all.

Clients reach the sites the way a health checker reaches the internet, by name, but
names resolve through ``GET <dns_url>?host=<name>`` instead of real DNS: it answers
127.0.0.1 and which local port stands for 80 and 443. One HTTP and one HTTPS port serve
every site, dispatching on the Host header and, for TLS, on SNI. Certificates come from
a local CA (``ca_pem`` / ``write_ca``) that clients trust for this run only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import html
import json
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

from thera_local.loopback import HOST, Listener, LoopbackServer

FAILURE_MODES = (
    "dns_miss",
    "refused",
    "http_500",
    "timeout",
    "self_signed",
    "expired",
    "wrong_host",
    "parked",
    "redirect_loop",
)
MODES = ("ok", *FAILURE_MODES)
TRUSTED_CERT_MODES = ("ok", "parked", "http_500", "redirect_loop", "timeout")
UNREACHABLE_MODES = ("dns_miss", "refused")
# OpenSSL clients refuse a certificate chain over 100 KiB ("excessive message size"), and every
# client decodes the peer certificate on each handshake: 20 names keep one near a real site's size.
NAMES_PER_CERT = 20
WRONG_HOST_NAME = "shared-hosting.thera.test"  # what wrong_host sites present instead of their name
UNKNOWN = "unknown"

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])")


def normalize_host(name: str) -> str:
    """The site key of a host name: lower case, no trailing dot, no ``www.``."""
    host = name.strip().lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def mode_for(domain: str, seed: str, failure_share: float) -> str:
    """A stable mode for a domain: ``ok`` with probability 1 - failure_share, else one failure mode."""
    digest = hashlib.sha256(f"{seed}\0{domain}".encode()).digest()
    if int.from_bytes(digest[:8], "big") / 2**64 >= failure_share:
        return "ok"
    return FAILURE_MODES[int.from_bytes(digest[8:12], "big") % len(FAILURE_MODES)]


def paragraphs_of(company: dict[str, Any]) -> tuple[str, ...]:
    """The body text of a company's home page, in paragraphs of at most two sentences."""
    text = str(company.get("long_description") or company.get("one_liner") or "").strip()
    if not text:
        return (f"{company.get('name') or company.get('domain')}.",)
    blocks = [b.strip() for b in text.splitlines() if b.strip()]
    if len(blocks) > 1:
        return tuple(blocks)
    sentences = _SENTENCE_END.split(text)
    return tuple(" ".join(sentences[i : i + 2]) for i in range(0, len(sentences), 2))


@dataclass(frozen=True)
class Site:
    domain: str
    name: str
    mode: str
    text: str  # plain text of what "/" shows: the company page, the parked page or the error page
    one_liner: str = ""
    paragraphs: tuple[str, ...] = ()  # the company page's body, whatever the mode


def _company_html(site: Site) -> str:
    esc = html.escape
    body = "\n".join(f"<p>{esc(p)}</p>" for p in site.paragraphs)
    return (
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{esc(site.name)}</title>\n'
        f'<meta name="description" content="{esc(site.one_liner)}"></head>\n'
        '<body><header><nav><a href="/">Home</a> <a href="/about">About</a> <a href="/careers">Careers</a>'
        "</nav></header>\n"
        f"<main><h1>{esc(site.name)}</h1>\n{body}\n</main>\n"
        f"<footer>&copy; {esc(site.name)}</footer></body></html>\n"
    )


def parked_lines(domain: str) -> tuple[str, ...]:
    return (
        f"{domain} is for sale",
        "This domain is for sale! Buy this domain today.",
        f"{domain} may be for sale. Get a price quote from the owner through our secure transfer service.",
        "Related searches: Business Software | Cloud Hosting | Online Marketing | Domain Names",
        "Sponsored listings. Parked free, courtesy of Parkwell Domains, the registrar for your next name.",
    )


def _parked_html(domain: str) -> str:
    head, *rest = (html.escape(line) for line in parked_lines(domain))
    body = "\n".join(f"<p>{line}</p>" for line in rest)
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{head}</title></head>\n'
        f"<body><h1>{head}</h1>\n{body}\n</body></html>\n"
    )


ERROR_500_TEXT = "500 Internal Server Error"
_ERROR_500_HTML = (
    f"<!doctype html>\n<html><head><title>{ERROR_500_TEXT}</title></head>"
    f"<body><h1>{ERROR_500_TEXT}</h1></body></html>\n"
)


def _chunks(names: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(names), size):
        yield names[i : i + size]


def _server_context(key_and_chain_pem: bytes, workdir: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    path = workdir / "leaf.pem"
    path.write_bytes(key_and_chain_pem)
    ctx.load_cert_chain(path)
    return ctx


class SitesStandIn(LoopbackServer):
    """One admin port (resolver, stats) plus one HTTP and one HTTPS port for every site."""

    thread_name = "sites-standin"

    def __init__(
        self,
        companies: list[dict[str, Any]],
        failure_share: float = 0.2,
        slow_seconds: float = 30.0,
        seed: str = "thera",
        modes: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.failure_share = failure_share
        self.slow_seconds = slow_seconds
        self.seed = seed
        forced = {normalize_host(d): m for d, m in (modes or {}).items()}
        if bad := {m for m in forced.values() if m not in MODES}:
            raise ValueError(f"unknown modes {sorted(bad)}; known: {', '.join(MODES)}")
        self.sites: dict[str, Site] = {}
        for company in companies:
            domain = normalize_host(str(company.get("domain") or ""))
            if domain in self.sites or not _HOSTNAME.match(domain):
                continue  # first company of a shared domain owns the site; malformed names never resolve
            mode = forced.get(domain) or mode_for(domain, seed, failure_share)
            self.sites[domain] = self._site(company, domain, mode)
        if missing := set(forced) - set(self.sites):
            raise ValueError(f"modes name domains that no company has: {sorted(missing)}")
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()  # by mode
        self._by_listener: Counter[str] = Counter()
        self._handshakes: Counter[str] = Counter()  # by the mode of the SNI name
        self._dns: Counter[str] = Counter()
        self._refused: socket.socket | None = None
        self.refused_port = 0
        self._ca = trustme.CA(organization_name="Thera stand-in CA")
        self.ca_pem: bytes = self._ca.cert_pem.bytes()
        self._contexts: dict[str, ssl.SSLContext] = {}  # host name -> server context
        self._tls = self._build_certificates()

    @staticmethod
    def _site(company: dict[str, Any], domain: str, mode: str) -> Site:
        name = str(company.get("name") or domain)
        paragraphs = paragraphs_of(company)
        if mode == "parked":
            text = "\n\n".join(parked_lines(domain))
        elif mode == "http_500":
            text = ERROR_500_TEXT
        else:
            text = "\n\n".join((name, *paragraphs))
        return Site(domain, name, mode, text, str(company.get("one_liner") or ""), paragraphs)

    # ------------------------------------------------------------ certificates
    def _build_certificates(self) -> ssl.SSLContext:
        """Leaf certificates per mode, NAMES_PER_CERT host names each, and the SNI switch over them."""
        rogue = trustme.CA(organization_name="Untrusted self-signed CA")
        now = dt.datetime.now(dt.UTC)
        by_mode: dict[str, list[str]] = {}
        for site in self.sites.values():
            by_mode.setdefault(site.mode, []).extend((site.domain, f"www.{site.domain}"))
        with tempfile.TemporaryDirectory(prefix="thera-sites-") as tmp:
            workdir = Path(tmp)
            wrong = self._ca.issue_cert(WRONG_HOST_NAME)
            default = _server_context(wrong.private_key_and_cert_chain_pem.bytes(), workdir)
            for name in by_mode.get("wrong_host", []):
                self._contexts[name] = default
            for mode in (*TRUSTED_CERT_MODES, "expired", "self_signed"):
                for names in _chunks(by_mode.get(mode, []), NAMES_PER_CERT):
                    if mode == "self_signed":
                        leaf = rogue.issue_cert(*names)
                        # The untrusted root travels with the chain, as on a misconfigured server.
                        pem = leaf.private_key_and_cert_chain_pem.bytes() + rogue.cert_pem.bytes()
                    elif mode == "expired":
                        leaf = self._ca.issue_cert(
                            *names, not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=30)
                        )
                        pem = leaf.private_key_and_cert_chain_pem.bytes()
                    else:
                        pem = self._ca.issue_cert(*names).private_key_and_cert_chain_pem.bytes()
                    ctx = _server_context(pem, workdir)
                    for name in names:
                        self._contexts[name] = ctx
        default.sni_callback = self._on_sni
        return default

    def _on_sni(self, sslobj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        """Present the certificate of the site being asked for; unknown names get the shared-hosting one."""
        name = (server_name or "").lower()
        ctx = self._contexts.get(name)
        if ctx is not None:
            sslobj.context = ctx
        with self._lock:
            self._handshakes[self.mode(name) if server_name else UNKNOWN] += 1

    def write_ca(self, path: str | Path) -> Path:
        """Write the CA certificate (PEM) for clients to trust, e.g. as their ``cafile``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.ca_pem)
        return path

    # ------------------------------------------------------------ lookups
    def site_for(self, host: str) -> Site | None:
        return self.sites.get(normalize_host(host))

    def mode(self, domain: str) -> str:
        """The mode of a site, or ``"unknown"`` for a name with no site (it does not resolve either)."""
        site = self.site_for(domain)
        return site.mode if site else UNKNOWN

    def page_text(self, domain: str) -> str:
        site = self.site_for(domain)
        if site is None:
            raise KeyError(domain)
        return site.text

    def resolve(self, host: str) -> dict[str, Any] | None:
        """The resolver's answer for a name, or None for NXDOMAIN."""
        site = self.site_for(host)
        if site is None or site.mode == "dns_miss":
            return None
        if site.mode == "refused":
            ports = {"80": self.refused_port, "443": self.refused_port}
        else:
            ports = {"80": self.ports.get("http", 0), "443": self.ports.get("https", 0)}
        return {"host": host, "address": HOST, "ports": ports}

    @property
    def dns_url(self) -> str:
        return self.url + "/dns"

    @property
    def http_port(self) -> int:
        return self.ports.get("http", 0)

    @property
    def https_port(self) -> int:
        return self.ports.get("https", 0)

    # ------------------------------------------------------------ handlers
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        listener = self.listener_of(request)
        if listener == "admin":
            return await self._admin(request)
        host = request.url.host or ""
        site = self.site_for(host)
        mode = site.mode if site else UNKNOWN
        with self._lock:
            self._requests[mode] += 1
            self._by_listener[listener] += 1
        if site is None or mode in UNREACHABLE_MODES:
            return web.Response(status=421, text=f"421 Misdirected Request: no site for {host}\n")
        secure = listener == "https"
        if mode == "timeout":
            await asyncio.sleep(self.slow_seconds)
            return self._page(site, request.path)
        if mode == "http_500":
            return web.Response(status=500, text=_ERROR_500_HTML, content_type="text/html")
        if mode == "parked":
            return web.Response(text=_parked_html(site.domain), content_type="text/html")
        if not secure and mode in ("ok", "redirect_loop"):
            raise web.HTTPMovedPermanently(f"https://{host}{request.path_qs}")
        if mode == "redirect_loop":
            raise web.HTTPFound("/a" if request.path == "/" else "/")
        return self._page(site, request.path)  # ok over HTTPS; the certificate modes over either scheme

    @staticmethod
    def _page(site: Site, path: str) -> web.Response:
        if path not in ("/", "/index.html"):
            return web.Response(status=404, text="<h1>404 Not Found</h1>\n", content_type="text/html")
        return web.Response(text=_company_html(site), content_type="text/html")

    async def _admin(self, request: web.Request) -> web.Response:
        if request.method != "GET":
            return web.json_response({"error": "method not allowed"}, status=405)
        if request.path == "/dns":
            host = request.query.get("host", "")
            if not host:
                return web.json_response({"error": "host is required"}, status=400)
            answer = self.resolve(host)
            with self._lock:
                self._dns["answered" if answer else "nxdomain"] += 1
            if answer is None:
                return web.json_response({"error": "NXDOMAIN"}, status=404)
            return web.json_response(answer)
        if request.path == "/__standin/stats":
            return web.json_response(self.stats())
        if request.path == "/__standin/sites":
            return web.json_response({d: s.mode for d, s in self.sites.items()})
        if request.path == "/__standin/ca.pem":
            return web.Response(body=self.ca_pem, content_type="application/x-pem-file")
        return web.json_response({"error": "not found"}, status=404)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": sum(self._requests.values()),
                "by_mode": dict(self._requests),
                "by_listener": dict(self._by_listener),
                "tls_handshakes": dict(self._handshakes),
                "dns": {"answered": self._dns["answered"], "nxdomain": self._dns["nxdomain"]},
                "sites": dict(Counter(s.mode for s in self.sites.values())),
            }

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    # ------------------------------------------------------------ lifecycle
    def listeners(self, port: int) -> list[Listener]:
        return [Listener("admin", port), Listener("http"), Listener("https", ssl=self._tls)]

    def start(self, port: int = 0) -> str:
        # A bound socket that never listens: connecting to its port is refused, and holding it
        # keeps the port from being handed to anything else while the stand-in runs.
        self._refused = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._refused.bind((HOST, 0))
        self.refused_port = self._refused.getsockname()[1]
        try:
            return super().start(port)
        except BaseException:
            self._release_refused()
            raise

    def stop(self) -> None:
        super().stop()
        self._release_refused()

    def _release_refused(self) -> None:
        if self._refused is not None:
            self._refused.close()
            self._refused = None


# ---------------------------------------------------------------- its own process


class SitesProcess:
    """The sites in a process of their own, so that the health checks' load (hundreds of TLS
    handshakes a second) does not compete with the emulator for one interpreter lock.

    The child builds the same sites (modes follow from the seed), writes the CA file, prints
    one JSON line with its addresses and serves until its stdin closes (the parent stopped
    or died).
    """

    def __init__(self, data: Path, ca_path: Path, slow_seconds: float = 30.0) -> None:
        self.data, self.ca_path, self.slow_seconds = data, ca_path, slow_seconds
        self._proc: subprocess.Popen[str] | None = None
        self.url = self.dns_url = ""

    def start(self) -> SitesProcess:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "thera_local.standins.sites",
                str(self.data),
                str(self.ca_path),
                str(self.slow_seconds),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=10)
            raise RuntimeError(f"the sites stand-in exited at start (exit {self._proc.returncode})")
        ready = json.loads(line)
        self.url, self.dns_url = ready["url"], ready["dns_url"]
        return self

    def stop(self) -> None:
        if self._proc is not None:
            stop_child(self._proc)
        self._proc = None


def stop_child(proc: subprocess.Popen[str]) -> None:
    """End a stand-in serving until its stdin closes: close it, wait, kill if it hangs."""
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _serve(data: str, ca_path: str, slow_seconds: str) -> None:
    from thera_local.standins.apollo import load_companies

    sites = SitesStandIn(load_companies(Path(data)), slow_seconds=float(slow_seconds))
    sites.start()
    sites.write_ca(ca_path)
    print(json.dumps({"url": sites.url, "dns_url": sites.dns_url}), flush=True)
    try:
        sys.stdin.read()
    finally:
        sites.stop()


if __name__ == "__main__":
    _serve(*sys.argv[1:4])
