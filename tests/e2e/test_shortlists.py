"""Done when: a saved challenge survives a stack restart and exports the same CSV.

On the demo's stack (the daily flow of 150 companies): save a shortlist through the local HTTP API, record
a decision, export it; `thera down` (the emulator's state saved); `thera match` starts the stack again
from that state; the shortlist is listed, reopens with its decision, and exports byte for byte the same CSV.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.e2e.conftest import TheraCli
from thera_local.api import LOCAL_CALLER_ARN
from thera_local.stack import StackInfo

CHALLENGE = "We are looking for startups that build software to help small businesses handle payments and invoices"


def request(method: str, url: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    sent = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - the local stack
    with urllib.request.urlopen(sent, timeout=120) as answer:  # noqa: S310 - on 127.0.0.1
        return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()


def api(cli: TheraCli) -> str:
    info = StackInfo.read(cli.home)
    assert info is not None and info.alive() and info.api
    return info.api


def test_a_saved_shortlist_survives_a_stack_restart_and_exports_the_same_csv(demo: tuple[TheraCli, str]) -> None:
    cli, _ = demo
    cli.run("match", CHALLENGE, "--json")  # the stack is up and its matcher warm
    before = api(cli)
    status, _, raw = request(
        "POST", f"{before}/shortlists", {"name": "Payments = invoices", "challenge_text": CHALLENGE}
    )
    assert status == 201, raw
    saved = json.loads(raw)
    sid, chosen = saved["id"], saved["matches"][1]["domain"]
    assert saved["created_by"] == LOCAL_CALLER_ARN and len(saved["matches"]) == 20
    status, _, _ = request("POST", f"{before}/shortlists/{sid}/decisions", {"domain": chosen, "decision": "accept"})
    assert status == 201
    status, headers, exported = request("GET", f"{before}/shortlists/{sid}/csv")
    assert status == 200 and headers["content-type"] == "text/csv; charset=utf-8"
    assert headers["content-disposition"] == f'attachment; filename="payments-invoices-{sid[:8]}.csv"'
    lines = exported.decode().splitlines()
    assert len(lines) == 21 and lines[0].startswith("rank,domain,name,score,decision,decided_by,decided_at,website")

    cli.run("down", timeout=180)
    stopped = StackInfo.read(cli.home)
    assert stopped is None or not stopped.alive()
    cli.run("match", CHALLENGE, "--json")  # starts the stack again from the saved state
    after = api(cli)

    listed = json.loads(request("GET", f"{after}/shortlists")[2])["shortlists"]
    assert [(s["id"], s["name"]) for s in listed] == [(sid, "Payments = invoices")]
    reopened = json.loads(request("GET", f"{after}/shortlists/{sid}")[2])
    assert reopened["matches"] == saved["matches"] and reopened["challenge_text"] == CHALLENGE
    assert reopened["decisions"][chosen]["decided_by"] == LOCAL_CALLER_ARN
    status, headers, again = request("GET", f"{after}/shortlists/{sid}/csv")
    assert status == 200 and again == exported
