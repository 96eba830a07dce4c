"""Health-check throughput against the local web sites: complete checks per second, next to raw GETs.

Run as ``python bench/health.py [--domains N] [--concurrency 50,200,500] [--repeat R] [--data PATH] [--profile]``.
It prints and never asserts. Every site is in mode ``ok``, so every check is a complete one: a
lookup through the stand-in resolver endpoint, ``http://`` (a 301 to https), ``https://`` with the
certificate verified against the stand-in CA, and the page read and scored.

The sites stand-in runs in its own process, as it does in the local runtime (the stack serves the
sites, a Lambda worker process runs the checker), so client and server each have a core and a GIL.
The peers, measured in the same run on the same loopback: fresh-connection plain GETs (the floor
of any check), fresh-connection HTTPS GETs (one TLS handshake each) and resolver-endpoint lookups.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from common import (
    default_data,
    machine_busy_seconds,
    own_cpu_seconds,
    percentile,
    print_header,
    process_cpu_seconds,
    time_wait_sockets,
)

from thera.adapters.web import HealthChecker, make_resolver, make_ssl_context
from thera.enrichment.health import MIN_TEXT_CHARS, Observations, score
from thera_local.standins.apollo import load_companies
from thera_local.standins.sites import _HOSTNAME, SitesStandIn, normalize_host, stop_child

TIMEOUT = 10.0
PEER_CONCURRENCY = 50
PROBES = ("dns", "http", "https", "tls", "redirects")  # every check but content, which depends on the company text


# ----------------------------------------------------------------------------- sites (child process)
def pick_companies(data: Path, n: int) -> list[dict[str, Any]]:
    """The first n companies with a distinct, well-formed domain (others would get no site)."""
    chosen: list[dict[str, Any]] = []
    seen: set[str] = set()
    for company in load_companies(data):
        domain = normalize_host(str(company.get("domain") or ""))
        if domain in seen or not _HOSTNAME.match(domain):
            continue
        seen.add(domain)
        chosen.append(company)
        if len(chosen) == n:
            break
    return chosen


def serve_sites(data: Path, n: int) -> None:
    """Run the stand-in until stdin closes; its addresses and CA go to stdout as one JSON line."""
    t0 = time.perf_counter()
    companies = pick_companies(data, n)
    domains = [normalize_host(str(c["domain"])) for c in companies]
    sites = SitesStandIn(companies, modes=dict.fromkeys(domains, "ok"))
    sites.start()
    ready = {
        "admin": sites.url,
        "dns_url": sites.dns_url,
        "http_port": sites.http_port,
        "https_port": sites.https_port,
        "ca_pem": sites.ca_pem.decode(),
        "domains": domains,
        "modes": sites.stats()["sites"],
        "build_seconds": time.perf_counter() - t0,
    }
    print(json.dumps(ready), flush=True)
    try:
        sys.stdin.read()
    finally:
        sites.stop()


@dataclass
class Sites:
    proc: subprocess.Popen[str]
    admin: str
    dns_url: str
    http_port: int
    https_port: int
    ca_file: Path
    domains: list[str]
    modes: dict[str, int]
    build_seconds: float


def start_sites(data: Path, n: int, workdir: Path) -> Sites:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-sites", "--data", str(data), "--domains", str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        raise RuntimeError(f"the sites stand-in exited at start (exit {proc.returncode})")
    ready = json.loads(line)
    ca_file = workdir / "sites-ca.pem"
    ca_file.write_text(ready["ca_pem"])
    return Sites(
        proc,
        ready["admin"],
        ready["dns_url"],
        ready["http_port"],
        ready["https_port"],
        ca_file,
        ready["domains"],
        ready["modes"],
        ready["build_seconds"],
    )


def stop_sites(sites: Sites) -> None:
    stop_child(sites.proc)


# ----------------------------------------------------------------------------- measurements
@dataclass
class Run:
    label: str
    concurrency: int
    count: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    full_score: int = 0
    complete: int = 0  # checks that reached every probe and the final page (for peers: expected status)
    flags: Counter[str] = field(default_factory=Counter)  # flags of the checks that scored below 100
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    other_cpu: float = 0.0  # CPU seconds every other process on the machine took meanwhile
    time_wait: int = 0  # TIME_WAIT sockets on the machine when the run ended
    server: dict[str, float] = field(default_factory=dict)  # per-item deltas of the stand-in's counters

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


async def site_counters(admin: str) -> dict[str, float]:
    """The stand-in's cumulative counters, flattened: dns lookups, requests per listener, handshakes."""
    async with aiohttp.ClientSession() as session, session.get(admin + "/__standin/stats") as resp:
        stats = await resp.json()
    return {
        "dns": stats["dns"]["answered"] + stats["dns"]["nxdomain"],
        "http": stats["by_listener"].get("http", 0),
        "https": stats["by_listener"].get("https", 0),
        "handshakes": sum(stats["tls_handshakes"].values()),
    }


async def measured(sites: Sites, label: str, concurrency: int, count: int, work: Callable[[], Awaitable[None]]) -> Run:
    """Time ``work`` with both processes' CPU and the stand-in's counters around it."""
    before = await site_counters(sites.admin)
    cpu0, server0, busy0 = own_cpu_seconds(), process_cpu_seconds(sites.proc.pid), machine_busy_seconds()
    t0 = time.perf_counter()
    await work()
    seconds = time.perf_counter() - t0
    cpu1, server1, busy1 = own_cpu_seconds(), process_cpu_seconds(sites.proc.pid), machine_busy_seconds()
    tw = time_wait_sockets()
    after = await site_counters(sites.admin)
    client, server = cpu1 - cpu0, server1 - server0
    return Run(
        label,
        concurrency,
        count,
        seconds,
        client_cpu=client,
        server_cpu=server,
        other_cpu=max(0.0, busy1 - busy0 - client - server),
        time_wait=tw,
        server={k: (after[k] - before[k]) / max(1, count) for k in after},
    )


async def check_run(
    sites: Sites,
    domains: list[str],
    concurrency: int,
    label: str = "checks",
    resolver: AbstractResolver | None = None,
) -> Run:
    """One fresh checker; check_many timed end to end, each check's own time taken inside the limit."""
    checker = HealthChecker(
        resolver or make_resolver(sites.dns_url),
        make_ssl_context(str(sites.ca_file)),
        timeout=TIMEOUT,
        concurrency=concurrency,
    )
    latencies: list[float] = []
    observations: list[Observations] = []
    inner = checker._check

    async def timed(domain: str) -> Observations:
        t = time.perf_counter()
        try:
            return await inner(domain)
        finally:
            latencies.append(time.perf_counter() - t)

    checker._check = timed  # type: ignore[method-assign]  # per-check service time, queueing excluded

    async def work() -> None:
        observations.extend(await checker.check_many(domains))

    try:
        run = await measured(sites, label, concurrency, len(domains), work)
    finally:
        await checker.close()
    run.latencies = latencies
    for obs in observations:
        result = score(obs)
        run.full_score += result.score == 100
        run.complete += all(result.checks[c] for c in PROBES) and obs.final_status == 200 and not obs.errors
        if result.score < 100:
            run.flags.update(result.flags)
    return run


async def bounded(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with semaphore:
            await one(i)

    await asyncio.gather(*(guarded(i) for i in range(count)))


async def get_run(sites: Sites, domains: list[str], count: int, tls: bool) -> Run:
    """Fresh-connection GETs of ``/`` on the site ports, Host (and SNI) of a real site, no redirects."""
    context = make_ssl_context(str(sites.ca_file)) if tls else False
    port = sites.https_port if tls else sites.http_port
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(force_close=True, limit=0, ssl=context)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            domain = domains[i % len(domains)]
            extra: dict[str, Any] = {"server_hostname": domain} if tls else {}
            t = time.perf_counter()
            async with session.get(url, headers={"Host": domain}, allow_redirects=False, **extra) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            latencies.append(time.perf_counter() - t)

        label = "HTTPS GET, fresh TLS connection" if tls else "HTTP GET, fresh connection"
        run = await measured(sites, label, PEER_CONCURRENCY, count, lambda: bounded(count, PEER_CONCURRENCY, one))
    run.latencies = latencies
    run.full_score = run.complete = statuses.get(200 if tls else 301, 0)
    return run


async def dns_run(sites: Sites, domains: list[str], count: int) -> Run:
    """Resolver-endpoint lookups the way the checker's resolver makes them (one pooled session)."""
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> None:
            t = time.perf_counter()
            async with session.get(sites.dns_url, params={"host": domains[i % len(domains)]}) as resp:
                await resp.json()
            latencies.append(time.perf_counter() - t)

        run = await measured(
            sites,
            "resolver lookup, pooled session",
            PEER_CONCURRENCY,
            count,
            lambda: bounded(count, PEER_CONCURRENCY, one),
        )
    run.latencies = latencies
    run.full_score = run.complete = count
    return run


# ----------------------------------------------------------------------------- report
def print_table(runs: list[Run], what: str, shares: tuple[str, ...]) -> None:
    """One line per run; ``shares`` names the columns for ``complete`` and (when given) ``full_score``."""
    head = "".join(f"{name:>10}" for name in shares)
    print(
        f"{'':34}{'conc':>5}{'n':>7}{'seconds':>9}{what + '/s':>10}{'p50 ms':>9}{'p95 ms':>9}"
        f"{head}{'client CPU':>12}{'server CPU':>12}{'others CPU':>12}"
    )
    for r in runs:
        values = (r.complete, r.full_score)[: len(shares)]
        cells = "".join(f"{v / r.count if r.count else 0.0:>10.1%}" for v in values)
        print(
            f"{r.label:34}{r.concurrency:>5}{r.count:>7,}{r.seconds:>9.2f}{r.rate:>10,.0f}"
            f"{percentile(r.latencies, 50) * 1000:>9.1f}{percentile(r.latencies, 95) * 1000:>9.1f}"
            f"{cells}{r.client_cpu / r.seconds:>12.0%}{r.server_cpu / r.seconds:>12.0%}"
            f"{r.other_cpu / r.seconds:>12.0%}"
        )


def print_costs(runs: list[Run]) -> None:
    """Per item: what the stand-in served and the CPU each side spent, to see where a check's time goes."""
    print(
        f"{'':34}{'conc':>5}{'dns':>6}{'http':>6}{'https':>7}{'TLS hs':>8}"
        f"{'client CPU ms':>15}{'server CPU ms':>15}{'TIME_WAIT after':>17}"
    )
    for r in runs:
        s = r.server
        print(
            f"{r.label:34}{r.concurrency:>5}{s['dns']:>6.2f}{s['http']:>6.2f}{s['https']:>7.2f}{s['handshakes']:>8.2f}"
            f"{r.client_cpu / r.count * 1000:>15.2f}{r.server_cpu / r.count * 1000:>15.2f}{r.time_wait:>17,}"
        )


def profile_run(sites: Sites, domains: list[str], concurrency: int, top: int) -> None:
    """cProfile of the checker's process over one run (the profiler slows it; read shares, not rates)."""
    profiler = cProfile.Profile()
    profiler.enable()
    run = asyncio.run(check_run(sites, domains, concurrency, "checks (profiled)"))
    profiler.disable()
    print(f"profile of {run.count:,} checks at concurrency {concurrency}: {run.rate:,.0f} checks/s under the profiler")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        body = out.getvalue()
        start = body.find("   ncalls")
        print(f"-- top {top} by {order}")
        print(body[start:].rstrip())


def median_run(runs: list[Run]) -> Run:
    """The run of median duration, with its own latencies and counters."""
    return sorted(runs, key=lambda r: r.seconds)[(len(runs) - 1) // 2]


async def bench(sites: Sites, levels: list[int], get_requests: int, repeat: int) -> None:
    domains = sites.domains
    warm = await check_run(sites, domains[: min(200, len(domains))], 50, "warm-up checks")
    print(f"warm-up: {warm.count} checks in {warm.seconds:.2f} s ({warm.complete} complete), not reported")
    print()

    def checks_at(concurrency: int) -> Callable[[], Awaitable[Run]]:
        return lambda: check_run(sites, domains, concurrency)

    plan: list[tuple[str, Callable[[], Awaitable[Run]]]] = [
        *((f"c{c}", checks_at(c)) for c in levels),
        ("http", lambda: get_run(sites, domains, get_requests, tls=False)),
        ("https", lambda: get_run(sites, domains, get_requests, tls=True)),
        ("dns", lambda: dns_run(sites, domains, get_requests)),
    ]
    rounds: dict[str, list[Run]] = {key: [] for key, _ in plan}
    for _ in range(repeat):  # interleaved, so a busy neighbour hurts every run alike
        for key, make in plan:
            rounds[key].append(await make())
    if repeat > 1:
        print(f"rates in each of {repeat} rounds (the tables show the median-time run of each)")
        for runs in rounds.values():
            head = f"{runs[0].label} @{runs[0].concurrency}"
            print(f"  {head:42}" + "".join(f"{r.rate:>9,.0f}" for r in runs))
        print()
    best = {key: median_run(runs) for key, runs in rounds.items()}
    checks = [best[f"c{c}"] for c in levels]
    peers = [best["http"], best["https"], best["dns"]]
    print("complete health checks, one fresh HealthChecker per run, the whole list through check_many")
    print("  p50/p95: one check's own time inside the concurrency limit (queueing for a slot excluded)")
    print("  complete: dns, http, https, tls and redirects passed and the final page answered 200, no errors")
    print_table(checks, "checks", ("complete", "score 100"))
    below: dict[str, list[str]] = {}  # the same data gives the same flags: one line per distinct outcome
    for r in checks:
        flags = ", ".join(f"{flag} {n:,}" for flag, n in r.flags.most_common())
        below.setdefault(f"{r.count - r.full_score:,} checks; their flags: {flags or 'none'}", []).append(
            f"{r.label} @{r.concurrency}"
        )
    for text, where in below.items():
        print(f"  below 100 ({', '.join(where)}): {text}")
    print(
        f"  (thin_content: the company's own text is under {MIN_TEXT_CHARS} characters; parked_page: it matches"
        " the parked-page wording; both are the data, not the check)"
    )
    print()
    print(f"peers at concurrency {PEER_CONCURRENCY} (p50/p95 per request; expected: 301 over http, 200 over https)")
    print_table(peers, "req", ("expected",))
    print()
    print("served per check / per request (stand-in counters) and CPU per item on each side")
    print_costs([*checks, *peers])
    print()
    raw = peers[0]
    at200 = next((r for r in checks if r.concurrency == 200), None)
    print(f"raw aiohttp fresh-connection GET rate (plain HTTP, concurrency {PEER_CONCURRENCY}): {raw.rate:,.0f} GETs/s")
    if at200 is not None:
        print(
            f"complete checks at concurrency 200: {at200.rate:,.0f} checks/s "
            f"(project target >= 250; {at200.rate / raw.rate:.1%} of the raw GET rate)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--domains", type=int, default=3000, help="sites (all mode ok) and checks per run")
    parser.add_argument("--concurrency", default="50,200,500", help="comma-separated HealthChecker concurrencies")
    parser.add_argument("--get-requests", type=int, default=None, help="requests per peer (default: --domains)")
    parser.add_argument("--data", type=Path, default=None, help="companies JSONL (yc_companies.jsonl format)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every run, interleaved; tables show medians")
    parser.add_argument("--profile", action="store_true", help="also profile one run at concurrency 200")
    parser.add_argument("--serve-sites", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data: Path = args.data or default_data()
    if args.serve_sites:
        serve_sites(data, args.domains)
        return

    started = time.perf_counter()
    print_header(f"aiohttp {aiohttp.__version__}, {ssl.OPENSSL_VERSION}")
    print(f"data:    {data}")
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    with tempfile.TemporaryDirectory(prefix="thera-bench-health-") as tmp:
        sites = start_sites(data, args.domains, Path(tmp))
        try:
            modes = ", ".join(f"{m} {n:,}" for m, n in sites.modes.items())
            print(
                f"sites:   {len(sites.domains):,} in their own process (pid {sites.proc.pid}; modes: {modes}), "
                f"built in {sites.build_seconds:.1f} s; checker timeout {TIMEOUT:.0f} s"
            )
            if len(sites.domains) < args.domains:
                print(f"         (the data has only {len(sites.domains):,} distinct well-formed domains)")
            print()
            asyncio.run(bench(sites, levels, args.get_requests or len(sites.domains), max(1, args.repeat)))
            if args.profile:
                print()
                profile_run(sites, sites.domains[: min(2000, len(sites.domains))], 200, 25)
        finally:
            stop_sites(sites)
    print(f"total wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
