"""Run an AWS Step Functions state machine (Amazon States Language, JSONPath flavour) in process.

Why: the Docker-free local runtime has no Step Functions service, yet the pipeline's control flow
(retries, catches, fan-out, choices, alerts) lives in the ASL file. Interpreting that same file,
instead of a hand-written Python copy of the flow, keeps local runs honest about what AWS will do.

Supported: Task (``arn:aws:states:::lambda:invoke``, a plain Lambda function ARN,
``arn:aws:states:::sns:publish``), Pass, Choice, Wait, Succeed, Fail, Parallel and inline Map;
InputPath → Parameters → task → ResultSelector → ResultPath → OutputPath; the context object ``$$``;
intrinsic functions; Retry and Catch. Rejected up front with ``ValueError``: JSONata, variables
(``Assign``), Distributed Map readers/writers/batching, tolerated failures, other integrations.
Task ``TimeoutSeconds`` is the caller's business: ``invoke_lambda`` raises
``LambdaError("States.Timeout", ...)`` when an invocation outlives it.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import operator
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
SNS_PUBLISH = "arn:aws:states:::sns:publish"

RUNTIME = "States.Runtime"
ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"

# An inline Map with MaxConcurrency 0 ("no limit") runs about this many iterations at once on AWS.
UNBOUNDED_MAP_CONCURRENCY = 40

ExecutionStatus = Literal["SUCCEEDED", "FAILED"]
RecordStatus = Literal["succeeded", "failed", "caught", "retried"]
InvokeLambda = Callable[[str, Any], Any]
PublishSns = Callable[[str, str, str | None], dict[str, Any]]


class StatesError(Exception):
    """An ASL error: ``error`` is the name Retry/Catch match on, ``cause`` the human-readable detail."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


class LambdaError(StatesError):
    """Raised by ``invoke_lambda``: the handler's errorType becomes the ASL error name, as on AWS."""

    def __init__(self, error_type: str, message: str = "") -> None:
        super().__init__(error_type, message)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> LambdaError:
        """From a function-error response ({"errorType", "errorMessage", ...}): the Cause is that JSON, as on AWS."""
        return cls(str(payload.get("errorType") or "Lambda.Unknown"), json.dumps(dict(payload)))

    @property
    def error_type(self) -> str:
        return self.error

    @property
    def message(self) -> str:
        return self.cause


@dataclass
class StateRecord:
    """One state visit (or one retried attempt); nested states are named ``Parallel/State``, ``Map[2]/State``.

    ``seconds`` is the attempt's own time for ``retried`` records and the whole visit (retries and
    backoff included) otherwise.
    """

    name: str
    type: str
    status: RecordStatus
    seconds: float
    output: Any = None
    error: str | None = None
    cause: str | None = None
    attempts: int = 1


@dataclass
class Execution:
    """The outcome of ``StateMachineRunner.run``: what DescribeExecution plus GetExecutionHistory would say."""

    status: ExecutionStatus
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[StateRecord] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def load_definition(path: str | Path, substitutions: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read an ASL file and fill SAM ``DefinitionSubstitutions`` (``${Name}``), so the file stays the only copy."""
    text = Path(path).read_text(encoding="utf-8")
    subs = dict(substitutions or {})
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in subs:
            missing.append(key)
            return match.group(0)
        return json.dumps(subs[key])[1:-1]  # escaped for the JSON string it sits in

    text = re.sub(r"\$\{([A-Za-z0-9_]+)\}", fill, text)
    if missing:
        raise ValueError(f"{path}: no substitution for {', '.join(sorted(set(missing)))}")
    definition = json.loads(text)
    if not isinstance(definition, dict):
        raise ValueError(f"{path}: a state machine definition must be a JSON object")
    return definition


# --------------------------------------------------------------------------------------------- JSONPath


@dataclass(frozen=True)
class _Path:
    """A parsed JSONPath: ``context`` for ``$$``; steps are keys, indexes, or None for a ``*`` wildcard."""

    text: str
    context: bool
    steps: tuple[str | int | None, ...]

    @property
    def wildcard(self) -> bool:
        return None in self.steps


class _Missing(Exception):
    """A path that selects nothing; turned into States.Runtime with the path and input in the cause."""


_DOT_STEP = re.compile(r"\.([^.\[\]]+)")
_BRACKET_STEP = re.compile(r"""\[\s*(?:(-?\d+)|(\*)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]""")


@functools.lru_cache(maxsize=2048)
def _parse_path(text: str) -> _Path:
    if text.startswith("$$"):
        context, i = True, 2
    elif text.startswith("$"):
        context, i = False, 1
    else:
        raise ValueError(f"{text!r} is not a JSONPath (it must start with '$')")
    steps: list[str | int | None] = []
    while i < len(text):
        dot = _DOT_STEP.match(text, i)
        if dot:
            steps.append(None if dot.group(1) == "*" else dot.group(1))
            i = dot.end()
            continue
        bracket = _BRACKET_STEP.match(text, i)
        if bracket is None:
            raise ValueError(f"unsupported JSONPath {text!r} (at {text[i:]!r})")
        index, star, single, double = bracket.groups()
        if index is not None:
            steps.append(int(index))
        elif star is not None:
            steps.append(None)
        else:
            steps.append(re.sub(r"\\(.)", r"\1", single if single is not None else double))
        i = bracket.end()
    return _Path(text, context, tuple(steps))


def _select(value: Any, path: _Path) -> Any:
    """Apply ``path`` to ``value``: one node, or a list of nodes when the path has a wildcard."""
    nodes = [value]
    for step in path.steps:
        found: list[Any] = []
        for node in nodes:
            if step is None:
                if isinstance(node, list):
                    found.extend(node)
                elif isinstance(node, dict):
                    found.extend(node.values())
            elif isinstance(step, int):
                if isinstance(node, list) and -len(node) <= step < len(node):
                    found.append(node[step])
            elif isinstance(node, dict) and step in node:
                found.append(node[step])
        nodes = found
        if not nodes and not path.wildcard:
            raise _Missing(path.text)
    return nodes if path.wildcard else nodes[0]


def _dumps(value: Any, limit: int = 2000) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _json_copy(value: Any, what: str) -> Any:
    """A JSON round trip: the copy AWS makes at every service boundary (and the check that it is JSON at all)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StatesError(RUNTIME, f"{what} is not JSON: {exc}") from exc


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ------------------------------------------------------------------------------------ intrinsic functions


@dataclass(frozen=True)
class _Lit:
    """A literal argument; string literals keep their pieces around unescaped ``{}`` for States.Format."""

    value: Any
    segments: tuple[str, ...] | None = None


@dataclass(frozen=True)
class _Ref:
    path: _Path


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[_Lit | _Ref | _Call, ...]


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_CALL_START = re.compile(r"States\.([A-Za-z0-9]+)\s*\(")


class _IntrinsicParser:
    """Recursive descent over ``States.Fn(arg, ...)``: args are 'strings', numbers, null/true/false, paths, calls."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def parse(self) -> _Call:
        call = self._call()
        self._skip_space()
        if self.i != len(self.text):
            self._fail("unexpected text after the call")
        return call

    def _fail(self, problem: str) -> NoReturn:
        raise ValueError(f"intrinsic function {self.text!r}: {problem} at position {self.i}")

    def _skip_space(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def _call(self) -> _Call:
        match = _CALL_START.match(self.text, self.i)
        if match is None:
            self._fail("expected States.<Function>(")
        name = match.group(1)
        if name not in _FUNCTIONS:
            self._fail(f"unknown function States.{name}")
        self.i = match.end()
        args: list[_Lit | _Ref | _Call] = []
        self._skip_space()
        if self.text.startswith(")", self.i):
            self.i += 1
            return _Call(name, ())
        while True:
            self._skip_space()
            args.append(self._arg())
            self._skip_space()
            char = self.text[self.i : self.i + 1]
            self.i += 1
            if char == ")":
                return _Call(name, tuple(args))
            if char != ",":
                self.i -= 1
                self._fail("expected ',' or ')'")

    def _arg(self) -> _Lit | _Ref | _Call:
        rest = self.text[self.i :]
        if rest.startswith("'"):
            return self._string()
        if rest.startswith("$"):
            return self._path()
        if rest.startswith("States."):
            return self._call()
        for word, value in (("null", None), ("true", True), ("false", False)):
            if rest.startswith(word):
                self.i += len(word)
                return _Lit(value)
        number = _NUMBER.match(self.text, self.i)
        if number is None:
            self._fail("expected an argument")
        self.i = number.end()
        literal = number.group(0)
        return _Lit(float(literal) if any(c in literal for c in ".eE") else int(literal))

    def _string(self) -> _Lit:
        self.i += 1
        chars: list[str] = []
        piece: list[str] = []
        segments: list[str] = []
        while True:
            if self.i >= len(self.text):
                self._fail("unterminated string")
            char = self.text[self.i]
            if char == "\\":
                if self.i + 1 >= len(self.text):
                    self._fail("dangling escape")
                escaped = self.text[self.i + 1]
                chars.append(escaped)
                piece.append(escaped)
                self.i += 2
            elif char == "'":
                self.i += 1
                break
            elif self.text.startswith("{}", self.i):
                chars.append("{}")
                segments.append("".join(piece))
                piece = []
                self.i += 2
            else:
                chars.append(char)
                piece.append(char)
                self.i += 1
        segments.append("".join(piece))
        return _Lit("".join(chars), tuple(segments))

    def _path(self) -> _Ref:
        start, depth, quote = self.i, 0, ""
        while self.i < len(self.text):
            char = self.text[self.i]
            if quote:
                if char == "\\":
                    self.i += 1
                elif char == quote:
                    quote = ""
            elif char in "'\"" and depth:
                quote = char
            elif char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
            elif not depth and (char in ",)" or char.isspace()):
                break
            self.i += 1
        return _Ref(_parse_path(self.text[start : self.i]))


@functools.lru_cache(maxsize=1024)
def _parse_intrinsic(text: str) -> _Call:
    return _IntrinsicParser(text).parse()


def _want(condition: bool, problem: str) -> None:
    if not condition:
        raise ValueError(problem)


def _integer(value: Any, what: str) -> int:
    _want(_is_number(value) and float(value).is_integer(), f"{what} must be an integer, got {_dumps(value)}")
    return int(value)


def _fn_format(call: _Call, args: list[Any]) -> str:
    _want(bool(args) and isinstance(args[0], str), "the first argument must be a string template")
    first = call.args[0]
    if isinstance(first, _Lit) and first.segments is not None:
        segments = first.segments
    else:
        segments = tuple(str(args[0]).split("{}"))
    values = args[1:]
    _want(len(values) == len(segments) - 1, f"{len(segments) - 1} placeholders but {len(values)} values")
    out = [segments[0]]
    for value, segment in zip(values, segments[1:], strict=True):
        out.append(value if isinstance(value, str) else json.dumps(value, separators=(",", ":")))
        out.append(segment)
    return "".join(out)


def _fn_json_to_string(call: _Call, args: list[Any]) -> str:
    _want(len(args) == 1, "takes one argument")
    return json.dumps(args[0], separators=(",", ":"))


def _fn_string_to_json(call: _Call, args: list[Any]) -> Any:
    _want(len(args) == 1 and isinstance(args[0], str), "takes one string")
    return json.loads(args[0])


def _fn_array(call: _Call, args: list[Any]) -> list[Any]:
    return list(args)


def _fn_math_add(call: _Call, args: list[Any]) -> int:
    _want(len(args) == 2, "takes two numbers")
    return _integer(args[0], "the first value") + _integer(args[1], "the second value")


def _fn_math_random(call: _Call, args: list[Any]) -> int:
    _want(len(args) in (2, 3), "takes start, end and an optional seed")
    rng = random.Random(_integer(args[2], "the seed")) if len(args) == 3 else random.Random()
    return rng.randint(_integer(args[0], "start"), _integer(args[1], "end"))


def _fn_array_partition(call: _Call, args: list[Any]) -> list[Any]:
    _want(len(args) == 2 and isinstance(args[0], list), "takes an array and a chunk size")
    size = _integer(args[1], "the chunk size")
    _want(size > 0, "the chunk size must be positive")
    return [args[0][i : i + size] for i in range(0, len(args[0]), size)]


def _fn_array_contains(call: _Call, args: list[Any]) -> bool:
    _want(len(args) == 2 and isinstance(args[0], list), "takes an array and a value")
    return args[1] in args[0]


def _fn_array_range(call: _Call, args: list[Any]) -> list[int]:
    _want(len(args) == 3, "takes start, end and step")
    start, end, step = (_integer(arg, "each argument") for arg in args)
    _want(step != 0, "the step must not be 0")
    return list(range(start, end + (1 if step > 0 else -1), step))


def _fn_array_get_item(call: _Call, args: list[Any]) -> Any:
    _want(len(args) == 2 and isinstance(args[0], list), "takes an array and an index")
    index = _integer(args[1], "the index")
    _want(0 <= index < len(args[0]), f"index {index} is out of range")
    return args[0][index]


def _fn_array_length(call: _Call, args: list[Any]) -> int:
    _want(len(args) == 1 and isinstance(args[0], list), "takes an array")
    return len(args[0])


def _fn_array_unique(call: _Call, args: list[Any]) -> list[Any]:
    _want(len(args) == 1 and isinstance(args[0], list), "takes an array")
    unique: list[Any] = []
    for item in args[0]:
        if item not in unique:
            unique.append(item)
    return unique


def _fn_json_merge(call: _Call, args: list[Any]) -> dict[str, Any]:
    _want(len(args) == 3 and isinstance(args[0], dict) and isinstance(args[1], dict), "takes two objects and false")
    _want(args[2] is False, "only shallow merges (false) are supported, as on AWS")
    return {**args[0], **args[1]}


def _fn_string_split(call: _Call, args: list[Any]) -> list[str]:
    _want(len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], str), "takes a string and delimiters")
    if not args[1]:
        return [args[0]]
    return [part for part in re.split(f"[{re.escape(args[1])}]", args[0]) if part]


def _fn_uuid(call: _Call, args: list[Any]) -> str:
    _want(not args, "takes no arguments")
    return str(uuid.uuid4())


def _fn_base64_encode(call: _Call, args: list[Any]) -> str:
    _want(len(args) == 1 and isinstance(args[0], str), "takes a string")
    return base64.b64encode(args[0].encode()).decode()


def _fn_base64_decode(call: _Call, args: list[Any]) -> str:
    _want(len(args) == 1 and isinstance(args[0], str), "takes a string")
    return base64.b64decode(args[0], validate=True).decode()


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _fn_hash(call: _Call, args: list[Any]) -> str:
    _want(len(args) == 2 and isinstance(args[1], str) and args[1] in _HASHES, f"takes data and one of {list(_HASHES)}")
    data = args[0] if isinstance(args[0], str) else json.dumps(args[0], separators=(",", ":"))
    return hashlib.new(_HASHES[args[1]], data.encode()).hexdigest()


_FUNCTIONS: dict[str, Callable[[_Call, list[Any]], Any]] = {
    "Format": _fn_format,
    "JsonToString": _fn_json_to_string,
    "StringToJson": _fn_string_to_json,
    "Array": _fn_array,
    "ArrayPartition": _fn_array_partition,
    "ArrayContains": _fn_array_contains,
    "ArrayRange": _fn_array_range,
    "ArrayGetItem": _fn_array_get_item,
    "ArrayLength": _fn_array_length,
    "ArrayUnique": _fn_array_unique,
    "JsonMerge": _fn_json_merge,
    "MathAdd": _fn_math_add,
    "MathRandom": _fn_math_random,
    "StringSplit": _fn_string_split,
    "UUID": _fn_uuid,
    "Base64Encode": _fn_base64_encode,
    "Base64Decode": _fn_base64_decode,
    "Hash": _fn_hash,
}


# ----------------------------------------------------------------------------------------- Choice rules


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _string_matches(value: Any, pattern: Any) -> bool:
    if not isinstance(value, str) or not isinstance(pattern, str):
        return False
    regex, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        regex.append(".*" if pattern[i] == "*" else re.escape(pattern[i]))
        i += 1
    return re.fullmatch("".join(regex), value, re.DOTALL) is not None


def _comparator(
    check: Callable[[Any], bool], convert: Callable[[Any], Any], op: Callable[[Any, Any], bool]
) -> Callable[[Any, Any], bool]:
    """AWS compares only values of the rule's type: anything else is simply no match, never an error."""

    def compare(value: Any, expected: Any) -> bool:
        return check(value) and check(expected) and bool(op(convert(value), convert(expected)))

    return compare


_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {"StringMatches": _string_matches}
for _kind, _check, _convert in (
    ("String", lambda v: isinstance(v, str), lambda v: v),
    ("Numeric", _is_number, lambda v: v),
    ("Timestamp", lambda v: _timestamp(v) is not None, _timestamp),
):
    for _suffix, _op in (
        ("Equals", operator.eq),
        ("LessThan", operator.lt),
        ("GreaterThan", operator.gt),
        ("LessThanEquals", operator.le),
        ("GreaterThanEquals", operator.ge),
    ):
        _COMPARATORS[_kind + _suffix] = _comparator(_check, _convert, _op)
_COMPARATORS["BooleanEquals"] = _comparator(lambda v: isinstance(v, bool), lambda v: v, operator.eq)

_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsNull": lambda v: v is None,
    "IsNumeric": _is_number,
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsTimestamp": lambda v: _timestamp(v) is not None,
}
_PATH_COMPARATORS = {name + "Path" for name in _COMPARATORS if name != "StringMatches"}
_RULE_OPERATORS = {*_COMPARATORS, *_PATH_COMPARATORS, *_TYPE_TESTS, "IsPresent"}


# ------------------------------------------------------------------------------------------- validation

_COMMON = {"Type", "Comment"}
_IO = {"InputPath", "OutputPath"}
_FLOW = {"Next", "End"}
_ALLOWED_FIELDS: dict[str, set[str]] = {
    "Task": _COMMON
    | _IO
    | _FLOW
    | {"Resource", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch"}
    | {"TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials"},
    "Pass": _COMMON | _IO | _FLOW | {"Parameters", "Result", "ResultPath"},
    "Choice": _COMMON | _IO | {"Choices", "Default"},
    "Wait": _COMMON | _IO | _FLOW | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
    "Succeed": _COMMON | _IO,
    "Fail": _COMMON | {"Error", "Cause", "ErrorPath", "CausePath"},
    "Parallel": _COMMON | _IO | _FLOW | {"Branches", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch"},
    "Map": _COMMON
    | _IO
    | _FLOW
    | {"ItemProcessor", "Iterator", "ItemsPath", "ItemSelector", "Parameters", "MaxConcurrency"}
    | {"MaxConcurrencyPath", "ResultSelector", "ResultPath", "Retry", "Catch", "Label"},
}
_MACHINE_FIELDS = {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage", "ProcessorConfig"}
_RETRIER_FIELDS = {
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
}
_CATCHER_FIELDS = {"ErrorEquals", "Next", "ResultPath", "Comment"}
_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[^:]+:[^:]+:function:[^:]+(:[^:]+)?$")


def _check_path(value: Any, where: str, *, nullable: bool = False, reference: bool = False) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a JSONPath string")
    try:
        path = _parse_path(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if reference and (path.wildcard or path.context):
        raise ValueError(f"{where}: {value!r} must be a plain reference path into the input (no '*' or '$$')")


def _check_template(template: Any, where: str) -> None:
    if isinstance(template, list):
        for i, item in enumerate(template):
            _check_template(item, f"{where}[{i}]")
    if not isinstance(template, dict):
        return
    for key, value in template.items():
        if not key.endswith(".$"):
            _check_template(value, f"{where}.{key}")
            continue
        if not isinstance(value, str):
            raise ValueError(f"{where}.{key} must be a string (a JSONPath or an intrinsic function)")
        try:
            _parse_path(value) if value.startswith("$") else _parse_intrinsic(value)
        except ValueError as exc:
            raise ValueError(f"{where}.{key}: {exc}") from None


def _check_rule(rule: Any, where: str, *, top: bool, states: Mapping[str, Any]) -> None:
    if not isinstance(rule, dict):
        raise ValueError(f"{where} must be an object")
    if top:
        if rule.get("Next") not in states:
            raise ValueError(f"{where}: Next {rule.get('Next')!r} is not a state")
    elif "Next" in rule:
        raise ValueError(f"{where}: only top-level choice rules have Next")
    for combinator in ("And", "Or"):
        if combinator in rule:
            if not isinstance(rule[combinator], list) or not rule[combinator]:
                raise ValueError(f"{where}.{combinator} must be a non-empty list of rules")
            for i, sub in enumerate(rule[combinator]):
                _check_rule(sub, f"{where}.{combinator}[{i}]", top=False, states=states)
            return
    if "Not" in rule:
        _check_rule(rule["Not"], f"{where}.Not", top=False, states=states)
        return
    _check_path(rule.get("Variable"), f"{where}.Variable")
    operators = [key for key in rule if key in _RULE_OPERATORS]
    unknown = set(rule) - {"Variable", "Next", "Comment"} - _RULE_OPERATORS
    if len(operators) != 1 or unknown:
        raise ValueError(f"{where}: needs exactly one comparison operator (found {sorted(set(rule) - {'Next'})})")
    op = operators[0]
    if op.endswith("Path"):
        _check_path(rule[op], f"{where}.{op}")
    elif (op.startswith("Is") or op == "BooleanEquals") and not isinstance(rule[op], bool):
        raise ValueError(f"{where}.{op} must be true or false")


def _check_error_handlers(state: Mapping[str, Any], where: str, states: Mapping[str, Any]) -> None:
    for key, allowed in (("Retry", _RETRIER_FIELDS), ("Catch", _CATCHER_FIELDS)):
        handlers = state.get(key, [])
        if not isinstance(handlers, list):
            raise ValueError(f"{where}.{key} must be a list")
        for i, handler in enumerate(handlers):
            here = f"{where}.{key}[{i}]"
            if not isinstance(handler, dict):
                raise ValueError(f"{here} must be an object")
            if set(handler) - allowed:
                raise ValueError(f"{here}: unsupported fields {sorted(set(handler) - allowed)}")
            names = handler.get("ErrorEquals")
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                raise ValueError(f"{here}.ErrorEquals must be a non-empty list of error names")
            if ALL in names and (len(names) != 1 or i != len(handlers) - 1):
                raise ValueError(f"{here}: States.ALL must appear alone and in the last {key} entry")
            if key == "Catch":
                if handler.get("Next") not in states:
                    raise ValueError(f"{here}: Next {handler.get('Next')!r} is not a state")
                _check_path(handler.get("ResultPath", "$"), f"{here}.ResultPath", nullable=True, reference=True)
                continue
            for name, minimum in (("IntervalSeconds", 1), ("MaxAttempts", 0), ("MaxDelaySeconds", 1)):
                value = handler.get(name, minimum)
                if isinstance(value, bool) or not (isinstance(value, int) and value >= minimum):
                    raise ValueError(f"{here}.{name} must be an integer >= {minimum}")
            if "BackoffRate" in handler and not (_is_number(handler["BackoffRate"]) and handler["BackoffRate"] >= 1):
                raise ValueError(f"{here}.BackoffRate must be a number >= 1.0")
            if handler.get("JitterStrategy", "NONE") not in ("NONE", "FULL"):
                raise ValueError(f"{here}.JitterStrategy must be NONE or FULL")


def _check_task(state: Mapping[str, Any], where: str) -> None:
    resource = state.get("Resource")
    params = state.get("Parameters")
    if resource in (LAMBDA_INVOKE, SNS_PUBLISH):
        required = ("FunctionName",) if resource == LAMBDA_INVOKE else ("TopicArn", "Message")
        for name in required:
            if not isinstance(params, dict) or (name not in params and f"{name}.$" not in params):
                raise ValueError(f"{where}: {resource} needs Parameters.{name}")
    elif not (isinstance(resource, str) and _LAMBDA_ARN.match(resource)):
        raise ValueError(
            f"{where}: unsupported Resource {resource!r} (use {LAMBDA_INVOKE}, {SNS_PUBLISH} or a Lambda function ARN)"
        )


def _check_machine(machine: Any, where: str) -> None:
    """Reject what AWS's CreateStateMachine would reject (and what this interpreter cannot run)."""
    if not isinstance(machine, dict):
        raise ValueError(f"{where or 'definition'}: must be an object")
    label = where or "definition"
    if machine.get("QueryLanguage", "JSONPath") != "JSONPath":
        raise ValueError(f"{label}: only the JSONPath query language is supported")
    if set(machine) - _MACHINE_FIELDS:
        raise ValueError(f"{label}: unsupported fields {sorted(set(machine) - _MACHINE_FIELDS)}")
    states = machine.get("States")
    if not isinstance(states, dict) or not states:
        raise ValueError(f"{label}: States must be a non-empty object")
    if machine.get("StartAt") not in states:
        raise ValueError(f"{label}: StartAt {machine.get('StartAt')!r} is not a state")
    for name, state in states.items():
        _check_state(name, state, states, f"{where}{name}")
    reachable: set[str] = set()
    todo: list[str] = [machine["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in reachable:
            reachable.add(name)
            todo.extend(_transitions(states[name]))
    unreachable = [name for name in states if name not in reachable]
    if unreachable:
        raise ValueError(f"{label}: unreachable states {unreachable}")


def _transitions(state: Mapping[str, Any]) -> list[str]:
    targets = [state["Next"]] if "Next" in state else []
    targets += [rule["Next"] for rule in state.get("Choices", [])]
    targets += [state["Default"]] if "Default" in state else []
    targets += [catcher["Next"] for catcher in state.get("Catch", [])]
    return targets


def _check_state(name: str, state: Any, states: Mapping[str, Any], where: str) -> None:
    if not isinstance(state, dict):
        raise ValueError(f"{where}: a state must be an object")
    kind = state.get("Type")
    if kind not in _ALLOWED_FIELDS:
        raise ValueError(f"{where}: unknown Type {kind!r}")
    extra = set(state) - _ALLOWED_FIELDS[kind]
    if extra:
        raise ValueError(f"{where}: unsupported fields for a {kind} state: {sorted(extra)}")
    if "Next" in _ALLOWED_FIELDS[kind]:
        has_next, has_end = "Next" in state, state.get("End") is True
        if has_next == has_end:
            raise ValueError(f'{where}: needs exactly one of Next or "End": true')
        if has_next and state["Next"] not in states:
            raise ValueError(f"{where}: Next {state['Next']!r} is not a state")
    for key in ("InputPath", "OutputPath"):
        if key in state:
            _check_path(state[key], f"{where}.{key}", nullable=True)
    if "ResultPath" in state:
        _check_path(state["ResultPath"], f"{where}.ResultPath", nullable=True, reference=True)
    for key in ("ItemsPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath", "MaxConcurrencyPath"):
        if key in state:
            _check_path(state[key], f"{where}.{key}")
    for key in ("Parameters", "ResultSelector", "ItemSelector"):
        if key in state:
            _check_template(state[key], f"{where}.{key}")
    _check_error_handlers(state, where, states)
    if kind == "Task":
        _check_task(state, where)
    elif kind == "Choice":
        choices = state.get("Choices")
        if not isinstance(choices, list) or not choices:
            raise ValueError(f"{where}: Choices must be a non-empty list")
        for i, rule in enumerate(choices):
            _check_rule(rule, f"{where}.Choices[{i}]", top=True, states=states)
        if "Default" in state and state["Default"] not in states:
            raise ValueError(f"{where}: Default {state['Default']!r} is not a state")
    elif kind == "Wait":
        given = [key for key in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if key in state]
        if len(given) != 1:
            raise ValueError(f"{where}: needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath")
        if "Seconds" in state and not (_is_number(state["Seconds"]) and state["Seconds"] >= 0):
            raise ValueError(f"{where}.Seconds must be a non-negative number")
        if "Timestamp" in state and _timestamp(state["Timestamp"]) is None:
            raise ValueError(f"{where}.Timestamp must be an RFC 3339 timestamp with a zone")
    elif kind == "Parallel":
        branches = state.get("Branches")
        if not isinstance(branches, list) or not branches:
            raise ValueError(f"{where}: Branches must be a non-empty list")
        for i, branch in enumerate(branches):
            _check_machine(branch, f"{where}/Branches[{i}]/")
    elif kind == "Map":
        if ("ItemProcessor" in state) == ("Iterator" in state):
            raise ValueError(f"{where}: needs exactly one of ItemProcessor or Iterator")
        if "ItemSelector" in state and "Parameters" in state:
            raise ValueError(f"{where}: ItemSelector and Parameters are the same thing; use one")
        concurrency = state.get("MaxConcurrency", 0)
        if not (isinstance(concurrency, int) and concurrency >= 0):
            raise ValueError(f"{where}.MaxConcurrency must be a non-negative integer")
        _check_machine(state.get("ItemProcessor", state.get("Iterator")), f"{where}/ItemProcessor/")
    elif kind == "Fail":
        for key in ("Error", "Cause"):
            if key in state and not isinstance(state[key], str):
                raise ValueError(f"{where}.{key} must be a string")


# -------------------------------------------------------------------------------------------- execution


class _Cancelled(Exception):
    """Raised in a sibling branch or iteration once another has failed: AWS stops them too."""


class _Cancel:
    """A cancellation flag that also trips when any enclosing fan-out is cancelled."""

    def __init__(self, parent: _Cancel | None = None) -> None:
        self._event = threading.Event()
        self._parent = parent

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set() or (self._parent is not None and self._parent.is_set())


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error_matches(names: list[str], error: str) -> bool:
    """States.ALL matches everything, States.TaskFailed everything but States.Timeout (AWS rules)."""
    return any(name in (error, ALL) or (name == TASK_FAILED and error != TIMEOUT) for name in names)


class StateMachineRunner:
    """Interprets one ASL definition; each ``run`` is an independent execution (runs may overlap)."""

    def __init__(
        self,
        definition: dict[str, Any],
        *,
        invoke_lambda: InvokeLambda,
        publish_sns: PublishSns,
        sleep: Callable[[float], None] = time.sleep,
        execution_name: str = "local",
        state_machine_name: str = "local",
        concurrent: bool = True,
        region: str = "us-east-1",
        account: str = "123456789012",
    ) -> None:
        _check_machine(definition, "")
        self.definition = copy.deepcopy(definition)
        self.invoke_lambda = invoke_lambda
        self.publish_sns = publish_sns
        self.sleep = sleep
        self.execution_name = execution_name
        self.state_machine_name = state_machine_name
        self.concurrent = concurrent
        self.region = region
        self.account = account

    def run(self, input: Any) -> Execution:
        """Execute to the end; a failure is reported in the Execution (never raised), as StartExecution does."""
        history: list[StateRecord] = []
        try:
            data = _json_copy(input, "the execution input")
            run = _Run(self, data)
            output = run.scope(self.definition, data, "", history, _Cancel())
        except StatesError as err:
            return Execution("FAILED", None, err.error, err.cause, history)
        return Execution("SUCCEEDED", output, None, None, history)


Job = Callable[[list[StateRecord], _Cancel], Any]


class _Run:
    """The state of one execution: its context object and the interpreter proper."""

    def __init__(self, runner: StateMachineRunner, data: Any) -> None:
        self.runner = runner
        prefix = f"arn:aws:states:{runner.region}:{runner.account}"
        self.execution = {
            "Id": f"{prefix}:execution:{runner.state_machine_name}:{runner.execution_name}",
            "Name": runner.execution_name,
            "Input": data,
            "StartTime": _iso_now(),
            "RoleArn": f"arn:aws:iam::{runner.account}:role/local-stepfunctions",
        }
        self.state_machine = {
            "Id": f"{prefix}:stateMachine:{runner.state_machine_name}",
            "Name": runner.state_machine_name,
        }

    # ---- scopes and states

    def scope(
        self, machine: Mapping[str, Any], data: Any, prefix: str, history: list[StateRecord], cancel: _Cancel
    ) -> Any:
        """Run one state graph (the machine, a Parallel branch or a Map iteration) to its end."""
        name: str | None = machine["StartAt"]
        while name is not None:
            if cancel.is_set():
                raise _Cancelled
            data, name = self.state(name, machine["States"][name], data, prefix, history, cancel)
        return data

    def state(
        self, name: str, state: Mapping[str, Any], data: Any, prefix: str, history: list[StateRecord], cancel: _Cancel
    ) -> tuple[Any, str | None]:
        kind = state["Type"]
        label = prefix + name
        started = time.monotonic()
        entered = _iso_now()
        if kind in ("Task", "Parallel", "Map"):
            return self.retrying(name, state, data, label, history, cancel, started, entered)
        try:
            output, following = self._simple(kind, name, state, data, entered)
        except StatesError as err:
            history.append(StateRecord(label, kind, "failed", time.monotonic() - started, None, err.error, err.cause))
            raise
        history.append(StateRecord(label, kind, "succeeded", time.monotonic() - started, output))
        return output, following

    def retrying(
        self,
        name: str,
        state: Mapping[str, Any],
        data: Any,
        label: str,
        history: list[StateRecord],
        cancel: _Cancel,
        started: float,
        entered: str,
    ) -> tuple[Any, str | None]:
        """Run a Task/Parallel/Map with its Retry and Catch (States.Runtime is neither retried nor caught)."""
        kind = state["Type"]
        retriers: list[dict[str, Any]] = state.get("Retry", [])
        used = [0] * len(retriers)
        attempts = 0

        def record(status: RecordStatus, since: float, output: Any = None, err: StatesError | None = None) -> None:
            error, cause = (err.error, err.cause) if err else (None, None)
            seconds = time.monotonic() - since
            history.append(StateRecord(label, kind, status, seconds, output, error, cause, attempts))

        while True:
            attempts += 1
            attempt_started = time.monotonic()
            ctx = self.context(name, entered, attempts - 1)
            try:
                if kind == "Task":
                    output = self.task(state, data, ctx)
                elif kind == "Parallel":
                    output = self.parallel(state, data, ctx, label, history, cancel)
                else:
                    output = self.map(state, data, ctx, label, history, cancel)
            except StatesError as err:
                delay = None if err.error == RUNTIME else self._retry_delay(retriers, used, err.error)
                if delay is not None:
                    record("retried", attempt_started, err=err)
                    self.runner.sleep(delay)
                    continue
                catchers = [] if err.error == RUNTIME else state.get("Catch", [])
                catcher = next((c for c in catchers if _error_matches(c["ErrorEquals"], err.error)), None)
                if catcher is None:
                    record("failed", started, err=err)
                    raise
                error_output = {"Error": err.error, "Cause": err.cause}
                output = self.result_path(data, catcher.get("ResultPath", "$"), error_output)
                record("caught", started, output, err)
                return output, catcher["Next"]
            record("succeeded", started, output)
            return output, state.get("Next")

    @staticmethod
    def _retry_delay(retriers: list[dict[str, Any]], used: list[int], error: str) -> float | None:
        """The first retrier naming the error decides; once it is spent there is no further retry."""
        for i, retrier in enumerate(retriers):
            if not _error_matches(retrier["ErrorEquals"], error):
                continue
            if used[i] >= retrier.get("MaxAttempts", 3):
                return None
            used[i] += 1
            delay = float(retrier.get("IntervalSeconds", 1)) * float(retrier.get("BackoffRate", 2.0)) ** (used[i] - 1)
            if "MaxDelaySeconds" in retrier:
                delay = min(delay, float(retrier["MaxDelaySeconds"]))
            if retrier.get("JitterStrategy") == "FULL":
                delay = random.uniform(0, delay)
            return delay
        return None

    def _simple(
        self, kind: str, name: str, state: Mapping[str, Any], data: Any, entered: str
    ) -> tuple[Any, str | None]:
        ctx = self.context(name, entered, 0)
        if kind == "Fail":
            error = (
                self.path(state["ErrorPath"], data, ctx, "ErrorPath") if "ErrorPath" in state else state.get("Error")
            )
            cause = (
                self.path(state["CausePath"], data, ctx, "CausePath") if "CausePath" in state else state.get("Cause")
            )
            for key, value in (("Error", error), ("Cause", cause)):
                if value is not None and not isinstance(value, str):
                    raise StatesError(RUNTIME, f"the Fail state's {key} must be a string, got {_dumps(value)}")
            raise StatesError(error or "", cause or "")
        effective = self.input_path(state, data, ctx)
        if kind == "Pass":
            if "Parameters" in state:
                effective = self.render(state["Parameters"], effective, ctx, "Parameters")
            result = copy.deepcopy(state["Result"]) if "Result" in state else effective
            output = self.result_path(data, state.get("ResultPath", "$"), result)
            return self.output_path(state, output, ctx), state.get("Next")
        if kind == "Wait":
            self.runner.sleep(self._wait_seconds(state, effective, ctx))
            return self.output_path(state, effective, ctx), state.get("Next")
        if kind == "Choice":
            for rule in state["Choices"]:
                if self.matches(rule, effective, ctx):
                    return self.output_path(state, effective, ctx), rule["Next"]
            if "Default" in state:
                return self.output_path(state, effective, ctx), state["Default"]
            raise StatesError(NO_CHOICE_MATCHED, f"No Choice Rule matched and no Default in state {name!r}")
        return self.output_path(state, effective, ctx), None  # Succeed

    def _wait_seconds(self, state: Mapping[str, Any], data: Any, ctx: dict[str, Any]) -> float:
        if "Seconds" in state:
            return float(state["Seconds"])
        if "SecondsPath" in state:
            seconds = self.path(state["SecondsPath"], data, ctx, "SecondsPath")
            if not _is_number(seconds) or seconds < 0:
                raise StatesError(RUNTIME, f"SecondsPath {state['SecondsPath']!r} gave {_dumps(seconds)}")
            return float(seconds)
        stamp = (
            state["Timestamp"]
            if "Timestamp" in state
            else self.path(state["TimestampPath"], data, ctx, "TimestampPath")
        )
        when = _timestamp(stamp)
        if when is None:
            raise StatesError(RUNTIME, f"{_dumps(stamp)} is not an RFC 3339 timestamp")
        return max(0.0, (when - datetime.now(UTC)).total_seconds())

    # ---- Task, Parallel, Map

    def task(self, state: Mapping[str, Any], data: Any, ctx: dict[str, Any]) -> Any:
        effective = self.input_path(state, data, ctx)
        if "Parameters" in state:
            effective = self.render(state["Parameters"], effective, ctx, "Parameters")
        resource = state["Resource"]
        if resource == LAMBDA_INVOKE:
            function = effective.get("FunctionName")
            if not isinstance(function, str):
                raise StatesError(RUNTIME, f"FunctionName must be a string, got {_dumps(function)}")
            payload = self.call_lambda(function, effective.get("Payload", {}))
            result: Any = {"ExecutedVersion": "$LATEST", "Payload": payload, "StatusCode": 200}
        elif resource == SNS_PUBLISH:
            result = self.publish(effective)
        else:
            result = self.call_lambda(resource, effective)
        return self.finish(state, data, result, ctx)

    def call_lambda(self, function: str, payload: Any) -> Any:
        try:
            result = self.runner.invoke_lambda(function, _json_copy(payload, "the Lambda payload"))
        except StatesError:
            raise
        except Exception as exc:  # a handler exception: Lambda reports its class name as errorType
            name = type(exc).__name__
            raise LambdaError(name, json.dumps({"errorMessage": str(exc), "errorType": name})) from exc
        try:
            return json.loads(json.dumps(result, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise LambdaError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from exc

    def publish(self, params: dict[str, Any]) -> Any:
        topic, message, subject = params.get("TopicArn"), params.get("Message"), params.get("Subject")
        if not isinstance(topic, str) or (subject is not None and not isinstance(subject, str)):
            raise StatesError(RUNTIME, f"sns:publish needs a string TopicArn and Subject, got {_dumps(params)}")
        text = message if isinstance(message, str) else json.dumps(message)
        try:
            response = self.runner.publish_sns(topic, text, subject)
        except StatesError:
            raise
        except Exception as exc:
            raise StatesError(f"SNS.{type(exc).__name__}", str(exc)) from exc
        return _json_copy(response, "the SNS response")

    def parallel(
        self,
        state: Mapping[str, Any],
        data: Any,
        ctx: dict[str, Any],
        label: str,
        history: list[StateRecord],
        cancel: _Cancel,
    ) -> Any:
        effective = self.input_path(state, data, ctx)
        if "Parameters" in state:
            effective = self.render(state["Parameters"], effective, ctx, "Parameters")
        jobs = [self._job(branch, copy.deepcopy(effective), f"{label}/") for branch in state["Branches"]]
        results = self.fan_out(jobs, len(jobs), history, cancel)
        return self.finish(state, data, results, ctx)

    def map(
        self,
        state: Mapping[str, Any],
        data: Any,
        ctx: dict[str, Any],
        label: str,
        history: list[StateRecord],
        cancel: _Cancel,
    ) -> Any:
        effective = self.input_path(state, data, ctx)
        items = self.path(state.get("ItemsPath", "$"), effective, ctx, "ItemsPath")
        if not isinstance(items, list):
            raise StatesError(RUNTIME, f"ItemsPath {state.get('ItemsPath', '$')!r} must select an array")
        limit = state.get("MaxConcurrency", 0)
        if "MaxConcurrencyPath" in state:
            limit = self.path(state["MaxConcurrencyPath"], effective, ctx, "MaxConcurrencyPath")
            if not (isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0):
                raise StatesError(RUNTIME, f"MaxConcurrencyPath gave {_dumps(limit)}, not a non-negative integer")
        selector = state.get("ItemSelector", state.get("Parameters"))
        processor = state.get("ItemProcessor", state.get("Iterator"))
        jobs: list[Job] = []
        for index, item in enumerate(items):
            value = item
            if selector is not None:
                item_ctx = {**ctx, "Map": {"Item": {"Index": index, "Value": item}}}
                value = self.render(selector, effective, item_ctx, "ItemSelector")
            jobs.append(self._job(processor, value, f"{label}[{index}]/"))
        results = self.fan_out(jobs, limit or UNBOUNDED_MAP_CONCURRENCY, history, cancel)
        return self.finish(state, data, results, ctx)

    def _job(self, machine: Mapping[str, Any], value: Any, prefix: str) -> Job:
        return lambda history, cancel: self.scope(machine, value, prefix, history, cancel)

    def fan_out(self, jobs: list[Job], limit: int, history: list[StateRecord], cancel: _Cancel) -> list[Any]:
        """Run branches/iterations (at most ``limit`` at once); results and history keep the jobs' order.

        The first failure cancels the rest (they stop at their next state) and is re-raised.
        """
        histories: list[list[StateRecord]] = [[] for _ in jobs]
        inner = _Cancel(cancel)
        results: list[Any] = [None] * len(jobs)
        failure: BaseException | None = None
        try:
            if not self.runner.concurrent or limit <= 1 or len(jobs) <= 1:
                for i, job in enumerate(jobs):
                    results[i] = job(histories[i], inner)
                return results
            with ThreadPoolExecutor(max_workers=min(limit, len(jobs)), thread_name_prefix="sfn") as pool:
                futures: dict[Future[Any], int] = {
                    pool.submit(job, histories[i], inner): i for i, job in enumerate(jobs)
                }
                for future in as_completed(futures):
                    if future.cancelled():
                        continue
                    exc = future.exception()
                    if exc is None:
                        results[futures[future]] = future.result()
                    elif failure is None or (isinstance(failure, _Cancelled) and not isinstance(exc, _Cancelled)):
                        failure = exc
                        inner.set()
                        for other in futures:
                            other.cancel()
            if failure is not None:
                raise failure
            return results
        finally:
            for records in histories:
                history.extend(records)

    def finish(self, state: Mapping[str, Any], data: Any, result: Any, ctx: dict[str, Any]) -> Any:
        """ResultSelector → ResultPath → OutputPath, in the AWS order."""
        if "ResultSelector" in state:
            result = self.render(state["ResultSelector"], result, ctx, "ResultSelector")
        output = self.result_path(data, state.get("ResultPath", "$"), result)
        return self.output_path(state, output, ctx)

    # ---- input and output processing

    def context(self, state_name: str, entered: str, retry_count: int) -> dict[str, Any]:
        return {
            "Execution": self.execution,
            "StateMachine": self.state_machine,
            "State": {"Name": state_name, "EnteredTime": entered, "RetryCount": retry_count},
            "Task": {},
        }

    def path(self, text: str, data: Any, ctx: dict[str, Any], field_name: str) -> Any:
        parsed = _parse_path(text)
        source = ctx if parsed.context else data
        try:
            return copy.deepcopy(_select(source, parsed))
        except _Missing:
            raise StatesError(
                RUNTIME,
                f"The JSONPath {text!r} specified for the field {field_name!r} could not be found "
                f"in the input {_dumps(source)}",
            ) from None

    def input_path(self, state: Mapping[str, Any], data: Any, ctx: dict[str, Any]) -> Any:
        text = state.get("InputPath", "$")
        return {} if text is None else self.path(text, data, ctx, "InputPath")

    def output_path(self, state: Mapping[str, Any], data: Any, ctx: dict[str, Any]) -> Any:
        text = state.get("OutputPath", "$")
        return {} if text is None else self.path(text, data, ctx, "OutputPath")

    def result_path(self, data: Any, text: str | None, result: Any) -> Any:
        """Place ``result`` into (a copy of) the state input: "$" replaces it, null discards the result."""
        if text is None:
            return data
        steps = _parse_path(text).steps
        if not steps:
            return result
        root = copy.deepcopy(data)
        node = root
        for i, step in enumerate(steps):
            last = i == len(steps) - 1
            if isinstance(node, dict) and isinstance(step, str):
                if last:
                    node[step] = result
                elif isinstance(node.get(step), dict | list):
                    node = node[step]
                elif node.get(step) is None:
                    node[step] = {}
                    node = node[step]
                else:
                    break
            elif isinstance(node, list) and isinstance(step, int) and -len(node) <= step < len(node):
                if last:
                    node[step] = result
                else:
                    node = node[step]
            else:
                break
        else:
            return root
        raise StatesError(RUNTIME, f"Unable to apply ResultPath {text!r} to the input {_dumps(data)}")

    def render(self, template: Any, data: Any, ctx: dict[str, Any], field_name: str) -> Any:
        """Evaluate a payload template: keys ending in ``.$`` take a path's value or an intrinsic's result."""
        if isinstance(template, list):
            return [self.render(item, data, ctx, field_name) for item in template]
        if not isinstance(template, dict):
            return template
        out: dict[str, Any] = {}
        for key, value in template.items():
            if not key.endswith(".$"):
                out[key] = self.render(value, data, ctx, field_name)
            elif value.startswith("$"):
                out[key[:-2]] = self.path(value, data, ctx, key)
            else:
                out[key[:-2]] = self.intrinsic(_parse_intrinsic(value), data, ctx)
        return out

    def intrinsic(self, call: _Call, data: Any, ctx: dict[str, Any]) -> Any:
        args: list[Any] = []
        for arg in call.args:
            if isinstance(arg, _Lit):
                args.append(arg.value)
            elif isinstance(arg, _Ref):
                args.append(self.path(arg.path.text, data, ctx, f"States.{call.name}"))
            else:
                args.append(self.intrinsic(arg, data, ctx))
        try:
            return _FUNCTIONS[call.name](call, args)
        except (ValueError, TypeError, LookupError, UnicodeDecodeError) as exc:
            raise StatesError(RUNTIME, f"Invalid arguments in States.{call.name}: {exc}") from None

    def matches(self, rule: Mapping[str, Any], data: Any, ctx: dict[str, Any]) -> bool:
        if "And" in rule:
            return all(self.matches(sub, data, ctx) for sub in rule["And"])
        if "Or" in rule:
            return any(self.matches(sub, data, ctx) for sub in rule["Or"])
        if "Not" in rule:
            return not self.matches(rule["Not"], data, ctx)
        op = next(key for key in rule if key in _RULE_OPERATORS)
        variable = rule["Variable"]
        if op == "IsPresent":
            try:
                _select(ctx if _parse_path(variable).context else data, _parse_path(variable))
                present = True
            except _Missing:
                present = False
            return present is rule[op]
        value = self.path(variable, data, ctx, "Variable")
        expected = rule[op]
        if op.endswith("Path"):
            expected = self.path(expected, data, ctx, op)
            op = op[: -len("Path")]
        if op in _TYPE_TESTS:
            return _TYPE_TESTS[op](value) is expected
        return _COMPARATORS[op](value, expected)
