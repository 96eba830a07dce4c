"""How close the Firecrawl consumer keeps its 2 scrapes in flight while CrawlQueue has work, through the local runtime.

Run as ``python bench/crawl.py [--messages M] [--latency SECONDS] [--data PATH] [--parameter KEY=VALUE] [--replay N]``.
It prints and never asserts. A background local stack starts in a fresh temporary home (so no domain was
crawled before and nothing is cached), the Firecrawl stand-in is given a fixed latency per scrape, and M
crawl requests for "ok" sites go straight onto CrawlQueue. FirecrawlFunction drains it as template.yaml
says (BatchSize 2, MaximumConcurrency 2, records of a batch one after another); the stand-in's timeline
of in-flight scrapes then shows how much of the time 2 were running, and the function's REPORT lines
split the time between scrapes into work inside the handler and the poller's own round trips. Last,
the handler's own work is replayed in this process against the same emulator (real CrawlService,
adapters and breaker; a canned scrape) with every storage call timed, to name where that time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
from common import FALLBACK_DATA, REPO, percentile, print_header

from thera.adapters.aws import DynamoCrawlCache, DynamoVersionedStore, S3ObjectStore
from thera.enrichment.breaker import BreakerConfig, CircuitBreaker
from thera.enrichment.crawl import CrawlService
from thera.kernel.messages import CrawlRequest
from thera.kernel.ports import ScrapeResult
from thera.runtime import business_date
from thera.stages.firecrawl import FIRECRAWL_BREAKER
from thera_local.emulator import aws_client
from thera_local.stack import StackConfig, StackInfo, ensure_stack, stop_stack

FUNCTION = "FirecrawlFunction"
QUEUE = "CrawlQueue"
SLOTS = 2  # ScalingConfig.MaximumConcurrency of FirecrawlFunction's CrawlQueue event
_REPORT = re.compile(r"^REPORT RequestId: \S+\tDuration: ([\d.]+) ms(?:.*Init Duration: ([\d.]+) ms)?")


def http_json(method: str, url: str, body: Any = None) -> Any:
    """A JSON call to a loopback stand-in."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - loopback stand-in
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - loopback stand-in
        return json.loads(resp.read() or b"null")


# ----------------------------------------------------------------------------- drive the stack
def send(info: StackInfo, domains: list[str]) -> str:
    """Every request onto CrawlQueue, ten per SendMessageBatch; returns the queue URL."""
    sqs = aws_client("sqs", info.endpoint)
    url = info.template_obj().queue_url(QUEUE, info.endpoint)
    for i in range(0, len(domains), 10):
        entries = [
            {"Id": str(n), "MessageBody": json.dumps(CrawlRequest(d, f"https://{d}/", 100, "bench").body())}
            for n, d in enumerate(domains[i : i + 10])
        ]
        failed = sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
        if failed:
            raise RuntimeError(f"SendMessageBatch failed for {len(failed)} entries: {failed[0]}")
    return url


@dataclass
class Drain:
    drained: bool
    seconds: float  # first send to drained (the last of two idle polls)
    emptied: float | None  # first send to the first poll that saw no visible message


def wait_for_drain(info: StackInfo, queue_url: str, started: float, timeout: float) -> Drain:
    """Until CrawlQueue holds nothing (visible, in flight or delayed) and no batch runs, twice in a row."""
    sqs = aws_client("sqs", info.endpoint)
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    idle, emptied = 0, None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
        visible = int(attrs["ApproximateNumberOfMessages"])
        if visible == 0 and emptied is None:
            emptied = time.perf_counter() - started
        depth = sum(int(attrs[n]) for n in names)
        in_flight = int(info.call("GET", "/status").get("in_flight", 0))
        idle = idle + 1 if depth == 0 and in_flight == 0 else 0
        if idle >= 2:
            return Drain(True, time.perf_counter() - started, emptied)
        time.sleep(0.2)
    return Drain(False, time.perf_counter() - started, emptied)


# ----------------------------------------------------------------------------- analysis
@dataclass
class Timeline:
    start: float  # first scrape started (stand-in clock)
    end: float  # last scrape ended
    full_from: float | None  # first moment SLOTS scrapes were in flight
    full_to: float | None  # last moment SLOTS scrapes were in flight
    time_at: dict[int, float]  # seconds spent at each in-flight level within [start, end]
    area: float  # integral of in-flight over [start, end]: scrape-seconds
    dips: list[float]  # lengths of the stretches below SLOTS between full_from and full_to

    @property
    def busy(self) -> float:
        return self.end - self.start

    def mean(self, lo: float, hi: float, points: list[tuple[float, int]]) -> float:
        """Time-weighted mean in-flight over [lo, hi]."""
        return _area(points, lo, hi) / (hi - lo) if hi > lo else 0.0


def _area(points: list[tuple[float, int]], lo: float, hi: float) -> float:
    total = 0.0
    for (t0, level), (t1, _) in pairwise(points):
        a, b = max(t0, lo), min(t1, hi)
        if b > a:
            total += (b - a) * level
    return total


def analyze(points: list[tuple[float, int]]) -> Timeline | None:
    """The busy period of the change points (time, in-flight after the change) recorded during the run."""
    starts = [t for (_, before), (t, level) in pairwise(points) if level > before]
    if not starts:
        return None
    start = starts[0]
    end = points[-1][0]
    time_at: defaultdict[int, float] = defaultdict(float)
    for (t0, level), (t1, _) in pairwise(points):
        if t0 >= start and t1 <= end:
            time_at[level] += t1 - t0
    full = [i for i, (_, level) in enumerate(points) if level >= SLOTS]
    full_from = points[full[0]][0] if full else None
    full_to = points[full[-1] + 1][0] if full and full[-1] + 1 < len(points) else None
    dips: list[float] = []
    if full_from is not None and full_to is not None:
        below_since: float | None = None
        for t, level in points:
            if t < full_from or t > full_to:
                continue
            if level < SLOTS and below_since is None:
                below_since = t
            elif level >= SLOTS and below_since is not None:
                dips.append(t - below_since)
                below_since = None
    return Timeline(start, end, full_from, full_to, dict(time_at), _area(points, start, end), dips)


@dataclass
class Invocations:
    durations_ms: list[float]
    inits_ms: list[float]
    outcomes: Counter[str]


def read_log(path: Path) -> Invocations:
    """FirecrawlFunction's REPORT lines (handler time per batch, cold starts) and per-message outcomes."""
    durations: list[float] = []
    inits: list[float] = []
    outcomes: Counter[str] = Counter()
    if not path.exists():
        return Invocations(durations, inits, outcomes)
    for line in path.read_text(errors="replace").splitlines():
        if m := _REPORT.match(line):
            durations.append(float(m.group(1)))
            if m.group(2):
                inits.append(float(m.group(2)))
        elif line.startswith("{") and '"crawl finished"' in line:
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                continue
            outcomes[str((doc.get("outcome") or {}).get("status"))] += 1
    return Invocations(durations, inits, outcomes)


# ----------------------------------------------------------------------------- where the handler's time goes
class Timed:
    """Proxy that adds each method call's wall time to ``totals[label.method]``."""

    def __init__(self, target: Any, label: str, totals: defaultdict[str, float], calls: Counter[str]) -> None:
        self._target, self._label, self._totals, self._calls = target, label, totals, calls

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self._totals[f"{self._label}.{name}"] += time.perf_counter() - t
                self._calls[f"{self._label}.{name}"] += 1

        return call


class CannedScraper:
    """Answers at once with one document captured from the stand-in: the scrape itself costs nothing."""

    def __init__(self, result: ScrapeResult) -> None:
        self._result = result

    async def scrape(self, url: str) -> ScrapeResult:
        return self._result


async def _fresh_session_post(url: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {key}"}
        async with session.post(url + "/v2/scrape", json=body, headers=headers) as resp:
            answer: dict[str, Any] = await resp.json(content_type=None)
            return answer


def replay(info: StackInfo, home: Path, domain: str, n: int) -> tuple[dict[str, float], dict[str, int], float, float]:
    """The consumer's own work for n fresh records, in this process, against the same emulator.

    The real CrawlService with the real S3/DynamoDB adapters and breaker, each adapter call timed,
    and a canned scrape in place of Firecrawl; plus what one ``asyncio.run`` with a new aiohttp
    session and one request to the stand-in costs (the handler does that once per record).
    Returns per-record mean ms by call, calls per record, mean total ms, fresh-session request ms.
    """
    key = json.loads((home / "state.json").read_text())["firecrawl_key"]
    body = {"url": f"https://{domain}/", "formats": ["markdown"], "onlyMainContent": True}
    doc = asyncio.run(_fresh_session_post(info.firecrawl, body, key))
    data = doc.get("data") or {}
    result = ScrapeResult(str(data.get("markdown") or ""), dict(data.get("metadata") or {}), doc)
    template = info.template_obj()
    totals: defaultdict[str, float] = defaultdict(float)
    calls: Counter[str] = Counter()
    ddb, s3 = aws_client("dynamodb", info.endpoint), aws_client("s3", info.endpoint)
    breaker = CircuitBreaker(
        Timed(DynamoVersionedStore(ddb, template.physical("BreakerTable")), "breaker store", totals, calls),
        FIRECRAWL_BREAKER,
        BreakerConfig(),
        owner="bench",
    )
    service = CrawlService(
        store=Timed(S3ObjectStore(s3, template.physical("DataLakeBucket")), "S3", totals, calls),
        cache=Timed(DynamoCrawlCache(ddb, template.physical("CrawlCacheTable")), "crawl cache", totals, calls),
        breaker=breaker,
        scraper=CannedScraper(result),
        recrawl_after_days=30,
        date=business_date("America/Sao_Paulo"),
        clock=time.time,
    )
    asyncio.run(service.crawl(CrawlRequest("warm-up.bench.test", "https://warm-up.bench.test/", 100, "bench")))
    totals.clear()
    calls.clear()
    t0 = time.perf_counter()
    for i in range(n):
        name = f"replay-{i}.bench.test"
        outcome = asyncio.run(service.crawl(CrawlRequest(name, f"https://{name}/", 100, "bench")))
        if outcome.status != "crawled":
            raise RuntimeError(f"replay of {name}: {outcome}")
    total = (time.perf_counter() - t0) / n * 1000
    fresh = []
    for _ in range(n):  # answered 401 before the stand-in's latency: the round trip alone
        t = time.perf_counter()
        asyncio.run(_fresh_session_post(info.firecrawl, body, "wrong-key"))
        fresh.append(time.perf_counter() - t)
    per_record = {k: v / n * 1000 for k, v in totals.items()}
    return per_record, {k: v // n for k, v in calls.items()}, total, statistics.mean(fresh) * 1000


def print_replay(info: StackInfo, home: Path, domain: str, n: int, in_handler_ms: float | None) -> None:
    per_record, calls, total, fresh = replay(info, home, domain, n)
    print()
    print(f"the handler's own work per record, replayed in this process ({n} fresh records, same emulator):")
    for name, ms in sorted(per_record.items(), key=lambda kv: -kv[1]):
        print(f"  {name:34} x{calls[name]}  {ms:7.1f} ms")
    rest = total - sum(per_record.values())
    print(f"  {'parse, analyze, Parquet, logic':34}     {rest:7.1f} ms")
    print(f"  {'CrawlService.crawl in all':34}     {total:7.1f} ms")
    print(f"  {'asyncio.run + new session + 1 POST':34}     {fresh:7.1f} ms  (once per record in the handler)")
    if in_handler_ms is not None:
        print(f"  vs measured in the handler, outside the scrape: {in_handler_ms:.1f} ms per record")


# ----------------------------------------------------------------------------- main
def pick_domains(info: StackInfo, m: int) -> tuple[list[str], Counter[str]]:
    modes: dict[str, str] = http_json("GET", info.sites + "/__standin/sites")
    ok = sorted(d for d, mode in modes.items() if mode == "ok")
    return ok[:m], Counter(modes.values())


def report(
    args: argparse.Namespace,
    domains: list[str],
    drain: Drain,
    before: dict[str, Any],
    after: dict[str, Any],
    status: dict[str, Any],
    log: Invocations,
) -> float | None:
    """Print the run's figures; returns the handler's mean time per record outside the scrape (ms)."""
    latency: float = args.latency
    points = [(float(t), int(level)) for t, level in after["timeline"][len(before["timeline"]) - 1 :]]
    scrapes = after["requests"] - before["requests"]
    answered = after["calls"] - before["calls"]
    poller: dict[str, Any] = next((p for name, p in status["pollers"].items() if name.startswith(FUNCTION + ".")), {})
    print(
        f"drained: {drain.drained} in {drain.seconds:.2f} s from the first send "
        f"(no visible message left at {drain.emptied or float('nan'):.2f} s)"
    )
    print(
        f"messages: {len(domains)} sent, {len(domains) / drain.seconds:.2f} messages/s (first send to drained); "
        f"outcomes {dict(log.outcomes)}"
    )
    print(
        f"poller:  {poller.get('batches', 0)} batches for {poller.get('messages', 0)} messages "
        f"(mean {poller.get('messages', 0) / max(1, poller.get('batches', 0)):.2f} a batch), "
        f"peak batches in flight {poller.get('peak_in_flight', 0)}, failures {poller.get('failures', 0)}"
    )
    print(
        f"firecrawl stand-in: {scrapes} scrapes ({answered} answered 200), by status {after['by_status']}, "
        f"max_in_flight {after['max_in_flight']}"
    )
    tl = analyze(points)
    if tl is None:
        print("no scrape was recorded")
        return None
    rate = scrapes / tl.busy if tl.busy else 0.0
    ideal = SLOTS / latency if latency else float("inf")
    print()
    print(f"busy period (first scrape start to last scrape end): {tl.busy:.2f} s")
    print(f"  time-weighted mean in flight   {tl.area / tl.busy:.3f} of {SLOTS}")
    shares = ", ".join(f"{lvl}: {sec / tl.busy:.1%}" for lvl, sec in sorted(tl.time_at.items()))
    print(f"  share of time by in-flight     {shares}")
    print(f"  share with exactly {SLOTS} in flight {tl.time_at.get(SLOTS, 0.0) / tl.busy:.1%}")
    print(
        f"  scrapes per second             {rate:.2f} (ideal {SLOTS} / {latency:g} s = {ideal:.2f}; {rate / ideal:.1%})"
    )
    if tl.full_from is not None and tl.full_to is not None and tl.full_to > tl.full_from:
        window = tl.full_to - tl.full_from
        mean = tl.mean(tl.full_from, tl.full_to, points)
        print(
            f"steady window (first to last moment with {SLOTS} in flight): {window:.2f} s, "
            f"from +{tl.full_from - tl.start:.2f} s to {tl.end - tl.full_to:.2f} s before the end"
        )
        print(f"  time-weighted mean in flight   {mean:.3f} of {SLOTS}")
        if tl.dips:
            print(
                f"  stretches below {SLOTS}            {len(tl.dips)}, p50 {percentile(tl.dips, 50) * 1000:.0f} ms, "
                f"p95 {percentile(tl.dips, 95) * 1000:.0f} ms, max {max(tl.dips) * 1000:.0f} ms, "
                f"total {sum(tl.dips):.2f} s"
            )
    # Where a slot's time goes: Little's law on the stand-in's timeline, the handler's REPORT durations.
    per_scrape = tl.area / scrapes if scrapes else 0.0
    overhead: float | None = None
    cycle = SLOTS * tl.busy / scrapes if scrapes else 0.0
    print()
    print(f"per scrape, per slot (averages over the busy period; {SLOTS} slots)")
    print(f"  slot time per scrape ({SLOTS} x busy / scrapes)        {cycle * 1000:8.1f} ms")
    print(f"  in flight at the stand-in (area / scrapes)      {per_scrape * 1000:8.1f} ms  (latency {latency:g} s)")
    print(f"  between scrapes                                 {(cycle - per_scrape) * 1000:8.1f} ms")
    if log.durations_ms:
        messages = max(1, poller.get("messages", 0))
        in_handler = sum(log.durations_ms) / 1000 / messages
        overhead = (in_handler - per_scrape) * 1000
        print(f"    of which in the handler, outside the scrape   {overhead:8.1f} ms")
        print(f"    of which outside the handler (poller, IPC)    {(cycle - in_handler) * 1000:8.1f} ms")
        print(
            f"  handler REPORT durations per batch: p50 {statistics.median(log.durations_ms):.0f} ms, "
            f"p95 {percentile(log.durations_ms, 95):.0f} ms, max {max(log.durations_ms):.0f} ms over "
            f"{len(log.durations_ms)} invocations"
        )
    if log.inits_ms:
        inits = ", ".join(f"{x:.0f}" for x in log.inits_ms)
        print(f"  cold starts (Init Duration, ms): {inits}; they fall before or at the start of the busy period")
    return overhead


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=100, help="crawl requests sent to CrawlQueue")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds the Firecrawl stand-in adds per scrape")
    parser.add_argument("--data", type=Path, default=FALLBACK_DATA, help="companies JSONL the stack serves")
    parser.add_argument("--parameter", action="append", default=[], help="template override KEY=VALUE")
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds to wait for the queue to drain")
    parser.add_argument("--replay", type=int, default=20, help="records replayed in-process to split handler time")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home (logs) for a look")
    args = parser.parse_args(argv)
    overrides = dict(p.split("=", 1) for p in args.parameter)

    started = time.perf_counter()
    print_header()
    print(f"data:    {args.data}")
    tmp = Path(tempfile.mkdtemp(prefix="thera-bench-crawl-"))
    home = tmp / "home"
    config = StackConfig(home=home, template=REPO / "template.yaml", data=args.data, overrides=overrides)
    try:
        t0 = time.perf_counter()
        info = ensure_stack(config, echo=lambda text: print(f"stack:   {text}"))
        print(f"stack:   up in {time.perf_counter() - t0:.1f} s, home {home}; overrides {overrides or 'none'}")
        faults = http_json("POST", info.firecrawl + "/__standin/faults", {"latency": args.latency})
        print(f"firecrawl stand-in faults: {faults}")
        domains, modes = pick_domains(info, args.messages)
        print(f"sites:   {sum(modes.values())} ({dict(modes)}); sending {len(domains)} distinct ok domains")
        if len(domains) < args.messages:
            print(f"         only {len(domains)} ok sites in {args.data}; pass a larger --data for more")
        before = http_json("GET", info.firecrawl + "/__standin/stats")
        sent_at = time.perf_counter()
        queue_url = send(info, domains)
        print(f"sent:    {len(domains)} messages in {time.perf_counter() - sent_at:.2f} s")
        drain = wait_for_drain(info, queue_url, sent_at, args.timeout)
        after = http_json("GET", info.firecrawl + "/__standin/stats")
        status = info.call("GET", "/status")
        log = read_log(home / "logs" / f"{FUNCTION}.log")
        print()
        overhead = report(args, domains, drain, before, after, status, log)
        if args.replay > 0 and domains:
            print_replay(info, home, domains[0], args.replay, overhead)
    finally:
        t1 = time.perf_counter()
        stopped = stop_stack(home)
        print()
        print(f"stack stopped ({stopped}) in {time.perf_counter() - t1:.1f} s")
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"total wall time {time.perf_counter() - started:.1f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
