"""The whole daily flow on every company of the YC file, through the local runtime: where the time goes.

Run as ``python bench/daily_full.py [--data PATH] [--drain-timeout S] [--keep]``. It prints and never
asserts. It runs ``thera run daily --data FILE`` with ``THERA_HOME`` set to a fresh folder under
/tmp (so no state of another run is reused), samples the stack's control API (``GET /status``:
pollers' batches and messages, the Apollo stand-in's calls and window usage) every
``--sample-every`` seconds, and after the run reads every function's log (START/REPORT lines and
the Powertools JSON lines) for when each stage was active and how long its invocations ran. Then
it stops the stack with ``thera down`` and removes the folder.

``--drain-timeout`` (default 1800 s, the CLI's own) is passed to ``thera run daily --timeout``: past
it the CLI stops waiting for the queues, still snapshots and prints the funnel, and this bench
reports where each queue stood and how long it would need at the rate it had. A shorter one bounds
the wait, not the bench: the snapshot that follows runs while the pollers keep working.

Figures: wall time per phase of the command (stack start, Apollo pull, drain, index and snapshot,
``thera down``) from the command's own output lines; per stage, first and last activity (seconds
after the pull started; an invocation's end is its last log line, its start that minus its REPORT
Duration), busy time (sum of Durations) and utilisation (busy over the window times the stage's
concurrency); per queue, messages per second (the pollers' counts between the first and the last
sample that moved); Apollo calls and the peak usage of each quota window (the stand-in's counts);
CPU seconds per process role (the stack process - emulator, pollers, stand-ins: one interpreter -,
each function's environments, the sites process, the CLI) against the machine's.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from common import REPO, default_data, machine_busy_seconds, print_header

from thera_local.stack import StackInfo, http_json
from thera_local.template import Template

THERA = Path(sys.executable).parent / "thera"
DEFAULT_CONCURRENCY = 5  # thera_local.pollers: five workers when the template sets no MaximumConcurrency
TIMESTAMP = re.compile(r'"timestamp":"([^"]+)"')
REQUEST_ID = re.compile(r'"function_request_id":"([^"]+)"')
WAIT = re.compile(r'"message":"quota window full, waiting".*?"windows":\[([^\]]*)\],"wait_seconds":([\d.]+)')


@dataclass
class Sample:
    at: float
    pollers: dict[str, dict[str, int]]
    apollo: dict[str, Any]


@dataclass
class Run:
    started: float = 0.0
    lines: list[tuple[float, str]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    exit_code: int | None = None
    ended: float = 0.0
    stack_pid: int = 0
    cli_pid: int = 0
    busy_start: float = 0.0
    busy_end: float = 0.0
    cpu: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid -> (what it is, CPU seconds so far)

    def first(self, prefix: str) -> float | None:
        return next((t for t, line in self.lines if line.lstrip().startswith(prefix)), None)

    def last(self, prefix: str) -> float | None:
        found = [t for t, line in self.lines if line.lstrip().startswith(prefix)]
        return found[-1] if found else None


@dataclass
class Stage:
    function: str
    invocations: int = 0
    cold_starts: int = 0
    init_ms: list[float] = field(default_factory=list)
    busy_s: float = 0.0
    first: float | None = None
    last: float | None = None
    waits: list[tuple[str, float]] = field(default_factory=list)

    @property
    def window(self) -> float:
        return (self.last - self.first) if self.first is not None and self.last is not None else 0.0


# ----------------------------------------------------------------------------- the run
def run_daily(data: Path, home: Path, drain_timeout: float, every: float) -> Run:
    run = Run(started=time.time(), busy_start=machine_busy_seconds())
    env = {**os.environ, "THERA_HOME": str(home)}
    cmd = [str(THERA), "run", "daily", "--data", str(data), "--timeout", str(drain_timeout)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run.cli_pid = proc.pid
    names = {spec.name: logical for logical, spec in Template(REPO / "template.yaml").functions().items()}
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            run.lines.append((time.time(), line.rstrip("\n")))

    def sample() -> None:
        info: StackInfo | None = None
        while not done.is_set():
            if info is None:
                info = StackInfo.read(home)
                if info is not None:
                    run.stack_pid = info.pid
            if info is not None:
                try:
                    status = http_json("GET", info.control + "/status", timeout=10)
                    run.samples.append(
                        Sample(
                            time.time(),
                            {p["queue"]: p for p in status["pollers"].values()},
                            status.get("apollo") or {},
                        )
                    )
                except (OSError, ValueError):
                    pass
            account_cpu(run, names)
            done.wait(every)

    reader = threading.Thread(target=read, daemon=True)
    sampler = threading.Thread(target=sample, daemon=True)
    reader.start()
    sampler.start()
    run.exit_code = proc.wait()
    run.ended = time.time()
    run.busy_end = machine_busy_seconds()
    done.set()
    reader.join(timeout=5)
    sampler.join(timeout=15)
    return run


def account_cpu(run: Run, function_names: dict[str, str]) -> None:
    """CPU seconds so far of every process of the run (the CLI, the stack and their children), by role.

    A process that ends between two samples keeps the CPU of its last sample."""
    table: dict[int, tuple[int, list[str], float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        ticks = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        table[int(entry.name)] = (int(fields[1]), argv, ticks)
    ours = {run.cli_pid, run.stack_pid} - {0}
    changed = True
    while changed:
        children = {pid for pid, (ppid, _, _) in table.items() if ppid in ours} - ours
        changed = bool(children)
        ours |= children
    for pid in ours & set(table):
        _, argv, ticks = table[pid]
        if pid == run.cli_pid:
            role = "thera run daily (CLI: pull and index invocations' parent, drain checks, snapshot, funnel)"
        elif pid == run.stack_pid:
            role = "stack process (moto emulator, pollers, Apollo/Firecrawl/Bedrock stand-ins, control API)"
        elif "thera_local.lambda_worker" in argv:
            role = function_names.get(argv[argv.index("thera_local.lambda_worker") + 4], "lambda worker")
        elif "thera_local.standins.sites" in argv:
            role = "sites stand-in process (resolver, HTTP and HTTPS sites)"
        else:
            role = Path(argv[0]).name or "other"
        previous = run.cpu.get(pid, ("", 0.0))[1]
        run.cpu[pid] = (role, max(previous, ticks))


def read_stages(logs: Path, origin: float) -> dict[str, Stage]:
    """Per function: invocations, cold starts, busy time and first/last activity (s after ``origin``)."""
    stages: dict[str, Stage] = {}
    for path in sorted(logs.glob("*.log")):
        stage = Stage(path.stem)
        ends: dict[str, float] = {}
        durations: dict[str, float] = {}
        with path.open(errors="replace") as fh:
            for line in fh:
                if line.startswith("REPORT "):
                    fields = dict(p.split(": ", 1) for p in line.rstrip("\n").split("\t") if ": " in p)
                    if "Duration" not in fields:
                        continue  # a timeout's REPORT
                    durations[fields["REPORT RequestId"]] = float(fields["Duration"].split()[0]) / 1000
                    if "Init Duration" in fields:
                        stage.init_ms.append(float(fields["Init Duration"].split()[0]))
                elif line.startswith("{"):
                    stamp, request = TIMESTAMP.search(line), REQUEST_ID.search(line)
                    if stamp and request:
                        at = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f%z").timestamp()
                        ends[request.group(1)] = max(ends.get(request.group(1), 0.0), at)
                    wait = WAIT.search(line)
                    if wait:
                        stage.waits.append((wait.group(1).replace('"', ""), float(wait.group(2))))
        stage.invocations = len(durations)
        stage.cold_starts = len(stage.init_ms)
        stage.busy_s = sum(durations.values())
        spans = [(ends[r] - d, ends[r]) for r, d in durations.items() if r in ends]
        if spans:
            stage.first = min(s for s, _ in spans) - origin
            stage.last = max(e for _, e in spans) - origin
        stages[stage.function] = stage
    return stages


# ----------------------------------------------------------------------------- report
def queue_rates(samples: list[Sample]) -> dict[str, tuple[int, float, float, float, float]]:
    """Per queue: messages handled, first and last moving sample (s), mean and peak (over ~10 s) msg/s."""
    out = {}
    queues = {q for s in samples for q in s.pollers}
    for queue in sorted(queues):
        series = [(s.at, s.pollers[queue]["messages"]) for s in samples if queue in s.pollers]
        moving = [i for i in range(1, len(series)) if series[i][1] != series[i - 1][1]]
        if not moving:
            out[queue] = (series[-1][1] if series else 0, 0.0, 0.0, 0.0, 0.0)
            continue
        first, last = moving[0] - 1, moving[-1]
        span = series[last][0] - series[first][0]
        mean = (series[last][1] - series[first][1]) / span if span else 0.0
        peak, j = 0.0, first
        for i in range(first, last + 1):
            while series[i][0] - series[j][0] > 10.0:
                j += 1
            if series[i][0] - series[j][0] >= 5.0:
                peak = max(peak, (series[i][1] - series[j][1]) / (series[i][0] - series[j][0]))
        out[queue] = (series[-1][1], series[first][0], series[last][0], mean, peak)
    return out


def concurrency(template: Template) -> dict[str, int]:
    out = {}
    for logical, spec in template.functions().items():
        out[logical] = sum(e.max_concurrency or DEFAULT_CONCURRENCY for e in spec.sqs_events) or 1
    return out


def phases(run: Run, down_s: float) -> list[tuple[str, float]]:
    """Wall time of each phase of ``thera run daily``, from the times its output lines arrived."""
    fired = run.first("firing ApolloPullFunction")
    waiting = run.first("waiting for queues")
    index = run.first("firing IndexBuilderFunction")
    funnel = run.first("Funnel")
    drained_at = index or run.last("waiting for queues")
    marks: list[tuple[str, float]] = []
    if fired:
        marks.append(("stack start (emulator, stand-ins, local model) and first command", fired - run.started))
    if fired and waiting:
        marks.append(("Apollo pull (ApolloPullFunction, synchronous)", waiting - fired))
    if waiting and drained_at:
        marks.append(("queues draining (every stage after the pull)", drained_at - waiting))
    if drained_at and funnel:
        label = "index build, state snapshot, funnel read" if index else "state snapshot, funnel read"
        marks.append((label, funnel - drained_at))
    marks.append(("thera run daily, total", run.ended - run.started))
    marks.append(("thera down (saves the state again)", down_s))
    return marks


def report(run: Run, stages: dict[str, Stage], template: Template, down_s: float, drain_timeout: float) -> None:
    print("\nphase                                                              wall s")
    for label, seconds in phases(run, down_s):
        print(f"  {label:<64} {seconds:7.1f}")
    drained = run.first("firing IndexBuilderFunction") is not None
    print(f"  drained: {'yes' if drained else f'no, stopped waiting after --drain-timeout {drain_timeout:.0f} s'}")

    origin = stages["ApolloPullFunction"].first if "ApolloPullFunction" in stages else 0.0
    workers = concurrency(template)
    rates = queue_rates(run.samples)
    last = run.samples[-1] if run.samples else None
    print(
        "\nstage (s after the pull started)   first    last  window   busy s  util  invocations  cold  "
        "init ms  msgs   msg/s  peak   ms/msg"
    )
    queue_of = {spec.logical_id: [e.queue for e in spec.sqs_events] for spec in template.functions().values()}
    for name, stage in sorted(stages.items(), key=lambda kv: kv[1].first if kv[1].first is not None else 1e9):
        if stage.first is None or stage.last is None:
            continue
        first, last_at = stage.first - (origin or 0), stage.last - (origin or 0)
        util = stage.busy_s / (stage.window * workers.get(name, 1)) if stage.window else 0.0
        init = sorted(stage.init_ms)[len(stage.init_ms) // 2] if stage.init_ms else 0.0
        queues = queue_of.get(name, [])
        handled = sum(rates[q][0] for q in queues if q in rates)
        mean = sum(rates[q][3] for q in queues if q in rates)
        peak = sum(rates[q][4] for q in queues if q in rates)
        per_msg = 1000 * stage.busy_s / handled if handled else 0.0
        print(
            f"  {name:<30} {first:7.1f} {last_at:7.1f} {stage.window:7.1f} {stage.busy_s:8.1f} {util:5.0%} "
            f"{stage.invocations:>11} {stage.cold_starts:>5} {init:>8.0f} {handled if queues else '-':>5} "
            f"{mean if queues else 0:7.1f} {peak if queues else 0:5.1f} {per_msg if queues else 0:8.0f}"
        )
    print(
        "  (util: busy time over window x the stage's concurrency - "
        + ", ".join(f"{n.removesuffix('Function')} {w}" for n, w in workers.items() if queue_of.get(n))
        + "; msg/s: the poller's messages between its first and last moving sample, peak over ~10 s)"
    )

    if last is not None:
        apollo = last.apollo
        peak = {w: max((s.apollo.get("usage") or {}).get(w, 0) for s in run.samples) for w in apollo.get("limits", {})}
        limits = apollo.get("limits", {})
        waits = stages.get("ApolloPullFunction", Stage("")).waits
        print(
            f"\nApollo API: {apollo.get('calls', 0)} calls answered, {apollo.get('requests', 0)} requests, "
            f"{apollo.get('rejected_429', 0)} refused with 429; peak usage per window during the run: "
            + ", ".join(f"{w} {peak[w]}/{limits[w]}" for w in limits)
            + f"; the pull waited for a window {len(waits)} time(s), "
            + (", ".join(f"{s:.1f} s for {w}" for w, s in waits) or "never")
        )
        by_role: dict[str, float] = {}
        for role, seconds in run.cpu.values():
            by_role[role] = by_role.get(role, 0.0) + seconds
        ours = sum(by_role.values())
        wall = run.ended - run.started
        machine = run.busy_end - run.busy_start
        print(
            f"\nCPU seconds of the run's processes over its {wall:.0f} s (sampled every few seconds; a process "
            "ending between samples loses its last seconds):"
        )
        for role, seconds in sorted(by_role.items(), key=lambda kv: -kv[1]):
            print(f"  {seconds:7.1f}  {seconds / wall:5.2f} cores  {role}")
        print(
            f"  {ours:7.1f}  {ours / wall:5.2f} cores  all of the run's processes; the machine was busy "
            f"{machine:.0f} s = {machine / wall:.2f} of {len(os.sched_getaffinity(0))} cores "
            f"(other processes: {max(0.0, machine - ours):.0f} s)"
        )
        if not drained:
            print("\nleft when the bench stopped waiting, and the time to drain it at the rate measured:")
            depth = queue_depths(run)
            for queue, left in depth.items():
                mean = rates.get(queue, (0, 0.0, 0.0, 0.0, 0.0))[3]
                eta = f"{left / mean:.0f} s at {mean:.1f} msg/s" if mean else "no rate measured"
                print(f"  {queue:<16} {left:>6} message(s): {eta}")


def queue_depths(run: Run) -> dict[str, int]:
    """The last 'waiting for queues' line of the CLI, as numbers."""
    text = next((text for _, text in reversed(run.lines) if "waiting for queues" in text), "")
    return {q: int(n) for q, n in re.findall(r"(\w+Queue) (\d+)", text) if int(n)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=default_data(), help="company file (default: all of the YC file)")
    parser.add_argument(
        "--drain-timeout", type=float, default=1800.0, help="thera run daily --timeout (s); past it, a projection"
    )
    parser.add_argument("--sample-every", type=float, default=2.0, help="seconds between GET /status samples")
    parser.add_argument("--keep", action="store_true", help="keep the THERA_HOME folder (logs, state) afterwards")
    args = parser.parse_args()
    companies = sum(1 for line in args.data.open() if line.strip())
    print_header(f"{companies} companies from {args.data}")
    home = Path(tempfile.mkdtemp(prefix="bench-daily-"))
    print(f"THERA_HOME={home}; thera run daily --data {args.data} --timeout {args.drain_timeout:.0f}", flush=True)
    try:
        run = run_daily(args.data, home, args.drain_timeout, args.sample_every)
        started = time.perf_counter()
        down = subprocess.run(
            [str(THERA), "down"],
            cwd=REPO,
            env={**os.environ, "THERA_HOME": str(home)},
            capture_output=True,
            text=True,
            check=False,
        )
        down_s = time.perf_counter() - started
        funnel = [text for _, text in run.lines if text and not text.lstrip().startswith("waiting for queues")]
        print("\n".join(funnel))
        print(f"thera down: {(down.stdout + down.stderr).strip()}")
        progress = sum(1 for _, text in run.lines if "waiting for queues" in text)
        print(f"(exit {run.exit_code}; {progress} progress lines left out)")
        stages = read_stages(home / "logs", 0.0)
        report(run, stages, Template(REPO / "template.yaml"), down_s, args.drain_timeout)
    finally:
        if args.keep:
            print(f"\nkept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    print(f"\nbench wall time: {time.time() - run.started:.0f} s")


if __name__ == "__main__":
    main()
