"""The Apollo pull: page through organization search under the shared quota.

A sweep walks every page of the search once. Its cursor (next page, total pages)
is saved after each page is safely in the lake, so a run that stops (quota used
up, time running out, a crash) is resumed by the next run from the first page
not yet landed, and a page whose raw file already exists is rebuilt from that
file without another API call. Keys are partitioned by the sweep's start date, so a
sweep resumed on a later day still finds its own pages. A completed sweep is not repeated on the same
business day: the scheduler delivers at least once.

Several saved searches (segments, ``thera.lake.segments``) share the day's quota: each keeps its
own cursor and sweep, and the pages go to the segments in the ratio of their shares.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from thera.kernel import keys, schemas
from thera.kernel.outcomes import AsDict
from thera.kernel.ports import ApolloRateLimited, ObjectStore, SearchPage, StateStore
from thera.kernel.tables import from_rows, to_parquet
from thera.lake.companies import Lineage, bronze_record
from thera.lake.quota import TokenBucket
from thera.lake.segments import DEFAULT_SEGMENT, Segment, next_segment, sweep_date

CURSOR_KEY = "cursor#apollo#organizations"  # the ``all`` segment's; the only cursor before segments


def cursor_key(segment: str) -> str:
    return CURSOR_KEY if segment == DEFAULT_SEGMENT else f"{CURSOR_KEY}#{segment}"


TIME_MARGIN_SECONDS = 20.0


class QuotaExhausted(RuntimeError):
    def __init__(self, windows: tuple[str, ...], retry_after: float) -> None:
        super().__init__(f"quota exhausted in window(s) {', '.join(windows)}; next token in {retry_after:.0f}s")
        self.windows = windows
        self.retry_after = retry_after


class OrganizationSearch(Protocol):
    async def search_organizations(
        self, page: int, per_page: int = 100, filters: Mapping[str, Any] | None = None
    ) -> SearchPage: ...


@dataclass
class QuotaGuard:
    """Spends one token per API attempt; waits for a window to reopen only if that is soon."""

    bucket: TokenBucket
    max_wait: float
    sleep: Callable[[float], Awaitable[None]]
    time_left: Callable[[], float]
    on_wait: Callable[[tuple[str, ...], float], None] | None = None
    calls: int = field(default=0, init=False)

    async def __call__(self) -> None:
        while True:
            decision = self.bucket.take()
            if decision.allowed:
                self.calls += 1
                return
            budget = min(self.max_wait, self.time_left() - TIME_MARGIN_SECONDS)
            if decision.retry_after > budget:
                raise QuotaExhausted(decision.exhausted, decision.retry_after)
            if self.on_wait:
                self.on_wait(decision.exhausted, decision.retry_after)
            await self.sleep(decision.retry_after)


@dataclass
class Cursor:
    sweep: str
    next_page: int = 1
    total_pages: int | None = None
    total_entries: int | None = None
    companies: int = 0
    complete: bool = False
    started_at: str = ""
    updated_at: str = ""
    completed_on: str = ""  # business date the sweep completed on
    calls_on: str = ""  # business date ``calls`` counts: the segment's API calls that day, for the split
    calls: int = 0

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Cursor:
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})

    @property
    def finished_paging(self) -> bool:
        return self.total_pages is not None and self.next_page > self.total_pages

    def calls_today(self, business_date: str) -> int:
        return self.calls if self.calls_on == business_date else 0

    def complete_on(self, business_date: str) -> bool:
        return self.complete and (self.completed_on or sweep_date(self.sweep)) == business_date


@dataclass
class _Progress(AsDict):
    """How far a sweep got in one run: a segment's, or the run's over all its segments."""

    sweep: str
    status: str
    pages_fetched: int = 0
    pages_from_raw: int = 0
    companies: int = 0
    api_calls: int = 0
    next_page: int = 1
    total_pages: int | None = None


@dataclass
class SegmentReport(_Progress):
    segment: str = ""
    total_entries: int | None = None


@dataclass
class PullReport(_Progress):
    stop_reason: str = ""
    bronze_keys: list[str] = field(default_factory=list)
    segments: list[SegmentReport] = field(default_factory=list)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pulled_at_of(metadata: dict[str, str]) -> datetime:
    """When a raw Apollo page was pulled, from the metadata it was landed with."""
    return datetime.fromisoformat(metadata["pulled-at"].replace("Z", "+00:00"))


def encode_raw_page(organizations: list[Any]) -> bytes:
    lines = "".join(json.dumps(org, ensure_ascii=False, sort_keys=True) + "\n" for org in organizations)
    return gzip.compress(lines.encode("utf-8"), mtime=0)


def decode_raw_page(data: bytes) -> list[Any]:
    return [json.loads(line) for line in gzip.decompress(data).decode("utf-8").splitlines() if line.strip()]


def _open_cursor(cursors: StateStore, segment: Segment, business_date: str, now: datetime) -> Cursor:
    """The segment's cursor: its sweep in progress, the sweep it completed today, or a new sweep."""
    doc = cursors.get(cursor_key(segment.name))
    cursor = Cursor.from_doc(doc) if doc else None
    if cursor is None or (cursor.complete and not cursor.complete_on(business_date)):
        calls = cursor.calls_today(business_date) if cursor else 0
        cursor = Cursor(sweep=segment.sweep_id(business_date), started_at=_iso(now))
        cursor.calls_on, cursor.calls = business_date, calls
    return cursor


async def pull_companies(
    *,
    search: OrganizationSearch,
    guard: QuotaGuard,
    store: ObjectStore,
    cursors: StateStore,
    bronze_writer: Callable[[list[dict[str, Any]]], bytes],
    run_id: str,
    business_date: str,
    per_page: int,
    segments: Sequence[Segment],
    now: Callable[[], datetime],
    time_left: Callable[[], float],
) -> PullReport:
    """Land raw and bronze pages, segment by segment in the ratio of their shares, until every sweep is
    done or the run must stop; save each segment's cursor as it goes."""
    state = {s.name: _open_cursor(cursors, s, business_date, now()) for s in segments}
    reports = {
        name: SegmentReport(c.sweep, "already_complete" if c.complete else "running", segment=name)
        for name, c in state.items()
    }
    open_names = {name for name, c in state.items() if not c.complete}
    report = PullReport(",".join(c.sweep for c in state.values()), "running")
    while segment := next_segment(segments, {n: c.calls_today(business_date) for n, c in state.items()}, open_names):
        if time_left() < TIME_MARGIN_SECONDS:
            report.status, report.stop_reason = "stopped", "function time almost used up"
            break
        cursor, seg_report = state[segment.name], reports[segment.name]
        calls_before = guard.calls
        stop = ""
        try:
            fetched, organizations, bronze_key = await _land_page(
                search, store, bronze_writer, cursor, segment, run_id, per_page, now
            )
        except QuotaExhausted as exc:
            stop = str(exc)
        except ApolloRateLimited as exc:
            stop = f"Apollo 429: {exc}"
        calls = guard.calls - calls_before
        cursor.calls_on, cursor.calls = business_date, cursor.calls_today(business_date) + calls
        seg_report.api_calls += calls
        if stop:
            report.status, report.stop_reason = "quota_exhausted", stop
            cursors.put(cursor_key(segment.name), asdict(cursor))  # the calls it spent count towards its share
            break
        seg_report.pages_fetched += fetched
        seg_report.pages_from_raw += 1 - fetched
        seg_report.companies += organizations
        if bronze_key:
            report.bronze_keys.append(bronze_key)
        if cursor.finished_paging:
            cursor.complete, cursor.completed_on = True, business_date
            seg_report.status = "complete"
            open_names.discard(segment.name)
        cursor.updated_at = _iso(now())
        cursors.put(cursor_key(segment.name), asdict(cursor))

    for name, cursor in state.items():
        seg_report = reports[name]
        seg_report.next_page, seg_report.total_pages = cursor.next_page, cursor.total_pages
        seg_report.total_entries = cursor.total_entries
        if seg_report.status == "running":
            seg_report.status = report.status
    report.segments = [reports[s.name] for s in segments]
    _sum_up(report)
    report.api_calls = guard.calls
    return report


def _sum_up(report: PullReport) -> None:
    """The run's totals; with one segment, its sweep's position too (the report before segments)."""
    parts = report.segments
    report.pages_fetched = sum(p.pages_fetched for p in parts)
    report.pages_from_raw = sum(p.pages_from_raw for p in parts)
    report.companies = sum(p.companies for p in parts)
    if all(p.status in ("complete", "already_complete") for p in parts):
        done = all(p.status == "already_complete" for p in parts)
        report.status = "already_complete" if done else "complete"
    if len(parts) == 1:
        report.next_page, report.total_pages = parts[0].next_page, parts[0].total_pages


async def _land_page(
    search: OrganizationSearch,
    store: ObjectStore,
    bronze_writer: Callable[[list[dict[str, Any]]], bytes],
    cursor: Cursor,
    segment: Segment,
    run_id: str,
    per_page: int,
    now: Callable[[], datetime],
) -> tuple[int, int, str]:
    """One page of the segment's sweep into raw and bronze; advances the cursor (the caller saves it).

    Returns (1 if fetched from Apollo else 0, organizations on the page, the bronze key or "")."""
    page_no = cursor.next_page
    date = sweep_date(cursor.sweep)
    # keys follow the sweep (its start date), so a sweep resumed on a later day finds its own pages
    raw_key = keys.raw_apollo_page(date, cursor.sweep, page_no)
    landed = store.metadata(raw_key)
    fetched = 0
    if landed is not None:
        organizations = decode_raw_page(store.get(raw_key))
        total_pages, total_entries = int(landed["total-pages"]), int(landed["total-entries"])
        pulled_at = pulled_at_of(landed)
    else:
        page = await search.search_organizations(page_no, per_page, segment.filters)
        organizations, total_pages, total_entries = page.organizations, page.total_pages, page.total_entries
        pulled_at = now()
        store.put(
            raw_key,
            encode_raw_page(organizations),
            {
                "total-pages": str(total_pages),
                "total-entries": str(total_entries),
                "pulled-at": _iso(pulled_at),
                "run-id": run_id,
                "segment": segment.name,
            },
        )
        fetched = 1
    bronze_key = ""
    if organizations:
        lineage = Lineage(run_id=run_id, sweep=cursor.sweep, raw_key=raw_key, page=page_no, pulled_at=pulled_at)
        rows = [bronze_record(org, i, lineage) for i, org in enumerate(organizations)]
        bronze_key = keys.bronze_companies_page(date, cursor.sweep, page_no)
        store.put(bronze_key, bronze_writer(rows), {"run-id": run_id, "raw-key": raw_key})
    cursor.next_page = page_no + 1
    cursor.total_pages, cursor.total_entries = total_pages, total_entries
    cursor.companies += len(organizations)
    if not organizations:  # an empty page ends the sweep whatever the pagination claimed
        cursor.total_pages = min(total_pages, page_no)
    return fetched, len(organizations), bronze_key


def bronze_parquet(rows: list[dict[str, Any]]) -> bytes:
    """The pull's bronze writer: a page's records as one Parquet part."""
    return to_parquet(from_rows(rows, schemas.BRONZE))
