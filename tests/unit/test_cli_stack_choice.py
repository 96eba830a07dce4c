"""Which stack a command talks to, and how a bad company file is refused, decided without starting a stack.

A running stack is faked by its ``stack.json`` and a control API on loopback that answers ``/status``:
that is all a command looks at before it decides to reuse, restart or start one.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SAMPLE
from thera_local import cli
from thera_local.stack import StackConfig, StackInfo, restart_reason
from thera_local.standins.apollo import CompanyFileError, load_companies


class _Status(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = b'{"in_flight": 0}'
        self.send_response(200 if self.path == "/status" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def control() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def fake_running_stack(home: Path, control: str, config: StackConfig) -> None:
    """A stack.json as a live stack started with ``config`` writes it (this process stands in for its pid)."""
    home.mkdir(parents=True, exist_ok=True)
    info = StackInfo(
        pid=os.getpid(),
        control=control,
        endpoint="http://127.0.0.1:1",
        apollo="",
        firecrawl="",
        sites="",
        template=str(config.template),
        overrides=config.overrides,
        identity=config.identity(),
        home=str(home),
    )
    (home / "stack.json").write_text(json.dumps(asdict(info)))


@pytest.fixture
def companies(tmp_path: Path) -> Path:
    """Another company file than the sample (as ../shared/data/yc_companies.jsonl is)."""
    path = tmp_path / "yc_companies.jsonl"
    path.write_text("\n".join(SAMPLE.read_text().splitlines()[:30]) + "\n")
    return path


def parse(*argv: str) -> Any:
    return cli.build_parser().parse_args(list(argv))


def test_a_command_without_data_uses_the_running_stacks_data_and_settings(
    tmp_path: Path, control: str, companies: Path
) -> None:
    home = tmp_path / "home"
    started = StackConfig(
        home=home,
        template=ROOT / "template.yaml",
        data=companies,
        overrides={"MinHealthScore": "60"},
        apollo_latency=0.2,
        retry_delay=3,
    )
    fake_running_stack(home, control, started)
    for argv in (("match", "warehouse robots"), ("run", "daily"), ("invoke", "MatcherFunction"), ("run", "weekly")):
        config = cli._config(parse(*argv, "--home", str(home)))
        assert config.data == companies.resolve(), argv
        assert restart_reason(started.identity(), config.identity()) is None, argv


def test_another_data_file_restarts_and_says_so_in_one_line(tmp_path: Path, control: str, companies: Path) -> None:
    home = tmp_path / "home"
    started = StackConfig(home=home, template=ROOT / "template.yaml", data=companies)
    fake_running_stack(home, control, started)
    config = cli._config(parse("match", "warehouse robots", "--home", str(home), "--data", str(SAMPLE)))
    assert config.data == SAMPLE
    reason = restart_reason(started.identity(), config.identity())
    assert reason is not None and "\n" not in reason
    assert "yc_companies.jsonl -> companies_sample.jsonl" in reason and "start empty" in reason
    copy = restart_reason(started.identity(), config.identity(), same_content=True)
    assert copy is not None and "start empty" not in copy  # a copy of the same bytes keeps the kept state
    same_file = cli._config(parse("match", "warehouse robots", "--home", str(home), "--data", str(companies)))
    assert restart_reason(started.identity(), same_file.identity()) is None
    slower = cli._config(parse("run", "daily", "--home", str(home), "--apollo-latency", "1.5"))
    assert restart_reason(started.identity(), slower.identity()) == (
        "the local stack runs with other settings (apollo latency 0.0 -> 1.5); restarting it"
    )


def test_with_no_stack_running_the_kept_states_data_is_used_not_the_sample(tmp_path: Path, companies: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert cli._config(parse("match", "x", "--home", str(home))).data == SAMPLE  # nothing kept: the sample
    (home / "state.json").write_text(json.dumps({"data": str(companies.resolve()), "data_fingerprint": "f"}))
    assert cli._config(parse("match", "x", "--home", str(home))).data == companies.resolve()


def test_kept_state_of_a_file_that_is_gone_is_one_line_and_exit_2(
    tmp_path: Path, companies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "state.json").write_text(json.dumps({"data": str(tmp_path / "moved.jsonl")}))
    assert cli.main(["match", "warehouse robots", "--home", str(home)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "moved.jsonl, which is gone: pass --data" in err


BAD_LINES = [
    ('{"name": "Broken", ', "line 4: not valid JSON: Expecting property name enclosed in double quotes at the end"),
    ('{"name": "B" "domain": "b.io"}', "line 4: not valid JSON: Expecting ',' delimiter at column 14"),
    ("[1, 2]", "line 4: an array, not a JSON object"),
    ('"just text"', "line 4: a string, not a JSON object"),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES)
def test_a_malformed_company_line_is_named_by_file_line_and_reason(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "companies.jsonl"
    path.write_text("\n".join(SAMPLE.read_text().splitlines()[:3]) + "\n" + line + "\n")
    with pytest.raises(CompanyFileError) as caught:
        load_companies(path)
    assert str(caught.value) == f"{path} {message}" or str(caught.value).startswith(f"{path} {message}")


def test_unreadable_or_empty_company_files_are_refused(tmp_path: Path) -> None:
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"name": "ok"}\n{"name": "Caf\xe9"}\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    for path, message in (
        (latin, "line 2: not UTF-8 text"),
        (empty, ": no companies"),
        (tmp_path / "missing.jsonl", ": No such file or directory"),
    ):
        with pytest.raises(CompanyFileError, match=message):
            load_companies(path)


@pytest.mark.parametrize("command", [["run", "daily"], ["up"], ["match", "warehouse robots"]])
def test_run_daily_and_up_with_a_malformed_line_print_one_line_and_exit_2(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "companies.jsonl"
    bad.write_text("\n".join(SAMPLE.read_text().splitlines()[:3]) + '\n{"name": "Broken", \n')
    home = tmp_path / "home"
    home.mkdir()
    kept = {"data": str(SAMPLE), "data_fingerprint": "kept"}
    (home / "state.json").write_text(json.dumps(kept))
    assert cli.main([*command, "--data", str(bad), "--home", str(home)]) == 2
    out, err = capsys.readouterr()
    why = "not valid JSON: Expecting property name enclosed in double quotes at the end of the line"
    assert err == f"thera: {bad} line 4: {why}\n"
    assert "Traceback" not in out + err
    assert json.loads((home / "state.json").read_text()) == kept  # the kept state was not reset for a bad file
    assert not (home / "stack.json").exists() and not (home / "stack.log").exists()  # no stack was started
