"""``thera``: run the SAM application on this machine with no AWS account and no Docker.

thera up                     run the local stack in the foreground (queues, schedules) until Ctrl-C
thera run daily              fire the daily schedules, wait until the queues drain, print the funnel
thera labels import F.csv    import decisions made before Thera (challenge_text, domain, decision, decided_at, who)
thera invoke FN -e FILE      invoke one function with an event file (like `sam local invoke`)
thera logs FN [--tail]       show a function's logs (like `sam logs`)
thera user add EMAIL         someone who may sign in to the explorer (with --parameter ApiAuth=Cognito)
thera env-vars [--output F]  the --env-vars file for `sam local invoke`, pointing at the running stack
thera replay --from raw --date D  rebuild silver and gold of day D from raw files, compare with the lake
thera fault SERVICE ...      faults for drills: apollo/firecrawl/bedrock answers, lambda --kill
thera redrive QUEUE          move a DLQ's messages back to their queue
thera status [--watch]       progress per stage, queue and DLQ depths, breaker, quota left, spend, last runs
thera --stack NAME CMD       status, logs, redrive, replay, run daily|weekly, match on a deployed stack (AWS APIs)
thera cost [--companies-per-day N]  the monthly bill estimated from the last `thera run daily`
thera sql "SELECT ..."       query the lake (the Glue tables' names) with DuckDB; --named NAME, --checks, --list
thera down                   stop the background stack (its state is kept under .thera/)
thera reset                  stop it and forget all local state
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from thera.training.imported import MAX_BATCH_ROWS
from thera_local.cli.commands import (
    ENV_VARS_HELP,
    cmd_down,
    cmd_env_vars,
    cmd_invoke,
    cmd_match,
    cmd_reset,
    cmd_user,
)
from thera_local.cli.common import UsageError, _err
from thera_local.cli.cost import cmd_cost
from thera_local.cli.flows import SYNTHETIC_BELOW, cmd_run, cmd_up
from thera_local.cli.labels import cmd_labels
from thera_local.cli.logs import cmd_logs
from thera_local.cli.operations import cmd_fault, cmd_redrive, cmd_replay
from thera_local.cli.sql import cmd_sql
from thera_local.cli.status import cmd_status
from thera_local.stack import StackStartError
from thera_local.standins.apollo import CompanyFileError

Command = Callable[[argparse.Namespace], int]
ON_DEPLOYED_STACKS = ("status", "logs", "redrive", "replay", "run", "match")  # the commands `thera --stack NAME` runs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thera", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="operate a deployed CloudFormation stack through AWS APIs (boto3's credentials, region and "
        "AWS_ENDPOINT_URL): status, logs, redrive, replay, run, match",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, stack: bool = True) -> None:
        p.add_argument("--home", help="state folder (default: .thera in the project, or $THERA_HOME)")
        if stack:
            p.add_argument(
                "--data",
                help="company file in the format of yc_companies.jsonl (default: the running stack's, else the one "
                "its kept state was built from, else the bundled sample); another file restarts the stack",
            )
            p.add_argument("--template", help=argparse.SUPPRESS)
            p.add_argument(
                "--parameter", action="append", metavar="NAME=VALUE", help="template parameter override (repeatable)"
            )
            p.add_argument(
                "--apollo-latency",
                type=float,
                default=None,
                help="seconds the Apollo stand-in waits before each answer (default: the running stack's, else 0)",
            )
            p.add_argument(
                "--retry-delay",
                type=int,
                default=None,
                help="seconds before the messages of an invocation that failed as a whole (crashed, timed out) are "
                "retried (default: the running stack's, else the queue's visibility timeout); a message the handler "
                "reports failed comes back after the handler's delay (parameter RetryBaseSeconds)",
            )

    def command(name: str, func: Command, stack: bool = True, **options: Any) -> argparse.ArgumentParser:
        """A subcommand that runs ``func``, with the options every command takes (and the stack's, if it starts one)."""
        p = sub.add_parser(name, **options)
        common(p, stack)
        p.set_defaults(func=func)
        return p

    p = command("up", cmd_up, help="run the local stack in the foreground")
    p.add_argument("--no-schedules", action="store_true", help="do not fire schedules at their times")

    p = command("run", cmd_run, help="fire a flow's schedules and wait until the queues drain")
    p.add_argument(
        "flow",
        choices=["daily", "weekly", "ams"],
        help="daily: the pull and every stage after it; weekly: the training state machine; ams: the day's AMS",
    )
    p.add_argument(
        "--synthetic-feedback",
        action="store_true",
        help="weekly: first answer the matcher's shortlists for the dataset's common tags (always done while fewer "
        f"than {SYNTHETIC_BELOW} decisions are stored)",
    )
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the queues to drain")

    p = command("match", cmd_match, help="rank startups for a challenge through the local HTTP API")
    p.add_argument("challenge", help="the challenge text")
    p.add_argument("--top", type=int, default=20, help="how many startups (1-100, default 20)")
    p.add_argument("--industry", help="only startups in this industry")
    p.add_argument("--country", help="only startups in this country")
    p.add_argument("--json", action="store_true", help="print the matches as a JSON list")
    p.add_argument(
        "--token", help="with --stack and ApiAuth=Cognito: a user's ID token (else requests are SigV4-signed)"
    )

    p = command("labels", cmd_labels, help="import accept/reject decisions made before Thera, for the weekly training")
    p.add_argument("action", choices=["import"], help="import: post a CSV file's rows to POST /feedback/batch")
    p.add_argument("file", help="CSV with the header challenge_text,domain,decision,decided_at,who")
    p.add_argument(
        "--batch-rows", type=int, default=MAX_BATCH_ROWS, help=f"rows per request (1-{MAX_BATCH_ROWS}, the default)"
    )
    p.add_argument("--json", action="store_true", help="print the totals and refused rows as JSON")

    p = command("user", cmd_user, help="add someone who may sign in (the stack runs with ApiAuth=Cognito)")
    p.add_argument("action", choices=["add"], help="add: create the user in the local user pool")
    p.add_argument("email", help="the user's e-mail address, their user name")
    p.add_argument("--password", help="their password (default: a new one, printed)")

    p = command("invoke", cmd_invoke, help="invoke a function with an event file")
    p.add_argument("function")
    p.add_argument("-e", "--event", help="event JSON file (see events/)")

    p = command(
        "env-vars",
        cmd_env_vars,
        help="write the --env-vars file for `sam local invoke`, pointing each function at the running stack",
        description=ENV_VARS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", help="write the JSON here (default: standard output)")
    p.add_argument(
        "--host-address",
        default="host.docker.internal",
        help="how the Lambda container reaches this machine (default host.docker.internal, for Docker Desktop; "
        "127.0.0.1 with `sam local invoke --docker-network host` on Linux)",
    )

    p = command("logs", cmd_logs, stack=False, help="show a function's logs")
    p.add_argument("function")
    p.add_argument("-t", "--tail", action="store_true", help="keep following new lines")
    p.add_argument("--filter", help="only lines containing this text")
    p.add_argument("-s", "--since", help="only lines since a time: 10m, 2h, 1d or ISO 8601")

    p = command(
        "redrive", cmd_redrive, stack=False, help="move a DLQ's messages back to its source queue (after a fix)"
    )
    p.add_argument("queue", help="the DLQ (CrawlDLQ) or the queue it serves (CrawlQueue)")

    p = command("replay", cmd_replay, help="rebuild a day's silver and gold from raw files (no API call) and compare")
    p.add_argument("--from", dest="source", choices=["raw"], default="raw", help="what to rebuild from (raw)")
    p.add_argument("--date", required=True, help="the business day (YYYY-MM-DD) whose raw files to replay")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = command("fault", cmd_fault, stack=False, help="switch a stand-in's faults: outage, status codes, latency")
    p.add_argument(
        "service",
        choices=["firecrawl", "apollo", "bedrock", "lambda"],
        help="a stand-in (bedrock: InvokeModel in the emulator), or lambda: the execution environments",
    )
    p.add_argument("--kill", action="store_true", help="lambda: kill every environment now, mid-invocation")
    p.add_argument("--outage", choices=["on", "off"], help="firecrawl: answer 503 to every scrape")
    p.add_argument("--status", type=int, help="answer this HTTP status (e.g. 429, 500, 503) ...")
    p.add_argument("--count", type=int, default=1, help="... this many times")
    p.add_argument("--retry-after", type=int, help="firecrawl: Retry-After seconds on 429s")
    p.add_argument("--latency", type=float, help="seconds added to every answer")
    p.add_argument("--reset", action="store_true", help="firecrawl, bedrock: back to normal first")

    p = command(
        "status", cmd_status, stack=False, help="progress, queue and DLQ depths, breaker, quota, spend, last runs"
    )
    p.add_argument(
        "-w", "--watch", type=float, nargs="?", const=2.0, default=0.0, help="redraw every N seconds (default 2)"
    )

    p = command("sql", cmd_sql, stack=False, help="query the lake with SQL: a query, a named query or the checks")
    p.add_argument("query", nargs="?", help='the SQL, e.g. "SELECT count(*) FROM silver_companies"')
    p.add_argument("--named", metavar="NAME", help="run a named query (--list shows them)")
    p.add_argument("--checks", action="store_true", help="run the data-quality checks; exit 1 when one fails")
    p.add_argument("--list", action="store_true", help="list the named queries and checks")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the rows as a JSON list of objects")
    output.add_argument("--csv", action="store_true", help="print the rows as CSV")

    p = command("cost", cmd_cost, stack=False, help="the monthly bill estimated from the last measured daily run")
    p.add_argument("--companies-per-day", type=int, help="companies pulled a day (default: as many as the run)")
    p.add_argument("--challenges-per-day", type=int, default=0, help="matches a day (measured on the stack once)")
    p.add_argument("--architecture", choices=["x86_64", "arm64"], default="x86_64", help="the functions' processor")
    p.add_argument("--no-free-tier", action="store_true", help="do not take the permanent free tiers off")
    p.add_argument("--json", action="store_true", help="print the estimate as JSON")

    command("down", cmd_down, stack=False, help="stop the background stack")
    command("reset", cmd_reset, stack=False, help="stop the stack and forget local state")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.stack and args.command not in ON_DEPLOYED_STACKS:
            raise UsageError(
                f"--stack works with {', '.join(ON_DEPLOYED_STACKS)}; `thera {args.command}` is local only"
            )
        return int(args.func(args))
    except (UsageError, CompanyFileError) as exc:
        _err(f"thera: {exc}")
        return 2
    except StackStartError as exc:
        _err(f"thera: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
