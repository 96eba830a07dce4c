"""A local stack that fails at start: the command says why in one line, the stack's log keeps the traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from thera_local import cli


def test_a_stack_that_dies_at_start_is_one_line_naming_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    missing = tmp_path / "gone" / "template.yaml"
    assert cli.main(["run", "daily", "--home", str(home), "--template", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("thera: the local stack exited at start: ") and str(missing) in err
    assert "Traceback" in (home / "stack.log").read_text()  # the whole story stays in the stack's log
