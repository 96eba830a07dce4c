"""The domain health checker over aiohttp, with the resolver and the trust store as ports.

In AWS the resolver is the system's (``getaddrinfo`` in a thread) and the trust store
the system's CA bundle. The local runtime passes ``LOCAL_DNS_URL`` (an HTTP endpoint
answering ``?host=`` with an address and the ports to use for 80 and 443) and
``EXTRA_CA_BUNDLE`` (the stand-in sites' CA), so the very same checks reach the
stand-in web sites on loopback, certificates verified.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from thera.enrichment.health import MAX_REDIRECTS, Observations, looks_parked, page_text

MAX_BODY_BYTES = 512 * 1024
USER_AGENT = "thera-health/1.0 (+domain health check)"

# OpenSSL verify codes (X509_V_ERR_*) → our flag names
_TLS_CODES = {
    10: "expired",
    9: "not_yet_valid",
    18: "self_signed",
    19: "self_signed",
    20: "untrusted",
    21: "untrusted",
    62: "hostname_mismatch",
}


class HttpEndpointResolver(AbstractResolver):
    """Resolves through an HTTP endpoint (the local stand-in's DNS); ports may be remapped."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._session: aiohttp.ClientSession | None = None
        self._answers: dict[str, dict[str, Any]] = {}  # one lookup per host: the answer covers every port

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answer = self._answers.get(host)
        if answer is None:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            async with self._session.get(self._url, params={"host": host}) as resp:
                if resp.status == 404:
                    raise OSError(socket.EAI_NONAME, f"{host}: name does not resolve")
                resp.raise_for_status()
                answer = await resp.json()
            self._answers[host] = answer
        mapped = int(answer.get("ports", {}).get(str(port), port))
        return [
            ResolveResult(
                hostname=host,
                host=answer["address"],
                port=mapped,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def make_resolver(dns_url: str | None) -> AbstractResolver:
    return HttpEndpointResolver(dns_url) if dns_url else aiohttp.ThreadedResolver()


def make_ssl_context(extra_ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if extra_ca_file:
        context.load_verify_locations(cafile=extra_ca_file)
    return context


def _tls_flag(exc: BaseException) -> str:
    cert_error = getattr(exc, "certificate_error", None) or exc
    code = getattr(cert_error, "verify_code", None)
    if code in _TLS_CODES:
        return _TLS_CODES[code]
    message = str(cert_error).lower()
    if "expired" in message:
        return "expired"
    if "self-signed" in message or "self signed" in message:
        return "self_signed"
    if "hostname" in message or "doesn't match" in message:
        return "hostname_mismatch"
    return "handshake"


def _days_left(peercert: Any) -> int | None:
    if not peercert or "notAfter" not in peercert:
        return None
    return int((ssl.cert_time_to_seconds(peercert["notAfter"]) - time.time()) // 86400)


class HealthChecker:
    """Runs every check for a domain; one instance per batch (one session, one connection pool)."""

    def __init__(
        self, resolver: AbstractResolver, ssl_context: ssl.SSLContext, timeout: float = 5.0, concurrency: int = 50
    ) -> None:
        self._resolver = resolver
        self._timeout = timeout
        self._semaphore = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(resolver=resolver, ssl=ssl_context, limit=0, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector, headers={"User-Agent": USER_AGENT}, auto_decompress=True
        )

    async def close(self) -> None:
        await self._session.close()
        await self._resolver.close()

    async def __aenter__(self) -> HealthChecker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def check(self, domain: str) -> Observations:
        """Every check of one domain; whatever goes wrong is an observation, never an exception."""
        async with self._semaphore:
            try:
                return await self._check(domain)
            except Exception as exc:  # a malformed Location, an odd TLS error: this domain's problem only
                obs = Observations(domain, errors={"check": f"{type(exc).__name__}: {exc}"})
                obs.dns_ok = "dns" not in obs.errors
                return obs

    async def check_many(self, domains: Sequence[str]) -> list[Observations]:
        return list(await asyncio.gather(*(self.check(d) for d in domains)))

    async def _check(self, domain: str) -> Observations:
        obs = Observations(domain)
        try:
            await asyncio.wait_for(self._resolver.resolve(domain, 443), self._timeout)
            obs.dns_ok = True
        except TimeoutError:
            obs.errors["dns"] = "timeout"
        except OSError as exc:
            obs.errors["dns"] = str(exc)
        if not obs.dns_ok:
            return obs
        http, https = await asyncio.gather(
            self._get(f"http://{domain}/", obs, "http"), self._get(f"https://{domain}/", obs, "https")
        )
        start = https if https is not None else http
        if start is not None:
            await self._follow(start, obs)
        return obs

    async def _get(self, url: str, obs: Observations, check: str) -> tuple[str, int, str | None] | None:
        """(url, status, location) of one request without following redirects; errors noted in ``obs``."""
        try:
            async with self._session.get(
                url, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=self._timeout)
            ) as resp:
                if check == "https" and resp.connection is not None and resp.connection.transport is not None:
                    obs.tls_days_left = _days_left(resp.connection.transport.get_extra_info("peercert"))
                status = resp.status
                location = resp.headers.get("Location")
                if check == "https":
                    obs.https_status = status
                else:
                    obs.http_status = status
                if 300 <= status < 400 and location:
                    return url, status, urljoin(url, location)
                await self._read_page(resp, obs, url)
                return url, status, None
        except aiohttp.ClientConnectorCertificateError as exc:
            obs.tls_error = _tls_flag(exc)
        except aiohttp.ClientSSLError as exc:
            obs.tls_error = _tls_flag(exc)
        except TimeoutError:
            obs.errors[check] = "timeout"
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, ConnectionRefusedError)
            obs.errors[check] = "refused" if refused else str(exc)
        except (aiohttp.ClientError, ValueError) as exc:
            obs.errors[check] = f"{type(exc).__name__}: {exc}"
        return None

    async def _read_page(self, resp: aiohttp.ClientResponse, obs: Observations, url: str) -> None:
        body = await resp.content.read(MAX_BODY_BYTES)
        text = page_text(body.decode(resp.get_encoding() if resp.charset else "utf-8", errors="replace"))
        # the https answer wins over the http one for content: it is what the crawler will fetch
        if obs.final_url is None or url.startswith("https://"):
            obs.final_url, obs.final_status = url, resp.status
            obs.text_chars, obs.parked = len(text), looks_parked(text)

    async def _follow(self, start: tuple[str, int, str | None], obs: Observations) -> None:
        url, _status, location = start
        seen = {url}
        hops = 0
        while location is not None:
            hops += 1
            if location in seen:
                obs.redirect_loop, obs.redirect_hops = True, hops
                obs.final_url = obs.final_status = None
                return
            if hops > MAX_REDIRECTS:
                obs.redirect_hops = hops
                return
            seen.add(location)
            try:
                async with self._session.get(
                    location, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=self._timeout)
                ) as resp:
                    next_location = resp.headers.get("Location")
                    if 300 <= resp.status < 400 and next_location:
                        location = urljoin(location, next_location)
                        continue
                    obs.final_url, obs.final_status = None, None  # the chain's end decides the content
                    await self._read_page(resp, obs, location)
                    location = None
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                obs.errors["redirects"] = f"{type(exc).__name__}: {exc}"
                obs.final_url = obs.final_status = None
                return
        obs.redirect_hops = hops


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
