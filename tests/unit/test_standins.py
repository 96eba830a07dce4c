"""The loopback stand-ins: company sites (resolver, TLS, failure modes) and the Firecrawl scrape API."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections import Counter
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from thera_local.loopback import Listener, LoopbackServer
from thera_local.standins.firecrawl import FirecrawlStandIn
from thera_local.standins.sites import FAILURE_MODES, MODES, SitesStandIn, mode_for

T = TypeVar("T")
API_KEY = "fc-test-key"
SLOW = 0.5

MODES_BY_DOMAIN = {f"{mode.replace('_', '-')}.example.com": mode for mode in MODES}
COMPANIES: list[dict[str, Any]] = [
    {
        "name": f"Company {mode}",
        "domain": domain,
        "website": f"https://www.{domain}/",
        "one_liner": f"One line about {mode}",
        "long_description": f"We build tools for the {mode} case. Our customers save time. "
        "Founded by engineers. We are hiring.",
        "tags": ["SaaS"],
    }
    for domain, mode in MODES_BY_DOMAIN.items()
]
OK = "ok.example.com"


def run[T](coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class StandInResolver(AbstractResolver):
    """Name resolution through the stand-in's ``/dns`` endpoint, as a health checker would do it."""

    def __init__(self, dns_url: str) -> None:
        self.dns_url = dns_url

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        async with aiohttp.ClientSession() as session, session.get(self.dns_url, params={"host": host}) as resp:
            if resp.status == 404:
                raise OSError(f"{host}: NXDOMAIN")
            answer = await resp.json()
        return [
            ResolveResult(
                hostname=host,
                host=answer["address"],
                port=int(answer["ports"][str(port)]),
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def sites() -> Iterator[SitesStandIn]:
    server = SitesStandIn(COMPANIES, slow_seconds=SLOW, modes=MODES_BY_DOMAIN)
    server.start()
    yield server
    server.stop()


def fetch(
    sites: SitesStandIn, url: str, timeout: float = 5.0, **kwargs: Any
) -> tuple[int, str, list[str], dict[str, str]]:
    """GET through the stand-in resolver, trusting the stand-in CA: (status, text, redirect chain, headers)."""

    async def go() -> tuple[int, str, list[str], dict[str, str]]:
        tls = ssl.create_default_context(cadata=sites.ca_pem.decode())
        connector = aiohttp.TCPConnector(resolver=StandInResolver(sites.dns_url), ssl=tls)
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with (
            aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session,
            session.get(url, **kwargs) as resp,
        ):
            chain = [str(r.url) for r in resp.history]
            return resp.status, await resp.text(), chain, dict(resp.headers)

    return run(go())


def dns(sites: SitesStandIn, host: str) -> tuple[int, dict[str, Any]]:
    async def go() -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as session, session.get(sites.dns_url, params={"host": host}) as resp:
            return resp.status, await resp.json()

    return run(go())


def cert_error(sites: SitesStandIn, url: str) -> ssl.SSLCertVerificationError:
    with pytest.raises(aiohttp.ClientConnectorCertificateError) as info:
        fetch(sites, url)
    error = info.value.certificate_error
    assert isinstance(error, ssl.SSLCertVerificationError)
    return error


# ---------------------------------------------------------------- modes


def test_modes_are_stable_per_seed_and_spread_over_every_failure() -> None:
    domains = [f"company-{i}.example.com" for i in range(3000)]
    modes = [mode_for(d, "thera", 0.2) for d in domains]
    counts = Counter(modes)
    assert 0.17 < 1 - counts["ok"] / len(domains) < 0.23
    assert set(counts) == set(MODES)
    assert min(counts[m] for m in FAILURE_MODES) > 30
    assert modes == [mode_for(d, "thera", 0.2) for d in domains]
    assert modes != [mode_for(d, "another seed", 0.2) for d in domains]


def test_forced_modes_win_and_bad_ones_are_refused(sites: SitesStandIn) -> None:
    assert {d: sites.mode(d) for d in MODES_BY_DOMAIN} == MODES_BY_DOMAIN
    assert sites.mode(f"www.{OK}") == "ok"
    assert sites.mode("nowhere.example.com") == "unknown"
    with pytest.raises(ValueError, match="unknown modes"):
        SitesStandIn(COMPANIES, modes={OK: "flaky"})
    with pytest.raises(ValueError, match="no company"):
        SitesStandIn(COMPANIES, modes={"nowhere.example.com": "ok"})


# ---------------------------------------------------------------- resolver


def test_resolver_answers_per_mode(sites: SitesStandIn) -> None:
    status, answer = dns(sites, f"www.{OK}")
    assert status == 200
    assert answer == {
        "host": f"www.{OK}",
        "address": "127.0.0.1",
        "ports": {"80": sites.http_port, "443": sites.https_port},
    }
    status, answer = dns(sites, "refused.example.com")
    assert status == 200
    assert answer["ports"] == {"80": sites.refused_port, "443": sites.refused_port}
    for name in ("dns-miss.example.com", "nowhere.example.com"):
        assert dns(sites, name) == (404, {"error": "NXDOMAIN"})
    for domain, mode in MODES_BY_DOMAIN.items():
        if mode not in ("dns_miss", "refused"):
            assert dns(sites, domain)[1]["ports"]["443"] == sites.https_port


def test_refused_port_refuses_and_dns_miss_fails_resolution(sites: SitesStandIn) -> None:
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", sites.refused_port), 2):
        pass
    with pytest.raises(aiohttp.ClientConnectorError):
        fetch(sites, "https://refused.example.com/")
    with pytest.raises(aiohttp.ClientConnectorDNSError):
        fetch(sites, "https://dns-miss.example.com/")


# ---------------------------------------------------------------- sites


def test_ok_site_serves_the_description_over_https_and_redirects_http(sites: SitesStandIn) -> None:
    status, text, chain, _ = fetch(sites, f"https://www.{OK}/")
    assert status == 200
    assert "<title>Company ok</title>" in text
    assert "<h1>Company ok</h1>" in text
    assert "We build tools for the ok case." in text
    assert text.count("<p>") >= 2
    assert chain == []
    assert "Our customers save time." in sites.page_text(OK)

    status, text, chain, headers = fetch(sites, f"http://{OK}/", allow_redirects=False)
    assert (status, headers["Location"]) == (301, f"https://{OK}/")
    status, text, chain, _ = fetch(sites, f"http://{OK}/")
    assert status == 200
    assert chain == [f"http://{OK}/"]


@pytest.mark.parametrize(
    ("domain", "codes", "words"),
    [
        ("expired.example.com", {10}, "expired"),  # X509_V_ERR_CERT_HAS_EXPIRED
        ("self-signed.example.com", {18, 19, 20}, "self-signed"),  # self-signed in chain / unknown issuer
        ("wrong-host.example.com", {62}, "Hostname mismatch"),  # X509_V_ERR_HOSTNAME_MISMATCH
    ],
)
def test_certificate_faults_fail_verification_distinguishably(
    sites: SitesStandIn, domain: str, codes: set[int], words: str
) -> None:
    error = cert_error(sites, f"https://{domain}/")
    assert error.verify_code in codes
    assert words in error.verify_message
    status, text, _, _ = fetch(sites, f"http://{domain}/")  # the content is there over plain HTTP
    assert status == 200
    assert f"We build tools for the {MODES_BY_DOMAIN[domain]} case." in text


def test_parked_500_and_redirect_loop(sites: SitesStandIn) -> None:
    status, text, _, _ = fetch(sites, "https://parked.example.com/")
    assert status == 200
    assert "for sale" in text
    assert "Company parked" not in text
    assert fetch(sites, "https://http-500.example.com/")[0] == 500
    assert fetch(sites, "http://http-500.example.com/")[0] == 500
    with pytest.raises(aiohttp.TooManyRedirects) as info:
        fetch(sites, "http://redirect-loop.example.com/", max_redirects=5)
    paths = [r.url.path for r in info.value.history]
    assert info.value.history[0].url.scheme == "http"
    assert paths[:4] == ["/", "/", "/a", "/"]


def test_timeout_site_holds_the_answer_for_slow_seconds(sites: SitesStandIn) -> None:
    with pytest.raises(asyncio.TimeoutError):
        fetch(sites, "https://timeout.example.com/", timeout=0.1)
    started = time.monotonic()
    assert fetch(sites, "https://timeout.example.com/", timeout=5)[0] == 200
    assert time.monotonic() - started >= SLOW


def test_stats_count_requests_per_mode(sites: SitesStandIn) -> None:
    before = sites.stats()
    fetch(sites, "https://parked.example.com/")
    fetch(sites, "http://parked.example.com/")
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        fetch(sites, "https://expired.example.com/")
    after = sites.stats()
    assert after["by_mode"]["parked"] - before["by_mode"].get("parked", 0) == 2
    assert after["tls_handshakes"]["expired"] - before["tls_handshakes"].get("expired", 0) == 1
    assert after["sites"] == dict.fromkeys(MODES, 1)


# ---------------------------------------------------------------- firecrawl


@pytest.fixture
def firecrawl(sites: SitesStandIn) -> Iterator[FirecrawlStandIn]:
    server = FirecrawlStandIn(sites, API_KEY)
    server.start()
    yield server
    server.stop()


def call(
    server: FirecrawlStandIn, method: str, path: str, body: Any = None, key: str | None = API_KEY
) -> tuple[int, Any, dict[str, str]]:
    async def go() -> tuple[int, Any, dict[str, str]]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, server.url + path, json=body, headers=headers) as resp,
        ):
            return resp.status, await resp.json(), dict(resp.headers)

    return run(go())


def scrape(server: FirecrawlStandIn, url: str, key: str | None = API_KEY) -> tuple[int, Any, dict[str, str]]:
    body = {"url": url, "formats": ["markdown"], "onlyMainContent": True, "timeout": 30000}
    return call(server, "POST", "/v2/scrape", body, key)


def test_scrape_needs_the_key_and_a_url(firecrawl: FirecrawlStandIn) -> None:
    assert scrape(firecrawl, f"https://{OK}", key="fc-wrong")[:2] == (401, {"success": False, "error": "Unauthorized"})
    assert scrape(firecrawl, f"https://{OK}", key=None)[0] == 401
    status, body, _ = call(firecrawl, "POST", "/v1/scrape", {"formats": ["markdown"]})
    assert (status, body["success"]) == (400, False)


def test_scrape_answers_from_the_sites(firecrawl: FirecrawlStandIn) -> None:
    status, body, _ = scrape(firecrawl, f"https://www.{OK}/")
    assert status == 200
    assert body["success"] is True
    assert body["data"]["markdown"].startswith("# Company ok\n\nWe build tools for the ok case.")
    assert body["data"]["metadata"] == {
        "title": "Company ok",
        "description": "One line about ok",
        "language": "en",
        "sourceURL": f"https://www.{OK}/",
        "url": f"https://www.{OK}/",
        "statusCode": 200,
    }
    parked = scrape(firecrawl, "https://parked.example.com")[1]["data"]
    assert "for sale" in parked["markdown"]
    assert parked["metadata"]["statusCode"] == 200
    assert scrape(firecrawl, "https://http-500.example.com")[1]["data"]["metadata"]["statusCode"] == 500
    for domain in ("dns-miss.example.com", "refused.example.com", "timeout.example.com"):
        data = scrape(firecrawl, f"https://{domain}/")[1]["data"]
        assert data["markdown"] == ""
        assert data["metadata"]["statusCode"] == 0
        assert data["metadata"]["error"]
    assert scrape(firecrawl, "https://nowhere.example.com/")[1]["data"]["metadata"]["statusCode"] == 404
    assert firecrawl.stats()["calls"] == 7


def test_outage_and_counted_429s(firecrawl: FirecrawlStandIn) -> None:
    assert call(firecrawl, "POST", "/__standin/faults", {"outage": True})[1]["outage"] is True
    assert scrape(firecrawl, f"https://{OK}")[:2] == (503, {"success": False, "error": "Service Unavailable"})
    firecrawl.outage = False
    firecrawl.set_faults(status=429, count=2, retry_after=7)
    assert call(firecrawl, "GET", "/__standin/faults")[1] == {
        "outage": False,
        "status": 429,
        "count": 2,
        "retry_after": 7,
        "latency": 0.0,
    }
    for _ in range(2):
        status, body, headers = scrape(firecrawl, f"https://{OK}")
        assert (status, body["success"], headers["Retry-After"]) == (429, False, "7")
    assert scrape(firecrawl, f"https://{OK}")[0] == 200
    firecrawl.set_faults(status=402, count=1)
    status, body, _ = scrape(firecrawl, f"https://{OK}")
    assert status == 402
    assert body["error"].startswith("Payment Required: Insufficient credits")
    stats = firecrawl.stats()
    assert stats["by_status"] == {"200": 1, "402": 1, "429": 2, "503": 1}
    assert (stats["calls"], stats["requests"], stats["in_flight"]) == (1, 5, 0)
    assert call(firecrawl, "POST", "/__standin/faults", {"nonsense": 1})[0] == 400


def test_in_flight_counts_concurrent_scrapes_exactly(firecrawl: FirecrawlStandIn) -> None:
    firecrawl.latency = 0.2

    async def three_at_once() -> list[int]:
        body = {"url": f"https://{OK}", "formats": ["markdown"]}
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with aiohttp.ClientSession() as session:

            async def one() -> int:
                async with session.post(firecrawl.url + "/v2/scrape", json=body, headers=headers) as resp:
                    return resp.status

            return list(await asyncio.gather(one(), one(), one()))

    assert run(three_at_once()) == [200, 200, 200]
    stats = firecrawl.stats()
    assert (stats["max_in_flight"], stats["in_flight"], stats["calls"]) == (3, 0, 3)
    levels = [level for _, level in stats["timeline"]]
    assert levels == [0, 1, 2, 3, 2, 1, 0]
    assert stats["timeline"][-1][0] - stats["timeline"][1][0] >= 0.2


# ---------------------------------------------------------------- loopback base


class TwoPorts(LoopbackServer):
    def app(self) -> web.Application:
        async def which(request: web.Request) -> web.Response:
            return web.Response(text=self.listener_of(request))

        app = web.Application()
        app.router.add_get("/", which)
        return app

    def listeners(self, port: int) -> list[Listener]:
        return [Listener("one", port), Listener("two")]


def test_loopback_server_serves_one_app_on_several_ports() -> None:
    server = TwoPorts()
    url = server.start()
    try:

        async def names() -> list[str]:
            async with aiohttp.ClientSession() as session:
                out = []
                for port in server.ports.values():
                    async with session.get(f"http://127.0.0.1:{port}/") as resp:
                        out.append(await resp.text())
                return out

        assert url == f"http://127.0.0.1:{server.ports['one']}"
        assert run(names()) == ["one", "two"]
        with pytest.raises(OSError, match="in use"):
            TwoPorts().start(server.ports["one"])
    finally:
        server.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", server.ports["one"]), 2):
        pass
