"""A block of generated resources in template.yaml: rendered as the hand-written YAML reads, kept between marker lines.

The generators (``thera_local.catalog_template``, ``thera_local.alarms_template``) build resources as
template.yaml parses them (short tags as ``Fn::`` mappings); this module writes them back in the template's
style and finds or replaces the block a generator owns.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

_TAGS = {"Ref": "!Ref", "Fn::Sub": "!Sub"}
_PLAIN = re.compile(r"[A-Za-z0-9_/.($][A-Za-z0-9 _./:,<>=()+'%*${}!\[\]-]*")


def _scalar(value: str | bool | int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    plain = _PLAIN.fullmatch(value) and ": " not in value and not value.endswith((" ", ":"))
    if plain and yaml.safe_load(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _literal(value: str, indent: int) -> str | None:
    """A multi-line string as a ``|-`` block, when that reads back to the same string."""
    lines = value.split("\n")
    if len(lines) < 2 or lines[0].startswith(" ") or any(line != line.rstrip() or "\t" in line for line in lines):
        return None
    pad = " " * indent
    return "|-\n" + "\n".join(f"{pad}{line}" if line else "" for line in lines)


def _tagged(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key in _TAGS and isinstance(arg, str):
            return f"{_TAGS[key]} {_scalar(arg)}"
        if key == "Fn::GetAtt" and isinstance(arg, list):
            return f"!GetAtt {arg[0]}.{arg[1]}"
        if key == "Fn::Join" and isinstance(arg, list) and isinstance(arg[1], list):
            items = ", ".join(_tagged(v) or json.dumps(v) for v in arg[1])
            return f"!Join [{json.dumps(arg[0])}, [{items}]]"
    return None


def _inline(value: Any, indent: int) -> str | None:
    """The text after ``key: `` or ``- `` when the value fits on the line (or is a literal block)."""
    tagged = _tagged(value)
    if tagged is not None:
        return tagged
    if isinstance(value, str):
        return _literal(value, indent) or _scalar(value)
    if isinstance(value, bool | int):
        return _scalar(value)
    if isinstance(value, list) and all(isinstance(v, str) and not _literal(v, 0) for v in value):
        line = "[" + ", ".join(_scalar(v) for v in value) + "]"
        return line if indent + len(line) <= 100 else None
    return None


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            inline = _inline(item, indent + 2)
            if inline is not None:
                out.append(f"{pad}{_scalar(key)}: {inline}")
            else:
                out.append(f"{pad}{_scalar(key)}:")
                out.extend(_lines(item, indent + 2))
    elif isinstance(value, list):
        for item in value:
            inline = _inline(item, indent + 2)
            if inline is not None:
                out.append(f"{pad}- {inline}")
            else:
                nested = _lines(item, indent + 2)
                out.append(f"{pad}- {nested[0].lstrip()}")
                out.extend(nested[1:])
    else:
        raise TypeError(f"cannot render {value!r}")
    return out


def render_block(begin: str, note: str, end: str, resources: dict[str, dict[str, Any]]) -> str:
    """The block between (and including) the marker lines, newline-terminated."""
    parts = [begin, f"  # {note}"]
    for logical, resource in resources.items():
        parts.append(f"  {logical}:")
        parts.extend(_lines(resource, 4))
        parts.append("")
    parts.append(end)
    return "\n".join(parts) + "\n"


def current_block(text: str, begin: str, end: str) -> str:
    """The block template.yaml holds now, marker lines included."""
    lines = text.splitlines(keepends=True)
    try:
        start = lines.index(begin + "\n")
        stop = lines.index(end + "\n", start)
    except ValueError:
        raise SystemExit(f"template.yaml lacks the marker lines {begin.strip()!r} and {end.strip()!r}") from None
    return "".join(lines[start : stop + 1])


def main(
    argv: list[str] | None, description: str, template: Path, rewritten: Callable[[str], str], what: str, target: str
) -> int:
    """A generator's command line: ``--write`` rewrites its block, ``--check`` exits 1 when the block is stale."""
    parser = argparse.ArgumentParser(description=description)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the generated block of template.yaml")
    mode.add_argument("--check", action="store_true", help="exit 1 if template.yaml's block is not current")
    parser.add_argument("--template", type=Path, default=template)
    args = parser.parse_args(argv)
    text = args.template.read_text()
    new = rewritten(text)
    if args.check:
        if new != text:
            print(f"{args.template}: the {what} block is stale: run {target}", file=sys.stderr)
            return 1
        return 0
    if new != text:
        args.template.write_text(new)
        print(f"{args.template}: {what} block rewritten")
    return 0
